/**
 * The command line's options, each validated where it is parsed: a bad
 * value is a one-line error naming the option (exit code 1), never a silent
 * default and never a stack trace.
 *
 * @since 0.2.0
 */
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Distribution from "../simulator/workload/Distribution.js"
import type * as Scenario from "../simulator/workload/Scenario.js"

const invalid = (message: string) => ValidationError.invalidValue(HelpDoc.p(message))

const check = <A>(name: string, ok: (a: A) => boolean, expected: string) => (a: A) =>
  ok(a) ? Effect.succeed(a) : Effect.fail(invalid(`--${name}: expected ${expected}, got ${String(a)}`))

/**
 * A number option that accepts negative input so that it can be refused by
 * name (a bare `-5` would otherwise read as an unknown flag).
 */
const number = (name: string, integer: boolean) =>
  Options.text(name).pipe(
    Options.mapEffect((text) => {
      const value = Number(text.trim())
      return text.trim() !== "" && Number.isFinite(value) && (!integer || Number.isInteger(value))
        ? Effect.succeed(value)
        : Effect.fail(invalid(`--${name}: expected ${integer ? "an integer" : "a number"}, got "${text}"`))
    })
  )

/**
 * @since 0.2.0
 * @category options
 */
export const integerAtLeast = (name: string, min: number, description: string) =>
  number(name, true).pipe(
    Options.withDescription(description),
    Options.mapEffect(check(name, (n: number) => n >= min && n <= Number.MAX_SAFE_INTEGER, `an integer ≥ ${min}`))
  )

/**
 * @since 0.2.0
 * @category options
 */
export const optionalIntegerAtLeast = (name: string, min: number, description: string) =>
  Options.optional(integerAtLeast(name, min, description))

/**
 * @since 0.2.0
 * @category options
 */
export const optionalShare = (name: string, description: string) =>
  number(name, false).pipe(
    Options.withDescription(description),
    Options.mapEffect(check(name, (n: number) => n >= 0 && n <= 1, "a number between 0 and 1")),
    Options.optional
  )

/**
 * @since 0.2.0
 * @category options
 */
export const optionalPort = number("port", true).pipe(
  Options.withDescription("port on 127.0.0.1 (0: any free port; default 8787)"),
  Options.mapEffect(check("port", (n: number) => n >= 0 && n <= 65_535, "a port between 0 and 65535")),
  Options.optional
)

/**
 * @since 0.2.0
 * @category options
 */
export const distribution = (name: string, description: string) =>
  Options.text(name).pipe(
    Options.withDescription(`${description}: N, MIN-MAX (uniform) or lognormal:MEDIAN:SIGMA`),
    Options.mapEffect((text) => {
      const parsed = Distribution.parse(text)
      return parsed === undefined
        ? Effect.fail(invalid(`--${name}: expected N, MIN-MAX or lognormal:MEDIAN:SIGMA, got "${text}"`))
        : Effect.succeed(parsed)
    }),
    Options.optional
  )

/**
 * An outage `FROM-TO[:STATUS]` in seconds from the start.
 *
 * @since 0.2.0
 * @category models
 */
export interface Outage {
  readonly fromSeconds: number
  readonly toSeconds: number
  readonly status: 500 | 502 | 503 | 504 | 529
}

const outageStatuses = [500, 502, 503, 504, 529] as const

/**
 * @since 0.2.0
 * @category options
 */
export const outages = Options.text("outage").pipe(
  Options.withDescription(
    "an outage, in seconds from the start: FROM-TO[:STATUS] (STATUS 500, 502, 503, 504 or 529, the default); repeatable"
  ),
  Options.repeated,
  Options.mapEffect((texts) =>
    Effect.forEach(texts, (text) => {
      const match = /^\s*(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)\s*(?::\s*(\d+)\s*)?$/.exec(text)
      const status = Number(match?.[3] ?? 529)
      if (!match || !(Number(match[2]) > Number(match[1]))) {
        return Effect.fail(invalid(`--outage: expected FROM-TO[:STATUS] in seconds with FROM < TO, got "${text}"`))
      }
      if (!(outageStatuses as ReadonlyArray<number>).includes(status)) {
        return Effect.fail(invalid(`--outage: STATUS must be one of ${outageStatuses.join(", ")}, got ${status}`))
      }
      return Effect.succeed<Outage>({
        fromSeconds: Number(match[1]),
        toSeconds: Number(match[2]),
        status: status as Outage["status"]
      })
    })
  )
)

/**
 * The simulator's output-length model: `share:MIN-MAX` (shares of
 * max_tokens) or `lognormal:MEDIAN:SIGMA` (tokens, capped by max_tokens).
 *
 * @since 0.2.0
 * @category options
 */
export const outputTokens = Options.text("output-tokens").pipe(
  Options.withDescription(
    "simulated answer length: share:MIN-MAX of max_tokens (default share:0.2-1) or lognormal:MEDIAN:SIGMA tokens"
  ),
  Options.mapEffect(
    (text): Effect.Effect<NonNullable<Scenario.SimulatorSection["output"]>, ValidationError.ValidationError> => {
      const share = /^\s*share:(\d*\.?\d+)-(\d*\.?\d+)\s*$/.exec(text)
      if (share && Number(share[1]) <= Number(share[2]) && Number(share[2]) <= 1) {
        return Effect.succeed({ shape: "share" as const, min: Number(share[1]), max: Number(share[2]) })
      }
      const log = /^\s*lognormal:(\d*\.?\d+):(\d*\.?\d+)\s*$/.exec(text)
      if (log && Number(log[1]) > 0) {
        return Effect.succeed({ shape: "lognormal" as const, median: Number(log[1]), sigma: Number(log[2]) })
      }
      return Effect.fail(
        invalid(`--output-tokens: expected share:MIN-MAX (0 ≤ MIN ≤ MAX ≤ 1) or lognormal:MEDIAN:SIGMA, got "${text}"`)
      )
    }
  ),
  Options.optional
)

/**
 * @since 0.2.0
 * @category options
 */
export const optionalText = (name: string, description: string) =>
  Options.text(name).pipe(Options.withDescription(description), Options.optional)

/**
 * @since 0.2.0
 * @category options
 */
export const flag = (name: string, description: string) =>
  Options.boolean(name).pipe(Options.withDescription(description))

/**
 * @since 0.2.0
 * @category getters
 */
export const orUndefined = Option.getOrUndefined
