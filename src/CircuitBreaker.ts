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
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberHandle from "effect/FiberHandle"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as PubSub from "effect/PubSub"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Machine from "./internal/circuitMachine.js"

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

const toPublic = (state: Machine.State): CircuitState => {
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
    const config = Machine.resolve(options)
    const { halfOpenProbes, name } = config
    const { outcomeOf, record } = Machine.rules(config)

    // The state changes in synchronous steps (atomic between fibers), on every call; subscribers are told only of
    // transitions, through the PubSub, so the hot path takes no lock.
    let current: Machine.State = Machine.closed(0)
    const transitions = yield* PubSub.sliding<CircuitState>(64)
    // calls admitted and not yet finished, in every state
    let inFlight = 0
    const timer = yield* FiberHandle.make<void, never>()
    const gauge = Metric.tagged(circuitStateGauge, "circuit", name)
    yield* Metric.set(gauge, 0)

    // Publishes a transition: log, gauge, and the timer that half-opens an open circuit.
    const transitioned = (before: Machine.State, after: Machine.State): Effect.Effect<void> => {
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
          Effect.clockWith((clock) => Effect.sleep(Duration.millis(after.until - Machine.nowOf(clock).monotonic))).pipe(
            Effect.zipRight(transition((current, now) => Machine.toHalfOpen(current, now)))
          )
        )
        : Effect.void
      return Effect.all([log, Metric.set(gauge, gaugeValue(state)), PubSub.publish(transitions, state), schedule], {
        discard: true
      })
    }

    function transition(f: (state: Machine.State, now: Machine.Now) => Machine.State): Effect.Effect<void> {
      return Effect.clockWith((clock) =>
        Effect.suspend(() => {
          const before = current
          current = f(before, Machine.nowOf(clock))
          return transitioned(before, current)
        })
      )
    }

    const admit = (
      current: Machine.State,
      now: Machine.Now
    ): readonly [Exit.Exit<Machine.Permit, CircuitOpenError>, Machine.State] => {
      const state = Machine.toHalfOpen(current, now)
      switch (state._tag) {
        case "Closed":
          return [Exit.succeed({ generation: state.generation }), state]
        case "Open":
          return [
            Exit.fail(new CircuitOpenError({ name, state: "Open", remaining: Machine.remainingOf(state, now) })),
            state
          ]
        case "HalfOpen":
          // probes are counted with every call still in flight, whenever it was admitted
          return inFlight >= halfOpenProbes
            ? [Exit.fail(new CircuitOpenError({ name, state: "HalfOpen", remaining: Duration.zero })), state]
            : [Exit.succeed({ generation: state.generation }), state]
      }
    }

    const acquire: Effect.Effect<Machine.Permit, CircuitOpenError> = Effect.clockWith((clock) =>
      Effect.suspend(() => {
        const before = current
        const [permit, after] = admit(before, Machine.nowOf(clock))
        if (Exit.isSuccess(permit)) inFlight++
        current = after
        return before === after ? permit : Effect.zipRight(transitioned(before, after), permit)
      })
    )

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
        const now = Machine.nowOf(clock)
        return state._tag === "Open" && now.monotonic < state.until
          ? Effect.fail(new CircuitOpenError({ name, state: "Open", remaining: Machine.remainingOf(state, now) }))
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
