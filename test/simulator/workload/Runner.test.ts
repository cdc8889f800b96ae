import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Report from "../../../src/simulator/workload/Report.js"
import * as Runner from "../../../src/simulator/workload/Runner.js"
import type * as Scenario from "../../../src/simulator/workload/Scenario.js"
import * as Workload from "../../../src/simulator/workload/Workload.js"

const thirtyAtTenRpm = (overrides: Partial<Scenario.SimulatorSection> = {}): Runner.Options => ({
  scenario: Workload.single({
    requests: 30,
    concurrency: 4,
    model: "claude-sonnet-4-6",
    promptTokens: 100,
    maxTokens: 256,
    seed: 1,
    simulator: {
      limits: { requestsPerMinute: 10 },
      latency: { baseMillis: 500, perOutputTokenMillis: 0, jitter: 0 },
      ...overrides
    }
  }),
  client: { admission: { threshold: 0 } }
})

// VirtualTime brings its own clock: these run on the real one and finish in well under a second each.
describe("forecast (in process, virtual time)", () => {
  it.live("30 requests at 10 RPM: the 10-request burst, then one every 6 s; no 429s; the budget fully used", () =>
    Effect.gen(function*() {
      const report = yield* Runner.forecast(thirtyAtTenRpm())
      expect(report).toMatchObject({ mode: "forecast", requests: 30, completed: 30, succeeded: 30, failed: 0 })
      expect(report.rateLimitedResponses).toBe(0)
      // the 30th request can start at (30 - 10) / 10 per minute = 120 s, and takes 0.5 s
      expect(report.wallSeconds).toBeGreaterThanOrEqual(120.5)
      expect(report.wallSeconds).toBeLessThan(125)
      expect(report.limits).toEqual({
        requestsPerMinute: 10,
        inputTokensPerMinute: 30_000,
        outputTokensPerMinute: 8_000
      })
      expect(report.utilization!.requests).toBeGreaterThan(0.95)
      expect(report.simulator?.succeeded).toBe(30)
      // the waiting happened before sending, not after 429s
      expect(report.waitSeconds.beforeSending).toBeGreaterThan(100)
      expect(report.waitSeconds.after429).toBe(0)
    }))

  it.live("replays exactly from the seed, faults included", () =>
    Effect.gen(function*() {
      const faulty = thirtyAtTenRpm({ faults: { overloadedRate: 0.2 } })
      const first = yield* Runner.forecast(faulty)
      const second = yield* Runner.forecast(faulty)
      expect(second).toEqual(first)
      expect(first.otherErrorResponses).toBeGreaterThan(0)
      expect(first.retries).toBe(first.otherErrorResponses)
      const otherSeed = yield* Runner.forecast({ ...faulty, scenario: { ...faulty.scenario, seed: 2 } })
      expect(otherSeed.otherErrorResponses).not.toBe(first.otherErrorResponses)
    }))

  it.live("two lanes on one key: each lane's outcomes are its own, and the second wave waits for its time", () =>
    Effect.gen(function*() {
      const report = yield* Runner.forecast({
        scenario: {
          name: "two lanes",
          seed: 1,
          model: "claude-sonnet-4-6",
          simulator: { latency: { baseMillis: 100, perOutputTokenMillis: 0, jitter: 0 } },
          lanes: [
            {
              name: "chat",
              lane: "interactive",
              concurrency: 1,
              promptTokens: 50,
              maxTokens: 50,
              waves: [
                { atSeconds: 0, requests: 2 },
                { atSeconds: 600, requests: 1 }
              ]
            },
            { name: "batch", lane: "batch", concurrency: 4, promptTokens: 50, maxTokens: 50, requests: 8 }
          ]
        },
        client: {}
      })
      expect(report.lanes).toMatchObject([
        { name: "chat", lane: "interactive", requests: 3, succeeded: 3 },
        { name: "batch", lane: "batch", requests: 8, succeeded: 8 }
      ])
      expect(report.wallSeconds).toBeGreaterThanOrEqual(600.1)
      expect(report.concurrency).toBe(5)
      expect(Report.table(report)).toMatch(/chat\s+│ interactive\s+│\s+3 │\s+3 │/)
    }))

  it.live("a workload more concurrent than the simulated cap is told so", () =>
    Effect.gen(function*() {
      const options = thirtyAtTenRpm({ maxConcurrentRequests: 2 })
      const report = yield* Runner.forecast(options)
      expect(report.warnings).toHaveLength(1)
      expect(report.warnings[0]).toContain("up to 4 requests in flight but the simulated API allows 2")
      expect(Runner.warnings(thirtyAtTenRpm(), Runner.resolvedSimulator(thirtyAtTenRpm()))).toEqual([])
    }))

  it.live("failed requests are counted by their error", () =>
    Effect.gen(function*() {
      const report = yield* Runner.forecast({
        ...thirtyAtTenRpm({ spendLimit: { afterRequests: 25 } }),
        client: { retry: false }
      })
      expect(report.succeeded).toBe(25)
      expect(report.failed).toBe(5)
      expect(Object.values(report.failures).reduce((a, b) => a + b, 0)).toBe(5)
      // the first refusal holds the rest: they fail at once, unsent, instead of collecting the same answer
      expect(report.failures).toEqual({ SpendLimitReachedError: 1, SpendLimitHoldError: 4 })
      expect(report.simulator?.rateLimitedByErrorCode).toEqual({ enforced_spend_limit_reached: 1 })
    }))
})

describe("the report", () => {
  const outcome = (result: string, latencyMillis: number): Workload.Outcome => ({
    lane: "main",
    laneKind: "interactive",
    result,
    finishedAtMillis: latencyMillis,
    latencyMillis,
    waitBeforeSendingMillis: 1_500,
    waitAfter429Millis: result === "ok" ? 0 : 12_000,
    waitAfterOtherMillis: result === "ok" ? 0 : 3_000,
    attempts: result === "ok" ? 1 : 6,
    inputTokens: result === "ok" ? 500 : 0,
    outputTokens: result === "ok" ? 100 : 0
  })

  it("the table shows every figure of the summary, drawn with @effect/printer", () => {
    const report = Report.make({
      mode: "simulator",
      scenario: { name: "command line", model: "claude-sonnet-4-6", requests: 2 },
      lanes: [{ name: "main", lane: "interactive" }],
      concurrency: 8,
      outcomes: [outcome("ok", 1_000), outcome("MaxRetriesExceededError", 2_000)],
      wallMillis: 60_000,
      interrupted: false,
      progress: {
        total: 2,
        started: 2,
        done: 2,
        failed: 1,
        onTheWire: 0,
        waiting: 0,
        attempts: 7,
        rateLimited: 4,
        otherErrorStatuses: 2,
        connectionErrors: 0
      },
      limits: { requestsPerMinute: 50, inputTokensPerMinute: 30_000, outputTokensPerMinute: 8_000 },
      warnings: [],
      simulator: null
    })
    const table = Report.table(report)
    for (
      const expected of [
        /failed\s+│ 1 MaxRetriesExceededError/,
        /HTTP attempts\s+│ 7/,
        /429s received\s+│ 4/,
        /other error answers\s+│ 2/,
        /retries\s+│ 5/,
        /waited before sending\s+│ 3\.0 s in all, 1\.5 s per request/,
        /waited after 429s\s+│ 12\.0 s/,
        /waited after other errors\s+│ 3\.0 s/,
        /limits: RPM \/ ITPM \/ OTPM\s+│ 50 \/ 30,000 \/ 8,000/,
        /budget used: requests \/ in \/ out\s+│ 1\.0 % \/ 0\.8 % \/ 0\.6 %/
      ]
    ) expect(table).toMatch(expected)
    expect(table.split("\n")[0]).toMatch(/^─+┬─+$/)
    expect(report.perMinute).toEqual({ requests: 1, inputTokens: 500, outputTokens: 100 })
    expect(Report.table({ ...report, interrupted: true, completed: 1, requests: 10 })).toMatch(
      /requests\s+│ 1 of 10 \(interrupted\)/
    )
  })
})
