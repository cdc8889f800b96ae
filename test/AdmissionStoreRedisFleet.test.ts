/**
 * Four Node processes, one loopback simulator: their budget in one Redis, or
 * each its own. Real processes and real time, so the assertions are about
 * counts (requests lost, 429s) with wide margins, and the throughput bound is
 * loose; bench/redis.ts measures the same runs precisely.
 */
import { describe, expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import type { FleetOptions } from "./support/fleet.js"
import { runFleet } from "./support/fleet.js"
import { skipReason, TestRedis } from "./support/redisServer.js"

let runs = 0
const freshNamespace = () => `fleet-${process.pid}-${++runs}`

/**
 * 280 requests against 240 RPM: the bucket's 240, then 40 more at 4 a second,
 * so the run is ten seconds of steady overload after the first burst.
 */
const fleet = (
  overrides: Pick<FleetOptions, "redis" | "threshold" | "outage">
): Omit<FleetOptions, "namespace"> => ({
  processes: 4,
  requestsPerProcess: 70,
  concurrency: 16,
  maxTokens: 16,
  binding: "requests",
  configureLimits: true,
  simulator: {
    limits: { requestsPerMinute: 240, inputTokensPerMinute: 10_000_000, outputTokensPerMinute: 10_000_000 },
    latency: { base: "20 millis", perOutputToken: 0, jitter: 0.2 },
    maxConcurrentRequests: 1_000
  },
  timeLimit: "100 seconds",
  ...overrides
})

describe.skipIf(skipReason !== undefined)(
  skipReason === undefined
    ? "4 processes, one simulated API"
    : `4 processes, one simulated API (skipped: ${skipReason})`,
  () => {
    layer(TestRedis.layer, { excludeTestServices: true, timeout: "30 seconds" })((it) => {
      it.scoped(
        "one budget in Redis: no 429s and the limit used; a budget each (no reserve for the others) overshoots",
        () =>
          Effect.gen(function*() {
            const redis = yield* TestRedis
            // no reserve for traffic a process cannot see: with one shared budget there is none to see
            const shared = yield* runFleet({ ...fleet({ redis, threshold: 0 }), namespace: freshNamespace() })
            const separate = yield* runFleet({
              ...fleet({ redis: undefined, threshold: 0 }),
              namespace: freshNamespace()
            })
            const summary = (name: string, result: typeof shared) =>
              `${name}: ${result.succeeded}/${result.requests} ok, ${result.rateLimited} 429s, `
              + `${(result.share * 100).toFixed(1)} % of the limit, ${result.wallSeconds.toFixed(1)} s`
            console.log(`${summary("one Redis budget", shared)}\n${summary("a budget each", separate)}`)

            expect(shared.succeeded).toBe(shared.requests)
            expect(shared.reports.every((report) => report.mode === "redis" && report.fallbacks === 0)).toBe(true)
            // near zero: at most 1 % of requests (measured: 0)
            expect(shared.rateLimited).toBeLessThanOrEqual(shared.requests / 100)
            // the limit used: loose, since this is real time on a shared machine (measured: about 99 %)
            expect(shared.share).toBeGreaterThan(0.8)
            // four budgets that each believe they own the limit (measured: about 50 429s)
            expect(separate.rateLimited).toBeGreaterThanOrEqual(10)
            expect(separate.rateLimited).toBeGreaterThan(5 * shared.rateLimited)
          }),
        180_000
      )

      it.scoped(
        "Redis killed mid-run and restarted: no request lost; every process falls back, then returns to Redis",
        () =>
          Effect.gen(function*() {
            const redis = yield* TestRedis
            const result = yield* runFleet({
              ...fleet({ redis, outage: { killAfter: 120, restartAfter: 200 } }),
              namespace: freshNamespace()
            })
            console.log(
              `Redis killed after 120 requests, restarted after 200: ${result.succeeded}/${result.requests} ok, `
                + `${result.rateLimited} 429s, ${result.fallbacks} fallbacks`
            )
            expect(result.succeeded).toBe(result.requests)
            expect(result.fallbacks).toBeGreaterThanOrEqual(1)
            expect(result.reports.every((report) => report.fallbacks <= 1)).toBe(true)
            expect(result.reports.every((report) => report.mode === "redis")).toBe(true)
          }),
        180_000
      )
    })
  }
)
