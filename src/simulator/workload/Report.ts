/**
 * The summary of a workload run: what happened to the requests (per lane
 * too), what the API pushed back with, where time went (waiting before the
 * first send, after 429s, after other errors), and the throughput achieved
 * as a share of the limits the API reported. Rendered as a table or JSON.
 *
 * Everything here is observed from outside the library: the runner's own
 * bookkeeping and what went over the `HttpClient`.
 *
 * @since 0.1.0
 */
import type * as Simulator from "../api/Simulator.js"
import type * as Monitor from "./Monitor.js"
import * as Table from "./Table.js"
import type * as Workload from "./Workload.js"

/**
 * @since 0.1.0
 * @category models
 */
export type Limits = Monitor.ReportedLimits

/**
 * @since 0.2.0
 * @category models
 */
export interface LaneReport {
  readonly name: string
  readonly lane: "interactive" | "batch"
  readonly requests: number
  readonly succeeded: number
  readonly failed: number
  readonly latencySeconds: { readonly p50: number; readonly p95: number; readonly max: number }
  readonly waitBeforeSendingSeconds: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Report {
  readonly mode: "simulator" | "forecast" | "live"
  readonly scenario: string
  readonly model: string
  /** requests the scenario has */
  readonly requests: number
  /** requests that ended (all of them unless interrupted) */
  readonly completed: number
  readonly interrupted: boolean
  readonly concurrency: number
  readonly succeeded: number
  readonly failed: number
  readonly failures: Readonly<Record<string, number>>
  readonly attempts: number
  /** attempts after the first of each request that reached the wire */
  readonly retries: number
  readonly rateLimitedResponses: number
  readonly otherErrorResponses: number
  readonly connectionErrors: number
  readonly waitSeconds: {
    /** from each request's start to its first attempt on the wire: the client holding it back */
    readonly beforeSending: number
    readonly after429: number
    readonly afterOtherErrors: number
  }
  readonly wallSeconds: number
  readonly latencySeconds: { readonly p50: number; readonly p95: number; readonly max: number }
  readonly tokens: { readonly input: number; readonly output: number }
  readonly perMinute: { readonly requests: number; readonly inputTokens: number; readonly outputTokens: number }
  /** as the API reported them in its headers */
  readonly limits: Limits | null
  /** share of the budget the limits allowed during the run (the full bucket at the start plus its refill) */
  readonly utilization:
    | { readonly requests: number; readonly inputTokens: number; readonly outputTokens: number }
    | null
  readonly lanes: ReadonlyArray<LaneReport>
  readonly warnings: ReadonlyArray<string>
  readonly simulator: Simulator.Stats | null
}

const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!

const round = (n: number, digits = 3): number => Number(n.toFixed(digits))

const latencies = (outcomes: ReadonlyArray<Workload.Outcome>) => {
  const sorted = outcomes.map((outcome) => outcome.latencyMillis / 1000).sort((a, b) => a - b)
  return { p50: round(percentile(sorted, 0.5)), p95: round(percentile(sorted, 0.95)), max: round(sorted.at(-1) ?? 0) }
}

const sum = (outcomes: ReadonlyArray<Workload.Outcome>, f: (outcome: Workload.Outcome) => number) =>
  outcomes.reduce((total, outcome) => total + f(outcome), 0)

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: {
  readonly mode: Report["mode"]
  readonly scenario: { readonly name: string; readonly model: string; readonly requests: number }
  readonly lanes: ReadonlyArray<{ readonly name: string; readonly lane: LaneReport["lane"] }>
  readonly concurrency: number
  readonly outcomes: ReadonlyArray<Workload.Outcome>
  readonly wallMillis: number
  readonly interrupted: boolean
  readonly progress: Monitor.Progress
  readonly limits: Limits | null
  readonly warnings: ReadonlyArray<string>
  readonly simulator: Simulator.Stats | null
}): Report => {
  const { outcomes, wallMillis } = options
  const failures: Record<string, number> = {}
  for (const outcome of outcomes) {
    if (outcome.result !== "ok") failures[outcome.result] = (failures[outcome.result] ?? 0) + 1
  }
  const succeeded = outcomes.filter((outcome) => outcome.result === "ok")
  const input = sum(succeeded, (outcome) => outcome.inputTokens)
  const output = sum(succeeded, (outcome) => outcome.outputTokens)
  const minutes = Math.max(wallMillis, 1) / 60_000
  const limits = options.limits
  const budget = (perMinute: number) => perMinute * (1 + minutes)
  const attempts = sum(outcomes, (outcome) => outcome.attempts)
  const sent = outcomes.filter((outcome) => outcome.attempts > 0).length
  return {
    mode: options.mode,
    scenario: options.scenario.name,
    model: options.scenario.model,
    requests: options.scenario.requests,
    completed: outcomes.length,
    interrupted: options.interrupted,
    concurrency: options.concurrency,
    succeeded: succeeded.length,
    failed: outcomes.length - succeeded.length,
    failures,
    attempts,
    retries: attempts - sent,
    rateLimitedResponses: options.progress.rateLimited,
    otherErrorResponses: options.progress.otherErrorStatuses,
    connectionErrors: options.progress.connectionErrors,
    waitSeconds: {
      beforeSending: round(sum(outcomes, (outcome) => outcome.waitBeforeSendingMillis) / 1000),
      after429: round(sum(outcomes, (outcome) => outcome.waitAfter429Millis) / 1000),
      afterOtherErrors: round(sum(outcomes, (outcome) => outcome.waitAfterOtherMillis) / 1000)
    },
    wallSeconds: round(wallMillis / 1000),
    latencySeconds: latencies(outcomes),
    tokens: { input, output },
    perMinute: {
      requests: round(succeeded.length / minutes, 1),
      inputTokens: round(input / minutes, 0),
      outputTokens: round(output / minutes, 0)
    },
    limits,
    utilization: limits === null ? null : {
      requests: round(succeeded.length / budget(limits.requestsPerMinute)),
      inputTokens: round(input / budget(limits.inputTokensPerMinute)),
      outputTokens: round(output / budget(limits.outputTokensPerMinute))
    },
    lanes: options.lanes.map((lane) => {
      const ofLane = outcomes.filter((outcome) => outcome.lane === lane.name)
      const ok = ofLane.filter((outcome) => outcome.result === "ok").length
      return {
        name: lane.name,
        lane: lane.lane,
        requests: ofLane.length,
        succeeded: ok,
        failed: ofLane.length - ok,
        latencySeconds: latencies(ofLane),
        waitBeforeSendingSeconds: round(sum(ofLane, (outcome) => outcome.waitBeforeSendingMillis) / 1000)
      }
    }),
    warnings: options.warnings,
    simulator: options.simulator
  }
}

const percent = (share: number): string => `${(share * 100).toFixed(1)} %`
const seconds = (value: number): string => `${value.toFixed(1)} s`
const thousands = (n: number): string => n.toLocaleString("en-US")

/**
 * The report as a table (and a table of lanes when there are several).
 *
 * @since 0.1.0
 * @category rendering
 */
export const table = (report: Report): string => {
  const failed = Object.entries(report.failures).map(([tag, count]) => `${count} ${tag}`).join(", ")
  const rows: Array<[string, string]> = [
    ["mode", `${report.mode} (${report.model}, concurrency ${report.concurrency})`],
    ["requests", report.interrupted ? `${report.completed} of ${report.requests} (interrupted)` : `${report.requests}`],
    ["succeeded", `${report.succeeded}`],
    ["failed", report.failed === 0 ? "0" : failed],
    ["HTTP attempts", `${report.attempts}`],
    ["429s received", `${report.rateLimitedResponses}`],
    ["other error answers", `${report.otherErrorResponses}`],
    ["connection errors", `${report.connectionErrors}`],
    ["retries", `${report.retries}`],
    [
      "waited before sending",
      `${seconds(report.waitSeconds.beforeSending)} in all, ${
        seconds(report.completed === 0 ? 0 : report.waitSeconds.beforeSending / report.completed)
      } per request`
    ],
    ["waited after 429s", seconds(report.waitSeconds.after429)],
    ["waited after other errors", seconds(report.waitSeconds.afterOtherErrors)],
    ["wall time", seconds(report.wallSeconds)],
    [
      "latency p50 / p95 / max",
      `${seconds(report.latencySeconds.p50)} / ${seconds(report.latencySeconds.p95)} / ${
        seconds(report.latencySeconds.max)
      }`
    ],
    ["tokens in / out", `${thousands(report.tokens.input)} / ${thousands(report.tokens.output)}`],
    [
      "per minute: requests / in / out",
      `${report.perMinute.requests} / ${thousands(report.perMinute.inputTokens)} / ${
        thousands(report.perMinute.outputTokens)
      }`
    ]
  ]
  if (report.limits !== null && report.utilization !== null) {
    rows.push(
      [
        "limits: RPM / ITPM / OTPM",
        `${thousands(report.limits.requestsPerMinute)} / ${thousands(report.limits.inputTokensPerMinute)} / ${
          thousands(report.limits.outputTokensPerMinute)
        }`
      ],
      [
        "budget used: requests / in / out",
        `${percent(report.utilization.requests)} / ${percent(report.utilization.inputTokens)} / ${
          percent(report.utilization.outputTokens)
        }`
      ]
    )
  }
  const sim = report.simulator
  if (sim !== null) {
    const codes = Object.entries(sim.rateLimitedByErrorCode).map(([code, count]) => `, ${count} ${code}`).join("")
    rows.push([
      "simulator sent",
      `${sim.rateLimited.requests} RPM / ${sim.rateLimited.input_tokens} ITPM / ${sim.rateLimited.output_tokens} OTPM / ${sim.rateLimited.concurrency} concurrency 429s${codes}, ${sim.overloaded} 529s, ${sim.apiErrors} 500s, ${sim.connectionResets} resets; peak ${sim.peakConcurrency} in flight`
    ])
  }
  const summary = Table.render(rows)
  const lanes = report.lanes.length < 2 ? "" : `\n${
    Table.render(
      report.lanes.map((lane) => [
        lane.name,
        lane.lane,
        `${lane.requests}`,
        `${lane.succeeded}`,
        `${lane.failed}`,
        seconds(lane.latencySeconds.p50),
        seconds(lane.latencySeconds.p95),
        seconds(lane.waitBeforeSendingSeconds)
      ]),
      {
        header: ["lane", "kind", "requests", "ok", "failed", "p50", "p95", "waited before sending"],
        align: ["left", "left", "right", "right", "right", "right", "right", "right"]
      }
    )
  }`
  const warnings = report.warnings.map((warning) => `\nnote: ${warning}`).join("")
  return summary + lanes + warnings
}
