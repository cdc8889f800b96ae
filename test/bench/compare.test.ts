/**
 * The comparison's measuring: the lower bound, replay from the seed, and the
 * outage figures, on small workloads in virtual time.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import * as Contenders from "../../bench/compare/contenders.js"
import * as Figures from "../../bench/compare/figures.js"
import type * as Probe from "../../bench/compare/probe.js"
import * as Runs from "../../bench/compare/runs.js"
import * as Workloads from "../../bench/compare/workloads.js"
import * as Distribution from "../../src/simulator/workload/Distribution.js"
import type * as Scenario from "../../src/simulator/workload/Scenario.js"

const call = (startedAt: number, inputTokens = 100, outputTokens = 10, result = "ok"): Probe.Call => ({
  lane: "interactive",
  startedAt,
  endedAt: startedAt + 1_000,
  result,
  inputTokens,
  outputTokens
})

const limits: Workloads.Limits = { requestsPerMinute: 50, inputTokensPerMinute: 30_000, outputTokensPerMinute: 8_000 }

describe("lower bound", () => {
  it("one release: the binding bucket's (served demand − size) / refill (admission's formula)", () => {
    // 110 requests served: (110 − 50) / 50 a minute = 72 s; input 11,000 and output 1,100 fit their buckets
    const calls = Array.from({ length: 110 }, (_, i) => call(i))
    expect(Figures.lowerBound(calls, limits, [0])).toBeCloseTo(72, 6)
    // 30,000 more input tokens on one of them: input binds, (41,000 − 30,000) / 30,000 a minute = 22 s < 72 s
    expect(Figures.lowerBound([...calls.slice(1), call(0, 30_100)], limits, [0])).toBeCloseTo(72, 6)
    expect(Figures.lowerBound([call(0, 50_000), call(1, 25_000)], limits, [0])).toBeCloseTo(90, 6)
  })

  it("failed calls count for nothing; a demand within the buckets has no bound", () => {
    expect(Figures.lowerBound([call(0), call(1, 0, 0, "RateLimitError")], limits, [0])).toBe(0)
    expect(Figures.lowerBound([], limits, [0])).toBe(0)
  })

  it("a later wave binds when the buckets refilled in between: its release + its own demand's bound", () => {
    // 60 at 0 s (bound 12 s), then 80 at 600 s: 600 + (80 − 50) / 50 a minute = 636 s
    const calls = [
      ...Array.from({ length: 60 }, (_, i) => call(i)),
      ...Array.from({ length: 80 }, (_, i) => call(600_000 + i))
    ]
    expect(Figures.lowerBound(calls, limits, [0, 600])).toBeCloseTo(636, 6)
    // taken as one wave, the same calls bound only (140 − 50) / 50 a minute = 108 s
    expect(Figures.lowerBound(calls, limits, [0])).toBeCloseTo(108, 6)
  })
})

const small: Workloads.Workload = (() => {
  const scenario: Scenario.Scenario = {
    name: "small overload",
    seed: 7,
    model: "claude-sonnet-4-6",
    simulator: {},
    lanes: [{
      name: "main",
      lane: "interactive",
      concurrency: 8,
      promptTokens: Distribution.uniform(200, 800),
      maxTokens: 128,
      requests: 70
    }]
  }
  return {
    name: "small overload",
    short: "small",
    scenario,
    simulator: { seed: 7, limits: Workloads.tier1, latency: { base: Duration.millis(600) } },
    limits: Workloads.tier1
  }
})()

describe("virtual-time rows", () => {
  it.effect("replay exactly from the seed, for every strategy", () =>
    Effect.gen(function*() {
      for (const contender of Contenders.all.filter((c) => c.only === undefined)) {
        const first = yield* Runs.forecast(contender, small)
        const second = yield* Runs.forecast(contender, small)
        expect(second).toEqual(first)
        expect(first.succeeded + Object.values(first.failures).reduce((a, b) => a + b, 0)).toBe(70)
      }
    }), 60_000)

  it.effect(
    "the library's defaults: all served, no 429, at or above the bound; naive retries: 429s, more attempts",
    () =>
      Effect.gen(function*() {
        const library = yield* Runs.forecast(Contenders.libraryDefaults, small)
        expect(library.succeeded).toBe(70)
        expect(library.rateLimited).toBe(0)
        // a bound no client can beat; on 70 requests, the last answers' latency is a good part of the rest
        expect(library.wallOverBound).toBeGreaterThanOrEqual(1)
        expect(library.wallOverBound).toBeLessThan(1.2)
        const naive = yield* Runs.forecast(Contenders.naiveRetries, small)
        expect(naive.rateLimited).toBeGreaterThan(0)
        expect(naive.attemptsPerRequest).toBeGreaterThan(1)
      }),
    60_000
  )

  it.effect(
    "outage figures: what was sent into the outage, and the first success after it",
    () =>
      Effect.gen(function*() {
        // one request every 5 s for a minute, under every limit; 529s from 20 s to 40 s
        const outage = Workloads.all(true).find((workload) => workload.outage !== undefined)!
        const workload: Workloads.Workload = {
          ...outage,
          scenario: {
            ...outage.scenario,
            lanes: [{
              ...outage.scenario.lanes[0],
              waves: [
                { atSeconds: 0, requests: 1 },
                ...Array.from({ length: 11 }, (_, i) => ({ atSeconds: 5 * (i + 1), requests: 1 }))
              ]
            }]
          },
          simulator: {
            ...outage.simulator,
            faults: { outages: [{ from: Duration.seconds(20), to: Duration.seconds(40), status: 529 }] }
          },
          outage: { from: 20, to: 40 }
        }
        // naive retries only 429s: the requests released at 20, 25, 30 and 35 s fail once each
        const naive = yield* Runs.forecast(Contenders.naiveRetries, workload)
        expect(naive.failures).toEqual({ OverloadedError: 4 })
        expect(naive.outage?.sentDuring).toBe(4)
        // the request released at 40 s is the first success: its latency ((600 ms + 2 ms a token, ≤ 128) ± 20 %)
        expect(naive.outage?.recoverySeconds).toBeGreaterThanOrEqual(0.48)
        expect(naive.outage?.recoverySeconds).toBeLessThanOrEqual(1.03)
      }),
    60_000
  )
})
