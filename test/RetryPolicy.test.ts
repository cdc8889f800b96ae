import { describe, expect, it } from "@effect/vitest"
import { Clock, DateTime, Duration, Effect, Exit, Fiber, Metric, MetricLabel, Option, Ref, TestClock } from "effect"
import * as CircuitBreaker from "../src/CircuitBreaker.js"
import * as ClaudeError from "../src/ClaudeError.js"
import * as RateLimitHeaders from "../src/RateLimitHeaders.js"
import * as RetryPolicy from "../src/RetryPolicy.js"
import { captureLogs } from "./support/logs.js"

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

  const backoffTimes = (options: RetryPolicy.Options, random: ReadonlyArray<number>) =>
    Effect.gen(function*() {
      const { attempt, attempts } = yield* scripted(Array.from({ length: 10 }, () => overloaded))
      const fiber = yield* attempt.pipe(RetryPolicy.retry(options), Effect.fork)
      yield* TestClock.adjust("1 hour")
      yield* Fiber.await(fiber)
      const times = yield* Ref.get(attempts)
      return times.slice(1).map((time, i) => time - times[i]!)
    }).pipe(Effect.withRandomFixed(random as [number, ...Array<number>]))

  it.effect("jitter modes: full, equal, none, decorrelated; all capped at maxDelay", () =>
    Effect.gen(function*() {
      const base = { maxRetries: 6, baseDelay: "1 second", maxDelay: "10 seconds" } as const
      expect(yield* backoffTimes({ ...base, jitter: "none" }, [0.5])).toEqual([1000, 2000, 4000, 8000, 10000, 10000])
      expect(yield* backoffTimes({ ...base, jitter: "full" }, [0.25])).toEqual([250, 500, 1000, 2000, 2500, 2500])
      expect(yield* backoffTimes({ ...base, jitter: "equal" }, [0])).toEqual([500, 1000, 2000, 4000, 5000, 5000])
      // decorrelated: uniform in [base, 3 × previous]; with U = 1 each wait triples, capped
      expect(yield* backoffTimes({ ...base, jitter: "decorrelated" }, [1])).toEqual([
        3000,
        9000,
        10000,
        10000,
        10000,
        10000
      ])
      expect(yield* backoffTimes({ ...base, jitter: "decorrelated" }, [0])).toEqual([
        1000,
        1000,
        1000,
        1000,
        1000,
        1000
      ])
    }))

  it.effect("a non-retryable error is returned as is after one attempt; isRetryable can be replaced", () =>
    Effect.gen(function*() {
      const notRetried = yield* Effect.exit(Effect.fail(new Error("nope")).pipe(RetryPolicy.retry()))
      expect(Exit.isFailure(notRetried) && notRetried.cause._tag === "Fail" && notRetried.cause.error.message)
        .toBe("nope")
      const count = yield* Ref.make(0)
      const fiber = yield* Effect.fork(
        Effect.zipRight(Ref.update(count, (n) => n + 1), Effect.fail("transient")).pipe(
          RetryPolicy.retry({ maxRetries: 2, isRetryable: (e) => e === "transient", jitter: "none" })
        )
      )
      yield* TestClock.adjust("1 minute")
      const exit = yield* Fiber.await(fiber)
      expect(yield* Ref.get(count)).toBe(3)
      expect(exit).toStrictEqual(
        Exit.fail(new RetryPolicy.MaxRetriesExceededError({ attempts: 3, lastError: "transient" }))
      )
    }))

  it.effect("make() is a plain Schedule: Effect.retry stops with the last error, its outputs describe each step", () =>
    Effect.gen(function*() {
      const { attempt, attempts } = yield* scripted<ClaudeError.ClaudeError>([
        (now) => rateLimitError({ "retry-after-ms": "1500" }, now),
        overloaded
      ])
      const fiber = yield* Effect.fork(Effect.retry(attempt, RetryPolicy.make({ headerJitter: 0 })))
      yield* TestClock.adjust("1 minute")
      expect(yield* Fiber.join(fiber)).toBe("ok")
      expect(yield* Ref.get(attempts)).toEqual([0, 1500, 2500])
    }).pipe(Effect.withRandomFixed([0.5])))

  it.effect("every retry is logged with attempt, wait, rule and header values, and counted in metrics", () =>
    Effect.gen(function*() {
      const retries = Metric.taggedWithLabels(RetryPolicy.retriesTotal, [
        MetricLabel.make("error", "RateLimitError"),
        MetricLabel.make("rule", "retry-after")
      ])
      const waits = Metric.taggedWithLabels(RetryPolicy.retryWaitSeconds, [
        MetricLabel.make("error", "RateLimitError"),
        MetricLabel.make("rule", "retry-after")
      ])
      // both metrics are process-global and other tests feed them: assert what this test adds
      const before = (yield* Metric.value(retries)).count
      const waitsBefore = yield* Metric.value(waits)
      const [, logs] = yield* captureLogs(Effect.gen(function*() {
        const { attempt } = yield* scripted([
          (now) => rateLimitError({ "retry-after": "4", "request-id": "req_7" }, now)
        ])
        const fiber = yield* Effect.fork(attempt.pipe(RetryPolicy.retry()))
        yield* TestClock.adjust("1 minute")
        yield* Fiber.join(fiber)
      }))
      const retryLogs = logs.filter((line) => line.message.startsWith("Retrying"))
      expect(retryLogs).toHaveLength(1)
      expect(retryLogs[0]?.message).toBe("Retrying after attempt 1 in 4s 250ms (retry-after)")
      expect(retryLogs[0]?.annotations).toMatchObject({
        attempt: 1,
        waitMillis: 4250,
        rule: "retry-after",
        error: "RateLimitError",
        headerWaitMillis: 4000,
        retryAfter: "4s",
        requestId: "req_7"
      })
      expect((yield* Metric.value(retries)).count - before).toBe(1)
      const waitsAfter = yield* Metric.value(waits)
      expect(waitsAfter.count - waitsBefore.count).toBe(1)
      expect(waitsAfter.sum - waitsBefore.sum).toBeCloseTo(4.25, 9)
    }).pipe(Effect.withRandomFixed([0.5])))

  it.effect("header waits get their own jitter; maxHeaderWait bounds them, backoff waits are bounded by maxDelay", () =>
    Effect.gen(function*() {
      const { attempt, attempts } = yield* scripted([
        (now) => rateLimitError({ "retry-after": "30" }, now),
        (now) => rateLimitError({ "retry-after": "31" }, now)
      ])
      const fiber = yield* Effect.fork(attempt.pipe(RetryPolicy.retry({ maxHeaderWait: "30 seconds" })))
      yield* TestClock.adjust("5 minutes")
      const exit = yield* Fiber.await(fiber)
      expect(yield* Ref.get(attempts)).toEqual([0, 30_400])
      const error = Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error : undefined
      expect(error).toBeInstanceOf(RetryPolicy.RetryWaitTooLongError)
      expect((error as RetryPolicy.RetryWaitTooLongError).wait).toEqual(Duration.seconds(31))
      expect((error as RetryPolicy.RetryWaitTooLongError).message).toContain("31s")
    }).pipe(Effect.withRandomFixed([0.8])))

  it.effect("a retry-after beyond the plausibility cap is a wait too long, not no wait: one attempt, RetryWaitTooLongError", () =>
    Effect.gen(function*() {
      for (
        const [headers, wait] of [
          [{ "retry-after": "999999" }, Duration.seconds(999_999)],
          [{ "retry-after-ms": "9".repeat(400) }, Duration.infinity]
        ] as const
      ) {
        const { attempt, attempts } = yield* scripted([(now) => rateLimitError(headers, now)])
        const fiber = yield* Effect.fork(attempt.pipe(RetryPolicy.retry()))
        yield* TestClock.adjust("1 hour")
        const error = yield* Effect.flip(Fiber.join(fiber))
        expect(yield* Ref.get(attempts)).toHaveLength(1)
        expect(error).toBeInstanceOf(RetryPolicy.RetryWaitTooLongError)
        expect(error).toMatchObject({ attempts: 1, wait, maxWait: Duration.minutes(5) })
        expect(error.message).toContain(Duration.isFinite(wait) ? "11d 13h 46m 39s" : "longer than can be represented")
      }
    }).pipe(Effect.withRandomFixed([0.5])))

  it.effect("retryOnOpenCircuit: an open circuit is waited out (its remaining time), not failed; off by default", () =>
    Effect.gen(function*() {
      const open = (remaining: number) => () =>
        new CircuitBreaker.CircuitOpenError({ name: "claude", state: "Open", remaining: Duration.seconds(remaining) })
      const failsFast = yield* scripted([open(40)])
      expect(yield* Effect.flip(failsFast.attempt.pipe(RetryPolicy.retry()))).toBeInstanceOf(
        CircuitBreaker.CircuitOpenError
      )
      const waits = yield* scripted([open(40), open(20)])
      const fiber = yield* Effect.fork(waits.attempt.pipe(RetryPolicy.retry({ retryOnOpenCircuit: true })))
      yield* TestClock.adjust("2 minutes")
      expect(yield* Fiber.join(fiber)).toBe("ok")
      // 40 s + 250 ms jitter, then 20 s + 250 ms
      const times = yield* Ref.get(waits.attempts)
      expect(times.map((t) => t - times[0]!)).toEqual([0, 40_250, 60_500])
      const tooLong = yield* scripted([open(600)])
      const error = yield* Effect.flip(tooLong.attempt.pipe(RetryPolicy.retry({ retryOnOpenCircuit: true })))
      expect(error).toMatchObject({ _tag: "RetryWaitTooLongError", rule: "circuit-open" })
    }).pipe(Effect.withRandomFixed([0.5])))

  it.effect("retryOnOpenCircuit: waiting out an open circuit does not use up the retries of sent attempts", () =>
    Effect.gen(function*() {
      const open = () =>
        new CircuitBreaker.CircuitOpenError({ name: "claude", state: "Open", remaining: Duration.seconds(10) })
      // two sent failures around four refusals of the open circuit, then success, with only 2 retries allowed
      const { attempt } = yield* scripted<unknown>([overloaded, open, open, overloaded, open, open])
      const fiber = yield* Effect.fork(attempt.pipe(RetryPolicy.retry({ retryOnOpenCircuit: true, maxRetries: 2 })))
      yield* TestClock.adjust("10 minutes")
      expect(yield* Fiber.join(fiber)).toBe("ok")
    }).pipe(Effect.withRandomFixed([0.5])))

  it.effect("allowRetry refusing stops the retries with RetryBudgetExhaustedError", () =>
    Effect.gen(function*() {
      const { attempt, attempts } = yield* scripted([overloaded, overloaded, overloaded])
      const allowed = yield* Ref.make(1)
      const fiber = yield* Effect.fork(attempt.pipe(RetryPolicy.retry({
        allowRetry: () => Ref.modify(allowed, (n) => [n > 0, n - 1])
      })))
      yield* TestClock.adjust("1 minute")
      const error = yield* Effect.flip(Fiber.join(fiber))
      expect(error).toMatchObject({ _tag: "RetryBudgetExhaustedError", attempts: 2 })
      expect((yield* Ref.get(attempts)).length).toBe(2)
    }).pipe(Effect.withRandomFixed([0.5])))

  it.effect("headerWaits: gate: a server-given wait is left to the gate (no sleep), but a wait too long still fails", () =>
    Effect.gen(function*() {
      const { attempt, attempts } = yield* scripted([(now) => rateLimitError({ "retry-after": "30" }, now)])
      const fiber = yield* Effect.fork(attempt.pipe(RetryPolicy.retry({ headerWaits: "gate" })))
      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.join(fiber)).toBe("ok")
      expect(yield* Ref.get(attempts)).toEqual([0, 0])
      const tooLong = yield* scripted([(now) => rateLimitError({ "retry-after": "3600" }, now)])
      const error = yield* Effect.flip(tooLong.attempt.pipe(RetryPolicy.retry({ headerWaits: "gate" })))
      expect(error).toMatchObject({ _tag: "RetryWaitTooLongError", rule: "retry-after" })
    }).pipe(Effect.withRandomFixed([0.5])))
})
