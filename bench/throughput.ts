/**
 * How fast requests get through a rate limit, and what the API pushes back,
 * for the same seeded workloads under different client strategies. Runs in
 * virtual time against the in-memory simulator, so the figures are exact and
 * repeatable (they do not depend on this machine's speed).
 * Run: npm run bench -- throughput
 */
import { Effect, Logger, LogLevel } from "effect"
import type * as SimulatorConfig from "../src/simulator/api/SimulatorConfig.js"
import * as Distribution from "../src/simulator/workload/Distribution.js"
import * as Run from "../src/simulator/workload/Runner.js"
import type * as Scenario from "../src/simulator/workload/Scenario.js"
import * as Workload from "../src/simulator/workload/Workload.js"
import { printTable } from "./table.js"

const strategies: ReadonlyArray<readonly [string, Run.ClientOptions]> = [
  ["claude-rate-limiter (defaults)", { retry: {}, admission: {} }],
  ["claude-rate-limiter, reserve 0", { retry: {}, admission: { threshold: 0 } }],
  ["claude-rate-limiter, retryOnOpenCircuit", { retry: { retryOnOpenCircuit: true }, admission: {} }],
  ["our retries, no proactive wait", { retry: {}, admission: { enabled: false } }],
  [
    "SDK-like: 2 retries, 0.5·2^n ≤ 8 s, retry-after",
    {
      retry: {
        maxRetries: 2,
        baseDelay: "500 millis",
        maxDelay: "8 seconds",
        jitter: "none",
        headerJitter: 0,
        maxHeaderWait: "1 hour"
      },
      admission: { enabled: false },
      circuitBreaker: false
    }
  ]
]

const workload = (requests: number, concurrency: number) =>
  Workload.single({
    requests,
    concurrency,
    model: "claude-sonnet-4-6",
    promptTokens: Distribution.uniform(200, 800),
    maxTokens: 256,
    seed: 1
  })

const scenarios: ReadonlyArray<readonly [string, Scenario.Scenario, SimulatorConfig.Options]> = [
  ["npm start workload: 60 requests, concurrency 8, Tier 1", workload(60, 8), {
    faults: { overloadedRate: 0.02 }
  }],
  [
    "1 000 requests, concurrency 16, Tier 1",
    workload(1_000, 16),
    { faults: { overloadedRate: 0.02 } }
  ],
  [
    "1 000 requests, concurrency 16, 5 % 529s and a 60 s outage at 2 min",
    workload(1_000, 16),
    { faults: { overloadedRate: 0.05, outages: [{ from: "120 seconds", to: "180 seconds", status: 529 }] } }
  ]
]

const percent = (n: number) => `${(n * 100).toFixed(1)} %`

export const run = async () => {
  for (const [title, scenario, simulator] of scenarios) {
    const rows: Array<Array<string>> = []
    for (const [name, strategy] of strategies) {
      // the table counts what the logs would tell, request by request
      const report = await Effect.runPromise(
        Run.forecast({ scenario, simulator, client: strategy }).pipe(Logger.withMinimumLogLevel(LogLevel.None))
      )
      const failed = report.requests - report.succeeded
      const u = report.utilization
      rows.push([
        name,
        `${report.succeeded}`,
        `${failed}`,
        `${report.rateLimitedResponses}`,
        `${report.retries}`,
        report.wallSeconds.toFixed(1),
        u === null ? "-" : percent(Math.max(u.requests, u.inputTokens, u.outputTokens)),
        report.latencySeconds.p95.toFixed(1)
      ])
    }
    printTable(title, ["strategy", "ok", "failed", "429s", "retries", "wall s", "budget used", "p95 s"], rows)
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run()
