import { describe, expect, it } from "@effect/vitest"
import { Clock, Deferred, Duration, Effect, Exit, Fiber, Ref } from "effect"
import * as VirtualTime from "../../src/testing/VirtualTime.js"
import { captureLogs } from "../support/logs.js"

// These run on the real clock: VirtualTime brings its own.
describe("VirtualTime.run", () => {
  it.live("an hour of sleeping completes at once, and the clock reads the hour", () =>
    Effect.gen(function*() {
      const result = yield* VirtualTime.run(
        Effect.gen(function*() {
          const before = yield* Clock.currentTimeMillis
          yield* Effect.sleep("1 hour")
          return (yield* Clock.currentTimeMillis) - before
        }),
        { start: 0 }
      )
      expect(result.exit).toStrictEqual(Exit.succeed(3_600_000))
      expect(Duration.toMillis(result.elapsed)).toBe(3_600_000)
    }))

  it.live("a long timeline is exact: 10,000 sleepers over a day wake at their own times", () =>
    Effect.gen(function*() {
      const result = yield* VirtualTime.run(
        Effect.forEach(
          Array.from({ length: 10_000 }, (_, i) => i),
          (i) => Effect.zipRight(Effect.sleep(Duration.seconds((i * 7_919) % 86_400)), Clock.currentTimeMillis),
          { concurrency: "unbounded" }
        ),
        { start: 0 }
      )
      expect(Exit.isSuccess(result.exit)).toBe(true)
      if (Exit.isSuccess(result.exit)) {
        expect(result.exit.value.every((at, i) => at === ((i * 7_919) % 86_400) * 1_000)).toBe(true)
      }
      expect(Duration.toMillis(result.elapsed)).toBe(
        Math.max(...Array.from({ length: 10_000 }, (_, i) => (i * 7_919) % 86_400)) * 1_000
      )
    }))

  it.live("concurrent sleepers wake in time order, and each sees its own wake-up time", () =>
    Effect.gen(function*() {
      const result = yield* VirtualTime.run(
        Effect.gen(function*() {
          const order = yield* Ref.make<Array<readonly [string, number]>>([])
          const sleeper = (name: string, duration: Duration.DurationInput) =>
            Effect.sleep(duration).pipe(
              Effect.zipRight(Clock.currentTimeMillis),
              Effect.flatMap((at) => Ref.update(order, (all) => [...all, [name, at] as const]))
            )
          yield* Effect.all([sleeper("c", "3 seconds"), sleeper("a", "1 second"), sleeper("b", "2 seconds")], {
            concurrency: "unbounded"
          })
          return yield* Ref.get(order)
        }),
        { start: 0 }
      )
      expect(result.exit).toStrictEqual(Exit.succeed([["a", 1000], ["b", 2000], ["c", 3000]]))
    }))

  it.live("timeouts race sleeps in virtual time", () =>
    Effect.gen(function*() {
      const result = yield* VirtualTime.run(
        Effect.sleep("10 minutes").pipe(Effect.timeout("30 seconds"), Effect.option),
        { start: 0 }
      )
      expect(Exit.isSuccess(result.exit)).toBe(true)
      expect(Duration.toMillis(result.elapsed)).toBe(30_000)
    }))

  it.live("the effect keeps the caller's logger and log level", () =>
    Effect.gen(function*() {
      const [, logs] = yield* captureLogs(VirtualTime.run(Effect.logDebug("inside virtual time")))
      expect(logs.map((line) => line.message)).toContain("inside virtual time")
    }))

  it.live("an effect that waits for something outside virtual time is reported as stalled", () =>
    Effect.gen(function*() {
      const result = yield* VirtualTime.run(Effect.never, { stallAfter: "50 millis" })
      expect(Exit.isFailure(result.exit)).toBe(true)
      if (Exit.isFailure(result.exit)) {
        expect(String(result.exit.cause)).toContain("StalledError")
      }
    }))

  it.live("interrupting the run interrupts the effect", () =>
    Effect.gen(function*() {
      const finalized = yield* Ref.make(false)
      const started = yield* Deferred.make<void>()
      const fiber = yield* Effect.fork(
        VirtualTime.run(
          Deferred.succeed(started, undefined).pipe(
            Effect.zipRight(Effect.never),
            Effect.ensuring(Ref.set(finalized, true))
          ),
          { stallAfter: "1 minute" }
        )
      )
      yield* Deferred.await(started)
      yield* Fiber.interrupt(fiber)
      expect(yield* Ref.get(finalized)).toBe(true)
    }))

  it.live("a sleep of a fraction of a millisecond wakes at the next whole one, and time stays representable", () =>
    Effect.gen(function*() {
      const result = yield* VirtualTime.run(
        Effect.gen(function*() {
          yield* Effect.sleep(Duration.millis(0.4))
          yield* Effect.sleep(Duration.millis(1.6))
          return yield* Clock.currentTimeNanos
        }),
        { start: 1_000 }
      )
      expect(Exit.isSuccess(result.exit) && result.exit.value).toBe(1_003n * 1_000_000n)
    }))
})
