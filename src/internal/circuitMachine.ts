/**
 * A circuit breaker's state machine without its effects: the states (timed
 * on the monotonic clock), the options with their defaults, and the pure
 * rules by which a call's end opens, closes or leaves the circuit.
 * `CircuitBreaker` runs it, publishes its transitions and reports it.
 *
 * @internal
 */
import type * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type { Options } from "../CircuitBreaker.js"
import * as ClaudeError from "../ClaudeError.js"
import * as RateLimitHeaders from "../RateLimitHeaders.js"

/**
 * Every transition starts a new generation. A call records its outcome only
 * if the generation it was admitted in is still current, so a slow call
 * admitted while closed cannot reopen (or close) a circuit that has moved on.
 *
 * @internal
 */
export type State =
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

/** @internal */
export interface Permit {
  readonly generation: number
}

/**
 * The breaker's own times (the cooldown, the time left) run on the monotonic
 * clock (`process.hrtime` under the default Clock), so that a wall clock set
 * back or forward neither stretches nor skips a cooldown; the wall clock only
 * reads server waits (`retry-after`, resets) and dates what it reports.
 *
 * @internal
 */
export interface Now {
  readonly monotonic: number
  readonly wall: number
}

/** @internal */
export const nowOf = (clock: Clock.Clock): Now => ({
  monotonic: Number(clock.unsafeCurrentTimeNanos() / 1_000_000n),
  wall: clock.unsafeCurrentTimeMillis()
})

/** How a call ended, as far as the breaker cares. @internal */
export type Outcome = { readonly _tag: "Success" } | { readonly _tag: "Failure"; readonly error: unknown } | {
  readonly _tag: "Abandoned"
}

/** @internal */
export const closed = (generation: number): State => ({
  _tag: "Closed",
  generation,
  consecutiveFailures: 0,
  window: []
})

/** The options with every default filled in. @internal */
export interface Config {
  readonly name: string
  readonly failureThreshold: number
  /** in millis */
  readonly cooldown: number
  /** in millis */
  readonly maxCooldown: number
  readonly halfOpenProbes: number
  readonly isFailure: (error: unknown) => boolean
  readonly rate: Options["failureRate"]
  readonly windowSize: number
  readonly minimumCalls: number
}

/** @internal */
export const resolve = (options: Options): Config => {
  const cooldown = Duration.toMillis(options.cooldown ?? Duration.seconds(60))
  const rate = options.failureRate
  const windowSize = rate === undefined ? 0 : Math.max(1, rate.windowSize)
  return {
    name: options.name ?? "claude",
    failureThreshold: Math.max(1, options.failureThreshold ?? 5),
    cooldown,
    maxCooldown: Math.max(cooldown, Duration.toMillis(options.maxCooldown ?? Duration.minutes(10))),
    halfOpenProbes: Math.max(1, options.halfOpenProbes ?? 1),
    isFailure: options.isFailure ?? ClaudeError.isServiceFailure,
    rate,
    windowSize,
    minimumCalls: rate === undefined ? 0 : Math.min(windowSize, Math.max(1, rate.minimumCalls ?? windowSize))
  }
}

/** The time left open: never negative, never more than the period it was opened for. @internal */
export const remainingOf = (state: State & { readonly _tag: "Open" }, now: Now): Duration.Duration =>
  Duration.millis(Math.min(state.until - state.openedAt, Math.max(0, state.until - now.monotonic)))

/** @internal */
export const toHalfOpen = (state: State, now: Now): State =>
  state._tag === "Open" && now.monotonic >= state.until
    ? { _tag: "HalfOpen", generation: state.generation + 1 }
    : state

/** @internal */
export interface Rules {
  /** The state after a call admitted with `permit` ended with `outcome`. */
  readonly record: (state: State, permit: Permit, outcome: Outcome, now: Now) => State
  readonly outcomeOf: <A, E>(exit: Exit.Exit<A, E>) => Outcome
}

/** @internal */
export const rules = (config: Config): Rules => {
  const { cooldown, failureThreshold, isFailure, maxCooldown, minimumCalls, rate, windowSize } = config

  const openUntil = (now: Now, error: Option.Option<unknown>): number => {
    const hinted = Option.flatMap(
      Option.filter(error, ClaudeError.isResponseError),
      (failure) => RateLimitHeaders.retryDelay(failure.rateLimits, DateTime.unsafeMake(now.wall))
    )
    const hintMillis = Option.getOrElse(Option.map(hinted, Duration.toMillis), () => 0)
    return now.monotonic + Math.min(maxCooldown, Math.max(cooldown, hintMillis))
  }

  const open = (previous: State, now: Now, error: unknown): State => ({
    _tag: "Open",
    generation: previous.generation + 1,
    openedAt: now.monotonic,
    until: openUntil(now, Option.some(error)),
    openedAtWall: now.wall
  })

  const trips = (state: State & { readonly _tag: "Closed" }): boolean => {
    if (state.consecutiveFailures >= failureThreshold) return true
    if (rate === undefined || state.window.length < minimumCalls) return false
    const failures = state.window.filter((failed) => failed).length
    return failures / state.window.length >= rate.threshold
  }

  const record = (state: State, permit: Permit, outcome: Outcome, now: Now): State => {
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
        const next: State = {
          ...state,
          consecutiveFailures: failed ? state.consecutiveFailures + 1 : 0,
          window: windowSize === 0 ? state.window : [...state.window, failed].slice(-windowSize)
        }
        return failed && trips(next) ? open(state, now, outcome.error) : next
      }
    }
  }

  const outcomeOf = <A, E>(exit: Exit.Exit<A, E>): Outcome => {
    if (Exit.isSuccess(exit)) return { _tag: "Success" }
    const failure = exit.cause._tag === "Fail" ? Option.some(exit.cause.error) : Option.none()
    return Option.match(failure, {
      // interrupted or a defect: says nothing about the service
      onNone: () => ({ _tag: "Abandoned" }),
      onSome: (error) => isFailure(error) ? { _tag: "Failure", error } : { _tag: "Success" }
    })
  }

  return { record, outcomeOf }
}
