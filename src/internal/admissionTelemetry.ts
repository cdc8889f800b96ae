/**
 * What admission reports: the wait each request actually had and why, queue
 * depth per lane, bucket levels, requests in flight, the concurrency window,
 * the adaptive send rate and the retry budget, per pool. Metrics are tagged
 * once per pool, not per request.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as Budget from "./budget.js"
import type * as Ledger from "./ledger.js"
import type * as Waiters from "./waiters.js"

/** @internal */
export const metrics = {
  /** Seconds each request waited for admission, by pool, lane and what held it back (`none` when it did not wait). */
  waitSeconds: Metric.histogram(
    "claude_rate_limiter_admission_wait_seconds",
    MetricBoundaries.exponential({ start: 0.01, factor: 2, count: 18 }),
    "Time a request waited for admission before it was sent"
  ),
  /** Requests waiting for admission, by pool and lane. */
  queueDepth: Metric.gauge("claude_rate_limiter_admission_queue_depth", {
    description: "Requests waiting for admission"
  }),
  /** The level of each bucket as admission models it, by pool and bucket. */
  bucketLevel: Metric.gauge("claude_rate_limiter_bucket_level", {
    description: "Bucket level as admission models it (negative: debt)"
  }),
  /** Requests of this process in flight, by pool. */
  inFlight: Metric.gauge("claude_rate_limiter_in_flight", { description: "Admitted requests in flight" }),
  /** The concurrency window, by pool. */
  concurrencyWindow: Metric.gauge("claude_rate_limiter_concurrency_window", {
    description: "Requests the pool may have in flight"
  }),
  /** The adaptive send rate in requests per second, by pool (0 while it does not bind). */
  sendRate: Metric.gauge("claude_rate_limiter_send_rate_limit", {
    description: "Adaptive send-rate limit after overload signals, requests per second (0: not limiting)"
  }),
  /** Tokens left in the retry budget, by pool. */
  retryBudget: Metric.gauge("claude_rate_limiter_retry_budget", { description: "Tokens left in the retry budget" }),
  /** Requests refused by admission without being sent, by pool and error. */
  refusals: Metric.counter("claude_rate_limiter_admission_refusals_total", {
    description: "Requests admission refused without sending them",
    incremental: true
  })
} as const

/** @internal */
export interface GateState {
  readonly inFlight: number
  readonly window: { readonly size: number }
  readonly sendRate: { readonly enabled: boolean; readonly fillRate: number } | undefined
  readonly retryBudget: { readonly tokens: number } | undefined
}

/** @internal */
export interface PoolTelemetry {
  readonly admitted: (
    lane: Waiters.Lane,
    waitedMillis: number,
    reason: string | undefined,
    retry: boolean
  ) => Effect.Effect<void>
  readonly queueDepth: (queue: Waiters.WaitQueue) => Effect.Effect<void>
  /** Sets the pool's gauges, at most every quarter second (they are read by scrapers, not per request). */
  readonly released: (gate: GateState, view: Ledger.PoolView, now: number) => Effect.Effect<void>
  readonly refused: (error: string) => Effect.Effect<void>
}

/** @internal */
export const forPool = (pool: string): PoolTelemetry => {
  const tagged = <T extends Metric.Metric<any, any, any>>(metric: T): T => Metric.tagged(metric, "pool", pool) as T
  const waitByLaneAndReason = new Map<string, Metric.Metric.Histogram<number>>()
  const waitMetric = (lane: string, reason: string) => {
    const key = `${lane}/${reason}`
    let metric = waitByLaneAndReason.get(key)
    if (metric === undefined) {
      metric = metrics.waitSeconds.pipe(
        Metric.tagged("pool", pool),
        Metric.tagged("lane", lane),
        Metric.tagged("reason", reason)
      )
      waitByLaneAndReason.set(key, metric)
    }
    return metric
  }
  const depth = {
    interactive: metrics.queueDepth.pipe(Metric.tagged("pool", pool), Metric.tagged("lane", "interactive")),
    batch: metrics.queueDepth.pipe(Metric.tagged("pool", pool), Metric.tagged("lane", "batch"))
  }
  const levels = Object.fromEntries(
    Budget.budgetBuckets.map((
      name
    ) => [name, metrics.bucketLevel.pipe(Metric.tagged("pool", pool), Metric.tagged("bucket", name))])
  ) as Record<Budget.BudgetBucket, Metric.Metric.Gauge<number>>
  const inFlight = tagged(metrics.inFlight)
  const window = tagged(metrics.concurrencyWindow)
  const sendRate = tagged(metrics.sendRate)
  const retryBudget = tagged(metrics.retryBudget)
  let publishedAt = Number.NEGATIVE_INFINITY
  return {
    admitted: (lane, waitedMillis, reason, retry) => {
      const update = Metric.update(waitMetric(lane, waitedMillis > 0 ? reason ?? "queue" : "none"), waitedMillis / 1000)
      if (waitedMillis <= 0) return update
      const log = Effect.annotateLogs(
        retry
          ? Effect.logInfo(`Retry admitted after ${formatMillis(waitedMillis)} (${reason ?? "queue"})`)
          : Effect.logDebug(`Admitted after ${formatMillis(waitedMillis)} (${reason ?? "queue"})`),
        { pool, lane, waitMillis: Math.round(waitedMillis), reason: reason ?? "queue" }
      )
      return Effect.zipRight(update, log)
    },
    queueDepth: (queue) =>
      Effect.zipRight(
        Metric.set(depth.interactive, queue.depth("interactive")),
        Metric.set(depth.batch, queue.depth("batch"))
      ),
    released: (gate, view, now) => {
      if (now - publishedAt < 250) return Effect.void
      publishedAt = now
      return Effect.all([
        Metric.set(inFlight, gate.inFlight),
        Metric.set(window, gate.window.size),
        Metric.set(sendRate, gate.sendRate?.enabled ? gate.sendRate.fillRate : 0),
        gate.retryBudget === undefined ? Effect.void : Metric.set(retryBudget, gate.retryBudget.tokens),
        Effect.forEach(Budget.budgetBuckets, (name) => {
          const bucket = view.buckets[name]
          return bucket === undefined ? Effect.void : Metric.set(levels[name], bucket.level)
        }, { discard: true })
      ], { discard: true })
    },
    refused: (error) => Metric.increment(Metric.tagged(tagged(metrics.refusals), "error", error))
  }
}

const formatMillis = (millis: number): string =>
  millis < 1000 ? `${Math.round(millis)}ms` : `${(millis / 1000).toFixed(millis < 10_000 ? 2 : 1)}s`
