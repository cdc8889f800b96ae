/**
 * Admission's options: what a caller may set, the limits known in advance
 * read from the environment (`CLAUDE_RATE_LIMITS`), and every default and
 * bound filled in for the gate.
 *
 * @internal
 */
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type * as Gate from "./gate.js"

/** @internal */
export interface LimitsPerMinute {
  readonly requestsPerMinute?: number | undefined
  readonly inputTokensPerMinute?: number | undefined
  readonly outputTokensPerMinute?: number | undefined
  /** Only for APIs that report a combined token limit. */
  readonly tokensPerMinute?: number | undefined
}

/** @internal */
export interface Options {
  /**
   * Share of each bucket kept in reserve for what this process cannot see
   * (other clients of the organisation). Between 0 and 1; default 0.05.
   */
  readonly threshold?: number | undefined
  /** Share of each bucket batch requests leave for interactive ones. Default 0.2. */
  readonly batchHoldBack?: number | undefined
  readonly concurrency?: {
    /** The window once a pool's limits are known. Default 8. */
    readonly initial?: number | undefined
    /**
     * Up to this size the window doubles every round trip (slow start);
     * beyond it, it grows by one request a round trip, so that it passes the
     * API's concurrency cap by one request, not a burst. Default 16.
     */
    readonly slowStartUntil?: number | undefined
    /** The largest window. Default 256. */
    readonly max?: number | undefined
    /** After this long without a concurrent-requests 429, probe one above the learned ceiling. Default 5 minutes. */
    readonly probeAfter?: Duration.DurationInput | undefined
  } | undefined
  /** A server embargo longer than this fails requests at once instead of queueing them. Default 5 minutes. */
  readonly maxServerWait?: Duration.DurationInput | undefined
  /** Pools whose limits are known in advance: no cold start for them. */
  readonly limits?: Readonly<Record<string, LimitsPerMinute>> | undefined
  /** The adaptive send rate cut on overload; `false` for none. */
  readonly sendRate?:
    | { readonly beta?: number | undefined; readonly scale?: number | undefined; readonly minRate?: number | undefined }
    | false
    | undefined
  /** Retry throttling (gRPC's): failures spend a token, successes earn `tokenRatio`; `false` for none. */
  readonly retryBudget?:
    | { readonly maxTokens?: number | undefined; readonly tokenRatio?: number | undefined }
    | false
    | undefined
  /**
   * After the API answers with the organisation's spend limit, how long every
   * request fails at once with `SpendLimitHoldError` before one goes to find
   * out whether the limit still holds. `false`: send every request anyway.
   * Default 1 minute.
   */
  readonly spendLimitHold?: Duration.DurationInput | false | undefined
  /** How often waiters re-check a budget that other processes share. Default 250 ms. */
  readonly pollInterval?: Duration.DurationInput | undefined
  /** The refill window of the buckets. Default 1 minute. */
  readonly window?: Duration.DurationInput | undefined
  /**
   * `false` lets every request through at once (responses are still folded
   * into the `RateLimitState`): for comparisons, and for callers who pace
   * traffic themselves. Default `true`.
   */
  readonly enabled?: boolean | undefined
}

const LimitsPerMinuteSchema = Schema.Struct({
  requestsPerMinute: Schema.optional(Schema.Number.pipe(Schema.positive(), Schema.finite())),
  inputTokensPerMinute: Schema.optional(Schema.Number.pipe(Schema.positive(), Schema.finite())),
  outputTokensPerMinute: Schema.optional(Schema.Number.pipe(Schema.positive(), Schema.finite())),
  tokensPerMinute: Schema.optional(Schema.Number.pipe(Schema.positive(), Schema.finite()))
})

const LimitsFromJson = Schema.parseJson(Schema.Record({ key: Schema.String, value: LimitsPerMinuteSchema }))

/** `CLAUDE_RATE_LIMITS`, decoded; absent means none. @internal */
export const limitsConfig: Config.Config<Readonly<Record<string, LimitsPerMinute>>> = Config.option(
  Config.string("CLAUDE_RATE_LIMITS")
).pipe(
  Config.mapOrFail((text) =>
    Option.match(text, {
      onNone: () => Either.right({}),
      onSome: (json) =>
        Either.mapLeft(
          Schema.decodeUnknownEither(LimitsFromJson)(json),
          (error) =>
            ConfigError.InvalidData(
              ["CLAUDE_RATE_LIMITS"],
              `expected {"<pool>": {"requestsPerMinute": n, …}}: ${
                ParseResult.TreeFormatter.formatErrorSync(error).slice(0, 300)
              }`
            )
        )
    })
  )
)

const clampShare = (value: number | undefined, fallback: number) => Math.min(1, Math.max(0, value ?? fallback))

/** The gate's options: every default filled in, every value within its bounds. @internal */
export const gateOptions = (options: Options): Gate.GateOptions => ({
  threshold: clampShare(options.threshold, 0.05),
  batchHoldBack: clampShare(options.batchHoldBack, 0.2),
  windowMillis: Math.max(1, Duration.toMillis(options.window ?? Duration.minutes(1))),
  maxServerWaitMillis: Duration.toMillis(options.maxServerWait ?? Duration.minutes(5)),
  pollMillis: Math.max(10, Duration.toMillis(options.pollInterval ?? Duration.millis(250))),
  window: {
    initial: Math.max(1, Math.floor(options.concurrency?.initial ?? 8)),
    slowStartUntil: Math.max(1, Math.floor(options.concurrency?.slowStartUntil ?? 16)),
    max: Math.max(1, Math.floor(options.concurrency?.max ?? 256)),
    probeAfterMillis: Duration.toMillis(options.concurrency?.probeAfter ?? Duration.minutes(5))
  },
  sendRate: options.sendRate === false ? undefined : {
    beta: Math.min(0.99, Math.max(0.1, options.sendRate?.beta ?? 0.7)),
    scale: Math.max(0.01, options.sendRate?.scale ?? 0.4),
    minRate: Math.max(0.01, options.sendRate?.minRate ?? 0.5)
  },
  spendLimitHoldMillis: options.spendLimitHold === false
    ? undefined
    : Math.max(0, Duration.toMillis(options.spendLimitHold ?? Duration.minutes(1))),
  retryBudget: options.retryBudget === false ? undefined : {
    maxTokens: Math.max(1, options.retryBudget?.maxTokens ?? 10),
    tokenRatio: Math.max(0, options.retryBudget?.tokenRatio ?? 0.1)
  }
})
