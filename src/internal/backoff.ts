/**
 * Backoff schedules: exponential from a base delay, capped, spread by a
 * jitter strategy. All randomness goes through `Random`.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as ScheduleInterval from "effect/ScheduleInterval"

/** @internal */
export type Jitter = "full" | "decorrelated" | "equal" | "none"

const millis = Duration.toMillis

const capAt = (max: Duration.Duration) => (delay: Duration.Duration): Duration.Duration => Duration.min(delay, max)

/** A duration uniform in `[low, high]` milliseconds. @internal */
export const randomBetween = (low: number, high: number): Effect.Effect<Duration.Duration> =>
  Effect.map(Random.nextRange(low, high), (value) => Duration.millis(Math.round(value)))

// AWS "decorrelated jitter": each delay is uniform in [base, 3 × previous], capped.
const decorrelated = (base: Duration.Duration, max: Duration.Duration): Schedule.Schedule<Duration.Duration> =>
  Schedule.makeWithState(base, (now, _: unknown, previous: Duration.Duration) =>
    Effect.map(
      randomBetween(millis(base), Math.max(millis(base), millis(previous) * 3)),
      (delay) => {
        const capped = capAt(max)(delay)
        return [capped, capped, ScheduleDecision.continueWith(ScheduleInterval.after(now + millis(capped)))] as const
      }
    ))

/** A schedule whose delays (and outputs) are the jittered, capped exponential backoff. @internal */
export const make = (
  base: Duration.Duration,
  max: Duration.Duration,
  jitter: Jitter
): Schedule.Schedule<Duration.Duration> => {
  if (jitter === "decorrelated") {
    return decorrelated(base, max)
  }
  const capped = Schedule.exponential(base, 2).pipe(Schedule.modifyDelay((_, delay) => capAt(max)(delay)))
  const spread = jitter === "full"
    ? Schedule.modifyDelayEffect(capped, (_, delay) => randomBetween(0, millis(delay)))
    : jitter === "equal"
    ? Schedule.modifyDelayEffect(capped, (_, delay) => randomBetween(millis(delay) / 2, millis(delay)))
    : capped
  return Schedule.delays(spread)
}
