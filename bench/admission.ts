/**
 * Admission's targets (issue #8), each on a workload where one limit binds,
 * from a cold start, against the simulated API's own model of the rules, in
 * virtual time (exact, and the same on every run for the seed).
 *
 * The lower bound of a run is the largest, over the three buckets, of
 * (what the server counted − the bucket's size) / its refill rate: no client
 * can finish sooner, since every bucket starts full and refills at its limit.
 *
 * `npm run bench -- admission` (add `--quick` for a reduced run).
 */
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import type * as SimulatorConfig from "../src/simulator/api/SimulatorConfig.js"
import * as Distribution from "../src/simulator/workload/Distribution.js"
import type * as Report from "../src/simulator/workload/Report.js"
import * as Runner from "../src/simulator/workload/Runner.js"
import type * as Scenario from "../src/simulator/workload/Scenario.js"
import * as Workload from "../src/simulator/workload/Workload.js"
import { printTable, writeJson } from "./table.js"

interface Limits {
  readonly requestsPerMinute: number
  readonly inputTokensPerMinute: number
  readonly outputTokensPerMinute: number
}

interface Case {
  readonly name: string
  readonly target: string
  readonly scenario: Scenario.Scenario
  readonly simulator: SimulatorConfig.Options
  readonly limits: Limits
  readonly client?: Runner.ClientOptions | undefined
  /** requests that should fail at once (giant prompts), left out of the bound */
  readonly expectedFailures?: number | undefined
}

const quick = process.argv.includes("--quick")

/** Seconds no client can beat: the binding bucket's (demand − size) / refill. */
export const lowerBound = (stats: NonNullable<Report.Report["simulator"]>, limits: Limits, served: number): number =>
  60 * Math.max(
    (served - limits.requestsPerMinute) / limits.requestsPerMinute,
    (stats.inputTokens + stats.cacheCreationInputTokens - limits.inputTokensPerMinute) / limits.inputTokensPerMinute,
    (stats.outputTokens - limits.outputTokensPerMinute) / limits.outputTokensPerMinute,
    0
  )

const outputBound: Limits = { requestsPerMinute: 50, inputTokensPerMinute: 40_000, outputTokensPerMinute: 8_000 }
const tier1: Limits = { requestsPerMinute: 50, inputTokensPerMinute: 30_000, outputTokensPerMinute: 8_000 }

const single = (
  requests: number,
  concurrency: number,
  promptTokens: Distribution.Distribution,
  maxTokens: Distribution.Distribution
) => Workload.single({ requests, concurrency, model: "claude-sonnet-4-6", promptTokens, maxTokens, seed: 1 })

const simulatorWith = (limits: Limits, extra: SimulatorConfig.Options = {}): SimulatorConfig.Options => ({
  seed: 1,
  limits,
  latency: { base: "600 millis", perOutputToken: "2 millis", jitter: 0.2 },
  ...extra
})

const requests = quick ? 300 : 2_000

const cases: ReadonlyArray<Case> = [
  ...[8, 16, 64, 256].map((concurrency): Case => ({
    name: `output tokens bind, concurrency ${concurrency}`,
    target: "all succeed, ≤ 1 429/1,000, ≤ 1.03× bound",
    scenario: single(requests, concurrency, Distribution.uniform(400, 1_200), 400),
    simulator: simulatorWith(outputBound),
    limits: outputBound
  })),
  {
    name: "requests bind (short prompts and answers), concurrency 64",
    target: "all succeed, ≤ 1 429/1,000, ≤ 1.03× bound",
    scenario: single(requests, 64, Distribution.uniform(50, 150), 64),
    simulator: simulatorWith(outputBound),
    limits: outputBound
  },
  {
    name: "input tokens bind (4k-token prompts), concurrency 64",
    target: "all succeed, ≤ 1 429/1,000, ≤ 1.03× bound",
    scenario: single(quick ? 150 : 600, 64, Distribution.uniform(3_000, 5_000), 64),
    simulator: simulatorWith(outputBound),
    limits: outputBound
  },
  {
    name: "npm start -- --max-tokens 1024 (Tier 1, 2 % 529s)",
    target: "all succeed",
    scenario: single(60, 8, Distribution.uniform(200, 800), 1_024),
    simulator: simulatorWith(tier1, { faults: { overloadedRate: 0.02 } }),
    limits: tier1
  },
  {
    name: "forecast --requests 5000 --concurrency 32 (cap 20 in flight)",
    target: "all succeed",
    scenario: single(quick ? 500 : 5_000, 32, Distribution.uniform(200, 800), 256),
    simulator: simulatorWith(tier1, { faults: { overloadedRate: 0.02 } }),
    limits: tier1
  },
  {
    name: "1 % giant prompts (100k tokens) at 40k ITPM",
    target: "giants fail at once, others succeed, ≤ 1.05× bound",
    scenario: Workload.single({
      requests: quick ? 300 : 1_000,
      concurrency: 32,
      model: "claude-sonnet-4-6",
      promptTokens: { mix: [{ share: 0.99, size: { uniform: [400, 1_200] } }, { share: 0.01, size: 100_000 }] },
      maxTokens: 400,
      seed: 1
    }),
    simulator: simulatorWith(outputBound),
    limits: outputBound
  }
]

const outage = (name: string, client: Runner.ClientOptions) => ({
  name,
  client,
  scenario: single(quick ? 300 : 1_000, 50, Distribution.uniform(200, 800), 256),
  simulator: simulatorWith(tier1, {
    faults: { overloadedRate: 0.05, outages: [{ from: "120 seconds", to: "180 seconds", status: 529 }] }
  })
})

const outages = [
  outage("defaults: fail fast while the circuit is open", {}),
  outage("retryOnOpenCircuit: wait the outage out", { retry: { retryOnOpenCircuit: true } })
]

const rampFromIdle = (): Case => ({
  name: "sharp ramp from idle, acceleration limits on (40 at once)",
  target: "all succeed; ramp 429s slow the pool",
  scenario: single(40, 40, 300, 128),
  simulator: simulatorWith(tier1, { acceleration: { window: "10 seconds", growth: 2 }, maxConcurrentRequests: 40 }),
  limits: tier1
})

const row = (c: Case, report: Report.Report) => {
  const stats = report.simulator!
  const bound = lowerBound(stats, c.limits, report.succeeded)
  const rateLimited = Object.values(stats.rateLimited).reduce((a, b) => a + b, 0)
    + Object.values(stats.rateLimitedByErrorCode ?? {}).reduce((a, b) => a + b, 0)
  return {
    workload: c.name,
    target: c.target,
    succeeded: report.succeeded,
    requests: report.requests,
    failures: report.failures,
    rateLimitedPer1000: (1000 * rateLimited) / Math.max(1, stats.requests),
    wallSeconds: report.wallSeconds,
    boundSeconds: bound,
    ratio: bound > 0 ? report.wallSeconds / bound : Number.NaN,
    peakInFlight: stats.peakConcurrency
  }
}

// the tables count what the logs would tell, request by request
const quiet = Logger.withMinimumLogLevel(LogLevel.None)

export const run = async () => {
  const results: Array<ReturnType<typeof row>> = []
  for (const c of [...cases, rampFromIdle()]) {
    const report = await Effect.runPromise(
      Runner.forecast({ scenario: c.scenario, simulator: c.simulator, client: c.client ?? {} }).pipe(quiet)
    )
    results.push(row(c, report))
  }
  printTable(
    "Admission targets (virtual time, cold start, the simulator's own rules)",
    ["workload", "ok", "failed", "429s / 1,000", "wall s", "bound s", "wall / bound", "peak in flight"],
    results.map((r) => [
      r.workload,
      `${r.succeeded}/${r.requests}`,
      Object.entries(r.failures).map(([tag, n]) => `${n} ${tag}`).join(", ") || "0",
      r.rateLimitedPer1000.toFixed(1),
      r.wallSeconds.toFixed(0),
      r.boundSeconds.toFixed(0),
      Number.isNaN(r.ratio) ? "-" : r.ratio.toFixed(3),
      `${r.peakInFlight}`
    ])
  )
  const outageResults: Array<Record<string, unknown>> = []
  for (const o of outages) {
    const report = await Effect.runPromise(
      Runner.forecast({ scenario: o.scenario, simulator: o.simulator, client: o.client }).pipe(quiet)
    )
    const stats = report.simulator!
    // the outage is the simulator's third minute: everything it received then was sent into the outage
    const during = stats.perMinute.find((minute) => minute.minute === 2)?.requests ?? 0
    outageResults.push({
      client: o.name,
      succeeded: report.succeeded,
      requests: report.requests,
      failures: report.failures,
      sentDuringOutage: during,
      perCaller: during / 50,
      wallSeconds: report.wallSeconds
    })
  }
  printTable(
    "5 % 529s and a 60 s outage at 2 min, 50 callers (target: ≤ 1 request per caller sent into the outage)",
    ["client", "ok", "failed", "sent during the outage", "per caller", "wall s"],
    outageResults.map((r) => [
      String(r.client),
      `${r.succeeded}/${r.requests}`,
      Object.entries(r.failures as Record<string, number>).map(([tag, n]) => `${n} ${tag}`).join(", ") || "0",
      String(r.sentDuringOutage),
      (r.perCaller as number).toFixed(2),
      (r.wallSeconds as number).toFixed(0)
    ])
  )
  writeJson("admission", { targets: results, outage: outageResults })
}

if (import.meta.url === `file://${process.argv[1]}`) await run()
