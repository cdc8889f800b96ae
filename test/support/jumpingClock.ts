import type { Duration } from "effect"
import { Clock, Effect, TestClock } from "effect"

/**
 * A wall clock that can be set forward or back while time keeps flowing, the way a machine's clock is adjusted
 * (NTP, a VM resumed, an operator): `currentTimeMillis` jumps, while sleeps (timers) and `currentTimeNanos` (a
 * monotonic reading, `process.hrtime` in Node) follow the clock underneath, here the `TestClock`, undisturbed.
 * `TestClock.setTime` alone cannot show this: it moves every timer with the clock.
 *
 * Provide `clock` with `Effect.withClock`; let time pass with `adjust` (`TestClock.adjust` would look for a
 * `TestClock` where this clock is).
 */
export interface JumpingClock {
  readonly clock: Clock.Clock
  /** Sets the wall clock `millis` forward (negative: back). */
  readonly jump: (millis: number) => Effect.Effect<void>
  /** Lets time pass: timers fire, both readings move on. */
  readonly adjust: (duration: Duration.DurationInput) => Effect.Effect<void>
}

/** Over the `TestClock` in context. */
export const make: Effect.Effect<JumpingClock> = Effect.map(TestClock.testClock(), (underlying) => {
  let offset = 0
  const wall = () => underlying.unsafeCurrentTimeMillis() + offset
  const clock: Clock.Clock = {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: wall,
    currentTimeMillis: Effect.sync(wall),
    unsafeCurrentTimeNanos: () => underlying.unsafeCurrentTimeNanos(),
    currentTimeNanos: underlying.currentTimeNanos,
    sleep: (duration) => underlying.sleep(duration)
  }
  return {
    clock,
    adjust: (duration) => underlying.adjust(duration),
    jump: (millis) =>
      Effect.sync(() => {
        offset += millis
      })
  }
})
