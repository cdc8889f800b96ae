import { describe, expect, it } from "@effect/vitest"
import { DateTime, Effect, Fiber, TestClock } from "effect"
import * as Simulator from "../../../src/simulator/api/Simulator.js"
import { message, send, withSimulator } from "../support/send.js"

describe("Simulator rules (in memory, TestClock)", () => {
  it.effect("a burst over RPM gets 429s with Anthropic's body and the retry-after of one request's refill", () =>
    withSimulator(
      { limits: { requestsPerMinute: 5 } },
      Effect.gen(function*() {
        const answers = yield* Effect.forEach(Array.from({ length: 7 }), () => send(message()))
        expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200, 200, 429, 429])
        const refused = answers[5]!
        // 5 per minute refill one request every 12 s
        expect(refused.headers["retry-after"]).toBe("12")
        expect(refused.headers["anthropic-ratelimit-requests-remaining"]).toBe("0")
        expect(refused.body.type).toBe("error")
        expect(refused.body.error.type).toBe("rate_limit_error")
        expect(refused.body.error.message).toContain("5 requests per minute")
        expect(refused.body.request_id).toBe(refused.headers["request-id"])
        const stats = yield* (yield* Simulator.Simulator).stats
        expect(stats.rateLimited.requests).toBe(2)
        expect(stats.succeeded).toBe(5)
      })
    ))

  it.effect("buckets refill continuously: one request every 12 s at 5 RPM, not five at the minute", () =>
    withSimulator(
      { limits: { requestsPerMinute: 5 } },
      Effect.gen(function*() {
        for (let i = 0; i < 5; i++) yield* send(message())
        yield* TestClock.adjust("11 seconds")
        expect((yield* send(message())).status).toBe(429)
        yield* TestClock.adjust("1 second")
        expect((yield* send(message())).status).toBe(200)
        expect((yield* send(message())).status).toBe(429)
        yield* TestClock.adjust("24 seconds")
        expect((yield* send(message())).status).toBe(200)
        expect((yield* send(message())).status).toBe(200)
        expect((yield* send(message())).status).toBe(429)
      })
    ))

  it.effect("the concurrency cap: a request over it gets a 429 naming concurrent connections", () =>
    withSimulator(
      { maxConcurrentRequests: 2, latency: { base: "10 seconds", perOutputToken: 0, jitter: 0 } },
      Effect.gen(function*() {
        const slow = yield* Effect.fork(Effect.all([send(message()), send(message())], { concurrency: 2 }))
        yield* TestClock.adjust("1 second")
        const third = yield* Effect.fork(send(message()))
        yield* TestClock.adjust("10 seconds")
        const refused = yield* Fiber.join(third)
        expect(refused.status).toBe(429)
        expect(refused.headers["retry-after"]).toBe("1")
        expect(refused.body.error.message).toContain("concurrent connections")
        expect((yield* Fiber.join(slow)).map((answer) => answer.status)).toEqual([200, 200])
        const stats = yield* (yield* Simulator.Simulator).stats
        expect(stats.peakConcurrency).toBe(2)
        expect(stats.rateLimited.concurrency).toBe(1)
      })
    ))

  it.effect("input tokens per minute count input and cache writes; cache reads are free", () =>
    withSimulator(
      { limits: { inputTokensPerMinute: 1_500 } },
      Effect.gen(function*() {
        // 3,500 characters are 1,000 tokens at 3.5 characters a token; "Hi there" takes the total to 1,003
        const cachedSystem = [{ type: "text", text: "s".repeat(3_500), cache_control: { type: "ephemeral" } }]
        const first = yield* send(message("Hi there", { system: cachedSystem }))
        expect(first.status).toBe(200)
        expect(first.body.usage).toMatchObject({
          input_tokens: 3,
          cache_creation_input_tokens: 1_000,
          cache_read_input_tokens: 0
        })
        // 1 003 of 1 500 spent: without the cache this would not fit
        const second = yield* send(message("Hi again", { system: cachedSystem }))
        expect(second.status).toBe(200)
        expect(second.body.usage).toMatchObject({ input_tokens: 3, cache_read_input_tokens: 1_000 })
        const uncached = yield* send(message("x".repeat(3_500)))
        expect(uncached.status).toBe(429)
        expect(uncached.body.error.message).toContain("1,500 input tokens per minute")
        const stats = yield* (yield* Simulator.Simulator).stats
        expect(stats).toMatchObject({
          inputTokens: 1_006,
          cacheReadInputTokens: 1_000,
          cacheCreationInputTokens: 1_000
        })
      })
    ))

  it.effect("output tokens are charged as produced: the next request waits for the output bucket", () =>
    withSimulator(
      { limits: { outputTokensPerMinute: 100 }, output: { min: 1, max: 1 } },
      Effect.gen(function*() {
        const first = yield* send(message())
        expect(first.body.usage.output_tokens).toBe(100)
        expect(first.headers["anthropic-ratelimit-output-tokens-remaining"]).toBe("0")
        const refused = yield* send(message())
        expect(refused.status).toBe(429)
        expect(refused.body.error.message).toContain("100 output tokens per minute")
        // one token refills in 0.6 s; retry-after is whole seconds
        expect(refused.headers["retry-after"]).toBe("1")
        yield* TestClock.adjust("1 second")
        expect((yield* send(message())).status).toBe(200)
      })
    ))

  it.effect("every response carries the full header set, token remaining rounded to the nearest thousand", () =>
    withSimulator(
      { limits: { requestsPerMinute: 50, inputTokensPerMinute: 30_000, outputTokensPerMinute: 8_000 } },
      Effect.gen(function*() {
        const answer = yield* send(message("x".repeat(4 * 1_234), { max_tokens: 10 }))
        const headers = answer.headers
        expect(headers["anthropic-ratelimit-requests-limit"]).toBe("50")
        expect(headers["anthropic-ratelimit-requests-remaining"]).toBe("49")
        expect(headers["anthropic-ratelimit-input-tokens-limit"]).toBe("30000")
        expect(headers["anthropic-ratelimit-input-tokens-remaining"]).toBe("29000") // 28 766 rounded
        expect(headers["anthropic-ratelimit-output-tokens-limit"]).toBe("8000")
        expect(headers["anthropic-ratelimit-tokens-limit"]).toBe("30000")
        expect(headers["request-id"]).toMatch(/^req_sim_\d{8}$/)
        // 1 234 tokens at 500 per second: full again in 2.47 s, sent as whole seconds
        expect(headers["anthropic-ratelimit-input-tokens-reset"]).toBe("1970-01-01T00:00:03Z")
        expect(DateTime.make(headers["anthropic-ratelimit-requests-reset"]!)._tag).toBe("Some")
      })
    ))

  it.effect("output length depends on max_tokens and the seed; the message is well formed", () =>
    Effect.gen(function*() {
      const lengths = (seed: number) =>
        withSimulator(
          { seed },
          Effect.forEach([50, 100, 400], (max_tokens) =>
            Effect.map(send(message("Hi", { max_tokens })), (answer) =>
              answer.body.usage.output_tokens as number))
        )
      const first = yield* lengths(3)
      expect(yield* lengths(3)).toEqual(first)
      expect(yield* lengths(4)).not.toEqual(first)
      first.forEach((length, i) => expect(length).toBeLessThanOrEqual([50, 100, 400][i]!))
      const answer = yield* withSimulator({}, send(message()))
      expect(answer.body).toMatchObject({ type: "message", role: "assistant", model: "claude-sonnet-4-6" })
      expect(answer.body.content[0].type).toBe("text")
      expect(answer.body.content[0].text.length).toBeGreaterThan(0)
      expect(["end_turn", "max_tokens"]).toContain(answer.body.stop_reason)
    }))

  it.effect("faults are reproducible from the seed", () =>
    Effect.gen(function*() {
      const statuses = (seed: number) =>
        withSimulator(
          {
            seed,
            limits: { requestsPerMinute: 10_000, inputTokensPerMinute: 1e6, outputTokensPerMinute: 1e6 },
            faults: { overloadedRate: 0.3, apiErrorRate: 0.1 }
          },
          Effect.forEach(Array.from({ length: 600 }), () => Effect.map(send(message()), (answer) => answer.status))
        )
      const run = yield* statuses(42)
      expect(yield* statuses(42)).toEqual(run)
      expect(yield* statuses(43)).not.toEqual(run)
      // expected: 180 overloaded (30 %, σ ≈ 11), then 10 % of the other 420 = 42 api errors (σ ≈ 6)
      const count = (status: number) => run.filter((answer) => answer === status).length
      expect(count(529)).toBeGreaterThan(140)
      expect(count(529)).toBeLessThan(220)
      expect(count(500)).toBeGreaterThan(20)
      expect(count(500)).toBeLessThan(65)
      expect(count(200) + count(529) + count(500)).toBe(600)
    }))

  it.effect("a scheduled outage answers its status during its window only", () =>
    withSimulator(
      { faults: { outages: [{ from: "10 seconds", to: "20 seconds", status: 529 }] } },
      Effect.gen(function*() {
        yield* TestClock.adjust("5 seconds")
        expect((yield* send(message())).status).toBe(200)
        yield* TestClock.adjust("10 seconds")
        const during = yield* send(message())
        expect(during.status).toBe(529)
        expect(during.body.error.type).toBe("overloaded_error")
        yield* TestClock.adjust("10 seconds")
        expect((yield* send(message())).status).toBe(200)
      })
    ))

  it.effect("connection resets drop the connection without an answer", () =>
    withSimulator(
      { faults: { connectionResetRate: 1 } },
      Effect.gen(function*() {
        const error = yield* Effect.flip(send(message()))
        expect(error).toMatchObject({ _tag: "RequestError", reason: "Transport" })
        expect((yield* (yield* Simulator.Simulator).stats).connectionResets).toBe(1)
      })
    ))

  it.effect("slow answers: the latency of a slow request is added on top", () =>
    withSimulator(
      { faults: { slowRate: 1, slowLatency: "90 seconds" } },
      Effect.gen(function*() {
        const fiber = yield* Effect.fork(send(message()))
        yield* TestClock.adjust("89 seconds")
        expect(fiber.unsafePoll()).toBeNull()
        yield* TestClock.adjust("1 second")
        expect((yield* Fiber.join(fiber)).status).toBe(200)
      })
    ))

  it.effect("client errors: 401 without a key, 400 without anthropic-version or with a bad body, 404 elsewhere", () =>
    withSimulator(
      {},
      Effect.gen(function*() {
        const noKey = yield* send(message(), { headers: { "anthropic-version": "2023-06-01" } })
        expect([noKey.status, noKey.body.error.type]).toEqual([401, "authentication_error"])
        const noVersion = yield* send(message(), { headers: { "x-api-key": "k" } })
        expect([noVersion.status, noVersion.body.error.type]).toEqual([400, "invalid_request_error"])
        expect((yield* send("{not json")).status).toBe(400)
        expect((yield* send({ model: "claude-sonnet-4-6", messages: [] })).body.error.message).toContain("max_tokens")
        const elsewhere = yield* send(message(), { path: "/v1/complete" })
        expect([elsewhere.status, elsewhere.body.error.type]).toEqual([404, "not_found_error"])
        expect((yield* (yield* Simulator.Simulator).stats).clientErrors).toBe(5)
      })
    ))

  it.effect("count_tokens counts characters / 3.5 and has its own requests bucket", () =>
    withSimulator(
      { countTokensPerMinute: 2 },
      Effect.gen(function*() {
        const body = { model: "claude-sonnet-4-6", messages: [{ role: "user", content: "x".repeat(351) }] }
        const answer = yield* send(body, { path: "/v1/messages/count_tokens" })
        expect(answer.body).toEqual({ input_tokens: 101 })
        yield* send(body, { path: "/v1/messages/count_tokens" })
        expect((yield* send(body, { path: "/v1/messages/count_tokens" })).status).toBe(429)
        expect((yield* send(message())).status).toBe(200)
      })
    ))

  it.effect("limits are per model family, and a model id can have its own", () =>
    withSimulator(
      { limits: { requestsPerMinute: 1 }, modelLimits: { "claude-opus-4-1": { requestsPerMinute: 3 } } },
      Effect.gen(function*() {
        expect((yield* send(message())).status).toBe(200)
        expect((yield* send({ ...message(), model: "claude-sonnet-4-5" })).status).toBe(429) // same family
        expect((yield* send({ ...message(), model: "claude-haiku-4-5" })).status).toBe(200)
        const opus = yield* send({ ...message(), model: "claude-opus-4-1" })
        expect(opus.headers["anthropic-ratelimit-requests-limit"]).toBe("3")
        expect(Object.keys((yield* (yield* Simulator.Simulator).stats).pools).sort()).toEqual([
          "claude-opus-4-1",
          "haiku",
          "sonnet"
        ])
      })
    ))

  it.effect("stats count tokens per minute since the start", () =>
    withSimulator(
      { output: { min: 1, max: 1 } },
      Effect.gen(function*() {
        yield* send(message("x".repeat(350), { max_tokens: 10 }))
        yield* TestClock.adjust("61 seconds")
        yield* send(message("x".repeat(700), { max_tokens: 20 }))
        const { perMinute } = yield* (yield* Simulator.Simulator).stats
        expect(perMinute.map(({ inputTokens, minute, outputTokens }) => ({ minute, inputTokens, outputTokens })))
          .toEqual([
            { minute: 0, inputTokens: 100, outputTokens: 10 },
            { minute: 1, inputTokens: 200, outputTokens: 20 }
          ])
      })
    ))
})
