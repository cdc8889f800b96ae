/**
 * The competing strategies of `npm run bench -- compare`, each checked against
 * the behaviour it imitates: exact timelines under TestClock, jitter from
 * `Random.fixed`.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Layer, Redacted, TestClock } from "effect"
import * as fullJitter from "../../bench/strategies/fullJitter.js"
import * as headerAware from "../../bench/strategies/headerAware.js"
import * as naive from "../../bench/strategies/naive.js"
import * as officialSdk from "../../bench/strategies/officialSdk.js"
import * as Strategy from "../../bench/strategies/strategy.js"
import * as ClaudeClient from "../../src/ClaudeClient.js"
import type * as Messages from "../../src/Messages.js"
import * as Scripted from "../../src/testing/ScriptedHttpClient.js"

const params: Messages.CreateMessageParams = {
  model: "claude-sonnet-4-6",
  max_tokens: 256,
  messages: [{ role: "user", content: "Say hello" }]
}

const connection = { apiKey: Redacted.make("sk-ant-test-strategies") }

const layer = (policy: Strategy.Policy | Effect.Effect<Strategy.Policy>, script: ReadonlyArray<Scripted.Step>) =>
  Strategy.layer(Effect.isEffect(policy) ? policy : Effect.succeed(policy), connection).pipe(
    Layer.provideMerge(Scripted.layer(script))
  )

/** Sends one message in a fiber at `after`, lets virtual time run `horizon`, returns the exit and send times. */
const send = (horizon: Duration.DurationInput = "30 minutes") =>
  Effect.gen(function*() {
    const client = yield* ClaudeClient.ClaudeClient
    const fiber = yield* Effect.fork(client.createMessage(params))
    yield* TestClock.adjust(horizon)
    return yield* Fiber.await(fiber)
  })

const sendTimes = Effect.flatMap(Scripted.ScriptedHttpClient, (recorder) => recorder.sendTimes)

const tagOf = <A, E extends { readonly _tag: string }>(exit: Exit.Exit<A, E>): string => {
  if (Exit.isSuccess(exit)) return "success"
  if (exit.cause._tag !== "Fail") throw new Error(`expected a failure, got ${exit.cause._tag}`)
  return exit.cause.error._tag
}

const rateLimited = (headers: Record<string, string> = {}) => Scripted.error(429, "rate_limit_error", { headers })
const overloaded = (headers: Record<string, string> = {}) => Scripted.error(529, "overloaded_error", { headers })

describe("naive: catch 429, sleep 1 s, up to 5 retries", () => {
  it.effect("six 429s: sent once a second, then the last 429", () =>
    Effect.gen(function*() {
      const exit = yield* send()
      expect(yield* sendTimes).toEqual([0, 1_000, 2_000, 3_000, 4_000, 5_000])
      expect(tagOf(exit)).toBe("RateLimitError")
    }).pipe(Effect.provide(layer(naive.policy, Array.from({ length: 6 }, () => rateLimited())))))

  it.effect("ignores retry-after: a 429 asking for 30 s is retried after 1 s", () =>
    Effect.gen(function*() {
      const exit = yield* send()
      expect(yield* sendTimes).toEqual([0, 1_000])
      expect(tagOf(exit)).toBe("success")
    }).pipe(Effect.provide(layer(naive.policy, [rateLimited({ "retry-after": "30" }), Scripted.message()]))))

  it.effect("a 529 is not a 429: no retry", () =>
    Effect.gen(function*() {
      const exit = yield* send()
      expect(yield* sendTimes).toEqual([0])
      expect(tagOf(exit)).toBe("OverloadedError")
    }).pipe(Effect.provide(layer(naive.policy, [overloaded()]))))
})

describe("official SDK policy: 2 retries, retry-after-ms / retry-after, else 0.5 s × 2^n ≤ 8 s minus up to 25 %", () => {
  it.effect("retry-after (seconds), then retry-after-ms, which wins over retry-after", () =>
    Effect.gen(function*() {
      const exit = yield* send()
      expect(yield* sendTimes).toEqual([0, 3_000, 4_500])
      expect(tagOf(exit)).toBe("success")
    }).pipe(Effect.provide(layer(officialSdk.policy, [
      rateLimited({ "retry-after": "3" }),
      rateLimited({ "retry-after": "9", "retry-after-ms": "1500" }),
      Scripted.message()
    ]))))

  it.effect("no header: 0.5 s, then 1 s, less U × 25 % (U = 0.4: 450 ms, 900 ms), then the last error", () =>
    Effect.gen(function*() {
      const exit = yield* send()
      expect(yield* sendTimes).toEqual([0, 450, 1_350])
      expect(tagOf(exit)).toBe("OverloadedError")
    }).pipe(
      Effect.provide(layer(officialSdk.policy, [overloaded(), overloaded(), overloaded()])),
      Effect.withRandomFixed([0.4])
    ))

  it.effect("retry-after as an HTTP-date; a server wait far beyond 8 s is honoured (10 min)", () =>
    Effect.gen(function*() {
      const exit = yield* send("1 hour")
      expect(yield* sendTimes).toEqual([0, 5_000, 605_000])
      expect(tagOf(exit)).toBe("success")
    }).pipe(Effect.provide(layer(officialSdk.policy, [
      rateLimited({ "retry-after": "Thu, 01 Jan 1970 00:00:05 GMT" }),
      rateLimited({ "retry-after": "600" }),
      Scripted.message()
    ]))))

  it.effect("retry-after 0 or garbage: backoff instead", () =>
    Effect.gen(function*() {
      yield* send()
      expect(yield* sendTimes).toEqual([0, 500, 1_500])
    }).pipe(
      Effect.provide(layer(officialSdk.policy, [
        rateLimited({ "retry-after": "0" }),
        rateLimited({ "retry-after": "soon" }),
        Scripted.message()
      ])),
      Effect.withRandomFixed([0])
    ))

  it.effect("x-should-retry: false stops a 429, retry-after or not", () =>
    Effect.gen(function*() {
      const exit = yield* send()
      expect(yield* sendTimes).toEqual([0])
      expect(tagOf(exit)).toBe("RateLimitError")
    }).pipe(
      Effect.provide(layer(officialSdk.policy, [rateLimited({ "x-should-retry": "false", "retry-after": "1" })]))
    ))

  it.effect("x-should-retry: true retries a 400, which is otherwise final", () =>
    Effect.gen(function*() {
      const exit = yield* send()
      expect(yield* sendTimes).toEqual([0, 500, 1_500])
      expect(tagOf(exit)).toBe("InvalidRequestError")
    }).pipe(
      Effect.provide(layer(
        officialSdk.policy,
        Array.from({ length: 3 }, () =>
          Scripted.error(400, "invalid_request_error", { headers: { "x-should-retry": "true" } }))
      )),
      Effect.withRandomFixed([0])
    ))

  it.effect("a 400 without the header: no retry", () =>
    Effect.gen(function*() {
      const exit = yield* send()
      expect(yield* sendTimes).toEqual([0])
      expect(tagOf(exit)).toBe("InvalidRequestError")
    }).pipe(Effect.provide(layer(officialSdk.policy, [Scripted.error(400, "invalid_request_error")]))))

  it.effect("a dropped connection is retried on backoff", () =>
    Effect.gen(function*() {
      const exit = yield* send()
      expect(yield* sendTimes).toEqual([0, 500])
      expect(tagOf(exit)).toBe("success")
    }).pipe(
      Effect.provide(layer(officialSdk.policy, [{ disconnect: true }, Scripted.message()])),
      Effect.withRandomFixed([0])
    ))

  it.effect("an attempt that does not answer in 10 minutes times out, and is retried", () =>
    Effect.gen(function*() {
      const exit = yield* send("1 hour")
      expect(yield* sendTimes).toEqual([0, 600_500])
      expect(tagOf(exit)).toBe("success")
    }).pipe(
      Effect.provide(layer(officialSdk.policy, [{ ...Scripted.message(), latency: "11 minutes" }, Scripted.message()])),
      Effect.withRandomFixed([0])
    ))
})

describe("full jitter without headers: base 1 s, cap 60 s, 6 attempts", () => {
  it.effect("U(0, 1 s × 2^n) before each retry (U = 0.5), then the last error", () =>
    Effect.gen(function*() {
      const exit = yield* send()
      expect(yield* sendTimes).toEqual([0, 500, 1_500, 3_500, 7_500, 15_500])
      expect(tagOf(exit)).toBe("ApiError")
    }).pipe(
      Effect.provide(layer(fullJitter.policy, Array.from({ length: 6 }, () => Scripted.error(500, "api_error")))),
      Effect.withRandomFixed([0.5])
    ))

  it.effect("ignores retry-after, and x-should-retry: false", () =>
    Effect.gen(function*() {
      const exit = yield* send()
      expect(yield* sendTimes).toEqual([0, 900])
      expect(tagOf(exit)).toBe("success")
    }).pipe(
      Effect.provide(layer(fullJitter.policy, [
        rateLimited({ "retry-after": "30", "x-should-retry": "false" }),
        Scripted.message()
      ])),
      Effect.withRandomFixed([0.9])
    ))

  it("the wait is U × min(60 s, 1 s × 2^(n−1)): the cap binds from the 7th retry on (64 s > 60 s)", () => {
    const wait = (retry: number) =>
      Strategy.fullJitter(retry, { base: fullJitter.base, cap: fullJitter.cap }).pipe(
        Effect.map(Duration.toMillis),
        Effect.withRandomFixed([0.5]),
        Effect.runSync
      )
    expect([1, 2, 6, 7, 12].map(wait)).toEqual([500, 1_000, 16_000, 30_000, 30_000])
  })
})

describe("header-aware: retry-after, then the earliest reset, then backoff; holds at remaining <= 2; breaker", () => {
  it.effect("retry-after first", () =>
    Effect.gen(function*() {
      yield* send()
      expect(yield* sendTimes).toEqual([0, 7_000])
    }).pipe(Effect.provide(layer(headerAware.make, [rateLimited({ "retry-after": "7" }), Scripted.message()]))))

  it.effect("no retry-after: the earliest reset ahead (5 s), not the later one (20 s)", () =>
    Effect.gen(function*() {
      yield* send()
      expect(yield* sendTimes).toEqual([0, 5_000])
    }).pipe(Effect.provide(layer(headerAware.make, [
      ({ now }) =>
        Scripted.error(429, "rate_limit_error", {
          headers: {
            ...Scripted.bucketHeaders("requests", { limit: 50, remaining: 3, now, resetIn: "20 seconds" }),
            ...Scripted.bucketHeaders("input-tokens", { limit: 30_000, remaining: 12_000, now, resetIn: "5 seconds" })
          }
        }),
      Scripted.message()
    ]))))

  it.effect("an exhausted bucket (remaining 0) holds the retry until its own reset, whatever the earliest reset", () =>
    Effect.gen(function*() {
      yield* send()
      // the retry is due at 5 s (the input bucket's reset), then held by remaining 0 ≤ 2 until 20 s
      expect(yield* sendTimes).toEqual([0, 20_000])
    }).pipe(Effect.provide(layer(headerAware.make, [
      ({ now }) =>
        Scripted.error(429, "rate_limit_error", {
          headers: {
            ...Scripted.bucketHeaders("requests", { limit: 50, remaining: 0, now, resetIn: "20 seconds" }),
            ...Scripted.bucketHeaders("input-tokens", { limit: 30_000, remaining: 12_000, now, resetIn: "5 seconds" })
          }
        }),
      Scripted.message()
    ]))))

  it.effect("no header at all: full-jitter backoff (U = 0.5 of 1 s, 2 s)", () =>
    Effect.gen(function*() {
      yield* send()
      expect(yield* sendTimes).toEqual([0, 500, 1_500])
    }).pipe(
      Effect.provide(layer(headerAware.make, [overloaded(), overloaded(), Scripted.message()])),
      Effect.withRandomFixed([0.5])
    ))

  it.effect("an answer leaving remaining <= 2 holds the next request until that bucket's reset", () =>
    Effect.gen(function*() {
      yield* send("1 second")
      yield* send("1 minute")
      expect(yield* sendTimes).toEqual([0, 30_000])
    }).pipe(Effect.provide(layer(headerAware.make, [
      ({ now }) =>
        Scripted.message({
          headers: Scripted.bucketHeaders("requests", { limit: 50, remaining: 2, now, resetIn: "30 seconds" })
        }),
      Scripted.message()
    ]))))

  it.effect("5 failed attempts in a row open the breaker for 60 s; then one trial decides", () =>
    Effect.gen(function*() {
      // 5 × 529: attempts at 0, 0.5, 1.5, 3.5, 7.5 s; the fifth opens the circuit until 67.5 s
      // (its sixth attempt, due at 15.5 s, is refused)
      const first = yield* send("1 minute")
      expect(tagOf(first)).toBe("CircuitOpenError")
      const refused = yield* send("6 seconds")
      expect(tagOf(refused)).toBe("CircuitOpenError")
      expect(yield* sendTimes).toEqual([0, 500, 1_500, 3_500, 7_500])
      yield* TestClock.adjust("1500 millis")
      const trial = yield* send("1 second")
      expect(tagOf(trial)).toBe("success")
      expect((yield* sendTimes).at(-1)).toBe(67_500)
    }).pipe(
      Effect.provide(layer(headerAware.make, [...Array.from({ length: 5 }, () => overloaded()), Scripted.message()])),
      Effect.withRandomFixed([0.5])
    ))

  it.effect("a failed trial reopens the circuit for another 60 s", () =>
    Effect.gen(function*() {
      yield* send("2 minutes")
      const times = yield* sendTimes
      // the 5th failure at 7.5 s opens it; the 6th attempt (after 8 s) is refused; a new call at 67.5 s is the trial
      expect(times).toEqual([0, 500, 1_500, 3_500, 7_500])
      yield* send("1 second")
      expect((yield* sendTimes).length).toBe(6)
      const refused = yield* send("1 second")
      expect(tagOf(refused)).toBe("CircuitOpenError")
      expect((yield* sendTimes).length).toBe(6)
    }).pipe(
      Effect.provide(layer(headerAware.make, Array.from({ length: 6 }, () => Scripted.error(500, "api_error")))),
      Effect.withRandomFixed([0.5])
    ))
})

describe("strategy clients", () => {
  it.effect("params that cannot be sent as JSON: a typed error, nothing sent", () =>
    Effect.gen(function*() {
      const client = yield* ClaudeClient.ClaudeClient
      const error = yield* Effect.flip(client.createMessage({ ...params, extra: BigInt(1) }))
      expect(error._tag).toBe("RequestValidationError")
      expect(yield* sendTimes).toEqual([])
    }).pipe(Effect.provide(layer(naive.policy, []))))

  it.effect("implement createMessage only: the rest fail with a typed error, nothing sent", () =>
    Effect.gen(function*() {
      const client = yield* ClaudeClient.ClaudeClient
      const error = yield* Effect.flip(client.countTokens({ model: "claude-sonnet-4-6", messages: [] }))
      expect(error._tag).toBe("RequestValidationError")
      expect(error.message).toContain("createMessage only")
      expect(yield* sendTimes).toEqual([])
    }).pipe(Effect.provide(layer(naive.policy, []))))
})
