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
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as DateTime from "effect/DateTime"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as AdmissionStore from "./AdmissionStore.js"
import * as Adaptive from "./internal/adaptive.js"
import * as Telemetry from "./internal/admissionTelemetry.js"
import * as Budget from "./internal/budget.js"
import type * as Ledger from "./internal/ledger.js"
import * as Waiters from "./internal/waiters.js"
import * as RateLimitHeaders from "./RateLimitHeaders.js"
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
  Refused: { readonly rateLimits: RateLimitHeaders.RateLimitSnapshot; readonly signal: Signal }
  /** Sent, but no answer (timeout, lost connection, interruption): what it took stays taken. */
  Unknown: {}
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
 * scope closes first, the outcome is `Unknown`.
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
    /** The window once a pool's limits are known (slow start). Default 8. */
    readonly initial?: number | undefined
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
  /** The output tokens to reserve for a request with this `max_tokens`: the learned estimate, at most `maxTokens`. */
  readonly outputEstimate: (pool: string, maxTokens: number) => Effect.Effect<number>
  /** Whether the pool's retry budget allows another retry now. */
  readonly retryAllowed: (pool: string) => Effect.Effect<boolean>
  readonly status: (pool: string) => Effect.Effect<PoolStatus, AdmissionStore.AdmissionStoreError>
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

interface Gate {
  readonly pool: string
  readonly queue: Waiters.WaitQueue
  readonly window: Adaptive.ConcurrencyWindow
  readonly sendRate: Adaptive.SendRate | undefined
  readonly retryBudget: Adaptive.RetryBudget | undefined
  readonly telemetry: Telemetry.PoolTelemetry
  pumping: boolean
  again: boolean
  wakeAt: number
  timer: Fiber.RuntimeFiber<void> | undefined
  lastView: AdmissionStore.PoolView | undefined
  lastBlock: WaitReason | undefined
  inFlight: number
}

type Attempt =
  | { readonly _tag: "Granted"; readonly lease: AdmissionStore.Lease }
  | { readonly _tag: "Blocked"; readonly reason: WaitReason; readonly waitMillis: number }
  | Waiters.Refusal

// Refusals that ask the whole pool to wait; a concurrency 429 is the window's business, and a spend limit or a
// client error is not about time.
const embargoes = (signal: Signal): boolean =>
  signal === "rate-limit" || signal === "acceleration" || signal === "overloaded" || signal === "server-error"

const nothingCharged: AdmissionStore.Cost = { requests: 0, inputTokens: 0, outputTokens: 0, tokens: 0 }

const clampShare = (value: number | undefined, fallback: number) => Math.min(1, Math.max(0, value ?? fallback))

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
    const scope = yield* Effect.scope
    const threshold = clampShare(options.threshold, 0.05)
    const batchHoldBack = clampShare(options.batchHoldBack, 0.2)
    const windowMillis = Math.max(1, Duration.toMillis(options.window ?? Duration.minutes(1)))
    const maxServerWait = Duration.decode(options.maxServerWait ?? Duration.minutes(5))
    const maxServerWaitMillis = Duration.toMillis(maxServerWait)
    const pollMillis = Math.max(10, Duration.toMillis(options.pollInterval ?? Duration.millis(250)))
    const windowOptions: Adaptive.WindowOptions = {
      initial: Math.max(1, Math.floor(options.concurrency?.initial ?? 8)),
      max: Math.max(1, Math.floor(options.concurrency?.max ?? 256)),
      probeAfterMillis: Duration.toMillis(options.concurrency?.probeAfter ?? Duration.minutes(5))
    }
    const rateOptions: Adaptive.RateOptions | undefined = options.sendRate === false ? undefined : {
      beta: Math.min(0.99, Math.max(0.1, options.sendRate?.beta ?? 0.7)),
      scale: Math.max(0.01, options.sendRate?.scale ?? 0.4),
      minRate: Math.max(0.01, options.sendRate?.minRate ?? 0.5)
    }
    const budgetOptions: Adaptive.RetryBudgetOptions | undefined = options.retryBudget === false ? undefined : {
      maxTokens: Math.max(1, options.retryBudget?.maxTokens ?? 10),
      tokenRatio: Math.max(0, options.retryBudget?.tokenRatio ?? 0.1)
    }

    for (const [pool, limits] of Object.entries(options.limits ?? {})) {
      yield* store.configure(pool, {
        requests: limits.requestsPerMinute,
        inputTokens: limits.inputTokensPerMinute,
        outputTokens: limits.outputTokensPerMinute,
        tokens: limits.tokensPerMinute
      })
    }

    const gates = new Map<string, Gate>()
    const gateFor = (pool: string): Gate => {
      let gate = gates.get(pool)
      if (gate === undefined) {
        gate = {
          pool,
          queue: new Waiters.WaitQueue(),
          window: new Adaptive.ConcurrencyWindow(windowOptions),
          sendRate: rateOptions && new Adaptive.SendRate(rateOptions),
          retryBudget: budgetOptions && new Adaptive.RetryBudget(budgetOptions),
          telemetry: Telemetry.forPool(pool),
          pumping: false,
          again: false,
          wakeAt: Infinity,
          timer: undefined,
          lastView: undefined,
          lastBlock: undefined,
          inFlight: 0
        }
        gates.set(pool, gate)
      }
      return gate
    }

    const holdBackOf = (lane: Lane) => threshold + (lane === "batch" ? batchHoldBack : 0)

    const tryReserve = (gate: Gate, cost: AdmissionStore.Cost, holdBack: number, now: number) =>
      Effect.gen(function*() {
        const rateWait = gate.sendRate?.waitMillis(now) ?? 0
        if (rateWait > 0) {
          return { _tag: "Blocked", reason: "send-rate", waitMillis: rateWait } satisfies Attempt as Attempt
        }
        const result = yield* store.reserve(gate.pool, { cost, holdBack, maxInFlight: gate.window.size })
        switch (result._tag) {
          case "Granted": {
            gate.sendRate?.sent(now)
            gate.inFlight++
            return result
          }
          case "Blocked": {
            gate.lastView = result.view
            if (result.reason === "concurrency") gate.window.bound = true
            return { _tag: "Blocked", reason: result.reason, waitMillis: result.waitMillis } as Attempt
          }
          case "NeverFits":
            return result
        }
      })

    // Wakes the pump when the head of the queue may go: at a time, or (for a
    // store other processes share) soon, since their releases are not seen here.
    const scheduleWake = (gate: Gate, waitMillis: number, now: number): Effect.Effect<void> => {
      const wait = store.shared ? Math.min(waitMillis, pollMillis) : waitMillis
      if (!Number.isFinite(wait)) return Effect.void
      const at = now + Math.max(1, wait)
      if (gate.timer !== undefined && gate.wakeAt <= at) return Effect.void
      const previous = gate.timer
      gate.wakeAt = at
      return Effect.sleep(Duration.millis(at - now)).pipe(
        Effect.zipRight(Effect.suspend(() => {
          gate.timer = undefined
          gate.wakeAt = Infinity
          return pump(gate)
        })),
        // pumps run inside admission's uninterruptible regions; the timer they fork must not inherit that
        Effect.interruptible,
        Effect.forkIn(scope),
        Effect.flatMap((fiber) =>
          Effect.sync(() => {
            gate.timer = fiber
          })
        ),
        Effect.zipRight(previous === undefined ? Effect.void : Fiber.interruptFork(previous))
      )
    }

    const drain = (gate: Gate): Effect.Effect<void> =>
      Effect.gen(function*() {
        for (;;) {
          gate.again = false
          const head = gate.queue.head()
          if (head === undefined) return
          const now = yield* Clock.currentTimeMillis
          const attempt = yield* tryReserve(gate, head.cost, head.holdBack, now).pipe(
            // a store that cannot be reached: the waiters find out through their own attempt
            Effect.catchAll(() =>
              Effect.succeed<Attempt>({ _tag: "Blocked", reason: "cold-start", waitMillis: pollMillis })
            )
          )
          switch (attempt._tag) {
            case "Granted": {
              if (head.state === "waiting") {
                head.reason = gate.lastBlock
                gate.queue.take(head, "granted")
                yield* Deferred.succeed(head.resume, attempt.lease)
              } else {
                // interrupted while the store decided: nothing was sent
                yield* releaseLease(gate, attempt.lease, Outcome.NotSent())
              }
              continue
            }
            case "NeverFits": {
              gate.queue.take(head, "gone")
              yield* Deferred.fail(head.resume, attempt)
              continue
            }
            case "Blocked": {
              gate.lastBlock = attempt.reason
              yield* scheduleWake(gate, attempt.waitMillis, now)
              return
            }
          }
        }
      })

    // One drain at a time per pool; a trigger during a drain makes it go round again.
    const pump = (gate: Gate): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (gate.pumping) {
          gate.again = true
          return Effect.void
        }
        gate.pumping = true
        const round: Effect.Effect<void> = Effect.zipRight(
          drain(gate),
          Effect.suspend(() => (gate.again ? round : Effect.void))
        )
        return Effect.ensuring(
          round,
          Effect.sync(() => {
            gate.pumping = false
          })
        ).pipe(Effect.zipRight(Effect.sync(() => gate.telemetry.queueDepth(gate.queue))))
      })

    const predictWait = (gate: Gate, cost: AdmissionStore.Cost, lane: Lane, now: number): number => {
      const view = gate.lastView
      if (view === undefined) return 0
      let wait = Math.max(0, view.embargoUntil - now)
      if (!view.known) return wait
      const ahead = gate.queue.ahead(lane)
      const holdBack = holdBackOf(lane)
      for (const name of Budget.chargedBuckets(view.buckets, cost)) {
        const bucket = view.buckets[name]!
        const level = Math.min(bucket.capacity, bucket.level + Math.max(0, now - view.at) * bucket.rate)
        const need = Math.min(bucket.capacity, holdBack * bucket.capacity + cost[name]!) + ahead[name] - level
        if (need > 0 && bucket.rate > 0) wait = Math.max(wait, need / bucket.rate)
      }
      return wait
    }

    const observation = (
      snapshot: RateLimitHeaders.RateLimitSnapshot,
      now: number,
      streamed: boolean,
      embargo: boolean
    ): AdmissionStore.Observation => {
      const buckets: { [K in AdmissionStore.BudgetBucket]?: Budget.LevelBounds } = {}
      for (const name of Budget.budgetBuckets) {
        const reported = snapshot[name]
        if (Option.isNone(reported.limit)) continue
        const bounds = Budget.levelBounds({
          limit: reported.limit.value,
          remaining: Option.getOrUndefined(reported.remaining),
          resetAt: Option.getOrUndefined(Option.map(reported.reset, (reset) => reset.epochMillis)),
          now,
          windowMillis,
          exact: name === "requests",
          maxResetMillis: maxServerWaitMillis
        })
        if (bounds !== undefined) buckets[name] = bounds
      }
      // a refusal holds the pool until the server's time: retry-after, else the latest reset of the buckets it
      // says are exhausted (which also covers servers whose buckets do not refill continuously)
      const wait = embargo
        ? RateLimitHeaders.headerWait(snapshot, DateTime.unsafeMake(now)).pipe(Option.map((header) => header.wait))
        : Option.none()
      const embargoUntil = Option.isSome(wait)
        ? now + Math.min(maxServerWaitMillis, Math.max(0, Duration.toMillis(wait.value)))
        : undefined
      return { buckets, embargoUntil, includesOwnOutput: !streamed }
    }

    const settlementOf = (outcome: Outcome, now: number): AdmissionStore.Settlement => {
      switch (outcome._tag) {
        case "Served":
          return {
            // a request is a request: what was taken from the requests bucket is exact
            charged: {
              inputTokens: outcome.usage.inputTokens,
              outputTokens: outcome.usage.outputTokens,
              tokens: outcome.usage.inputTokens + outcome.usage.outputTokens
            },
            observation: observation(outcome.rateLimits, now, outcome.streamed, false),
            outputTokens: outcome.usage.outputTokens
          }
        case "Refused":
          return {
            charged: nothingCharged,
            observation: observation(outcome.rateLimits, now, false, embargoes(outcome.signal)),
            outputTokens: undefined
          }
        case "Unknown":
          return { charged: undefined, observation: undefined, outputTokens: undefined }
        case "NotSent":
          return { charged: nothingCharged, observation: undefined, outputTokens: undefined }
      }
    }

    const adapt = (gate: Gate, outcome: Outcome, now: number) =>
      Effect.sync(() => {
        switch (outcome._tag) {
          case "Served": {
            gate.window.served(now)
            gate.sendRate?.succeeded(now)
            gate.retryBudget?.succeeded()
            return
          }
          case "Refused": {
            switch (outcome.signal) {
              case "concurrency":
                gate.window.refused(gate.inFlight, now)
                return
              case "acceleration":
                gate.window.halve(now)
                gate.sendRate?.throttled(now)
                return
              case "overloaded":
                gate.sendRate?.throttled(now)
                gate.retryBudget?.failed()
                return
              case "server-error":
                gate.retryBudget?.failed()
                return
              default:
                return
            }
          }
          case "Unknown": {
            gate.retryBudget?.failed()
            return
          }
          case "NotSent": {
            gate.sendRate?.unsent()
            return
          }
        }
      })

    const releaseLease = (gate: Gate, lease: AdmissionStore.Lease, outcome: Outcome): Effect.Effect<void> =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        gate.inFlight = Math.max(0, gate.inFlight - 1)
        const view = yield* store.release(lease, settlementOf(outcome, now)).pipe(
          Effect.map(Option.some),
          Effect.catchAll((error) =>
            Effect.as(Effect.logWarning("Could not settle an admission lease", error), Option.none())
          )
        )
        yield* adapt(gate, outcome, now)
        if (outcome._tag === "Served" || outcome._tag === "Refused") {
          yield* rateLimitState.update(gate.pool, outcome.rateLimits)
        }
        if (Option.isSome(view)) {
          gate.lastView = view.value
          yield* gate.telemetry.released(gate, view.value)
        }
        yield* pump(gate)
      })

    const ticketFor = (
      gate: Gate,
      lease: AdmissionStore.Lease,
      waited: number,
      reason: WaitReason | undefined
    ): Effect.Effect<Ticket, never, Scope.Scope> => {
      let done = false
      const complete = (outcome: Outcome): Effect.Effect<void> =>
        Effect.suspend(() => {
          if (done) return Effect.void
          done = true
          return Effect.uninterruptible(releaseLease(gate, lease, outcome))
        })
      // a shared store reclaims leases a crashed process held; this process is alive, so it keeps renewing
      const renewal = Option.match(store.leaseRenewal, {
        onNone: () => Effect.void,
        onSome: (every) =>
          Effect.forkScoped(Effect.interruptible(
            store.renew(lease).pipe(
              Effect.catchAll((error) => Effect.logDebug("Could not renew an admission lease", error)),
              Effect.delay(every),
              Effect.forever
            )
          ))
      })
      return Effect.as(Effect.zipRight(Effect.addFinalizer(() => complete(Outcome.Unknown())), renewal), {
        pool: gate.pool,
        lease,
        waited: Duration.millis(waited),
        reason: Option.fromNullable(reason),
        complete
      })
    }

    const refuse = (gate: Gate, refusal: Waiters.Refusal) =>
      Effect.zipRight(
        gate.telemetry.refused("RequestExceedsLimitError"),
        Effect.fail(
          new RequestExceedsLimitError({
            pool: gate.pool,
            bucket: refusal.bucket,
            cost: refusal.cost,
            limit: refusal.limit
          })
        )
      )

    const tooLong = (gate: Gate, predicted: number, maxWait: number, reason: WaitReason) =>
      Effect.zipRight(
        gate.telemetry.refused("BudgetWaitTooLongError"),
        Effect.fail(
          new BudgetWaitTooLongError({
            pool: gate.pool,
            predictedWait: Duration.millis(Math.ceil(predicted)),
            maxWait: Duration.millis(maxWait),
            reason
          })
        )
      )

    const admit = (request: AdmitRequest) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          const gate = gateFor(request.pool)
          const lane: Lane = request.lane ?? "interactive"
          const holdBack = holdBackOf(lane)
          const deadline = request.deadline === undefined ? Infinity : Duration.toMillis(request.deadline)
          const start = yield* Clock.currentTimeMillis
          if (gate.queue.isEmpty && !gate.pumping) {
            const attempt = yield* tryReserve(gate, request.cost, holdBack, start)
            if (attempt._tag === "Granted") {
              yield* gate.telemetry.admitted(lane, 0, undefined, false)
              return yield* ticketFor(gate, attempt.lease, 0, undefined)
            }
            if (attempt._tag === "NeverFits") return yield* refuse(gate, attempt)
            gate.lastBlock = attempt.reason
          }
          const predicted = predictWait(gate, request.cost, lane, start)
          const embargo = Math.max(0, (gate.lastView?.embargoUntil ?? 0) - start)
          if (embargo > maxServerWaitMillis) {
            return yield* tooLong(gate, predicted, maxServerWaitMillis, "embargo")
          }
          if (predicted > deadline) {
            return yield* tooLong(gate, predicted, deadline, gate.lastBlock ?? "concurrency")
          }
          const waiter: Waiters.Waiter = {
            cost: request.cost,
            lane,
            holdBack,
            enqueuedAt: start,
            resume: yield* Deferred.make<AdmissionStore.Lease, Waiters.Refusal>(),
            state: "waiting",
            reason: undefined
          }
          gate.queue.add(waiter, request.retry === true)
          yield* gate.telemetry.queueDepth(gate.queue)
          yield* pump(gate)
          const leave = Effect.suspend(() => {
            if (waiter.state === "granted") {
              // granted as it was interrupted: it was never sent
              return Effect.flatMap(
                Deferred.await(waiter.resume),
                (lease) => releaseLease(gate, lease, Outcome.NotSent())
              ).pipe(Effect.ignore)
            }
            gate.queue.leave(waiter, "gone")
            return pump(gate)
          })
          const awaited = Number.isFinite(deadline)
            ? Effect.timeoutFail(Deferred.await(waiter.resume), {
              duration: Duration.millis(Math.max(0, deadline - (yield* Clock.currentTimeMillis) + start)),
              onTimeout: () => "timeout" as const
            })
            : Deferred.await(waiter.resume)
          const exit = yield* Effect.exit(restore(awaited))
          if (Exit.isSuccess(exit)) {
            const now = yield* Clock.currentTimeMillis
            yield* gate.telemetry.admitted(lane, now - start, waiter.reason, request.retry === true)
            return yield* ticketFor(gate, exit.value, now - start, waiter.reason)
          }
          yield* leave
          const failure = Cause.failureOption(exit.cause)
          if (Option.isNone(failure)) return yield* Effect.failCause(Cause.stripFailures(exit.cause))
          if (failure.value === "timeout") {
            const now = yield* Clock.currentTimeMillis
            const predictedMore = predictWait(gate, request.cost, lane, now)
            return yield* tooLong(gate, now - start + predictedMore, deadline, gate.lastBlock ?? "concurrency")
          }
          return yield* refuse(gate, failure.value)
        })
      )

    const outputEstimate = (pool: string, maxTokens: number) =>
      Effect.map(
        Effect.orElseSucceed(store.outputEstimate(pool), () => Option.none<number>()),
        (estimate) => Math.max(0, Math.min(maxTokens, Option.getOrElse(estimate, () => maxTokens)))
      )

    const status = (pool: string) =>
      Effect.map(store.view(pool), (view): PoolStatus => {
        const gate = gateFor(pool)
        return {
          pool,
          view,
          waiting: { interactive: gate.queue.depth("interactive"), batch: gate.queue.depth("batch") },
          inFlight: gate.inFlight,
          concurrencyWindow: gate.window.size,
          sendRate: Option.filter(Option.fromNullable(gate.sendRate), (rate) => rate.enabled).pipe(
            Option.map((rate) => rate.fillRate)
          ),
          retryTokens: Option.map(Option.fromNullable(gate.retryBudget), (budget) => budget.tokens)
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
      admit: options.enabled === false ? admitAtOnce : admit,
      outputEstimate,
      retryAllowed: (pool) => Effect.sync(() => gateFor(pool).retryBudget?.allowsRetry ?? true),
      status
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
