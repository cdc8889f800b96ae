import { describe, expect, it } from "@effect/vitest"
import { DateTime, Duration, Effect, Fiber, HashMap, Option, TestClock } from "effect"
import * as RateLimitHeaders from "../src/RateLimitHeaders.js"
import * as RateLimitState from "../src/RateLimitState.js"
import * as Scripted from "../src/testing/ScriptedHttpClient.js"
import { collectFirst } from "./support/streams.js"

const pool = "claude-sonnet-4-6"

/** A snapshot received now, with the given bucket headers. */
const snapshotNow = (headers: (now: DateTime.Utc) => Record<string, string>) =>
  Effect.flatMap(DateTime.now, (now) => Effect.succeed(RateLimitHeaders.decodeAt(headers(now), now)))

const requests = (limit: number, remaining: number) => (now: DateTime.Utc) =>
  Scripted.bucketHeaders("requests", { limit, remaining, now, resetIn: "60 seconds" })

describe("RateLimitState", () => {
  it.effect("holds the latest snapshot per pool, readable as current, get and a changes stream", () =>
    Effect.gen(function*() {
      const state = yield* RateLimitState.make()
      const changes = yield* collectFirst(state.changes, 3)
      yield* state.update(pool, yield* snapshotNow(requests(50, 40)))
      yield* state.update("claude-haiku-4-5", yield* snapshotNow(requests(100, 99)))
      expect(HashMap.size(yield* state.current)).toBe(2)
      const latest = Option.getOrThrow(yield* state.get(pool))
      expect(latest.requests.remaining).toEqual(Option.some(40))
      const seen = yield* changes
      expect(seen.map(HashMap.size)).toEqual([0, 1, 2])
      expect(yield* state.get("unknown-model")).toEqual(Option.none())
    }))

  it.effect("a response without rate-limit headers does not erase what earlier responses said", () =>
    Effect.gen(function*() {
      const state = yield* RateLimitState.make()
      yield* state.update(pool, yield* snapshotNow(requests(50, 40)))
      yield* state.update(pool, yield* snapshotNow(() => ({ "request-id": "req_edge" })))
      const latest = Option.getOrThrow(yield* state.get(pool))
      expect(latest.requests.remaining).toEqual(Option.some(40))
      expect(latest.requestId).toEqual(Option.some("req_edge"))
    }))

  it.effect("no known bucket, or plenty of capacity: no wait", () =>
    Effect.gen(function*() {
      const state = yield* RateLimitState.make()
      expect(yield* state.awaitCapacity(pool, { requests: 1 })).toEqual(Duration.zero)
      yield* state.update(pool, yield* snapshotNow(requests(50, 40)))
      expect(yield* state.awaitCapacity(pool, { requests: 1 })).toEqual(Duration.zero)
    }))

  it.effect("waiters queue behind one another at the refill rate, not all at the same instant", () =>
    Effect.gen(function*() {
      const state = yield* RateLimitState.make({ threshold: 0 })
      // 60 per minute: one request a second; the bucket is empty now
      yield* state.update(pool, yield* snapshotNow(requests(60, 0)))
      const fibers = yield* Effect.forEach(
        [1, 2, 3],
        () => Effect.fork(state.awaitCapacity(pool, { requests: 1 })),
        { concurrency: "unbounded" }
      )
      yield* TestClock.adjust("10 seconds")
      const waits = yield* Fiber.joinAll(fibers)
      expect(waits.map(Duration.toMillis)).toEqual([1_000, 2_000, 3_000])
    }))

  it.effect("waits only for what the request needs: 1 000 tokens of an empty 60 000/min bucket take 1 s, not a full reset", () =>
    Effect.gen(function*() {
      const state = yield* RateLimitState.make({ threshold: 0 })
      yield* state.update(
        pool,
        yield* snapshotNow((now) =>
          Scripted.bucketHeaders("input-tokens", { limit: 60_000, remaining: 0, now, resetIn: "60 seconds" })
        )
      )
      const fiber = yield* Effect.fork(state.awaitCapacity(pool, { inputTokens: 1_000 }))
      yield* TestClock.adjust("2 seconds")
      expect(Duration.toMillis(yield* Fiber.join(fiber))).toBe(1_000)
    }))

  it.effect("the reserve: at or below 10 % of the limit a request waits until it would leave the reserve intact", () =>
    Effect.gen(function*() {
      const state = yield* RateLimitState.make()
      yield* state.update(pool, yield* snapshotNow(requests(100, 11)))
      expect(yield* state.awaitCapacity(pool, { requests: 1 })).toEqual(Duration.zero) // 11 → 10
      const fiber = yield* Effect.fork(state.awaitCapacity(pool, { requests: 1 }))
      yield* TestClock.adjust("5 seconds")
      // 100 per minute refills one request in 600 ms
      expect(Duration.toMillis(yield* Fiber.join(fiber))).toBe(600)
    }))

  it.effect("an interrupted waiter gives its reservation back, so the next one does not wait for it", () =>
    Effect.gen(function*() {
      const state = yield* RateLimitState.make({ threshold: 0 })
      yield* state.update(pool, yield* snapshotNow(requests(60, 0)))
      const first = yield* Effect.fork(state.awaitCapacity(pool, { requests: 1 }))
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(first)
      const second = yield* Effect.fork(state.awaitCapacity(pool, { requests: 1 }))
      yield* TestClock.adjust("5 seconds")
      expect(Duration.toMillis(yield* Fiber.join(second))).toBe(1_000)
    }))

  it.effect("new headers recalibrate the buckets, minus what waiting fibers have reserved", () =>
    Effect.gen(function*() {
      const state = yield* RateLimitState.make({ threshold: 0 })
      yield* state.update(pool, yield* snapshotNow(requests(60, 0)))
      const waiting = yield* Effect.fork(state.awaitCapacity(pool, { requests: 1 }))
      yield* Effect.yieldNow()
      // the server now reports one request left; the waiter above has already promised it away
      yield* state.update(pool, yield* snapshotNow(requests(60, 1)))
      const next = yield* Effect.fork(state.awaitCapacity(pool, { requests: 1 }))
      yield* TestClock.adjust("5 seconds")
      expect(Duration.toMillis(yield* Fiber.join(next))).toBe(1_000)
      yield* Fiber.join(waiting)
    }))

  it.effect("proactive: false never waits but still tracks state", () =>
    Effect.gen(function*() {
      const state = yield* RateLimitState.make({ proactive: false })
      yield* state.update(pool, yield* snapshotNow(requests(60, 0)))
      expect(yield* state.awaitCapacity(pool, { requests: 1 })).toEqual(Duration.zero)
      expect(Option.isSome(yield* state.get(pool))).toBe(true)
    }))

  it.effect("the combined tokens bucket is not charged when the input and output buckets are known", () =>
    Effect.gen(function*() {
      const state = yield* RateLimitState.make({ threshold: 0 })
      // "tokens" reports whichever bucket is most restrictive: here the 8 000 output tokens
      yield* state.update(
        pool,
        yield* snapshotNow((now) => ({
          ...Scripted.bucketHeaders("input-tokens", { limit: 30_000, remaining: 30_000, now, resetIn: "0 seconds" }),
          ...Scripted.bucketHeaders("output-tokens", { limit: 8_000, remaining: 1_000, now, resetIn: "52 seconds" }),
          ...Scripted.bucketHeaders("tokens", { limit: 8_000, remaining: 1_000, now, resetIn: "52 seconds" })
        }))
      )
      expect(yield* state.awaitCapacity(pool, { inputTokens: 5_000, tokens: 5_000 })).toEqual(Duration.zero)
    }))

  it.effect("without input and output buckets, the combined tokens bucket is charged", () =>
    Effect.gen(function*() {
      const state = yield* RateLimitState.make({ threshold: 0 })
      yield* state.update(
        pool,
        yield* snapshotNow((now) =>
          Scripted.bucketHeaders("tokens", { limit: 60_000, remaining: 0, now, resetIn: "60 seconds" })
        )
      )
      const fiber = yield* Effect.fork(state.awaitCapacity(pool, { inputTokens: 1_000, tokens: 1_000 }))
      yield* TestClock.adjust("5 seconds")
      expect(Duration.toMillis(yield* Fiber.join(fiber))).toBe(1_000)
    }))
})
