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
