/**
 * When and how long to wait before sending a failed request again, as a
 * `Schedule` for `Effect.retry`, composed from effect's own schedules.
 *
 * The wait before each retry is, in order:
 * 1. what the server asked for: `retry-after-ms`, `retry-after`, then the
 *    reset of the exhausted bucket (see `RateLimitHeaders.retryDelay`), plus
 *    a small random spread so clients given the same `retry-after` do not
 *    all come back in the same millisecond;
 * 2. else exponential backoff (`baseDelay × 2^n`, capped at `maxDelay`) with
 *    jitter: `full` (default), `decorrelated`, `equal` or `none`.
 *
 * Only retryable errors are retried (`ClaudeError.isRetryable`). A server
 * wait longer than `maxHeaderWait` is not slept through: the schedule stops,
 * and {@link retry} fails with {@link RetryWaitTooLongError}. When retries run
 * out, {@link retry} fails with {@link MaxRetriesExceededError}.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as ClaudeError from "./ClaudeError.js"
import * as Backoff from "./internal/backoff.js"
import * as RetryLoop from "./internal/retryLoop.js"
import * as RetryPlan from "./internal/retryPlan.js"
import * as Telemetry from "./internal/retryTelemetry.js"
import type * as RateLimitHeaders from "./RateLimitHeaders.js"

/**
 * How backoff delays are spread:
 * - `full`: uniform in `[0, d]` (AWS "full jitter"; the best at spreading a herd)
 * - `equal`: `d/2` plus uniform in `[0, d/2]`
 * - `decorrelated`: uniform in `[baseDelay, 3 × previous]`, capped
 * - `none`: exactly `d`
 *
 * @since 0.1.0
 * @category models
 */
export type Jitter = Backoff.Jitter

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Retries after the first attempt. Default 5. */
  readonly maxRetries?: number | undefined
  /** First backoff delay. Default 1 second. */
  readonly baseDelay?: Duration.DurationInput | undefined
  /** Cap on any backoff delay. Default 60 seconds. */
  readonly maxDelay?: Duration.DurationInput | undefined
  /** Default `"full"`. */
  readonly jitter?: Jitter | undefined
  /** Upper bound of the random spread added to server-given waits. Default 500 ms. */
  readonly headerJitter?: Duration.DurationInput | undefined
  /**
   * Cap on any server-given wait; a longer one fails fast with `RetryWaitTooLongError`. Default 5 minutes.
   * A header beyond `RateLimitHeaders.maxPlausibleWait` (or too large to represent) is such a wait too.
   */
  readonly maxHeaderWait?: Duration.DurationInput | undefined
  /** Which errors are retried. Default `ClaudeError.isRetryable`. */
  readonly isRetryable?: ((error: unknown) => boolean) | undefined
  /**
   * Wait out an open circuit instead of failing: a `CircuitOpenError` is
   * retried after the time the circuit stays open (half-open rejections after
   * backoff), bounded by `maxHeaderWait`. For batch work that should pause
   * through an outage rather than lose requests; the API still sees only the
   * breaker's probes. Default `false`: fail fast.
   */
  readonly retryOnOpenCircuit?: boolean | undefined
  /**
   * Who waits out a server-given wait (`retry-after`, an exhausted bucket's
   * reset): `"sleep"` (default), the schedule sleeps before the retry;
   * `"gate"`, the schedule retries at once and an admission gate in front of
   * every attempt holds it (and every other request of the pool) until then.
   * Either way a wait beyond `maxHeaderWait` fails fast.
   */
  readonly headerWaits?: "sleep" | "gate" | undefined
  /**
   * Asked before each retry of a retryable error, e.g. a retry budget that
   * keeps a fleet of callers from multiplying the load on an overloaded API.
   * `false` stops the retries with {@link RetryBudgetExhaustedError}.
   */
  readonly allowRetry?: ((error: unknown) => Effect.Effect<boolean>) | undefined
}

/**
 * Options with every default filled in.
 *
 * @since 0.1.0
 * @category models
 */
export interface ResolvedOptions {
  readonly maxRetries: number
  readonly baseDelay: Duration.Duration
  readonly maxDelay: Duration.Duration
  readonly jitter: Jitter
  readonly headerJitter: Duration.Duration
  readonly maxHeaderWait: Duration.Duration
  readonly isRetryable: (error: unknown) => boolean
  readonly retryOnOpenCircuit: boolean
  readonly headerWaits: "sleep" | "gate"
  readonly allowRetry: (error: unknown) => Effect.Effect<boolean>
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const resolve = (options: Options = {}): ResolvedOptions => {
  const isRetryable = options.isRetryable ?? ClaudeError.isRetryable
  const retryOnOpenCircuit = options.retryOnOpenCircuit ?? false
  return {
    maxRetries: Math.max(0, Math.floor(options.maxRetries ?? 5)),
    baseDelay: Duration.decode(options.baseDelay ?? Duration.seconds(1)),
    maxDelay: Duration.decode(options.maxDelay ?? Duration.seconds(60)),
    jitter: options.jitter ?? "full",
    headerJitter: Duration.decode(options.headerJitter ?? Duration.millis(500)),
    maxHeaderWait: Duration.decode(options.maxHeaderWait ?? Duration.minutes(5)),
    isRetryable: retryOnOpenCircuit ? (error) => RetryPlan.isCircuitOpen(error) || isRetryable(error) : isRetryable,
    retryOnOpenCircuit,
    headerWaits: options.headerWaits ?? "sleep",
    allowRetry: options.allowRetry ?? (() => Effect.succeed(true))
  }
}

/**
 * Which rule chose a wait.
 *
 * @since 0.1.0
 * @category models
 */
export type Rule = ServerWait["rule"] | "backoff"

/**
 * A wait the other side asked for: the API's headers, or (with
 * `retryOnOpenCircuit`) the time an open circuit stays open.
 *
 * @since 0.1.0
 * @category models
 */
export interface ServerWait {
  readonly wait: Duration.Duration
  readonly rule: RateLimitHeaders.WaitRule | "circuit-open"
  /** For `bucket-reset`, the exhausted buckets whose latest reset was used. */
  readonly buckets: ReadonlyArray<RateLimitHeaders.BucketName>
}

/**
 * One decision of the policy: the output of the schedule.
 *
 * @since 0.1.0
 * @category models
 */
export interface RetryStep {
  /** The attempt that just failed, from 1. */
  readonly attempt: number
  readonly error: unknown
  readonly rule: Rule
  /** The wait before the next attempt, jitter included. */
  readonly delay: Duration.Duration
  /** The server-given wait before jitter, when a header rule (or an open circuit) applied. */
  readonly headerWait: Option.Option<ServerWait>
  /** `false` when the server asked for more than `maxHeaderWait`: the policy stops. */
  readonly withinLimit: boolean
  /** `false` when `allowRetry` refused (a retry budget ran out): the policy stops. */
  readonly allowed: boolean
}

/**
 * The names of the policy's metrics, for exporters and dashboards.
 *
 * @since 0.1.0
 * @category metrics
 */
export const metricNames = Telemetry.metricNames

/**
 * Retries that were scheduled, by error tag and rule.
 *
 * @since 0.1.0
 * @category metrics
 */
export const retriesTotal = Telemetry.retriesTotal

/**
 * Waits before retries, in seconds, by error tag and rule.
 *
 * @since 0.1.0
 * @category metrics
 */
export const retryWaitSeconds = Telemetry.retryWaitSeconds

/**
 * The backoff part of the policy alone: a schedule whose delays (and outputs)
 * are `baseDelay × 2^n`, capped at `maxDelay`, spread by `jitter`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const backoff = (options: Options = {}): Schedule.Schedule<Duration.Duration> => {
  const { baseDelay, jitter, maxDelay } = resolve(options)
  return Backoff.make(baseDelay, maxDelay, jitter)
}

/**
 * The retry policy as a `Schedule`: use it with `Effect.retry`. It stops on
 * an error that is not retryable, after `maxRetries` retries, or when the
 * server asks for a wait beyond `maxHeaderWait`. Each retry is logged (the
 * attempt, the wait, the rule that chose it and the header values behind it)
 * and counted in {@link retriesTotal} and {@link retryWaitSeconds}.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RetryPolicy } from "claude-rate-limiter"
 *
 * declare const send: Effect.Effect<string, unknown>
 * const sendWithRetries = Effect.retry(send, RetryPolicy.make({ maxRetries: 3 }))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Schedule.Schedule<RetryStep, unknown> => {
  const resolved = resolve(options)
  return backoff(resolved).pipe(
    Schedule.intersect(RetryPlan.sentRetries(resolved.maxRetries)),
    Schedule.intersect(Schedule.identity<unknown>()),
    Schedule.whileInput(resolved.isRetryable),
    Schedule.mapEffect(([[backoffDelay, failed], error]) =>
      RetryPlan.planStep(resolved, error, Math.max(1, failed), backoffDelay)
    ),
    Schedule.whileOutput((step) => step.withinLimit && step.allowed),
    Schedule.modifyDelay((step) => step.delay),
    Schedule.onDecision((step, decision) =>
      ScheduleDecision.isContinue(decision) ? Telemetry.logRetry(step) : Effect.void
    )
  )
}

/**
 * Retries ran out: every one of `attempts` attempts failed with a retryable
 * error, the last being `lastError`.
 *
 * @since 0.1.0
 * @category errors
 */
export class MaxRetriesExceededError<E = unknown> extends Data.TaggedError("MaxRetriesExceededError")<{
  readonly attempts: number
  readonly lastError: E
}> {
  override get message(): string {
    return `Gave up after ${this.attempts} attempts; last error: ${describe(this.lastError)}`
  }
}

/**
 * The server asked for a longer wait than `maxHeaderWait` allows. Rather than
 * sleeping for it, the call fails now with what the server said.
 *
 * @since 0.1.0
 * @category errors
 */
export class RetryWaitTooLongError<E = unknown> extends Data.TaggedError("RetryWaitTooLongError")<{
  readonly attempts: number
  readonly wait: Duration.Duration
  readonly maxWait: Duration.Duration
  readonly rule: ServerWait["rule"]
  readonly lastError: E
}> {
  override get message(): string {
    const wait = Duration.isFinite(this.wait) ? Duration.format(this.wait) : "longer than can be represented"
    return `The server asked to wait ${wait} (${this.rule}), more than the allowed ${
      Duration.format(this.maxWait)
    }; last error: ${describe(this.lastError)}`
  }
}

/**
 * The retry budget (`allowRetry`) refused another retry: too many requests
 * of the pool have been failing, and retrying would only add load. Nothing
 * more was sent.
 *
 * @since 0.2.0
 * @category errors
 */
export class RetryBudgetExhaustedError<E = unknown> extends Data.TaggedError("RetryBudgetExhaustedError")<{
  readonly attempts: number
  readonly lastError: E
}> {
  override get message(): string {
    return `The retry budget is spent: not retrying after ${this.attempts} attempts; last error: ${
      describe(this.lastError)
    }`
  }
}

const describe = (error: unknown): string =>
  error instanceof Error ? `${Telemetry.errorTag(error)}: ${error.message}` : Telemetry.errorTag(error)

/**
 * Every way {@link retry} gives up on a retryable error.
 *
 * @since 0.2.0
 * @category models
 */
export type GiveUpError<E> = MaxRetriesExceededError<E> | RetryWaitTooLongError<E> | RetryBudgetExhaustedError<E>

const giveUp = <E>(
  options: ResolvedOptions,
  error: E,
  attempts: number,
  refused: boolean
): Effect.Effect<never, E | GiveUpError<E>> => {
  if (!options.isRetryable(error)) {
    return Effect.fail(error)
  }
  if (attempts > options.maxRetries) {
    return Effect.fail(new MaxRetriesExceededError({ attempts, lastError: error }))
  }
  return Effect.flatMap(RetryPlan.serverWait(options, error), (wait): Effect.Effect<never, E | GiveUpError<E>> => {
    if (Option.isSome(wait) && Duration.greaterThan(wait.value.wait, options.maxHeaderWait)) {
      const { rule } = wait.value
      return Effect.fail(
        new RetryWaitTooLongError({
          attempts,
          wait: wait.value.wait,
          maxWait: options.maxHeaderWait,
          rule,
          lastError: error
        })
      )
    }
    return refused ? Effect.fail(new RetryBudgetExhaustedError({ attempts, lastError: error })) : Effect.fail(error)
  })
}

/**
 * Runs `self` under the policy, and says why it gave up: the last error as
 * is when it was not retryable, {@link MaxRetriesExceededError} when retries
 * ran out, {@link RetryWaitTooLongError} when the server asked for too long a
 * wait, {@link RetryBudgetExhaustedError} when `allowRetry` refused.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RetryPolicy } from "claude-rate-limiter"
 *
 * declare const send: Effect.Effect<string, unknown>
 * const sendWithRetries = send.pipe(RetryPolicy.retry({ maxRetries: 3 }))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const retry: {
  (options?: Options): <A, E, R>(
    self: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | GiveUpError<E>, R>
  <A, E, R>(
    self: Effect.Effect<A, E, R>,
    options?: Options
  ): Effect.Effect<A, E | GiveUpError<E>, R>
} = function(...args: ReadonlyArray<unknown>) {
  // data-last: the schedule is built once and shared by every call of the returned function
  if (args.length === 0 || !Effect.isEffect(args[0])) return retrier(args[0] as Options | undefined)
  return retrier(args[1] as Options | undefined)(args[0] as Effect.Effect<unknown, unknown, unknown>)
} as any

const retrier = (options: Options = {}) => {
  const resolved = resolve(options)
  const policy = make({ ...resolved, allowRetry: RetryLoop.notingRefusal(resolved.allowRetry) })
  return <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | GiveUpError<E>, R> =>
    RetryLoop.run(self, policy, (error: E, attempts, refused) => giveUp(resolved, error, attempts, refused))
}
