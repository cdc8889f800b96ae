/**
 * Sizes of a workload's requests (prompt tokens, `max_tokens`) as
 * distributions: a fixed number, uniform between two bounds, lognormal (the
 * shape real prompt sizes have: most small, a long tail of large ones), or a
 * mix of those (e.g. mostly small prompts with a share of giant ones). Drawn
 * through a seeded `Random`, so a workload replays exactly.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import type * as Random from "effect/Random"
import * as Schema from "effect/Schema"

const Positive = Schema.Int.pipe(Schema.positive())

/**
 * @since 0.2.0
 * @category schemas
 */
export const Uniform = Schema.Struct({ uniform: Schema.Tuple(Positive, Positive) }).pipe(
  Schema.filter((u) => u.uniform[0] <= u.uniform[1] || "uniform: [min, max] needs min ≤ max")
)

/**
 * @since 0.2.0
 * @category schemas
 */
export const Lognormal = Schema.Struct({
  lognormal: Schema.Struct({
    median: Schema.Number.pipe(Schema.positive()),
    sigma: Schema.Number.pipe(Schema.nonNegative()),
    /** draws are clamped to [min, max] */
    min: Schema.optional(Positive),
    max: Schema.optional(Positive)
  })
})

const Simple = Schema.Union(Positive, Uniform, Lognormal)

/**
 * @since 0.2.0
 * @category schemas
 */
export const Mix = Schema.Struct({
  mix: Schema.NonEmptyArray(Schema.Struct({ share: Schema.Number.pipe(Schema.positive()), size: Simple }))
})

/**
 * A size: `N`, `{ "uniform": [min, max] }`, `{ "lognormal": { "median", "sigma", "min"?, "max"? } }`, or
 * `{ "mix": [{ "share", "size" }] }` (shares are relative weights).
 *
 * @since 0.2.0
 * @category schemas
 */
export const Distribution = Schema.Union(Simple, Mix)

/**
 * @since 0.2.0
 * @category models
 */
export type Distribution = typeof Distribution.Type

/**
 * @since 0.2.0
 * @category constructors
 */
export const uniform = (min: number, max: number): Distribution => min === max ? min : { uniform: [min, max] }

/**
 * @since 0.2.0
 * @category constructors
 */
export const lognormal = (median: number, sigma: number): Distribution => ({ lognormal: { median, sigma } })

type SimpleDistribution = typeof Simple.Type

const drawSimple = (rng: Random.Random, size: SimpleDistribution): Effect.Effect<number> => {
  if (typeof size === "number") return Effect.succeed(size)
  if ("uniform" in size) return rng.nextIntBetween(size.uniform[0], size.uniform[1] + 1)
  const { max, median, min, sigma } = size.lognormal
  return Effect.map(Effect.all([rng.next, rng.next]), ([u1, u2]) => {
    const normal = Math.sqrt(-2 * Math.log(Math.max(u1, 1e-12))) * Math.cos(2 * Math.PI * u2)
    const value = Math.round(median * Math.exp(sigma * normal))
    return Math.min(max ?? Number.MAX_SAFE_INTEGER, Math.max(min ?? 1, value))
  })
}

/**
 * One draw. Every draw takes the same number of random numbers whatever the
 * outcome, so one lane's sizes do not shift another's.
 *
 * @since 0.2.0
 * @category drawing
 */
export const draw = (rng: Random.Random, size: Distribution): Effect.Effect<number> => {
  if (typeof size === "number" || !("mix" in size)) return drawSimple(rng, size)
  const total = size.mix.reduce((sum, part) => sum + part.share, 0)
  return Effect.flatMap(rng.next, (u) => {
    let at = u * total
    for (const part of size.mix) {
      at -= part.share
      if (at < 0) return drawSimple(rng, part.size)
    }
    return drawSimple(rng, size.mix[size.mix.length - 1]!.size)
  })
}

/**
 * A short description: `256`, `200-800`, `lognormal(median 400, σ 0.8)`, `mix(…)`.
 *
 * @since 0.2.0
 * @category rendering
 */
export const describe = (size: Distribution): string => {
  if (typeof size === "number") return `${size}`
  if ("uniform" in size) return `${size.uniform[0]}-${size.uniform[1]}`
  if ("lognormal" in size) return `lognormal(median ${size.lognormal.median}, σ ${size.lognormal.sigma})`
  return `mix(${size.mix.map((part) => `${part.share} × ${describe(part.size)}`).join(", ")})`
}

/**
 * Parses the command line's form: `N`, `MIN-MAX`, or `lognormal:MEDIAN:SIGMA`.
 *
 * @since 0.2.0
 * @category parsing
 */
export const parse = (text: string): Distribution | undefined => {
  const range = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(text)
  if (range) {
    const min = Number(range[1])
    const max = Number(range[2] ?? range[1])
    return min >= 1 && max >= min && Number.isSafeInteger(max) ? uniform(min, max) : undefined
  }
  const log = /^\s*lognormal:(\d+(?:\.\d+)?):(\d+(?:\.\d+)?)\s*$/.exec(text)
  if (log) {
    const median = Number(log[1])
    const sigma = Number(log[2])
    return median > 0 && sigma <= 5 ? lognormal(median, sigma) : undefined
  }
  return undefined
}
