import { describe, expect, it } from "@effect/vitest"
import { Clock, DateTime, Effect, Exit, Fiber, Option, Ref, TestClock } from "effect"
import * as ClaudeError from "../src/ClaudeError.js"
import * as RateLimitHeaders from "../src/RateLimitHeaders.js"
import * as RetryPolicy from "../src/RetryPolicy.js"

const rateLimitError = (headers: Record<string, string>, now: DateTime.Utc) =>
  new ClaudeError.RateLimitError({
    status: 429,
    errorType: "rate_limit_error",
    message: "rate limited",
    requestId: Option.none(),
    rateLimits: RateLimitHeaders.decodeAt(headers, now)
  })

const overloaded = (now: DateTime.Utc) =>
  new ClaudeError.OverloadedError({
    status: 529,
    errorType: "overloaded_error",
    message: "overloaded",
    requestId: Option.none(),
    rateLimits: RateLimitSnapshotEmpty(now)
  })

const RateLimitSnapshotEmpty = (now: DateTime.Utc) => RateLimitHeaders.RateLimitSnapshot.empty(now)

/**
 * Runs `failures` (built at the attempt's virtual time) then succeeds, under
 * the policy, recording the virtual time of each attempt.
 */
const scripted = <E>(failures: ReadonlyArray<(now: DateTime.Utc) => E>) =>
  Effect.gen(function*() {
    const attempts = yield* Ref.make<Array<number>>([])
    const attempt = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const made = yield* Ref.modify(attempts, (all) => [all.length, [...all, now]])
      const failure = failures[made]
      if (failure !== undefined) return yield* Effect.fail(failure(DateTime.unsafeMake(now)))
      return "ok"
    })
    return { attempts, attempt }
  })

describe("RetryPolicy", () => {
  it.effect("Retry-After wins: two 429s with retry-after 2 and 1, then success", () =>
    Effect.gen(function*() {
      const { attempt, attempts } = yield* scripted([
        (now) => rateLimitError({ "retry-after": "2" }, now),
        (now) => rateLimitError({ "retry-after": "1" }, now)
      ])
      const fiber = yield* attempt.pipe(RetryPolicy.retry(), Effect.fork)
      yield* TestClock.adjust("1 minute")
      expect(yield* Fiber.join(fiber)).toBe("ok")
      // Random.fixed(0.5): header jitter = 0.5 × 500 ms = 250 ms
      expect(yield* Ref.get(attempts)).toEqual([0, 2250, 3500])
    }).pipe(Effect.withRandomFixed([0.5])))

  it.effect("no headers: full-jitter exponential sequence, then MaxRetriesExceededError", () =>
    Effect.gen(function*() {
      const { attempt, attempts } = yield* scripted(Array.from({ length: 10 }, () => overloaded))
      const fiber = yield* attempt.pipe(RetryPolicy.retry({ maxRetries: 4 }), Effect.fork)
      yield* TestClock.adjust("10 minutes")
      const exit = yield* Fiber.await(fiber)
      // full jitter with U = 0.5: 0.5 × 1 s, 2 s, 4 s, 8 s
      expect(yield* Ref.get(attempts)).toEqual([0, 500, 1500, 3500, 7500])
      expect(exit).toStrictEqual(Exit.fail(
        new RetryPolicy.MaxRetriesExceededError({
          attempts: 5,
          lastError: overloaded(DateTime.unsafeMake(7500))
        })
      ))
    }).pipe(Effect.withRandomFixed([0.5])))
})
