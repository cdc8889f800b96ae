/**
 * What the retry policy reports about each retry: a log line with the facts
 * behind the wait, and metrics.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import * as ClaudeError from "../ClaudeError.js"
import type { RetryStep } from "../RetryPolicy.js"

/** @internal */
export const metricNames = {
  retries: "claude_rate_limiter_retries_total",
  retryWait: "claude_rate_limiter_retry_wait_seconds"
} as const

/** @internal */
export const retriesTotal = Metric.counter(metricNames.retries, {
  description: "Retries scheduled after a failed attempt",
  incremental: true
})

/** @internal */
export const retryWaitSeconds = Metric.histogram(
  metricNames.retryWait,
  MetricBoundaries.exponential({ start: 0.05, factor: 2, count: 14 }),
  "Wait before a retry"
)

/** @internal */
export const errorTag = (error: unknown): string =>
  typeof error === "object" && error !== null && "_tag" in error ? String(error._tag) : "unknown"

const definedOnly = (record: Record<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined && value !== ""))

/** @internal */
export const logRetry = (step: RetryStep): Effect.Effect<void> => {
  const header = Option.getOrUndefined(step.headerWait)
  const rateLimits = ClaudeError.isResponseError(step.error) ? step.error.rateLimits : undefined
  const labels = [MetricLabel.make("error", errorTag(step.error)), MetricLabel.make("rule", step.rule)]
  // with an admission gate in front, a server-given wait is not slept here: the gate holds the retry (and logs
  // the wait it really had), so say that instead of a wait that would not be the one that happens
  const message = header !== undefined && Duration.isZero(step.delay) && !Duration.isZero(header.wait)
    ? `Retrying after attempt ${step.attempt}: the gate holds it about ${Duration.format(header.wait)} (${step.rule})`
    : `Retrying after attempt ${step.attempt} in ${Duration.format(step.delay)} (${step.rule})`
  return Effect.logInfo(message).pipe(
    Effect.annotateLogs(definedOnly({
      attempt: step.attempt,
      waitMillis: Duration.toMillis(step.delay),
      rule: step.rule,
      error: errorTag(step.error),
      headerWaitMillis: header && Duration.toMillis(header.wait),
      exhausted: header?.buckets.join(","),
      retryAfter: rateLimits && Option.getOrUndefined(Option.map(rateLimits.retryAfter, Duration.format)),
      retryAfterMs: rateLimits && Option.getOrUndefined(Option.map(rateLimits.retryAfterMs, Duration.toMillis)),
      requestId: rateLimits && Option.getOrUndefined(rateLimits.requestId)
    })),
    Effect.zipRight(Metric.increment(Metric.taggedWithLabels(retriesTotal, labels))),
    Effect.zipRight(Metric.update(Metric.taggedWithLabels(retryWaitSeconds, labels), Duration.toSeconds(step.delay)))
  )
}
