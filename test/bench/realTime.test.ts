/**
 * The real-time rows' client: the real `@anthropic-ai/sdk` against the
 * simulated API served on 127.0.0.1 (started and stopped by the run).
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import * as RealTime from "../../bench/compare/realTime.js"
import * as Runs from "../../bench/compare/runs.js"
import type * as Workloads from "../../bench/compare/workloads.js"
import type * as Scenario from "../../src/simulator/workload/Scenario.js"

const limits: Workloads.Limits = { requestsPerMinute: 3, inputTokensPerMinute: 100_000, outputTokensPerMinute: 100_000 }

const scenario: Scenario.Scenario = {
  name: "five at once, three fit",
  seed: 1,
  model: "claude-sonnet-4-6",
  simulator: {},
  lanes: [{ name: "main", lane: "interactive", concurrency: 5, promptTokens: 50, maxTokens: 16, requests: 5 }]
}

const workload: Workloads.Workload = {
  name: scenario.name,
  short: "five at once",
  scenario,
  simulator: { seed: 1, limits, latency: { base: Duration.millis(50) } },
  limits
}

describe("the real SDK as a strategy", () => {
  it.live("sends through the fetch made for the run, disposes it after, and reports 429s by their typed tag", () =>
    Effect.gen(function*() {
      const sent: Array<string> = []
      let disposed = 0
      const sdk = {
        name: "official SDK, no retries, counting fetch",
        library: false,
        layer: RealTime.sdkLayer({
          maxRetries: 0,
          fetch: () => ({
            fetch: (input, init) => {
              sent.push(String(input instanceof Request ? input.url : input))
              return fetch(input, init)
            },
            dispose: async () => {
              disposed++
            }
          })
        })
      }
      const figures = yield* Runs.simulated(sdk, workload)
      // the bucket holds 3 requests: the other 2 get a 429, which the SDK (no retries) throws
      expect(figures.succeeded).toBe(3)
      expect(figures.failures).toEqual({ RateLimitError: 2 })
      expect(figures.sent).toBe(5)
      expect(sent).toHaveLength(5)
      expect(sent.every((url) => url.startsWith("http://127.0.0.1:") && url.endsWith("/v1/messages"))).toBe(true)
      expect(disposed).toBe(1)
    }))
})
