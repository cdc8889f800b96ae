import { Clock, Duration, Effect } from "effect"

/**
 * A clock stopped at `millis`, for running time-dependent code synchronously in property tests (thousands of cases
 * a second, where a `TestClock` per case costs milliseconds): a sleep of zero completes at once, any longer sleep
 * never does.
 */
export const stoppedAt = (millis: number): Clock.Clock => ({
  [Clock.ClockTypeId]: Clock.ClockTypeId,
  unsafeCurrentTimeMillis: () => millis,
  currentTimeMillis: Effect.succeed(millis),
  unsafeCurrentTimeNanos: () => BigInt(millis) * 1_000_000n,
  currentTimeNanos: Effect.succeed(BigInt(millis) * 1_000_000n),
  sleep: (duration) => Duration.toMillis(duration) <= 0 ? Effect.void : Effect.never
})

/**
 * A clock that moves only when told (`advance`): sleeps of zero complete at once, longer ones never do. For tests
 * whose fibers interleave by scheduler turns and only need `now` to move.
 */
export const manual = (start = 0): { readonly clock: Clock.Clock; readonly advance: (millis: number) => void } => {
  let now = start
  const clock: Clock.Clock = {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: () => now,
    currentTimeMillis: Effect.sync(() => now),
    unsafeCurrentTimeNanos: () => BigInt(now) * 1_000_000n,
    currentTimeNanos: Effect.sync(() => BigInt(now) * 1_000_000n),
    sleep: (duration) => Duration.toMillis(duration) <= 0 ? Effect.void : Effect.never
  }
  return {
    clock,
    advance: (millis) => {
      now += millis
    }
  }
}
