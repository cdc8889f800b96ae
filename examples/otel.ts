/**
 * Spans, metrics and logs of claude-rate-limiter, exported through
 * @effect/opentelemetry. Every call of `ClaudeClient` is a span
 * (`ClaudeClient.createMessage`, …) named and attributed after
 * OpenTelemetry's GenAI conventions (`gen_ai.system`, `gen_ai.request.model`,
 * `gen_ai.usage.*`) plus `claude.attempts`, with a child span per attempt;
 * admission, retries, the breaker and the buckets are metrics
 * (`claude_rate_limiter_*`).
 *
 * Here the exporters print to the console; in production give OTLP
 * exporters instead (or @effect/opentelemetry's own `Otlp.layer`).
 *
 * Against the API:       ANTHROPIC_API_KEY=sk-ant-… npx tsx examples/otel.ts
 * Against the simulator: npm start -- simulate --port 4000, then
 *                        ANTHROPIC_BASE_URL=http://127.0.0.1:4000 ANTHROPIC_API_KEY=test npx tsx examples/otel.ts
 */
import { NodeSdk } from "@effect/opentelemetry"
import { NodeHttpClient, NodeRuntime } from "@effect/platform-node"
import type { LogRecordProcessor } from "@opentelemetry/sdk-logs"
import { ConsoleMetricExporter, type MetricReader, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics"
import { BatchSpanProcessor, ConsoleSpanExporter, type SpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Effect, Layer } from "effect"
import { pathToFileURL } from "node:url"
import { ClaudeClient, Messages, MessageStream } from "../src/index.js"

/** Where telemetry goes: span processor, metric reader, and (optionally) log record processor. */
export interface Exporters {
  readonly spanProcessor: SpanProcessor
  readonly metricReader: MetricReader
  readonly logRecordProcessor?: LogRecordProcessor | undefined
}

/** The OpenTelemetry SDK as a layer: Effect's spans, metrics and logs go to the exporters. */
export const Observability = (exporters: Exporters) =>
  NodeSdk.layer(() => ({
    resource: { serviceName: "claude-app" },
    spanProcessor: exporters.spanProcessor,
    metricReader: exporters.metricReader,
    ...(exporters.logRecordProcessor === undefined ? {} : { logRecordProcessor: exporters.logRecordProcessor })
  }))

/** A few calls: messages created, and one streamed. */
export const program = Effect.gen(function*() {
  const claude = yield* ClaudeClient.ClaudeClient
  const answers = yield* Effect.forEach(
    ["Name a prime number.", "Name a colour.", "Name a planet."],
    (question) =>
      claude.createMessage({
        model: "claude-haiku-4-5",
        max_tokens: 64,
        messages: [{ role: "user", content: question }]
      }),
    { concurrency: 2 }
  )
  const streamed = yield* MessageStream.finalMessage(claude.streamMessage({
    model: "claude-haiku-4-5",
    max_tokens: 64,
    messages: [{ role: "user", content: "Say hello." }]
  }))
  return [...answers, streamed].map(Messages.text)
})

const main = Effect.flatMap(program, (texts) => Effect.forEach(texts, (text) => Effect.log(text))).pipe(
  Effect.provide(ClaudeClient.layerConfig.pipe(Layer.provide(NodeHttpClient.layerUndici))),
  Effect.provide(Observability({
    spanProcessor: new BatchSpanProcessor(new ConsoleSpanExporter()),
    metricReader: new PeriodicExportingMetricReader({
      exporter: new ConsoleMetricExporter(),
      exportIntervalMillis: 5_000
    })
  }))
)

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  NodeRuntime.runMain(main)
}
