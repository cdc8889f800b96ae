/**
 * How the simulated Anthropic API behaves: its limits per model (or model
 * family), the concurrency cap, latency, the shape of generated output and
 * the faults it injects. Every random choice comes from `seed`, so a run is
 * reproducible.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"

/**
 * Limits of one pool, per minute, as Anthropic states them.
 *
 * @since 0.1.0
 * @category models
 */
export interface Limits {
  readonly requestsPerMinute: number
  /** Input tokens per minute: `input_tokens + cache_creation_input_tokens` (cache reads are free). */
  readonly inputTokensPerMinute: number
  readonly outputTokensPerMinute: number
}

/**
 * Defaults resembling a low usage tier (Tier 1) for Sonnet and Opus models.
 *
 * @since 0.1.0
 * @category constants
 */
export const lowTierLimits: Limits = {
  requestsPerMinute: 50,
  inputTokensPerMinute: 30_000,
  outputTokensPerMinute: 8_000
}

/**
 * Per-family defaults: Haiku gets more tokens at the same tier.
 *
 * @since 0.1.0
 * @category constants
 */
export const lowTierFamilyLimits: Readonly<Record<string, Limits>> = {
  haiku: { requestsPerMinute: 50, inputTokensPerMinute: 50_000, outputTokensPerMinute: 10_000 }
}

/**
 * A window of virtual time, measured from the simulator's start, during
 * which every request gets `status` (529 overloaded by default).
 *
 * @since 0.1.0
 * @category models
 */
export interface Outage {
  readonly from: Duration.DurationInput
  readonly to: Duration.DurationInput
  readonly status?: number | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Faults {
  /** Share of requests answered 529 `overloaded_error`. */
  readonly overloadedRate?: number | undefined
  /** Share of requests answered 500 `api_error`. */
  readonly apiErrorRate?: number | undefined
  /** Share of requests whose connection is dropped without an answer. */
  readonly connectionResetRate?: number | undefined
  /** Share of successful requests that take `slowLatency` longer. */
  readonly slowRate?: number | undefined
  /** Default 2 minutes. */
  readonly slowLatency?: Duration.DurationInput | undefined
  readonly outages?: ReadonlyArray<Outage> | undefined
}

/**
 * Latency of a successful answer: `base + perOutputToken × output tokens`,
 * spread uniformly by ±`jitter` (a fraction). Errors answer after `base / 4`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Latency {
  readonly base?: Duration.DurationInput | undefined
  readonly perOutputToken?: Duration.DurationInput | undefined
  readonly jitter?: number | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Seed of every random choice. Default 1. */
  readonly seed?: number | undefined
  /** Limits of every model without its own; default {@link lowTierLimits}. */
  readonly limits?: Partial<Limits> | undefined
  /** Limits by model id or family (`"sonnet"`, `"haiku"`, `"opus"`); a model id wins over its family. */
  readonly modelLimits?: Readonly<Record<string, Partial<Limits>>> | undefined
  /** Requests the organisation may have in flight; more get a 429. Default 20. */
  readonly maxConcurrentRequests?: number | undefined
  /** Requests per minute of `/v1/messages/count_tokens`. Default 100. */
  readonly countTokensPerMinute?: number | undefined
  readonly latency?: Latency | undefined
  /** Output length as a share of `max_tokens`, uniform in `[min, max]`. Default `[0.2, 1]`. */
  readonly output?: { readonly min?: number | undefined; readonly max?: number | undefined } | undefined
  readonly faults?: Faults | undefined
  /** Round token `remaining` headers to the nearest thousand, as the API does. Default true. */
  readonly roundTokenHeaders?: boolean | undefined
  /**
   * How output tokens are charged: `"actual"` (as produced, the current
   * API) or `"max_tokens"` (reserved from `max_tokens` at the start and
   * settled at the end). Default `"actual"`.
   */
  readonly outputAccounting?: "actual" | "max_tokens" | undefined
}

/**
 * Options with every default filled in.
 *
 * @since 0.1.0
 * @category models
 */
export interface Config {
  readonly seed: number
  readonly limits: Limits
  readonly modelLimits: Readonly<Record<string, Limits>>
  readonly maxConcurrentRequests: number
  readonly countTokensPerMinute: number
  readonly latency: {
    readonly base: Duration.Duration
    readonly perOutputToken: Duration.Duration
    readonly jitter: number
  }
  readonly output: { readonly min: number; readonly max: number }
  readonly faults: {
    readonly overloadedRate: number
    readonly apiErrorRate: number
    readonly connectionResetRate: number
    readonly slowRate: number
    readonly slowLatency: Duration.Duration
    readonly outages: ReadonlyArray<{ readonly from: number; readonly to: number; readonly status: number }>
  }
  readonly roundTokenHeaders: boolean
  readonly outputAccounting: "actual" | "max_tokens"
}

const share = (value: number | undefined, fallback: number): number => Math.min(1, Math.max(0, value ?? fallback))

const positive = (value: number | undefined, fallback: number): number =>
  value !== undefined && Number.isFinite(value) && value > 0 ? value : fallback

const completeLimits = (partial: Partial<Limits> | undefined, base: Limits): Limits => ({
  requestsPerMinute: positive(partial?.requestsPerMinute, base.requestsPerMinute),
  inputTokensPerMinute: positive(partial?.inputTokensPerMinute, base.inputTokensPerMinute),
  outputTokensPerMinute: positive(partial?.outputTokensPerMinute, base.outputTokensPerMinute)
})

/**
 * @since 0.1.0
 * @category constructors
 */
export const resolve = (options: Options = {}): Config => {
  const limits = completeLimits(options.limits, lowTierLimits)
  // family defaults apply only when the caller did not set limits for everything
  const familyDefaults = options.limits === undefined ? lowTierFamilyLimits : {}
  const modelLimits: Record<string, Limits> = {}
  for (const [key, value] of Object.entries({ ...familyDefaults, ...options.modelLimits })) {
    modelLimits[key] = completeLimits(value, limits)
  }
  const outputMin = share(options.output?.min, 0.2)
  return {
    seed: options.seed ?? 1,
    limits,
    modelLimits,
    maxConcurrentRequests: Math.floor(positive(options.maxConcurrentRequests, 20)),
    countTokensPerMinute: positive(options.countTokensPerMinute, 100),
    latency: {
      base: Duration.decode(options.latency?.base ?? Duration.millis(400)),
      perOutputToken: Duration.decode(options.latency?.perOutputToken ?? Duration.millis(2)),
      jitter: share(options.latency?.jitter, 0.2)
    },
    output: { min: outputMin, max: Math.max(outputMin, share(options.output?.max, 1)) },
    faults: {
      overloadedRate: share(options.faults?.overloadedRate, 0),
      apiErrorRate: share(options.faults?.apiErrorRate, 0),
      connectionResetRate: share(options.faults?.connectionResetRate, 0),
      slowRate: share(options.faults?.slowRate, 0),
      slowLatency: Duration.decode(options.faults?.slowLatency ?? Duration.minutes(2)),
      outages: (options.faults?.outages ?? []).map((outage) => ({
        from: Duration.toMillis(outage.from),
        to: Duration.toMillis(outage.to),
        status: outage.status ?? 529
      }))
    },
    roundTokenHeaders: options.roundTokenHeaders ?? true,
    outputAccounting: options.outputAccounting ?? "actual"
  }
}

/**
 * The family of a model id: `claude-sonnet-4-6` → `sonnet`. An id that
 * names no known family is its own family.
 *
 * @since 0.1.0
 * @category pools
 */
export const familyOf = (model: string): string => {
  const match = /\b(opus|sonnet|haiku)\b/.exec(model.replace(/-/g, " "))
  return match?.[1] ?? model
}

/**
 * Which limits a model gets and under which pool key they are shared: the
 * model id when it has limits of its own, else its family.
 *
 * @since 0.1.0
 * @category pools
 */
export const limitsFor = (config: Config, model: string): { readonly pool: string; readonly limits: Limits } => {
  const own = config.modelLimits[model]
  if (own !== undefined) return { pool: model, limits: own }
  const family = familyOf(model)
  return { pool: family, limits: config.modelLimits[family] ?? config.limits }
}
