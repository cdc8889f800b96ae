/**
 * The summary of a workload run: what happened to the requests, what the
 * API pushed back with, where time went (waiting for budget before sending
 * vs waiting after 429s), and the throughput achieved as a share of the
 * limits the API reported. Rendered as a table or as JSON.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricState from "effect/MetricState"
import * as Option from "effect/Option"
import type * as RateLimitHeaders from "../../RateLimitHeaders.js"
import * as RetryPolicy from "../../RetryPolicy.js"
import type * as Simulator from "../api/Simulator.js"
import type * as Monitor from "./Monitor.js"
import type * as Workload from "./Workload.js"

/**
 * Retry counts and waits so far in this process, from the library's metrics.
 *
 * @since 0.1.0
 * @category models
 */
export interface RetryTotals {
  readonly retries: number
  readonly waitSecondsAfter429: number
  readonly waitSecondsAfterOther: number
}

const tagOf = (pair: { readonly metricKey: { readonly tags: ReadonlyArray<{ key: string; value: string }> } }) =>
  pair.metricKey.tags.find((tag) => tag.key === "error")?.value

/**
 * @since 0.1.0
 * @category metrics
 */
export const retryTotals: Effect.Effect<RetryTotals> = Effect.map(Metric.snapshot, (pairs) => {
  let retries = 0
  let after429 = 0
  let afterOther = 0
  for (const pair of pairs) {
    const state = pair.metricState
    if (pair.metricKey.name === RetryPolicy.metricNames.retries && MetricState.isCounterState(state)) {
      retries += Number(state.count)
    }
    if (pair.metricKey.name === RetryPolicy.metricNames.retryWait && MetricState.isHistogramState(state)) {
      if (tagOf(pair) === "RateLimitError") after429 += state.sum
      else afterOther += state.sum
    }
  }
  return { retries, waitSecondsAfter429: after429, waitSecondsAfterOther: afterOther }
})

/**
 * @since 0.1.0
 * @category models
 */
export interface Limits {
  readonly requestsPerMinute: number
  readonly inputTokensPerMinute: number
  readonly outputTokensPerMinute: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Report {
  readonly mode: "simulator" | "forecast" | "live"
  readonly model: string
  readonly requests: number
  readonly concurrency: number
  readonly succeeded: number
  readonly failures: Readonly<Record<string, number>>
  readonly attempts: number
  readonly retries: number
  readonly rateLimitedResponses: number
  readonly otherErrorResponses: number
  readonly waitSeconds: { readonly proactive: number; readonly after429: number; readonly afterOtherErrors: number }
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
  readonly simulator: Simulator.Stats | null
}

/**
 * The limits a snapshot reported, when it reported all three.
 *
 * @since 0.1.0
 * @category constructors
 */
export const limitsOf = (snapshot: RateLimitHeaders.RateLimitSnapshot): Limits | null => {
  const requests = snapshot.requests.limit
  const input = snapshot.inputTokens.limit
  const output = snapshot.outputTokens.limit
  return Option.isSome(requests) && Option.isSome(input) && Option.isSome(output)
    ? { requestsPerMinute: requests.value, inputTokensPerMinute: input.value, outputTokensPerMinute: output.value }
    : null
}

const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!

const round = (n: number, digits = 3): number => Number(n.toFixed(digits))

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: {
  readonly mode: Report["mode"]
  readonly workload: Workload.Workload
  readonly result: Workload.Result
  readonly progress: Monitor.Progress
  readonly retries: RetryTotals
  readonly limits: Limits | null
  readonly simulator: Simulator.Stats | null
}): Report => {
  const { outcomes, wallMillis } = options.result
  const failures: Record<string, number> = {}
  for (const outcome of outcomes) {
    if (outcome.result !== "ok") failures[outcome.result] = (failures[outcome.result] ?? 0) + 1
  }
  const succeeded = outcomes.filter((outcome) => outcome.result === "ok")
  const input = succeeded.reduce((sum, outcome) => sum + outcome.inputTokens, 0)
  const output = succeeded.reduce((sum, outcome) => sum + outcome.outputTokens, 0)
  const minutes = Math.max(wallMillis, 1) / 60_000
  const latencies = outcomes.map((outcome) => outcome.latencyMillis / 1000).sort((a, b) => a - b)
  const limits = options.limits
  const budget = (perMinute: number) => perMinute * (1 + minutes)
  return {
    mode: options.mode,
    model: options.workload.model,
    requests: outcomes.length,
    concurrency: options.workload.concurrency,
    succeeded: succeeded.length,
    failures,
    attempts: options.progress.attempts,
    retries: options.retries.retries,
    rateLimitedResponses: options.progress.rateLimited,
    otherErrorResponses: options.progress.otherErrorStatuses,
    waitSeconds: {
      proactive: round(options.progress.proactiveWaitMillis / 1000),
      after429: round(options.retries.waitSecondsAfter429),
      afterOtherErrors: round(options.retries.waitSecondsAfterOther)
    },
    wallSeconds: round(wallMillis / 1000),
    latencySeconds: {
      p50: round(percentile(latencies, 0.5)),
      p95: round(percentile(latencies, 0.95)),
      max: round(latencies.at(-1) ?? 0)
    },
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
    simulator: options.simulator
  }
}

const percent = (share: number): string => `${(share * 100).toFixed(1)} %`
const seconds = (value: number): string => `${value.toFixed(1)} s`
const thousands = (n: number): string => n.toLocaleString("en-US")

/**
 * The report as an aligned text table.
 *
 * @since 0.1.0
 * @category rendering
 */
export const table = (report: Report): string => {
  const failures = Object.entries(report.failures)
  const rows: Array<readonly [string, string]> = [
    ["mode", `${report.mode} (${report.model}, concurrency ${report.concurrency})`],
    ["requests", thousands(report.requests)],
    ["succeeded", thousands(report.succeeded)],
    [
      "failed",
      failures.length === 0 ? "0" : failures.map(([tag, count]) => `${count} ${tag}`).join(", ")
    ],
    ["HTTP attempts", thousands(report.attempts)],
    ["429s received", thousands(report.rateLimitedResponses)],
    ["other error answers", thousands(report.otherErrorResponses)],
    ["retries", thousands(report.retries)],
    [
      "waited for budget before sending",
      `${seconds(report.waitSeconds.proactive)} in all, ${
        seconds(report.requests === 0 ? 0 : report.waitSeconds.proactive / report.requests)
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
  if (report.simulator !== null) {
    const sim = report.simulator
    rows.push([
      "simulator sent",
      `${sim.rateLimited.requests} RPM / ${sim.rateLimited.input_tokens} ITPM / ${sim.rateLimited.output_tokens} OTPM / ${sim.rateLimited.concurrency} concurrency 429s, ${sim.overloaded} 529s, ${sim.apiErrors} 500s, ${sim.connectionResets} resets; peak ${sim.peakConcurrency} in flight`
    ])
  }
  const width = Math.max(...rows.map(([label]) => label.length))
  const line = "─".repeat(width + 2) + "┼" + "─".repeat(Math.max(...rows.map(([, value]) => value.length)) + 2)
  return [
    line.replace("┼", "┬"),
    ...rows.map(([label, value]) => ` ${label.padEnd(width)} │ ${value}`),
    line.replace("┼", "┴")
  ].join("\n")
}
