/**
 * The figures of one strategy on one workload, from what the probe saw and
 * what the simulated API counted.
 *
 * The lower bound is admission's (`bench/admission.ts`), taken at each
 * release: every bucket starts full and refills at its limit, so the
 * requests served that started at or after `t` cannot all be served before
 * `t + (their demand − the bucket's size) / its refill rate`, for the
 * binding bucket. At `t = 0` (all requests) it is exactly admission's
 * formula; with quiet periods, a later wave can bind instead.
 */
import type * as Simulator from "../../src/simulator/api/Simulator.js"
import type * as Report from "../../src/simulator/workload/Report.js"
import type * as Probe from "./probe.js"
import * as Workloads from "./workloads.js"

export interface Latency {
  readonly p50: number
  readonly p99: number
}

export interface Figures {
  readonly strategy: string
  readonly workload: string
  readonly requests: number
  readonly succeeded: number
  readonly failures: Readonly<Record<string, number>>
  /** requests that reached the API (every attempt) */
  readonly sent: number
  readonly rateLimited: number
  readonly rateLimitedPer1000Sent: number
  readonly attemptsPerRequest: number
  readonly wallSeconds: number
  readonly boundSeconds: number
  /** NaN when the bound is 0 (nothing had to wait for a refill) */
  readonly wallOverBound: number
  /** of the calls that succeeded: how long an answer took */
  readonly latencySeconds: Latency
  /** of every call, failed ones included: how long until the caller knew */
  readonly latencyAllCallsSeconds: Latency
  /** of the interactive lane's calls that succeeded */
  readonly interactiveLatencySeconds?: Latency | undefined
  readonly outage?: {
    readonly sentDuring: number
    readonly perCaller: number
    /** from the outage's end to the first success after it; null when nothing succeeded after it */
    readonly recoverySeconds: number | null
  } | undefined
}

const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!

export const latency = (calls: ReadonlyArray<Probe.Call>): Latency => {
  const sorted = calls.map((call) => (call.endedAt - call.startedAt) / 1000).sort((a, b) => a - b)
  return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99) }
}

export const lowerBound = (
  calls: ReadonlyArray<Probe.Call>,
  limits: Workloads.Limits,
  releases: ReadonlyArray<number>
): number => {
  if (calls.length === 0) return 0
  const start = Math.min(...calls.map((call) => call.startedAt))
  const served = calls.filter((call) => call.result === "ok")
  return Math.max(
    0,
    ...releases.map((release) => {
      const after = served.filter((call) => call.startedAt - start >= release * 1000)
      const input = after.reduce((sum, call) => sum + call.inputTokens, 0)
      const output = after.reduce((sum, call) => sum + call.outputTokens, 0)
      return release + 60 * Math.max(
            (after.length - limits.requestsPerMinute) / limits.requestsPerMinute,
            (input - limits.inputTokensPerMinute) / limits.inputTokensPerMinute,
            (output - limits.outputTokensPerMinute) / limits.outputTokensPerMinute,
            0
          )
    })
  )
}

/** 429s of every kind the simulated API sent (buckets, never-fit, ramp and spend limits). */
export const rateLimitedOf = (stats: Simulator.Stats): number =>
  stats.perMinute.reduce((sum, minute) => sum + minute.rateLimited, 0)

export const make = (options: {
  readonly strategy: string
  readonly workload: Workloads.Workload
  readonly report: Report.Report
  readonly probe: Probe.Probe
}): Figures => {
  const { probe, report, workload } = options
  const stats = report.simulator!
  const calls = probe.calls
  const succeeded = calls.filter((call) => call.result === "ok")
  const rateLimited = rateLimitedOf(stats)
  const bound = lowerBound(calls, workload.limits, Workloads.releasesOf(workload))
  const outage = workload.outage
  const origin = stats.startedAt
  const sentDuring = outage === undefined
    ? 0
    : probe.attempts.filter((attempt) =>
      attempt.sentAt - origin >= outage.from * 1000 && attempt.sentAt - origin < outage.to * 1000
    ).length
  const firstSuccessAfter = outage === undefined ? undefined : probe.attempts
    .filter((attempt) => attempt.status === 200 && attempt.endedAt - origin >= outage.to * 1000)
    .reduce<number | undefined>(
      (first, attempt) => first === undefined ? attempt.endedAt : Math.min(first, attempt.endedAt),
      undefined
    )
  return {
    strategy: options.strategy,
    workload: workload.name,
    requests: report.requests,
    succeeded: report.succeeded,
    failures: report.failures,
    sent: stats.requests,
    rateLimited,
    rateLimitedPer1000Sent: stats.requests === 0 ? 0 : (1000 * rateLimited) / stats.requests,
    attemptsPerRequest: stats.requests / Math.max(1, report.requests),
    wallSeconds: report.wallSeconds,
    boundSeconds: bound,
    wallOverBound: bound > 0 ? report.wallSeconds / bound : Number.NaN,
    latencySeconds: latency(succeeded),
    latencyAllCallsSeconds: latency(calls),
    interactiveLatencySeconds: workload.interactiveLane === true
      ? latency(succeeded.filter((call) => call.lane === "interactive"))
      : undefined,
    outage: outage === undefined ? undefined : {
      sentDuring,
      perCaller: sentDuring / Workloads.callersOf(workload),
      recoverySeconds: firstSuccessAfter === undefined ? null : (firstSuccessAfter - origin) / 1000 - outage.to
    }
  }
}
