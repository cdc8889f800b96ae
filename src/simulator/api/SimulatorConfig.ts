/**
 * How the simulated Anthropic API behaves: its limits per model (or model
 * family), the concurrency cap, latency, the shape of generated output and
 * the faults it injects, the models it knows, and its newer behaviours
 * (acceleration limits, spend limits, batches). Every random choice comes
 * from `seed`, so a run is reproducible.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as ModelCatalog from "./ModelCatalog.js"

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
 * Limits as given: any of them may be left out (or `undefined`) for the default.
 *
 * @since 0.2.0
 * @category models
 */
export type LimitsInput = { readonly [K in keyof Limits]?: number | undefined }

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
  /** Faults of streamed answers (after the 200 and its headers). */
  readonly stream?: StreamFaults | undefined
}

/**
 * How a streamed answer fails after its `200`: with an `event: error`
 * (before the first content delta, or after `afterDeltas` deltas), or with
 * the connection cut mid-stream. Each is a share of streamed requests,
 * drawn from the seed.
 *
 * @since 0.2.0
 * @category models
 */
export interface StreamFaults {
  /** Share of streams that send `event: error` before their first content delta. */
  readonly errorBeforeContentRate?: number | undefined
  /** Share of streams that send `event: error` after `afterDeltas` content deltas. */
  readonly errorMidStreamRate?: number | undefined
  /** Share of streams whose connection is cut after `afterDeltas` content deltas. */
  readonly cutRate?: number | undefined
  /** Default 3. */
  readonly afterDeltas?: number | undefined
  /** The error type of `event: error`: `"overloaded_error"` (default) or `"api_error"`. */
  readonly errorType?: "overloaded_error" | "api_error" | undefined
}

/**
 * Acceleration limits, this simulator's model of them (Anthropic documents
 * that sharp ramps trip them, not how): time is cut into windows of
 * `window`; in each window a pool may admit at most
 * `max(floor, growth × what it admitted in the previous window)` requests.
 * A ramp from idle thus starts at `floor` requests a window and may double
 * (with `growth` 2) every window; a request over it gets a 429 with
 * `error.details.error_code: "ramp_limit_exceeded"` and a `retry-after`
 * until the next window.
 *
 * @since 0.2.0
 * @category models
 */
export interface Acceleration {
  /** Default 10 seconds. */
  readonly window?: Duration.DurationInput | undefined
  /** Default 2. */
  readonly growth?: number | undefined
  /** Requests a window from idle. Default: a twelfth of the pool's RPM (half its steady rate), at least 1. */
  readonly floor?: number | undefined
}

/**
 * Spend-limit mode: after `afterRequests` admitted Messages requests, every
 * Messages request gets a 429 whose `error.details.error_code` is
 * `errorCode`, with no `retry-after` (it will not succeed until the limit
 * resets).
 *
 * @since 0.2.0
 * @category models
 */
export interface SpendLimit {
  readonly afterRequests: number
  /** Default `"enforced_spend_limit_reached"`. */
  readonly errorCode?: "enforced_spend_limit_reached" | "contract_spend_limit_reached" | undefined
}

/**
 * How long generated answers are. `"share"`: a share of `max_tokens`,
 * uniform in `[min, max]` (default `[0.2, 1]`). `"lognormal"`: independent
 * of `max_tokens` (the shape real answers have), `exp(N(ln median, sigma))`
 * tokens, capped by `max_tokens` (then `stop_reason: "max_tokens"`).
 *
 * @since 0.2.0
 * @category models
 */
export type Output =
  | { readonly shape?: "share" | undefined; readonly min?: number | undefined; readonly max?: number | undefined }
  | { readonly shape: "lognormal"; readonly median: number; readonly sigma?: number | undefined }

/**
 * Message Batches: a batch completes `completionDelay` after it was
 * created; creating batches has its own requests-per-minute limit, and the
 * requests waiting in unfinished batches are capped.
 *
 * @since 0.2.0
 * @category models
 */
export interface Batches {
  /** Default 1 minute. */
  readonly completionDelay?: Duration.DurationInput | undefined
  /** Requests per minute to the batch endpoints. Default 50. */
  readonly requestsPerMinute?: number | undefined
  /** Default 100,000. */
  readonly maxRequestsPerBatch?: number | undefined
  /** Requests in unfinished batches, at most. Default 100,000. */
  readonly maxQueuedRequests?: number | undefined
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
  readonly limits?: LimitsInput | undefined
  /** Limits by model id or family (`"sonnet"`, `"haiku"`, `"opus"`); a model id wins over its family. */
  readonly modelLimits?: Readonly<Record<string, LimitsInput>> | undefined
  /** Requests the organisation may have in flight; more get a 429. Default 20. */
  readonly maxConcurrentRequests?: number | undefined
  /** Requests per minute of `/v1/messages/count_tokens`. Default 100. */
  readonly countTokensPerMinute?: number | undefined
  readonly latency?: Latency | undefined
  /** Output length model; default a share of `max_tokens` in `[0.2, 1]`. */
  readonly output?: Output | undefined
  readonly faults?: Faults | undefined
  /** Models added to (or replacing entries of) {@link ModelCatalog.models}. */
  readonly models?: ReadonlyArray<ModelCatalog.Model> | undefined
  /** Characters per token of the token-count model. Default 3.5 (Anthropic's rule of thumb). */
  readonly charactersPerToken?: number | undefined
  /** Largest request body accepted; larger is a 413 `request_too_large`. Default 32 MB (the Messages API's). */
  readonly maxRequestBytes?: number | undefined
  /** `anthropic-version` values accepted. Default `["2023-06-01", "2026-10-21"]`. */
  readonly anthropicVersions?: ReadonlyArray<string> | undefined
  /** Acceleration limits; off unless given (`{}` for the defaults). */
  readonly acceleration?: Acceleration | undefined
  readonly spendLimit?: SpendLimit | undefined
  readonly batches?: Batches | undefined
  /** Output tokens per `content_block_delta` of a stream. Default 4. */
  readonly streamChunkTokens?: number | undefined
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
  readonly output:
    | { readonly shape: "share"; readonly min: number; readonly max: number }
    | { readonly shape: "lognormal"; readonly median: number; readonly sigma: number }
  readonly models: ReadonlyArray<ModelCatalog.Model>
  readonly charactersPerToken: number
  readonly maxRequestBytes: number
  readonly anthropicVersions: ReadonlyArray<string>
  readonly acceleration:
    | { readonly windowMillis: number; readonly growth: number; readonly floor: number | undefined }
    | undefined
  readonly spendLimit:
    | {
      readonly afterRequests: number
      readonly errorCode: "enforced_spend_limit_reached" | "contract_spend_limit_reached"
    }
    | undefined
  readonly batches: {
    readonly completionDelayMillis: number
    readonly requestsPerMinute: number
    readonly maxRequestsPerBatch: number
    readonly maxQueuedRequests: number
  }
  readonly streamChunkTokens: number
  readonly faults: {
    readonly overloadedRate: number
    readonly apiErrorRate: number
    readonly connectionResetRate: number
    readonly slowRate: number
    readonly slowLatency: Duration.Duration
    readonly outages: ReadonlyArray<{ readonly from: number; readonly to: number; readonly status: number }>
    readonly stream: {
      readonly errorBeforeContentRate: number
      readonly errorMidStreamRate: number
      readonly cutRate: number
      readonly afterDeltas: number
      readonly errorType: "overloaded_error" | "api_error"
    }
  }
  readonly roundTokenHeaders: boolean
  readonly outputAccounting: "actual" | "max_tokens"
}

const share = (value: number | undefined, fallback: number): number => Math.min(1, Math.max(0, value ?? fallback))

const positive = (value: number | undefined, fallback: number): number =>
  value !== undefined && Number.isFinite(value) && value > 0 ? value : fallback

const completeLimits = (partial: LimitsInput | undefined, base: Limits): Limits => ({
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
  const output = options.output
  const catalog = new Map(ModelCatalog.models.map((model) => [model.id, model]))
  for (const model of options.models ?? []) catalog.set(model.id, model)
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
    output: output?.shape === "lognormal"
      ? { shape: "lognormal", median: positive(output.median, 200), sigma: Math.max(0, output.sigma ?? 0.8) }
      : {
        shape: "share",
        min: share(output?.min, 0.2),
        max: Math.max(share(output?.min, 0.2), share(output?.max, 1))
      },
    models: Array.from(catalog.values()),
    charactersPerToken: positive(options.charactersPerToken, 3.5),
    maxRequestBytes: Math.floor(positive(options.maxRequestBytes, 32 * 1024 * 1024)),
    anthropicVersions: options.anthropicVersions ?? ["2023-06-01", "2026-10-21"],
    acceleration: options.acceleration === undefined ? undefined : {
      windowMillis: Duration.toMillis(options.acceleration.window ?? Duration.seconds(10)),
      growth: positive(options.acceleration.growth, 2),
      floor: options.acceleration.floor === undefined ? undefined : Math.max(1, options.acceleration.floor)
    },
    spendLimit: options.spendLimit === undefined ? undefined : {
      afterRequests: Math.max(0, Math.floor(options.spendLimit.afterRequests)),
      errorCode: options.spendLimit.errorCode ?? "enforced_spend_limit_reached"
    },
    batches: {
      completionDelayMillis: Duration.toMillis(options.batches?.completionDelay ?? Duration.minutes(1)),
      requestsPerMinute: positive(options.batches?.requestsPerMinute, 50),
      maxRequestsPerBatch: Math.floor(positive(options.batches?.maxRequestsPerBatch, 100_000)),
      maxQueuedRequests: Math.floor(positive(options.batches?.maxQueuedRequests, 100_000))
    },
    streamChunkTokens: Math.max(1, Math.floor(positive(options.streamChunkTokens, 4))),
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
      })),
      stream: {
        errorBeforeContentRate: share(options.faults?.stream?.errorBeforeContentRate, 0),
        errorMidStreamRate: share(options.faults?.stream?.errorMidStreamRate, 0),
        cutRate: share(options.faults?.stream?.cutRate, 0),
        afterDeltas: Math.max(0, Math.floor(options.faults?.stream?.afterDeltas ?? 3)),
        errorType: options.faults?.stream?.errorType ?? "overloaded_error"
      }
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
export const familyOf = (model: string, catalog: ReadonlyArray<ModelCatalog.Model> = ModelCatalog.models): string => {
  const known = ModelCatalog.find(catalog, model)
  if (known !== undefined) return known.family
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
  const family = familyOf(model, config.models)
  return { pool: family, limits: config.modelLimits[family] ?? config.limits }
}
