/**
 * A circuit breaker that fails fast while the API is down or throttling
 * hard, instead of piling more requests onto it.
 *
 * - Closed: calls go through. It opens after `failureThreshold` consecutive
 *   failures that count (overloads, 5xx, timeouts, lost connections; not
 *   rate-limit 429s, which mean the API is up and pacing us, and not client
 *   errors), or, when `failureRate` is set, when the
 *   share of failures among the last `windowSize` calls reaches `threshold`
 *   (once at least `minimumCalls` calls were seen).
 * - Open: calls fail at once with {@link CircuitOpenError} and nothing is
 *   sent; rejections are not counted as failures. It stays open for
 *   `cooldown`, or until the wait the last failure's headers named
 *   (`retry-after`, the exhausted bucket's reset) when that is later.
 * - Half-open: at most `halfOpenProbes` calls are in flight *in total*,
 *   however many fibers try, counting calls admitted before the transition
 *   that are still running; a success closes the circuit, a failure opens it
 *   again for another cooldown.
 *
 * Cooldowns are timed on the monotonic clock: a wall clock set back a day
 * does not keep the circuit open a day longer (nor does one set forward cut
 * the cooldown short), and `CircuitOpenError.remaining` is never negative
 * nor more than the period the circuit was opened for.
 *
 * The state changes in synchronous steps; every transition is published on
 * {@link CircuitBreaker.changes}, logged, and set on the
 * {@link circuitStateGauge} metric.
 *
 * @since 0.1.0
 */
import type * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberHandle from "effect/FiberHandle"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as ClaudeError from "./ClaudeError.js"
import * as RateLimitHeaders from "./RateLimitHeaders.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("claude-rate-limiter/CircuitBreaker")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * The state of a breaker as callers see it.
 *
 * @since 0.1.0
 * @category models
 */
export type CircuitState = Data.TaggedEnum<{
  Closed: {}
  Open: { readonly openedAt: DateTime.Utc; readonly until: DateTime.Utc }
  HalfOpen: {}
}>

/**
 * @since 0.1.0
 * @category constructors
 */
export const CircuitState = Data.taggedEnum<CircuitState>()

/**
 * The call was not sent because the circuit is open (or half-open with every
 * probe slot taken). `remaining` is the time until probes are let through
 * again (zero when half-open).
 *
 * @since 0.1.0
 * @category errors
 */
export class CircuitOpenError extends Data.TaggedError("CircuitOpenError")<{
  readonly name: string
  readonly state: "Open" | "HalfOpen"
  readonly remaining: Duration.Duration
}> {
  override get message(): string {
    return this.state === "Open"
      ? `Circuit "${this.name}" is open; next probe in ${Duration.format(this.remaining)}`
      : `Circuit "${this.name}" is half-open and its probe slots are taken`
  }
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Names the breaker in errors, logs and metrics. Default `"claude"`. */
  readonly name?: string | undefined
  /** Consecutive failures that open the circuit. Default 5. */
  readonly failureThreshold?: number | undefined
  /** Also open on a failure rate over a count-based sliding window (resilience4j style). Off by default. */
  readonly failureRate?:
    | {
      /** Share of failures, between 0 and 1, that opens the circuit. */
      readonly threshold: number
      /** How many of the latest calls the window holds. */
      readonly windowSize: number
      /** Calls the window must hold before the rate is judged. Default: `windowSize`. */
      readonly minimumCalls?: number | undefined
    }
    | undefined
  /** How long the circuit stays open. Default 60 seconds. */
  readonly cooldown?: Duration.DurationInput | undefined
  /** Upper bound on a header-derived open period. Default 10 minutes. */
  readonly maxCooldown?: Duration.DurationInput | undefined
  /** Calls let through at once while half-open. Default 1. */
  readonly halfOpenProbes?: number | undefined
  /** Which errors count as failures. Default `ClaudeError.isServiceFailure`; other errors count as successes. */
  readonly isFailure?: ((error: unknown) => boolean) | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface CircuitBreaker {
  readonly [TypeId]: TypeId
  readonly name: string
  /** Runs `effect` if the circuit lets it through, and records how it went. */
  readonly protect: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | CircuitOpenError, R>
  /**
   * Fails with {@link CircuitOpenError} while the circuit is open, without
   * taking a probe slot: lets a caller fail fast before queueing for budget.
   */
  readonly check: Effect.Effect<void, CircuitOpenError>
  readonly state: Effect.Effect<CircuitState>
  /** The current state, then every transition. */
  readonly changes: Stream.Stream<CircuitState>
}

/**
 * @since 0.1.0
 * @category tags
 */
export const CircuitBreaker: Context.Tag<CircuitBreaker, CircuitBreaker> = Context.GenericTag<CircuitBreaker>(
  "claude-rate-limiter/CircuitBreaker"
)

/**
 * The state of each breaker: 0 closed, 1 half-open, 2 open.
 *
 * @since 0.1.0
 * @category metrics
 */
export const circuitStateGauge = Metric.gauge("claude_rate_limiter_circuit_state", {
  description: "Circuit breaker state: 0 closed, 1 half-open, 2 open"
})

// Every transition starts a new generation. A call records its outcome only
// if the generation it was admitted in is still current, so a slow call
// admitted while closed cannot reopen (or close) a circuit that has moved on.
type Internal =
  | {
    readonly _tag: "Closed"
    readonly generation: number
    readonly consecutiveFailures: number
    readonly window: ReadonlyArray<boolean>
  }
  | {
    readonly _tag: "Open"
    readonly generation: number
    /** on the monotonic clock, as `until` */
    readonly openedAt: number
    readonly until: number
    /** the wall clock when it opened, to report `openedAt` and `until` as dates */
    readonly openedAtWall: number
  }
  | { readonly _tag: "HalfOpen"; readonly generation: number }

interface Permit {
  readonly generation: number
}

// The breaker's own times (the cooldown, the time left) run on the monotonic clock (`process.hrtime` under the
// default Clock), so that a wall clock set back or forward neither stretches nor skips a cooldown; the wall clock
// only reads server waits (`retry-after`, resets) and dates what it reports.
interface Now {
  readonly monotonic: number
  readonly wall: number
}

const nowOf = (clock: Clock.Clock): Now => ({
  monotonic: Number(clock.unsafeCurrentTimeNanos() / 1_000_000n),
  wall: clock.unsafeCurrentTimeMillis()
})

type Outcome = { readonly _tag: "Success" } | { readonly _tag: "Failure"; readonly error: unknown } | {
  readonly _tag: "Abandoned"
}

const closed = (generation: number): Internal => ({
  _tag: "Closed",
  generation,
  consecutiveFailures: 0,
  window: []
})

const toPublic = (state: Internal): CircuitState => {
  switch (state._tag) {
    case "Closed":
      return CircuitState.Closed()
    case "HalfOpen":
      return CircuitState.HalfOpen()
    case "Open":
      return CircuitState.Open({
        openedAt: DateTime.unsafeMake(state.openedAtWall),
        until: DateTime.unsafeMake(state.openedAtWall + (state.until - state.openedAt))
      })
  }
}

const gaugeValue = (state: CircuitState): number => state._tag === "Closed" ? 0 : state._tag === "HalfOpen" ? 1 : 2

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<CircuitBreaker, never, Scope.Scope> =>
  Effect.gen(function*() {
    const name = options.name ?? "claude"
    const failureThreshold = Math.max(1, options.failureThreshold ?? 5)
    const cooldown = Duration.toMillis(options.cooldown ?? Duration.seconds(60))
    const maxCooldown = Math.max(cooldown, Duration.toMillis(options.maxCooldown ?? Duration.minutes(10)))
    const halfOpenProbes = Math.max(1, options.halfOpenProbes ?? 1)
    const isFailure = options.isFailure ?? ClaudeError.isServiceFailure
    const rate = options.failureRate
    const windowSize = rate === undefined ? 0 : Math.max(1, rate.windowSize)
    const minimumCalls = rate === undefined ? 0 : Math.min(windowSize, Math.max(1, rate.minimumCalls ?? windowSize))

    // The state changes in synchronous steps (atomic between fibers), on every call; subscribers are told only of
    // transitions, through the PubSub, so the hot path takes no lock.
    let current: Internal = closed(0)
    const transitions = yield* PubSub.sliding<CircuitState>(64)
    // calls admitted and not yet finished, in every state
    let inFlight = 0
    const timer = yield* FiberHandle.make<void, never>()
    const gauge = Metric.tagged(circuitStateGauge, "circuit", name)
    yield* Metric.set(gauge, 0)

    const openUntil = (now: Now, error: Option.Option<unknown>): number => {
      const hinted = Option.flatMap(
        Option.filter(error, ClaudeError.isResponseError),
        (failure) => RateLimitHeaders.retryDelay(failure.rateLimits, DateTime.unsafeMake(now.wall))
      )
      const hintMillis = Option.getOrElse(Option.map(hinted, Duration.toMillis), () => 0)
      return now.monotonic + Math.min(maxCooldown, Math.max(cooldown, hintMillis))
    }

    const open = (previous: Internal, now: Now, error: unknown): Internal => ({
      _tag: "Open",
      generation: previous.generation + 1,
      openedAt: now.monotonic,
      until: openUntil(now, Option.some(error)),
      openedAtWall: now.wall
    })

    const trips = (state: Internal & { readonly _tag: "Closed" }): boolean => {
      if (state.consecutiveFailures >= failureThreshold) return true
      if (rate === undefined || state.window.length < minimumCalls) return false
      const failures = state.window.filter((failed) => failed).length
      return failures / state.window.length >= rate.threshold
    }

    const record = (state: Internal, permit: Permit, outcome: Outcome, now: Now): Internal => {
      if (state.generation !== permit.generation) return state
      switch (state._tag) {
        case "Open":
          return state
        case "HalfOpen":
          return outcome._tag === "Success"
            ? closed(state.generation + 1)
            : outcome._tag === "Failure"
            ? open(state, now, outcome.error)
            : state
        case "Closed": {
          if (outcome._tag === "Abandoned") return state
          const failed = outcome._tag === "Failure"
          const next: Internal = {
            ...state,
            consecutiveFailures: failed ? state.consecutiveFailures + 1 : 0,
            window: windowSize === 0 ? state.window : [...state.window, failed].slice(-windowSize)
          }
          return failed && trips(next) ? open(state, now, outcome.error) : next
        }
      }
    }

    // never negative, never more than the period it was opened for
    const remainingOf = (state: Internal & { readonly _tag: "Open" }, now: Now): Duration.Duration =>
      Duration.millis(Math.min(state.until - state.openedAt, Math.max(0, state.until - now.monotonic)))

    const toHalfOpen = (state: Internal, now: Now): Internal =>
      state._tag === "Open" && now.monotonic >= state.until
        ? { _tag: "HalfOpen", generation: state.generation + 1 }
        : state

    // Publishes a transition: log, gauge, and the timer that half-opens an open circuit.
    const transitioned = (before: Internal, after: Internal): Effect.Effect<void> => {
      if (before._tag === after._tag && before.generation === after.generation) return Effect.void
      const state = toPublic(after)
      const log = after._tag === "Open"
        ? Effect.logWarning(`Circuit "${name}" opened`).pipe(
          Effect.annotateLogs({
            circuit: name,
            until: DateTime.formatIso(DateTime.unsafeMake(after.openedAtWall + (after.until - after.openedAt)))
          })
        )
        : Effect.logInfo(`Circuit "${name}" is ${after._tag === "Closed" ? "closed" : "half-open"}`).pipe(
          Effect.annotateLogs({ circuit: name })
        )
      const schedule = after._tag === "Open"
        ? FiberHandle.run(
          timer,
          Effect.clockWith((clock) => Effect.sleep(Duration.millis(after.until - nowOf(clock).monotonic))).pipe(
            Effect.zipRight(transition((current, now) => toHalfOpen(current, now)))
          )
        )
        : Effect.void
      return Effect.all([log, Metric.set(gauge, gaugeValue(state)), PubSub.publish(transitions, state), schedule], {
        discard: true
      })
    }

    function transition(f: (state: Internal, now: Now) => Internal): Effect.Effect<void> {
      return Effect.clockWith((clock) =>
        Effect.suspend(() => {
          const before = current
          current = f(before, nowOf(clock))
          return transitioned(before, current)
        })
      )
    }

    const admit = (current: Internal, now: Now): readonly [Exit.Exit<Permit, CircuitOpenError>, Internal] => {
      const state = toHalfOpen(current, now)
      switch (state._tag) {
        case "Closed":
          return [Exit.succeed({ generation: state.generation }), state]
        case "Open":
          return [
            Exit.fail(new CircuitOpenError({ name, state: "Open", remaining: remainingOf(state, now) })),
            state
          ]
        case "HalfOpen":
          // probes are counted with every call still in flight, whenever it was admitted
          return inFlight >= halfOpenProbes
            ? [Exit.fail(new CircuitOpenError({ name, state: "HalfOpen", remaining: Duration.zero })), state]
            : [Exit.succeed({ generation: state.generation }), state]
      }
    }

    const acquire: Effect.Effect<Permit, CircuitOpenError> = Effect.clockWith((clock) =>
      Effect.suspend(() => {
        const before = current
        const [permit, after] = admit(before, nowOf(clock))
        if (Exit.isSuccess(permit)) inFlight++
        current = after
        return before === after ? permit : Effect.zipRight(transitioned(before, after), permit)
      })
    )

    const outcomeOf = <A, E>(exit: Exit.Exit<A, E>): Outcome => {
      if (Exit.isSuccess(exit)) return { _tag: "Success" }
      const failure = exit.cause._tag === "Fail" ? Option.some(exit.cause.error) : Option.none()
      return Option.match(failure, {
        // interrupted or a defect: says nothing about the service
        onNone: () => ({ _tag: "Abandoned" }),
        onSome: (error) => isFailure(error) ? { _tag: "Failure", error } : { _tag: "Success" }
      })
    }

    const protect = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | CircuitOpenError, R> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(acquire, (permit) =>
          restore(effect).pipe(
            Effect.onExit((exit) =>
              transition((state, now) => {
                inFlight--
                return record(state, permit, outcomeOf(exit), now)
              })
            )
          ))
      )

    const check: Effect.Effect<void, CircuitOpenError> = Effect.clockWith((clock) =>
      Effect.suspend(() => {
        const state = current
        const now = nowOf(clock)
        return state._tag === "Open" && now.monotonic < state.until
          ? Effect.fail(new CircuitOpenError({ name, state: "Open", remaining: remainingOf(state, now) }))
          : Effect.void
      })
    )

    return CircuitBreaker.of({
      [TypeId]: TypeId,
      name,
      protect,
      check,
      state: Effect.sync(() => toPublic(current)),
      changes: Stream.unwrapScoped(
        Effect.map(
          PubSub.subscribe(transitions),
          (queue) =>
            Stream.concat(Stream.sync(() => toPublic(current)), Stream.fromQueue(queue)).pipe(
              // tagged-enum values compare structurally
              Stream.changes
            )
        )
      )
    })
  })

/**
 * A breaker with the given options (all optional).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<CircuitBreaker> => Layer.scoped(CircuitBreaker, make(options))

/**
 * A breaker that is always closed and lets everything through, for callers
 * who do not want one.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerDisabled: Layer.Layer<CircuitBreaker> = Layer.succeed(
  CircuitBreaker,
  CircuitBreaker.of({
    [TypeId]: TypeId,
    name: "disabled",
    protect: (effect) => effect,
    check: Effect.void,
    state: Effect.succeed(CircuitState.Closed()),
    changes: Stream.make(CircuitState.Closed())
  })
)
