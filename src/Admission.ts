/**
 * The one gate every request of a pool passes before it is sent. It decides
 * *when* a request may go:
 *
 * - **buckets**: requests, input tokens and output tokens per minute, modelled
 *   as Anthropic documents them (continuous refill), calibrated by every
 *   response's headers (the `reset` tells a bucket's true level, debt
 *   included) and settled with each answer's real `usage`;
 * - **embargoes**: a 429's `retry-after` holds back every request of the pool;
 * - **concurrency**: a window on requests in flight that starts small, grows
 *   while it is what holds requests back, and shrinks to what the API
 *   accepted on its concurrent-requests 429;
 * - **send rate**: cut on 529s and acceleration-limit 429s, grown back along
 *   a cubic curve (the AWS SDKs' adaptive mode);
 * - **lanes**: interactive before batch, FIFO within a lane, and a share of
 *   each bucket kept for interactive traffic;
 * - **deadlines**: a request whose predicted wait exceeds its deadline fails
 *   at once with {@link BudgetWaitTooLongError}; one that can never fit a
 *   bucket fails at once with {@link RequestExceedsLimitError}.
 *
 * A request takes its cost when it is admitted, so waiters queue at the
 * refill rate instead of waking together; the lease is scoped: a request
 * interrupted while it waits takes nothing, and one that was never sent gives
 * everything back. Before a pool's limits are known (and unless they are
 * configured) one request goes alone and the rest wait for its headers.
 *
 * The budget itself lives in an {@link AdmissionStore.AdmissionStore}: in
 * memory by default, or shared between processes.
 *
 * @since 0.2.0
 */
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as AdmissionStore from "./AdmissionStore.js"
import * as Telemetry from "./internal/admissionTelemetry.js"
import * as Gate from "./internal/gate.js"
import type * as Ledger from "./internal/ledger.js"
import type * as Waiters from "./internal/waiters.js"
import type * as RateLimitHeaders from "./RateLimitHeaders.js"
import * as RateLimitState from "./RateLimitState.js"

/**
 * @since 0.2.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("claude-rate-limiter/Admission")

/**
 * @since 0.2.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * Interactive requests go first when budget is scarce, and batch requests
 * leave a share of each bucket to them.
 *
 * @since 0.2.0
 * @category models
 */
export type Lane = Waiters.Lane

/**
 * Why a request waited: a bucket, the server's embargo, the concurrency
 * window, the adaptive send rate, or a pool whose limits are not known yet.
 *
 * @since 0.2.0
 * @category models
 */
export type WaitReason = Ledger.BlockReason | "send-rate"

/**
 * @since 0.2.0
 * @category models
 */
export interface AdmitRequest {
  readonly pool: string
  readonly cost: AdmissionStore.Cost
  /** Default `"interactive"`. */
  readonly lane?: Lane | undefined
  /** Fail at once when the predicted wait is longer; fail when waiting longer. */
  readonly deadline?: Duration.DurationInput | undefined
  /** A retry keeps its turn: it goes to the front of its lane. */
  readonly retry?: boolean | undefined
}

/**
 * What a request used, from the answer's `usage`. Input counts toward input
 * tokens per minute as `input_tokens + cache_creation_input_tokens`.
 *
 * @since 0.2.0
 * @category models
 */
export interface Usage {
  readonly inputTokens: number
  readonly outputTokens: number
}

/**
 * What the API's refusal says about the pool.
 *
 * @since 0.2.0
 * @category models
 */
export type Signal =
  | "rate-limit"
  | "concurrency"
  | "acceleration"
  | "spend-limit"
  | "overloaded"
  | "server-error"
  | "client-error"

/**
 * How an admitted request ended, as the caller tells it.
 *
 * @since 0.2.0
 * @category models
 */
export type Outcome = Data.TaggedEnum<{
  /** Served: what it took is settled against its real usage. */
  Served: {
    readonly rateLimits: RateLimitHeaders.RateLimitSnapshot
    readonly usage: Usage
    /** `true` for a stream, whose headers were sent before its output was produced. */
    readonly streamed: boolean
  }
  /** Answered with an error: nothing was charged. */
  Refused: {
    readonly rateLimits: RateLimitHeaders.RateLimitSnapshot
    readonly signal: Signal
    /** For a concurrent-requests 429 that says its limit: the most requests the API allows in flight. */
    readonly limit?: number | undefined
  }
  /** Sent, but no answer (timeout, lost connection): what it took stays taken. */
  Unknown: {}
  /** The caller gave up (interruption) before an answer: what it took stays taken; says nothing about the API. */
  Abandoned: {}
  /** Never sent (an open circuit refused it): everything is given back. */
  NotSent: {}
}>

/**
 * @since 0.2.0
 * @category constructors
 */
export const Outcome = Data.taggedEnum<Outcome>()

/**
 * An admitted request. Tell admission how it ended with `complete`; if the
 * scope closes first, the outcome is `Abandoned`.
 *
 * @since 0.2.0
 * @category models
 */
export interface Ticket {
  readonly pool: string
  readonly lease: AdmissionStore.Lease
  /** How long the request waited for admission. */
  readonly waited: Duration.Duration
  /** What held it back, when it waited. */
  readonly reason: Option.Option<WaitReason>
  readonly complete: (outcome: Outcome) => Effect.Effect<void>
}

/**
 * The request waited, or would have waited, longer than allowed: its
 * deadline, or (for a server embargo) `maxServerWait`.
 *
 * @since 0.2.0
 * @category errors
 */
export class BudgetWaitTooLongError extends Data.TaggedError("BudgetWaitTooLongError")<{
  readonly pool: string
  /** The wait admission predicted for the request. */
  readonly predictedWait: Duration.Duration
  /** The longest wait that was allowed. */
  readonly maxWait: Duration.Duration
  readonly reason: WaitReason
}> {
  override get message(): string {
    return `Pool "${this.pool}" needs about ${Duration.format(this.predictedWait)} (${this.reason}) before this `
      + `request may be sent, more than the ${Duration.format(this.maxWait)} allowed; nothing was sent`
  }
}

/**
 * The request costs more than the whole bucket: it can never be sent. Nothing
 * was sent, and nothing else waits behind it.
 *
 * @since 0.2.0
 * @category errors
 */
export class RequestExceedsLimitError extends Data.TaggedError("RequestExceedsLimitError")<{
  readonly pool: string
  readonly bucket: AdmissionStore.BudgetBucket
  readonly cost: number
  readonly limit: number
}> {
  override get message(): string {
    return `This request needs ${this.cost.toLocaleString("en-US")} ${this.bucket} but pool "${this.pool}" allows `
      + `${this.limit.toLocaleString("en-US")} per minute: it can never be sent`
  }
}

/**
 * A pool's limits per minute, known before any response tells them.
 *
 * @since 0.2.0
 * @category models
 */
export interface LimitsPerMinute {
  readonly requestsPerMinute?: number | undefined
  readonly inputTokensPerMinute?: number | undefined
  readonly outputTokensPerMinute?: number | undefined
  /** Only for APIs that report a combined token limit. */
  readonly tokensPerMinute?: number | undefined
}

/**
 * @since 0.2.0
 * @category models
 */
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

/**
 * Limits known in advance, from the environment: `CLAUDE_RATE_LIMITS`, a JSON
 * object from pool to limits per minute, e.g.
 * `{"claude-sonnet-4.x":{"requestsPerMinute":50,"inputTokensPerMinute":30000,"outputTokensPerMinute":8000}}`.
 * Absent means none; a value that does not decode is a `ConfigError` naming it.
 *
 * @since 0.2.0
 * @category config
 */
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

/**
 * A pool's admission state, for dashboards and tests.
 *
 * @since 0.2.0
 * @category models
 */
export interface PoolStatus {
  readonly pool: string
  readonly view: AdmissionStore.PoolView
  readonly waiting: { readonly [K in Lane]: number }
  readonly inFlight: number
  readonly concurrencyWindow: number
  /** Requests per second allowed by the adaptive send rate, when it is cut. */
  readonly sendRate: Option.Option<number>
  /** Tokens left in the retry budget. */
  readonly retryTokens: Option.Option<number>
}

/**
 * @since 0.2.0
 * @category models
 */
export interface Admission {
  readonly [TypeId]: TypeId
  /**
   * Waits until the pool can pay the request's cost, takes it, and returns a
   * ticket. The ticket's lease is released when the scope closes.
   */
  readonly admit: (
    request: AdmitRequest
  ) => Effect.Effect<
    Ticket,
    BudgetWaitTooLongError | RequestExceedsLimitError | AdmissionStore.AdmissionStoreError,
    Scope.Scope
  >
  /**
   * Admits the request, runs `use` with its ticket, and releases the lease
   * however `use` ends (as `Abandoned` if `use` did not `complete` it): the
   * same as `admit` without a `Scope`, which is cheaper on every request.
   */
  readonly withTicket: <A, E, R>(
    request: AdmitRequest,
    use: (ticket: Ticket) => Effect.Effect<A, E, R>
  ) => Effect.Effect<
    A,
    E | BudgetWaitTooLongError | RequestExceedsLimitError | AdmissionStore.AdmissionStoreError,
    R
  >
  /** The output tokens to reserve for a request with this `max_tokens`: the learned estimate, at most `maxTokens`. */
  readonly outputEstimate: (pool: string, maxTokens: number) => Effect.Effect<number>
  /** Whether the pool's retry budget allows another retry now. */
  readonly retryAllowed: (pool: string) => Effect.Effect<boolean>
  readonly status: (pool: string) => Effect.Effect<PoolStatus, AdmissionStore.AdmissionStoreError>
  /**
   * `false` when the gate lets everything through (`enabled: false`): a
   * retry must then wait out the server's `retry-after` itself.
   */
  readonly gating: boolean
}

/**
 * @since 0.2.0
 * @category tags
 */
export const Admission: Context.Tag<Admission, Admission> = Context.GenericTag<Admission>(
  "claude-rate-limiter/Admission"
)

/**
 * The pool a model's requests share. Anthropic's limits are per model class:
 * `claude-sonnet-4-6` and `claude-sonnet-4-5` share `claude-sonnet-4.x`;
 * older ids (`claude-3-5-haiku-20241022`) get their version's pool
 * (`claude-haiku-3.5`). An id that names no known family is its own pool.
 *
 * @since 0.2.0
 * @category pools
 */
export const modelPool = (model: string): string => {
  const current = /^claude-(opus|sonnet|haiku)-(\d+)(?:-|$)/.exec(model)
  if (current !== null) return `claude-${current[1]}-${current[2]}.x`
  const legacy = /^claude-(\d+)(?:-(\d))?-(opus|sonnet|haiku)(?:-|$)/.exec(model)
  if (legacy !== null) return `claude-${legacy[3]}-${legacy[1]}${legacy[2] === undefined ? "" : `.${legacy[2]}`}`
  return model
}

/**
 * Metrics of admission, by pool (and lane, bucket, reason).
 *
 * @since 0.2.0
 * @category metrics
 */
export const metrics = Telemetry.metrics

const clampShare = (value: number | undefined, fallback: number) => Math.min(1, Math.max(0, value ?? fallback))

const toError = (failure: Gate.Failure): BudgetWaitTooLongError | RequestExceedsLimitError =>
  failure._tag === "TooLong"
    ? new BudgetWaitTooLongError({
      pool: failure.pool,
      predictedWait: Duration.millis(failure.predictedMillis),
      maxWait: Duration.millis(failure.maxWaitMillis),
      reason: failure.reason
    })
    : new RequestExceedsLimitError({
      pool: failure.pool,
      bucket: failure.bucket,
      cost: failure.cost,
      limit: failure.limit
    })

/**
 * Builds the gate over the `AdmissionStore` in context (an in-memory one of
 * its own when there is none) and the `RateLimitState` it folds every
 * response into.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<Admission, AdmissionStore.AdmissionStoreError, RateLimitState.RateLimitState | Scope.Scope> =>
  Effect.gen(function*() {
    const store = yield* Effect.serviceOption(AdmissionStore.AdmissionStore).pipe(
      Effect.flatMap(Option.match({
        onNone: () => AdmissionStore.makeMemory({ window: options.window }),
        onSome: Effect.succeed
      }))
    )
    const rateLimitState = yield* RateLimitState.RateLimitState
    for (const [pool, limits] of Object.entries(options.limits ?? {})) {
      yield* store.configure(pool, {
        requests: limits.requestsPerMinute,
        inputTokens: limits.inputTokensPerMinute,
        outputTokens: limits.outputTokensPerMinute,
        tokens: limits.tokensPerMinute
      })
    }
    const gates = Gate.make(store, rateLimitState, yield* Effect.scope, {
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
      retryBudget: options.retryBudget === false ? undefined : {
        maxTokens: Math.max(1, options.retryBudget?.maxTokens ?? 10),
        tokenRatio: Math.max(0, options.retryBudget?.tokenRatio ?? 0.1)
      }
    })

    // admission off: nothing waits, nothing is reserved; what the API says is still recorded
    const admitAtOnce = (request: AdmitRequest): Effect.Effect<Ticket, never, Scope.Scope> =>
      Effect.sync((): Ticket => ({
        pool: request.pool,
        lease: { id: "", pool: request.pool, taken: {}, output: 0, sequence: 0, grantedAt: 0 },
        waited: Duration.zero,
        reason: Option.none(),
        complete: (outcome) =>
          outcome._tag === "Served" || outcome._tag === "Refused"
            ? rateLimitState.update(request.pool, outcome.rateLimits)
            : Effect.void
      }))

    return Admission.of({
      [TypeId]: TypeId,
      gating: options.enabled !== false,
      admit: options.enabled === false
        ? admitAtOnce
        : (request) =>
          Effect.catchAll(
            gates.admit(request),
            (failure) => Effect.fail(failure._tag === "AdmissionStoreError" ? failure : toError(failure))
          ),
      withTicket: options.enabled === false
        ? (request, use) => Effect.flatMap(admitAtOnce(request).pipe(Effect.scoped), use)
        : (request, use) => gates.withTicket(request, use, toError),
      outputEstimate: gates.outputEstimate,
      retryAllowed: gates.retryAllowed,
      status: gates.status
    })
  })

/**
 * The gate over the `AdmissionStore` in context, or an in-memory one.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<Admission, AdmissionStore.AdmissionStoreError, RateLimitState.RateLimitState> =>
  Layer.scoped(Admission, make(options))
