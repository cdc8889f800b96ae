import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Option, Redacted, TestClock } from "effect"
import * as Admission from "../src/Admission.js"
import * as CircuitBreaker from "../src/CircuitBreaker.js"
import * as ClaudeClient from "../src/ClaudeClient.js"
import type * as Messages from "../src/Messages.js"
import * as RateLimitState from "../src/RateLimitState.js"
import * as Scripted from "../src/testing/ScriptedHttpClient.js"

// The client and its admission gate together, under TestClock, against scripted answers.

const pool = "claude-sonnet-4.x"

const params: Messages.CreateMessageParams = {
  model: "claude-sonnet-4-6",
  max_tokens: 256,
  messages: [{ role: "user", content: "Say hello" }]
}

const layer = (script: ReadonlyArray<Scripted.Step>, options: Partial<ClaudeClient.LayerOptions> = {}) =>
  ClaudeClient.layer({ apiKey: Redacted.make("sk-ant-admission-test"), ...options }).pipe(
    Layer.provideMerge(Scripted.layer(script))
  )

// limits known in advance, so no cold start unless a test wants one
const known = (limits: Admission.LimitsPerMinute): Admission.Options => ({ limits: { [pool]: limits } })

const tagOf = <A, E>(exit: Exit.Exit<A, E>): string =>
  Exit.match(exit, {
    onSuccess: () => "Success",
    onFailure: (cause) => cause._tag === "Fail" ? (cause.error as { _tag: string })._tag : cause._tag
  })

const sendTimes = Effect.flatMap(Scripted.ScriptedHttpClient, (recorder) => recorder.sendTimes)

describe("ClaudeClient with admission", () => {
  it.effect("one fiber's 429 holds back every request of the pool until its retry-after", () =>
    Effect.gen(function*() {
      const client = yield* ClaudeClient.ClaudeClient
      const first = yield* Effect.fork(client.createMessage(params))
      yield* TestClock.adjust("100 millis")
      // sent after the 429 came back: it waits for the embargo too, not only the fiber that got it
      const second = yield* Effect.fork(client.createMessage(params))
      yield* TestClock.adjust("10 seconds")
      expect(tagOf(yield* Fiber.await(first))).toBe("Success")
      expect(tagOf(yield* Fiber.await(second))).toBe("Success")
      // the retry keeps its turn: it goes first when the embargo ends
      expect(yield* sendTimes).toEqual([0, 5_000, 5_000])
    }).pipe(Effect.provide(layer([
      Scripted.error(429, "rate_limit_error", { headers: { "retry-after": "5" } }),
      Scripted.message(),
      Scripted.message()
    ], { admission: known({ requestsPerMinute: 600 }) }))))

  it.effect("a request larger than a bucket fails at once with the bucket, cost and limit; nothing is sent", () =>
    Effect.gen(function*() {
      const client = yield* ClaudeClient.ClaudeClient
      const giant = { ...params, messages: [{ role: "user" as const, content: "x".repeat(4 * 50_000) }] }
      const exit = yield* Effect.exit(client.createMessage(giant))
      expect(tagOf(exit)).toBe("RequestExceedsLimitError")
      expect(Exit.isFailure(exit) && exit.cause._tag === "Fail" && exit.cause.error).toMatchObject({
        pool,
        bucket: "inputTokens",
        limit: 40_000
      })
      expect(yield* sendTimes).toEqual([])
      yield* client.createMessage(params)
      expect(yield* sendTimes).toEqual([0])
    }).pipe(Effect.provide(layer([Scripted.message()], { admission: known({ inputTokensPerMinute: 40_000 }) }))))

  it.effect("a deadline shorter than the predicted wait: BudgetWaitTooLongError, nothing sent", () =>
    Effect.gen(function*() {
      const client = yield* ClaudeClient.ClaudeClient
      yield* client.createMessage(params)
      const exit = yield* Effect.exit(client.createMessage(params, { deadline: "10 seconds" }))
      expect(tagOf(exit)).toBe("BudgetWaitTooLongError")
      expect(yield* sendTimes).toEqual([0])
    }).pipe(Effect.provide(layer([Scripted.message()], { admission: known({ requestsPerMinute: 1 }) }))))

  it.effect("the retry budget stops retries when most recent attempts failed: RetryBudgetExhaustedError", () =>
    Effect.gen(function*() {
      const client = yield* ClaudeClient.ClaudeClient
      const fiber = yield* Effect.fork(client.createMessage(params))
      yield* TestClock.adjust("1 minute")
      const exit = yield* Fiber.await(fiber)
      expect(tagOf(exit)).toBe("RetryBudgetExhaustedError")
      // 4 tokens: two failures bring it to 2 (half), and retries stop
      expect((yield* sendTimes).length).toBe(2)
      const status = yield* (yield* Admission.Admission).status(pool)
      expect(status.retryTokens).toEqual(Option.some(2))
    }).pipe(
      Effect.provide(layer(Array.from({ length: 6 }, () => Scripted.error(529, "overloaded_error")), {
        admission: { ...known({ requestsPerMinute: 600 }), retryBudget: { maxTokens: 4 } },
        circuitBreaker: { failureThreshold: 100 }
      })),
      Effect.withRandomFixed([0.5])
    ))

  it.effect("an acceleration-limit 429 halves the concurrency window and cuts the send rate; the circuit stays closed", () =>
    Effect.gen(function*() {
      const client = yield* ClaudeClient.ClaudeClient
      const fiber = yield* Effect.fork(client.createMessage(params))
      yield* TestClock.adjust("10 seconds")
      expect(tagOf(yield* Fiber.await(fiber))).toBe("Success")
      const status = yield* (yield* Admission.Admission).status(pool)
      expect(status.concurrencyWindow).toBe(4)
      expect(Option.isSome(status.sendRate)).toBe(true)
      expect((yield* (yield* CircuitBreaker.CircuitBreaker).state)._tag).toBe("Closed")
      expect(yield* sendTimes).toEqual([0, 2_000])
    }).pipe(Effect.provide(layer([
      Scripted.error(429, "rate_limit_error", {
        headers: { "retry-after": "2" },
        details: { error_code: "ramp_limit_exceeded" }
      }),
      Scripted.message()
    ], { admission: known({ requestsPerMinute: 600 }) }))))

  it.effect("a concurrent-requests 429 shrinks the window to what was in flight", () =>
    Effect.gen(function*() {
      const client = yield* ClaudeClient.ClaudeClient
      const fibers = yield* Effect.forEach([1, 2, 3], () => Effect.fork(client.createMessage(params)))
      yield* TestClock.adjust("30 seconds")
      yield* Fiber.joinAll(fibers)
      const status = yield* (yield* Admission.Admission).status(pool)
      expect(status.concurrencyWindow).toBe(2)
    }).pipe(Effect.provide(layer([
      ({ index }) => ({ ...Scripted.message(), latency: index < 2 ? "5 seconds" : "0 millis" }),
      ({ index }) => ({ ...Scripted.message(), latency: index < 2 ? "5 seconds" : "0 millis" }),
      Scripted.error(429, "rate_limit_error", {
        message: "Number of concurrent connections has exceeded your rate limit. Please try again later.",
        headers: { "retry-after": "1" }
      }),
      Scripted.message()
    ], { admission: known({ requestsPerMinute: 600 }) }))))

  it.effect("the layer hands the caller its gate, state and breaker", () =>
    Effect.gen(function*() {
      const client = yield* ClaudeClient.ClaudeClient
      yield* client.createMessage(params)
      const state = yield* RateLimitState.RateLimitState
      expect(Option.isSome(yield* state.get(pool))).toBe(true)
      expect((yield* (yield* CircuitBreaker.CircuitBreaker).state)._tag).toBe("Closed")
      expect((yield* (yield* Admission.Admission).status(pool)).view.known).toBe(true)
    }).pipe(Effect.provide(layer([
      ({ now }) =>
        Scripted.message({
          headers: Scripted.bucketHeaders("requests", { limit: 50, remaining: 49, now, resetIn: "1 second" })
        })
    ]))))

  it.effect("with the gate off, a retry waits out the server's retry-after itself", () =>
    Effect.gen(function*() {
      const client = yield* ClaudeClient.ClaudeClient
      const fiber = yield* Effect.fork(client.createMessage(params))
      yield* TestClock.adjust("1 minute")
      expect(tagOf(yield* Fiber.await(fiber))).toBe("Success")
      // 2 s, then 3 s, plus the header jitter (U = 0.5 of 500 ms)
      expect(yield* sendTimes).toEqual([0, 2_250, 5_500])
    }).pipe(
      Effect.provide(layer([
        Scripted.error(429, "rate_limit_error", { headers: { "retry-after": "2" } }),
        Scripted.error(429, "rate_limit_error", { headers: { "retry-after": "3" } }),
        Scripted.message()
      ], { admission: { enabled: false } })),
      Effect.withRandomFixed([0.5])
    ))
})
