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
import type * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as AdmissionStore from "./AdmissionStore.js"
import * as Internal from "./internal/admission.js"
import * as AdmissionOptions from "./internal/admissionOptions.js"
import * as Telemetry from "./internal/admissionTelemetry.js"
import type * as Gate from "./internal/gate.js"
import type * as Ledger from "./internal/ledger.js"
import type * as Waiters from "./internal/waiters.js"
import type * as RateLimitHeaders from "./RateLimitHeaders.js"
import type * as RateLimitState from "./RateLimitState.js"

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
 * The API answered a request with the organisation's spend limit
 * (`SpendLimitReachedError`), and every request would get the same answer
 * until the limit resets or is raised: for `spendLimitHold` after it, every
 * request of every pool fails at once with this error, and nothing is sent.
 * Then one request goes to find out (the others still fail at once, with a
 * `remaining` of zero, until its answer); any answer but the spend limit
 * again ends the hold.
 *
 * @since 0.2.0
 * @category errors
 */
export class SpendLimitHoldError extends Data.TaggedError("SpendLimitHoldError")<{
  /** the pool whose request met the spend limit */
  readonly pool: string
  /** until a request goes to find out whether the limit still holds (zero: one is finding out now) */
  readonly remaining: Duration.Duration
}> {
  override get message(): string {
    return `The organisation's spend limit was reached (pool "${this.pool}"); nothing was sent. `
      + (Duration.toMillis(this.remaining) > 0
        ? `A request goes to find out whether it still holds in ${Duration.format(this.remaining)}`
        : "A request is finding out whether it still holds")
  }
}

/**
 * Why admission refused a request without sending it.
 *
 * @since 0.2.0
 * @category errors
 */
export type RefusalError = BudgetWaitTooLongError | RequestExceedsLimitError | SpendLimitHoldError

/**
 * A pool's limits per minute, known before any response tells them.
 *
 * @since 0.2.0
 * @category models
 */
export interface LimitsPerMinute extends AdmissionOptions.LimitsPerMinute {}

/**
 * @since 0.2.0
 * @category models
 */
export interface Options extends AdmissionOptions.Options {}

/**
 * Limits known in advance, from the environment: `CLAUDE_RATE_LIMITS`, a JSON
 * object from pool to limits per minute, e.g.
 * `{"claude-sonnet-4.x":{"requestsPerMinute":50,"inputTokensPerMinute":30000,"outputTokensPerMinute":8000}}`.
 * Absent means none; a value that does not decode is a `ConfigError` naming it.
 *
 * @since 0.2.0
 * @category config
 */
export const limitsConfig: Config.Config<Readonly<Record<string, LimitsPerMinute>>> = AdmissionOptions.limitsConfig

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
    RefusalError | AdmissionStore.AdmissionStoreError,
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
    E | RefusalError | AdmissionStore.AdmissionStoreError,
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

const toError = (failure: Gate.Failure): RefusalError => {
  switch (failure._tag) {
    case "TooLong":
      return new BudgetWaitTooLongError({
        pool: failure.pool,
        predictedWait: Duration.millis(failure.predictedMillis),
        maxWait: Duration.millis(failure.maxWaitMillis),
        reason: failure.reason
      })
    case "NeverFits":
      return new RequestExceedsLimitError({
        pool: failure.pool,
        bucket: failure.bucket,
        cost: failure.cost,
        limit: failure.limit
      })
    case "SpendHeld":
      return new SpendLimitHoldError({ pool: failure.pool, remaining: Duration.millis(failure.remainingMillis) })
  }
}

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
  Effect.map(Internal.make(options, toError), (service) => Admission.of({ [TypeId]: TypeId, ...service }))

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
