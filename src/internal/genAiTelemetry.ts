/**
 * What a call reports in the names of OpenTelemetry's semantic conventions
 * for generative AI clients: token usage and operation duration metrics, and
 * the usage and response attributes of the call's span.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricLabel from "effect/MetricLabel"
import type * as Admission from "../Admission.js"

/** @internal */
export const metricNames = {
  tokenUsage: "gen_ai.client.token.usage",
  operationDuration: "gen_ai.client.operation.duration"
} as const

/** Input and output tokens used, by `gen_ai.token.type`, model and operation. @internal */
export const tokenUsage = Metric.histogram(
  metricNames.tokenUsage,
  MetricBoundaries.fromIterable([1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216]),
  "Number of input and output tokens used"
)

/** Seconds from a call's start to its end, waits and retries included. @internal */
export const operationDuration = Metric.histogram(
  metricNames.operationDuration,
  MetricBoundaries.fromIterable([
    0.01,
    0.02,
    0.04,
    0.08,
    0.16,
    0.32,
    0.64,
    1.28,
    2.56,
    5.12,
    10.24,
    20.48,
    40.96,
    81.92
  ]),
  "GenAI operation duration"
)

/** The semantic-convention attributes of a call, when it is a chat call. @internal */
export interface CallAttributes {
  readonly "gen_ai.request.model"?: unknown
  readonly "gen_ai.operation.name"?: unknown
}

const labels = (attributes: CallAttributes | undefined) => ({
  "gen_ai.system": "anthropic",
  "gen_ai.operation.name": String(attributes?.["gen_ai.operation.name"] ?? "chat"),
  "gen_ai.request.model": String(attributes?.["gen_ai.request.model"] ?? "unknown")
})

// Tagged metrics are cached per model and outcome: building metric keys on every call costs more than updating them.
const cache = new Map<string, Metric.Metric.Histogram<number>>()
const cached = (
  key: string,
  make: () => Metric.Metric.Histogram<number>
): Metric.Metric.Histogram<number> => {
  let metric = cache.get(key)
  if (metric === undefined) {
    if (cache.size > 10_000) cache.clear()
    metric = make()
    cache.set(key, metric)
  }
  return metric
}

const labelsOf = (attributes: CallAttributes) =>
  Object.entries(labels(attributes)).map(([key, value]) => MetricLabel.make(key, value))

/** Records the tokens a chat call used. @internal */
export const recordUsage = (attributes: CallAttributes | undefined, usage: Admission.Usage): Effect.Effect<void> => {
  if (attributes?.["gen_ai.request.model"] === undefined) return Effect.void
  const model = String(attributes["gen_ai.request.model"])
  const operation = String(attributes["gen_ai.operation.name"] ?? "chat")
  const input = cached(
    `usage/${operation}/${model}/input`,
    () => Metric.taggedWithLabels(tokenUsage, [...labelsOf(attributes), MetricLabel.make("gen_ai.token.type", "input")])
  )
  const output = cached(
    `usage/${operation}/${model}/output`,
    () =>
      Metric.taggedWithLabels(tokenUsage, [...labelsOf(attributes), MetricLabel.make("gen_ai.token.type", "output")])
  )
  return Effect.zipRight(Metric.update(input, usage.inputTokens), Metric.update(output, usage.outputTokens))
}

/** Records how long a chat call took, and how it ended (`error.type` when it failed). @internal */
export const recordDuration = (
  attributes: CallAttributes | undefined,
  seconds: number,
  errorType: string | undefined
): Effect.Effect<void> => {
  if (attributes?.["gen_ai.request.model"] === undefined) return Effect.void
  const model = String(attributes["gen_ai.request.model"])
  const operation = String(attributes["gen_ai.operation.name"] ?? "chat")
  const metric = cached(`duration/${operation}/${model}/${errorType ?? ""}`, () =>
    Metric.taggedWithLabels(
      operationDuration,
      errorType === undefined
        ? labelsOf(attributes)
        : [...labelsOf(attributes), MetricLabel.make("error.type", errorType)]
    ))
  return Metric.update(metric, seconds)
}
