import { describe, expect, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import { message, send, stats, withSimulator } from "../support/send.js"

const rateLimitHeaders = (headers: Readonly<Record<string, string>>) =>
  Object.keys(headers).filter((name) => name.startsWith("anthropic-ratelimit-"))

describe("Simulator: the API's newer pushback (in memory, TestClock)", () => {
  it.effect("a 529 is overloaded_error with x-should-retry: true and no rate-limit headers", () =>
    withSimulator(
      { faults: { overloadedRate: 1 } },
      Effect.gen(function*() {
        const answer = yield* send(message())
        expect(answer.status).toBe(529)
        expect(answer.body.error.type).toBe("overloaded_error")
        expect(answer.headers["x-should-retry"]).toBe("true")
        expect(rateLimitHeaders(answer.headers)).toEqual([])
        expect(answer.headers["request-id"]).toMatch(/^req_sim_/)
      })
    ))

  it.effect("429s and 500s keep the full header set", () =>
    withSimulator(
      { limits: { requestsPerMinute: 1 }, faults: { apiErrorRate: 1 } },
      Effect.gen(function*() {
        const failed = yield* send(message())
        expect(failed.status).toBe(500)
        expect(rateLimitHeaders(failed.headers)).toHaveLength(12)
      })
    ))

  it.effect("spend limits: after N requests a 429 with error_code and no retry-after", () =>
    withSimulator(
      { spendLimit: { afterRequests: 2 } },
      Effect.gen(function*() {
        expect((yield* send(message())).status).toBe(200)
        expect((yield* send(message())).status).toBe(200)
        const refused = yield* send(message())
        expect(refused.status).toBe(429)
        expect(refused.body.error.type).toBe("rate_limit_error")
        expect(refused.body.error.details).toEqual({ error_code: "enforced_spend_limit_reached" })
        expect(refused.headers["retry-after"]).toBeUndefined()
        yield* TestClock.adjust("1 hour")
        expect((yield* send(message())).status).toBe(429)
        expect((yield* stats).rateLimitedByErrorCode).toEqual({ enforced_spend_limit_reached: 2 })
      })
    ))

  it.effect("contract spend limits carry their own code", () =>
    withSimulator(
      { spendLimit: { afterRequests: 0, errorCode: "contract_spend_limit_reached" } },
      Effect.gen(function*() {
        const refused = yield* send(message())
        expect(refused.body.error.details.error_code).toBe("contract_spend_limit_reached")
      })
    ))

  it.effect("acceleration limits: a sharp ramp from idle gets ramp_limit_exceeded 429s below the steady limits", () =>
    withSimulator(
      { limits: { requestsPerMinute: 60 }, acceleration: { window: "10 seconds", growth: 2, floor: 3 } },
      Effect.gen(function*() {
        // 60 RPM would let a burst of 60 through; the ramp lets 3 through in the first window
        const burst = yield* Effect.forEach(Array.from({ length: 5 }), () => send(message()))
        expect(burst.map((answer) => answer.status)).toEqual([200, 200, 200, 429, 429])
        const refused = burst[3]!
        expect(refused.body.error.details).toEqual({ error_code: "ramp_limit_exceeded" })
        expect(refused.headers["retry-after"]).toBe("10")
        expect(Number(refused.headers["anthropic-ratelimit-requests-remaining"])).toBeGreaterThan(50)
        // next window: twice what was admitted in the previous one
        yield* TestClock.adjust("10 seconds")
        const next = yield* Effect.forEach(Array.from({ length: 7 }), () => send(message()))
        expect(next.filter((answer) => answer.status === 200)).toHaveLength(6)
        // after a quiet window the ramp starts over from the floor
        yield* TestClock.adjust("20 seconds")
        const again = yield* Effect.forEach(Array.from({ length: 4 }), () => send(message()))
        expect(again.map((answer) => answer.status)).toEqual([200, 200, 200, 429])
        expect((yield* stats).rateLimitedByErrorCode).toEqual({ ramp_limit_exceeded: 4 })
      })
    ))

  it.effect("acceleration limits are off by default", () =>
    withSimulator(
      { limits: { requestsPerMinute: 60 } },
      Effect.gen(function*() {
        const burst = yield* Effect.forEach(Array.from({ length: 30 }), () => send(message()))
        expect(burst.every((answer) => answer.status === 200)).toBe(true)
      })
    ))

  it.effect("a request that can never fit the bucket: a 429 saying so, x-should-retry false, retry-after = full again", () =>
    withSimulator(
      { limits: { inputTokensPerMinute: 1_000 } },
      Effect.gen(function*() {
        yield* send(message("x".repeat(350)))
        const answer = yield* send(message("x".repeat(3_600)))
        expect(answer.status).toBe(429)
        expect(answer.body.error.message).toContain("cannot succeed at this limit")
        expect(answer.headers["x-should-retry"]).toBe("false")
        // 100 tokens taken of 1,000 a minute: full again in 6 s
        expect(answer.headers["retry-after"]).toBe("6")
        expect((yield* stats).neverFit).toBe(1)
      })
    ))

  it.effect("output lengths from a lognormal model are independent of max_tokens, capped by it", () =>
    withSimulator(
      {
        output: { shape: "lognormal", median: 50, sigma: 0.5 },
        limits: { requestsPerMinute: 1e6, outputTokensPerMinute: 1e6 }
      },
      Effect.gen(function*() {
        const lengths = yield* Effect.forEach(
          Array.from({ length: 200 }),
          () => Effect.map(send(message("Hi", { max_tokens: 4_000 })), (answer) => answer.body.usage.output_tokens)
        )
        const sorted = [...lengths].sort((a, b) => a - b)
        expect(sorted[100]).toBeGreaterThan(40)
        expect(sorted[100]).toBeLessThan(62)
        expect(sorted[199]).toBeLessThan(4_000)
        const capped = yield* send(message("Hi", { max_tokens: 5 }))
        expect(capped.body.usage.output_tokens).toBeLessThanOrEqual(5)
      })
    ))

  it.effect("GET /_simulator/stats serves what the simulator saw as JSON", () =>
    withSimulator(
      { limits: { requestsPerMinute: 2 } },
      Effect.gen(function*() {
        for (let i = 0; i < 3; i++) yield* send(message())
        const answer = yield* send(null, { method: "GET", path: "/_simulator/stats", headers: {} })
        expect(answer.status).toBe(200)
        expect(answer.body).toMatchObject({
          requests: 3,
          succeeded: 2,
          rateLimited: { requests: 1 },
          peakConcurrency: 1,
          inFlight: 0,
          pools: { sonnet: { requestsPerMinute: 2 } }
        })
        expect(answer.body.perMinute[0]).toMatchObject({ minute: 0, requests: 3, succeeded: 2, rateLimited: 1 })
      })
    ))
})
