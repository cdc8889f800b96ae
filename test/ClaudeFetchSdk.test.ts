import Anthropic, { APIConnectionError, APIError, APIUserAbortError, RateLimitError } from "@anthropic-ai/sdk"
import { describe, expect, it } from "@effect/vitest"
import { ManagedRuntime } from "effect"
import { main } from "../examples/claude-fetch.js"
import * as ClaudeFetch from "../src/ClaudeFetch.js"
import { Simulator, type SimulatorConfig } from "../src/testing/index.js"

// The official SDK against the simulator served on 127.0.0.1, in real time. Every load is bounded in count; the
// assertions are about outcomes (answers, 429s the simulator saw), never about how long anything took.

const apiKey = "sk-ant-api03-sdk-loopback-key-0123456789"

interface Loopback {
  readonly url: string
  readonly stats: () => Promise<Simulator.Stats>
}

const withSimulator = async <A>(options: SimulatorConfig.Options, use: (loopback: Loopback) => Promise<A>) => {
  const runtime = ManagedRuntime.make(Simulator.layerServer(options))
  try {
    const server = await runtime.runPromise(Simulator.SimulatorServer)
    const simulator = await runtime.runPromise(Simulator.Simulator)
    return await use({ url: server.url, stats: () => runtime.runPromise(simulator.stats) })
  } finally {
    await runtime.dispose()
  }
}

const rateLimited = (stats: Simulator.Stats) =>
  Object.values(stats.rateLimited).reduce((sum, n) => sum + n, 0)
  + Object.values(stats.rateLimitedByErrorCode).reduce((sum, n) => sum + n, 0)

// RPM is the limit that binds: tokens are plentiful.
const at100Rpm: SimulatorConfig.Options = {
  seed: 7,
  limits: { requestsPerMinute: 100, inputTokensPerMinute: 10_000_000, outputTokensPerMinute: 10_000_000 }
}

const burst = (anthropic: Anthropic, count: number) =>
  Promise.allSettled(Array.from({ length: count }, (_, i) =>
    anthropic.messages.create({
      model: "claude-sonnet-4-6",
      max_tokens: 32,
      messages: [{ role: "user", content: `Question number ${i}` }]
    })))

describe("the official SDK through ClaudeFetch, against the loopback simulator", () => {
  it("150 requests at once at 100 RPM: every one succeeds, and the simulator sees at most 2 429s", async () => {
    await withSimulator(at100Rpm, async ({ stats, url }) => {
      const claudeFetch = ClaudeFetch.make()
      try {
        const anthropic = new Anthropic({ apiKey, baseURL: url, fetch: claudeFetch, maxRetries: 0 })
        const results = await burst(anthropic, 150)
        const failures = results.filter((result) => result.status === "rejected")
        expect(failures.map((failure) => String(failure.reason))).toEqual([])
        for (const result of results) {
          if (result.status === "fulfilled") expect(result.value.content[0]?.type).toBe("text")
        }
        const seen = await stats()
        expect(seen.succeeded).toBe(150)
        expect(rateLimited(seen)).toBeLessThanOrEqual(2)
      } finally {
        await claudeFetch.dispose()
      }
    })
  }, 180_000)

  it("the same 150 with the SDK's defaults (its own 2 retries, no ClaudeFetch) loses requests to 429s", async () => {
    await withSimulator(at100Rpm, async ({ stats, url }) => {
      const anthropic = new Anthropic({ apiKey, baseURL: url })
      const results = await burst(anthropic, 150)
      const failures = results.flatMap((result) => result.status === "rejected" ? [result.reason as unknown] : [])
      expect(failures.length).toBeGreaterThan(0)
      for (const failure of failures) expect(failure).toBeInstanceOf(RateLimitError)
      expect(rateLimited(await stats())).toBeGreaterThan(2)
    })
  }, 180_000)

  it("messages.stream() and finalMessage(): streams that fail before any content are retried unseen", async () => {
    await withSimulator({ seed: 3, faults: { stream: { errorBeforeContentRate: 0.3 } } }, async ({ stats, url }) => {
      const claudeFetch = ClaudeFetch.make()
      try {
        const anthropic = new Anthropic({ apiKey, baseURL: url, fetch: claudeFetch, maxRetries: 0 })
        const messages = await Promise.all(Array.from({ length: 6 }, (_, i) =>
          anthropic.messages.stream({
            model: "claude-haiku-4-5",
            max_tokens: 64,
            messages: [{ role: "user", content: `Tell me something, ${i}` }]
          }).finalMessage()))
        for (const message of messages) {
          expect(message.content[0]?.type).toBe("text")
          expect(message.stop_reason).not.toBeNull()
          expect(message.usage.output_tokens).toBeGreaterThan(0)
        }
        const seen = await stats()
        // faults did happen, and were retried: more streams begun than the six answered
        expect(seen.streamErrors).toBeGreaterThan(0)
        expect(seen.streams).toBe(6 + seen.streamErrors)
      } finally {
        await claudeFetch.dispose()
      }
    })
  }, 120_000)

  it("an error after content reached the SDK is the API's own event: the SDK raises it", async () => {
    await withSimulator({ seed: 3, faults: { stream: { errorMidStreamRate: 1, afterDeltas: 2 } } }, async ({ url }) => {
      const claudeFetch = ClaudeFetch.make()
      try {
        const anthropic = new Anthropic({ apiKey, baseURL: url, fetch: claudeFetch, maxRetries: 0 })
        const texts: Array<string> = []
        const stream = anthropic.messages.stream({
          model: "claude-haiku-4-5",
          max_tokens: 64,
          messages: [{ role: "user", content: "Tell me something" }]
        }).on("text", (text) => texts.push(text))
        const error = await stream.finalMessage().catch((error: unknown) => error)
        expect(error).toBeInstanceOf(APIError)
        expect(String((error as Error).message)).toContain("overloaded_error")
        expect(texts.length).toBeGreaterThan(0)
      } finally {
        await claudeFetch.dispose()
      }
    })
  }, 120_000)

  it("an open circuit is an APIConnectionError with the typed cause; an abort is the SDK's abort", async () => {
    await withSimulator({ seed: 5, faults: { overloadedRate: 1 } }, async ({ url }) => {
      const claudeFetch = ClaudeFetch.make({
        retry: false,
        circuitBreaker: { failureThreshold: 1, cooldown: "10 minutes" }
      })
      try {
        const anthropic = new Anthropic({ apiKey, baseURL: url, fetch: claudeFetch, maxRetries: 0 })
        const params = {
          model: "claude-sonnet-4-6",
          max_tokens: 16,
          messages: [{ role: "user" as const, content: "Hello" }]
        }
        // the 529 is handed on as the API gave it
        const overloaded = await anthropic.messages.create(params).catch((error: unknown) => error)
        expect(overloaded).toBeInstanceOf(APIError)
        expect((overloaded as APIError).status).toBe(529)
        // and it opened the circuit: nothing is sent now, and the SDK says why
        const refused = await anthropic.messages.create(params).catch((error: unknown) => error)
        expect(refused).toBeInstanceOf(APIConnectionError)
        const cause = (refused as APIConnectionError).cause
        expect(cause).toBeInstanceOf(ClaudeFetch.ClaudeFetchError)
        expect(((cause as ClaudeFetch.ClaudeFetchError).cause as { _tag: string })._tag).toBe("CircuitOpenError")
        expect(String((refused as Error).message) + String((cause as Error).message)).not.toContain(apiKey)

        const controller = new AbortController()
        controller.abort()
        const aborted = await anthropic.messages.create(params, { signal: controller.signal }).catch((e: unknown) => e)
        expect(aborted).toBeInstanceOf(APIUserAbortError)
      } finally {
        await claudeFetch.dispose()
      }
    })
  }, 60_000)

  it("the README's example (examples/claude-fetch.ts) runs against the simulator", async () => {
    await withSimulator({ seed: 9 }, async ({ stats, url }) => {
      const { answers, haiku } = await main({ apiKey, baseURL: url })
      expect(answers).toHaveLength(10)
      expect(haiku.content[0]?.type).toBe("text")
      // 50 RPM at Tier 1: eleven requests fit, and none was refused
      expect(rateLimited(await stats())).toBe(0)
    })
  }, 60_000)
})
