/**
 * Shared state under contention, in memory: 1,000 fibers racing through the breaker's half-open state never have
 * more than K probes in flight in total, across many open/half-open cycles, with probes interrupted along the
 * way; 1,000 fibers racing for one bucket never take more than it holds (plus its refill), whether they are
 * admitted at once or queue, and whether or not they are interrupted while they wait or hold a ticket.
 *
 * Fibers interleave at random points (`Effect.yieldNow`, sleeps of random length under `TestClock`), from a seeded
 * `Random`, so a failure replays. (Shared Redis budgets between processes belong to the Redis store's suite.)
 */
import { describe, expect, it } from "@effect/vitest"
import { DateTime, Deferred, Effect, Exit, Fiber, Layer, Option, Random, TestClock } from "effect"
import * as Admission from "../../src/Admission.js"
import * as CircuitBreaker from "../../src/CircuitBreaker.js"
import * as ClaudeError from "../../src/ClaudeError.js"
import * as RateLimitHeaders from "../../src/RateLimitHeaders.js"
import * as RateLimitState from "../../src/RateLimitState.js"
import { manual } from "../support/clock.js"

const fibers = 1_000

const overloaded = Effect.flatMap(DateTime.now, (now) =>
  Effect.fail(
    new ClaudeError.OverloadedError({
      status: 529,
      errorType: "overloaded_error",
      message: "overloaded",
      requestId: Option.none(),
      rateLimits: RateLimitHeaders.RateLimitSnapshot.empty(now)
    })
  ))

// yields to other fibers a random number of times: a random interleaving
const jostle = Effect.flatMap(Random.nextIntBetween(0, 4), (n) => Effect.repeatN(Effect.yieldNow(), n))

describe("the breaker's half-open state, 1,000 fibers racing", () => {
  for (const probes of [1, 3, 8]) {
    it.effect(`never more than ${probes} probe(s) in flight in total, over 20 open/half-open cycles`, () => {
      // time moves only when the test says (a TestClock wake-up for each of 1,000 sleepers would take minutes)
      const clock = manual(Date.UTC(2026, 10, 23))
      return Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({
          failureThreshold: 1,
          cooldown: "10 seconds",
          halfOpenProbes: probes
        })
        let inFlight = 0
        let probesInFlight = 0
        let mostProbes = 0
        let probeCount = 0
        let refusals = 0
        // the test's steps, as a signal every fiber can wait for
        let tick = yield* Deferred.make<void>()
        const ticks = (n: number) =>
          Effect.repeatN(Effect.suspend(() => Deferred.await(tick)), Math.max(0, n - 1)).pipe(Effect.when(() => n > 0))
        // a probe: counted while it runs (a random number of steps), then it fails, so the circuit opens again;
        // or it is interrupted
        const service = Effect.gen(function*() {
          const probe = (yield* breaker.state)._tag === "HalfOpen"
          inFlight++
          if (probe) {
            probeCount++
            probesInFlight++
            mostProbes = Math.max(mostProbes, probesInFlight)
            // the breaker counts every call in flight, so no probe runs next to another call
            expect(inFlight).toBeLessThanOrEqual(probes)
          }
          yield* jostle
          yield* ticks(yield* Random.nextIntBetween(0, 4))
          return yield* overloaded
        }).pipe(
          Effect.ensuring(Effect.sync(() => {
            inFlight--
            if (probesInFlight > inFlight) probesInFlight = inFlight
          }))
        )
        // every fiber keeps trying: refused, it comes back a random number of steps later
        const caller = Effect.gen(function*() {
          yield* jostle
          const exit = yield* Effect.exit(breaker.protect(service))
          if (Exit.isFailure(exit) && exit.cause._tag === "Fail" && exit.cause.error._tag === "CircuitOpenError") {
            refusals++
          }
          yield* ticks(yield* Random.nextIntBetween(1, 6))
        }).pipe(Effect.forever)
        // open it, then let the crowd in
        yield* Effect.exit(breaker.protect(overloaded))
        const crowd = yield* Effect.forEach(Array.from({ length: fibers }), () => Effect.fork(caller))
        for (let step = 0; step < 300; step++) {
          clock.advance(1_000)
          const previous = tick
          tick = yield* Deferred.make<void>()
          yield* Deferred.succeed(previous, undefined)
          yield* Effect.repeatN(Effect.yieldNow(), 5)
          // and interrupt a fiber now and then, wherever it is
          if ((yield* Random.nextIntBetween(0, 4)) === 0) {
            yield* Fiber.interrupt(crowd[yield* Random.nextIntBetween(0, fibers)]!)
          }
        }
        yield* Fiber.interruptAll(crowd)
        expect(mostProbes).toBeLessThanOrEqual(probes)
        expect(mostProbes).toBe(probes)
        // 300 s at a 10 s cooldown: over 20 cycles, each letting probes in
        expect(probeCount).toBeGreaterThanOrEqual(20)
        expect(refusals).toBeGreaterThan(fibers)
        expect(inFlight).toBe(0)
      }).pipe(
        Effect.scoped,
        Effect.withClock(clock.clock),
        Effect.withRandom(Random.make(`probes-${probes}`)),
        Effect.orDie
      )
    })
  }

  it.effect("slow successful probes: only K run, the first to finish closes the circuit for everyone", () =>
    Effect.gen(function*() {
      const probes = 4
      const breaker = yield* CircuitBreaker.make({
        failureThreshold: 1,
        cooldown: "10 seconds",
        halfOpenProbes: probes
      })
      yield* Effect.exit(breaker.protect(overloaded))
      yield* TestClock.adjust("10 seconds")
      let running = 0
      let most = 0
      const slow = Effect.gen(function*() {
        running++
        most = Math.max(most, running)
        yield* Effect.sleep(`${yield* Random.nextIntBetween(100, 1_000)} millis`)
        running--
      })
      const exits = yield* Effect.forEach(
        Array.from({ length: fibers }),
        () => Effect.fork(Effect.zipRight(jostle, Effect.exit(breaker.protect(slow)))),
        { concurrency: "unbounded" }
      ).pipe(Effect.tap(() => TestClock.adjust("2 seconds")), Effect.flatMap(Fiber.joinAll))
      expect(most).toBe(probes)
      expect(exits.filter(Exit.isSuccess)).toHaveLength(probes)
      expect((yield* breaker.state)._tag).toBe("Closed")
    }).pipe(Effect.scoped, Effect.withRandom(Random.make("slow-probes"))))
})

describe("one bucket, 1,000 fibers racing for it", () => {
  const pool = "race"
  const requestsPerMinute = 100
  const inputTokensPerMinute = 10_000

  it.effect("never overspent: what is granted fits the bucket plus its refill, whatever was interrupted", () =>
    Effect.gen(function*() {
      const admission = yield* Admission.make({
        threshold: 0,
        concurrency: { initial: fibers, max: fibers },
        sendRate: false,
        limits: { [pool]: { requestsPerMinute, inputTokensPerMinute } }
      })
      let grantedRequests = 0
      let grantedTokens = 0
      let ended = 0
      const racer = Effect.gen(function*() {
        const inputTokens = yield* Random.nextIntBetween(1, 300)
        yield* jostle
        yield* Effect.scoped(Effect.gen(function*() {
          const ticket = yield* admission.admit({ pool, cost: { requests: 1, inputTokens } })
          grantedRequests++
          grantedTokens += inputTokens
          yield* jostle
          yield* Effect.sleep(`${yield* Random.nextIntBetween(0, 5_000)} millis`)
          // served, and charged what was taken: nothing comes back to the bucket
          yield* ticket.complete(Admission.Outcome.Served({
            rateLimits: RateLimitHeaders.RateLimitSnapshot.empty(DateTime.unsafeMake(0)),
            usage: { inputTokens, outputTokens: 0 },
            streamed: false
          }))
        }))
        ended++
      })
      const crowd = yield* Effect.forEach(Array.from({ length: fibers }), () => Effect.fork(racer))
      let elapsed = 0
      for (let step = 0; step < 120; step++) {
        yield* TestClock.adjust("1 second")
        elapsed += 1_000
        // interrupt a racer now and then: while it waits (it takes nothing) or while it holds its ticket
        if ((yield* Random.nextIntBetween(0, 3)) === 0) {
          yield* Fiber.interrupt(crowd[yield* Random.nextIntBetween(0, fibers)]!)
        }
        const refill = elapsed / 60_000
        expect(grantedRequests).toBeLessThanOrEqual(requestsPerMinute * (1 + refill))
        expect(grantedTokens).toBeLessThanOrEqual(inputTokensPerMinute * (1 + refill))
      }
      // the bucket was the limit: most racers are still waiting, and it was used up to what it allows
      const status = yield* admission.status(pool)
      expect(grantedRequests).toBeGreaterThan(requestsPerMinute)
      expect(ended).toBeLessThan(fibers)
      yield* Fiber.interruptAll(crowd)
      const after = yield* admission.status(pool)
      expect(after.inFlight).toBe(0)
      expect(after.view.inFlight).toBe(0)
      expect(after.waiting).toEqual({ interactive: 0, batch: 0 })
      expect(status.view.buckets.requests?.level).toBeGreaterThanOrEqual(-1)
    }).pipe(
      Effect.scoped,
      Effect.provide(Layer.fresh(RateLimitState.layer)),
      Effect.withRandom(Random.make("bucket-race"))
    ))

  it.effect("all at once, nothing held: exactly the bucket's worth is granted, not one more", () =>
    Effect.gen(function*() {
      const admission = yield* Admission.make({
        threshold: 0,
        concurrency: { initial: fibers, max: fibers },
        sendRate: false,
        limits: { [pool]: { requestsPerMinute } }
      })
      let granted = 0
      const fiber = yield* Effect.forEach(
        Array.from({ length: fibers }),
        () =>
          Effect.zipRight(
            jostle,
            admission.withTicket({ pool, cost: { requests: 1 } }, () =>
              Effect.sync(() => {
                granted++
              }))
          ),
        { concurrency: "unbounded", discard: true }
      ).pipe(Effect.fork)
      // time stands still: no refill
      yield* Effect.repeatN(Effect.yieldNow(), 50)
      expect(granted).toBe(requestsPerMinute)
      yield* Fiber.interrupt(fiber)
      const status = yield* admission.status(pool)
      expect(status.inFlight).toBe(0)
      expect(status.waiting).toEqual({ interactive: 0, batch: 0 })
    }).pipe(
      Effect.scoped,
      Effect.provide(Layer.fresh(RateLimitState.layer)),
      Effect.withRandom(Random.make("all-at-once"))
    ))
})
