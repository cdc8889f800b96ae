import { describe, expect, it } from "@effect/vitest"
import { DateTime, Duration, Effect, Exit, Fiber, Metric, Option, Ref, TestClock } from "effect"
import * as CircuitBreaker from "../src/CircuitBreaker.js"
import * as ClaudeError from "../src/ClaudeError.js"
import * as RateLimitHeaders from "../src/RateLimitHeaders.js"
import { collectFirst } from "./support/streams.js"

const overloaded = (headers: Record<string, string> = {}) =>
  Effect.flatMap(DateTime.now, (now) =>
    Effect.fail(
      new ClaudeError.OverloadedError({
        status: 529,
        errorType: "overloaded_error",
        message: "overloaded",
        requestId: Option.none(),
        rateLimits: RateLimitHeaders.decodeAt(headers, now)
      })
    ))

const badRequest = Effect.flatMap(DateTime.now, (now) =>
  Effect.fail(
    new ClaudeError.InvalidRequestError({
      status: 400,
      errorType: "invalid_request_error",
      message: "bad",
      requestId: Option.none(),
      rateLimits: RateLimitHeaders.RateLimitSnapshot.empty(now)
    })
  ))

const withBreaker = <A, E>(
  options: CircuitBreaker.Options,
  body: (breaker: CircuitBreaker.CircuitBreaker) => Effect.Effect<A, E>
) => Effect.scoped(Effect.flatMap(CircuitBreaker.make(options), body))

const tagOf = <A, E>(exit: Exit.Exit<A, E>): string =>
  Exit.match(exit, {
    onSuccess: () => "Success",
    onFailure: (cause) => cause._tag === "Fail" ? (cause.error as { _tag: string })._tag : cause._tag
  })

describe("CircuitBreaker", () => {
  it.effect("opens after N consecutive counted failures; client errors do not count and break the streak", () =>
    withBreaker({ failureThreshold: 3 }, (breaker) =>
      Effect.gen(function*() {
        const run = (effect: Effect.Effect<unknown, unknown>) => Effect.exit(breaker.protect(effect))
        yield* run(overloaded())
        yield* run(overloaded())
        yield* run(badRequest) // the API answered: the streak ends
        yield* run(overloaded())
        yield* run(overloaded())
        expect((yield* breaker.state)._tag).toBe("Closed")
        yield* run(overloaded())
        expect((yield* breaker.state)._tag).toBe("Open")
      })))

  it.effect("open: fails fast with CircuitOpenError carrying the time left, runs nothing, and rejections do not count", () =>
    withBreaker({ failureThreshold: 1, cooldown: "60 seconds" }, (breaker) =>
      Effect.gen(function*() {
        const sent = yield* Ref.make(0)
        const call = Effect.zipRight(Ref.update(sent, (n) => n + 1), overloaded())
        yield* Effect.exit(breaker.protect(call))
        yield* TestClock.adjust("20 seconds")
        const rejected = yield* Effect.flip(breaker.protect(call))
        expect(rejected).toBeInstanceOf(CircuitBreaker.CircuitOpenError)
        expect(rejected).toMatchObject({ state: "Open", name: "claude" })
        expect(Duration.toSeconds((rejected as CircuitBreaker.CircuitOpenError).remaining)).toBe(40)
        expect(yield* Ref.get(sent)).toBe(1)
        // still open until exactly 60 s after opening, whatever was rejected meanwhile
        yield* TestClock.adjust("39 seconds")
        expect((yield* breaker.state)._tag).toBe("Open")
      })))

  it.effect("half-open: of 20 concurrent fibers only K probes reach the service; a success closes the circuit", () =>
    withBreaker(
      { failureThreshold: 1, cooldown: "10 seconds", halfOpenProbes: 2 },
      (breaker) =>
        Effect.gen(function*() {
          yield* Effect.exit(breaker.protect(overloaded()))
          yield* TestClock.adjust("10 seconds")
          expect((yield* breaker.state)._tag).toBe("HalfOpen")
          const reached = yield* Ref.make(0)
          const slowSuccess = Effect.zipRight(Ref.update(reached, (n) => n + 1), Effect.sleep("1 second"))
          const fibers = yield* Effect.forEach(
            Array.from({ length: 20 }),
            () => Effect.fork(Effect.exit(breaker.protect(slowSuccess))),
            { concurrency: "unbounded" }
          )
          yield* TestClock.adjust("1 second")
          const exits = yield* Fiber.joinAll(fibers)
          expect(yield* Ref.get(reached)).toBe(2)
          expect(exits.filter(Exit.isSuccess).length).toBe(2)
          const rejections = exits.filter(Exit.isFailure)
          expect(rejections.length).toBe(18)
          expect(rejections.every((exit) => tagOf(exit) === "CircuitOpenError")).toBe(true)
          expect((yield* breaker.state)._tag).toBe("Closed")
          expect(Exit.isSuccess(yield* Effect.exit(breaker.protect(Effect.void)))).toBe(true)
        })
    ))

  it.effect("a failed probe reopens the circuit for another cooldown", () =>
    withBreaker({ failureThreshold: 1, cooldown: "10 seconds" }, (breaker) =>
      Effect.gen(function*() {
        yield* Effect.exit(breaker.protect(overloaded()))
        yield* TestClock.adjust("10 seconds")
        yield* Effect.exit(breaker.protect(overloaded()))
        const state = yield* breaker.state
        expect(state._tag).toBe("Open")
        if (state._tag === "Open") expect(DateTime.toEpochMillis(state.until)).toBe(20_000)
      })))

  it.effect("when the failure named a later reset (retry-after 120 s), it stays open until then, not just the cooldown", () =>
    withBreaker({ failureThreshold: 1, cooldown: "60 seconds" }, (breaker) =>
      Effect.gen(function*() {
        yield* Effect.exit(breaker.protect(overloaded({ "retry-after": "120" })))
        const rejected = yield* Effect.flip(breaker.protect(Effect.void))
        expect(Duration.toSeconds((rejected as CircuitBreaker.CircuitOpenError).remaining)).toBe(120)
        yield* TestClock.adjust("119 seconds")
        expect((yield* breaker.state)._tag).toBe("Open")
        yield* TestClock.adjust("1 second")
        expect((yield* breaker.state)._tag).toBe("HalfOpen")
      })))

  it.effect("failure-rate window: opens when half of the last 10 calls failed, once 10 calls were seen", () =>
    withBreaker(
      { failureThreshold: 100, failureRate: { threshold: 0.5, windowSize: 10 } },
      (breaker) =>
        Effect.gen(function*() {
          for (let i = 0; i < 9; i++) {
            yield* Effect.exit(breaker.protect(i % 2 === 0 ? overloaded() : Effect.void))
          }
          // 5 failures of 9 calls: more than half, but fewer calls than the minimum
          expect((yield* breaker.state)._tag).toBe("Closed")
          yield* Effect.exit(breaker.protect(Effect.void))
          expect((yield* breaker.state)._tag).toBe("Closed") // a success is never what trips it
          yield* Effect.exit(breaker.protect(overloaded()))
          expect((yield* breaker.state)._tag).toBe("Open")
        })
    ))

  it.effect("state changes are a Stream and a gauge: closed → open → half-open → closed", () =>
    withBreaker({ failureThreshold: 1, cooldown: "5 seconds", name: "lifecycle" }, (breaker) =>
      Effect.gen(function*() {
        const seen = yield* collectFirst(breaker.changes, 4)
        const gauge = Metric.tagged(CircuitBreaker.circuitStateGauge, "circuit", "lifecycle")
        yield* Effect.exit(breaker.protect(overloaded()))
        expect((yield* Metric.value(gauge)).value).toBe(2)
        yield* TestClock.adjust("5 seconds")
        expect((yield* Metric.value(gauge)).value).toBe(1)
        yield* breaker.protect(Effect.void)
        expect((yield* Metric.value(gauge)).value).toBe(0)
        const states = yield* seen
        expect(states.map((state) => state._tag)).toEqual(["Closed", "Open", "HalfOpen", "Closed"])
      })))

  it.effect("an interrupted probe gives its slot back", () =>
    withBreaker({ failureThreshold: 1, cooldown: "1 second" }, (breaker) =>
      Effect.gen(function*() {
        yield* Effect.exit(breaker.protect(overloaded()))
        yield* TestClock.adjust("1 second")
        const probe = yield* Effect.fork(breaker.protect(Effect.never))
        yield* Effect.yieldNow()
        expect(tagOf(yield* Effect.exit(breaker.protect(Effect.void)))).toBe("CircuitOpenError")
        yield* Fiber.interrupt(probe)
        expect((yield* breaker.state)._tag).toBe("HalfOpen")
        expect(Exit.isSuccess(yield* Effect.exit(breaker.protect(Effect.void)))).toBe(true)
        expect((yield* breaker.state)._tag).toBe("Closed")
      })))

  it.effect("a slow call admitted before the circuit opened cannot close it when it finally succeeds", () =>
    withBreaker({ failureThreshold: 1, cooldown: "60 seconds" }, (breaker) =>
      Effect.gen(function*() {
        const slow = yield* Effect.fork(breaker.protect(Effect.sleep("5 seconds")))
        yield* Effect.yieldNow()
        yield* Effect.exit(breaker.protect(overloaded()))
        yield* TestClock.adjust("5 seconds")
        yield* Fiber.join(slow)
        expect((yield* breaker.state)._tag).toBe("Open")
      })))

  it.effect("rate-limit 429s do not open the circuit: the API is up and pacing us", () =>
    withBreaker({ failureThreshold: 2 }, (breaker) =>
      Effect.gen(function*() {
        const rateLimited = Effect.flatMap(DateTime.now, (now) =>
          Effect.fail(
            new ClaudeError.RateLimitError({
              status: 429,
              errorType: "rate_limit_error",
              message: "slow down",
              requestId: Option.none(),
              rateLimits: RateLimitHeaders.decodeAt({ "retry-after": "5" }, now)
            })
          ))
        for (let i = 0; i < 10; i++) yield* Effect.exit(breaker.protect(rateLimited))
        expect((yield* breaker.state)._tag).toBe("Closed")
        yield* Effect.exit(breaker.protect(overloaded()))
        yield* Effect.exit(breaker.protect(overloaded()))
        expect((yield* breaker.state)._tag).toBe("Open")
      })))

  it.effect("half-open admits K probes in total, counting calls admitted before the transition", () =>
    withBreaker({ failureThreshold: 1, cooldown: "1 second", halfOpenProbes: 2 }, (breaker) =>
      Effect.gen(function*() {
        // a slow call admitted while closed is still in flight when the circuit half-opens
        const slow = yield* Effect.fork(breaker.protect(Effect.sleep("10 seconds")))
        yield* Effect.yieldNow()
        yield* Effect.exit(breaker.protect(overloaded()))
        yield* TestClock.adjust("1 second")
        const reached = yield* Ref.make(0)
        const probes = yield* Effect.forEach(
          Array.from({ length: 50 }),
          () =>
            Effect.fork(
              Effect.exit(breaker.protect(Effect.zipRight(Ref.update(reached, (n) => n + 1), Effect.sleep("1 second"))))
            ),
          { concurrency: "unbounded" }
        )
        yield* Effect.yieldNow()
        // K = 2, one slot taken by the slow call: one probe
        expect(yield* Ref.get(reached)).toBe(1)
        expect((yield* breaker.state)._tag).toBe("HalfOpen")
        yield* TestClock.adjust("1 second")
        yield* Fiber.joinAll(probes)
        expect((yield* breaker.state)._tag).toBe("Closed")
        yield* TestClock.adjust("10 seconds")
        yield* Fiber.join(slow)
      })))

  it.effect("check fails fast while open, without taking a probe slot", () =>
    withBreaker({ failureThreshold: 1, cooldown: "1 second" }, (breaker) =>
      Effect.gen(function*() {
        yield* breaker.check
        yield* Effect.exit(breaker.protect(overloaded()))
        expect(tagOf(yield* Effect.exit(breaker.check))).toBe("CircuitOpenError")
        yield* TestClock.adjust("1 second")
        yield* breaker.check
        expect(Exit.isSuccess(yield* Effect.exit(breaker.protect(Effect.void)))).toBe(true)
      })))

  it.effect("layerDisabled lets everything through and stays closed", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.CircuitBreaker
      for (let i = 0; i < 20; i++) yield* Effect.exit(breaker.protect(overloaded()))
      expect((yield* breaker.state)._tag).toBe("Closed")
      expect(yield* breaker.protect(Effect.succeed(1))).toBe(1)
    }).pipe(Effect.provide(CircuitBreaker.layerDisabled)))
})
