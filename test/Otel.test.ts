import { describe, expect, it } from "@effect/vitest"
import { InMemoryLogRecordExporter, type ReadableLogRecord, SimpleLogRecordProcessor } from "@opentelemetry/sdk-logs"
import { MetricReader, type ResourceMetrics } from "@opentelemetry/sdk-metrics"
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Effect, Fiber, Layer, Redacted, TestClock } from "effect"
import { Observability, program } from "../examples/otel.js"
import { ClaudeClient } from "../src/index.js"
import { Simulator } from "../src/testing/index.js"

// The observability example, its exporters in memory: which spans, attributes and metrics come out, and that the API
// key is in none of them. The simulator is in memory, under TestClock; its seed makes some answers 529s, so that
// retries happen.

const apiKey = "sk-ant-api03-otel-example-key-0123456789"

// A reader the test collects from when it wants, instead of on a timer.
class CollectingReader extends MetricReader {
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve()
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve()
  }
}

interface Exported {
  readonly spans: ReadonlyArray<ReadableSpan>
  readonly metrics: ReadonlyArray<string>
  readonly metricData: ResourceMetrics
  readonly logs: ReadonlyArray<ReadableLogRecord>
}

// Runs the example's program with the exporters in memory and returns what they received.
const exported: Effect.Effect<Exported> = Effect.gen(function*() {
  const spans = new InMemorySpanExporter()
  const logs = new InMemoryLogRecordExporter()
  const reader = new CollectingReader()
  const client = ClaudeClient.layer({ apiKey: Redacted.make(apiKey), baseUrl: "https://api.example.test" }).pipe(
    Layer.provide(Simulator.layer({
      seed: 5,
      faults: { outages: [{ from: 0, to: "300 millis" }] }
    }))
  )
  // read inside the SDK's layer: shutting it down empties the in-memory exporters
  return yield* Effect.gen(function*() {
    const running = yield* Effect.fork(Effect.orDie(program.pipe(Effect.provide(client))))
    yield* TestClock.adjust("10 minutes")
    yield* Fiber.join(running)
    const { errors, resourceMetrics } = yield* Effect.promise(() => reader.collect())
    expect(errors).toEqual([])
    return {
      spans: spans.getFinishedSpans(),
      metrics: resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics.map((metric) => metric.descriptor.name)),
      metricData: resourceMetrics,
      logs: logs.getFinishedLogRecords()
    }
  }).pipe(Effect.provide(Observability({
    spanProcessor: new SimpleSpanProcessor(spans),
    metricReader: reader,
    logRecordProcessor: new SimpleLogRecordProcessor({ exporter: logs })
  })))
})

describe("examples/otel.ts: telemetry through @effect/opentelemetry", () => {
  it.effect(
    "spans: ClaudeClient.createMessage with the GenAI request attributes and claude.attempts",
    () =>
      Effect.gen(function*() {
        const { spans } = yield* exported
        const calls = spans.filter((span) => span.name === "ClaudeClient.createMessage")
        expect(calls).toHaveLength(3)
        for (const span of calls) {
          expect(span.attributes).toMatchObject({
            "gen_ai.system": "anthropic",
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "claude-haiku-4-5"
          })
          expect(span.attributes["claude.attempts"]).toBeGreaterThanOrEqual(1)
        }
        // some call was retried (the seed answers some 529s), and each attempt is a child span
        expect(calls.some((span) => Number(span.attributes["claude.attempts"]) > 1)).toBe(true)
        expect(spans.filter((span) => span.name === "ClaudeClient.createMessage.attempt").length).toBeGreaterThan(3)
        expect(spans.map((span) => span.name)).toContain("ClaudeClient.streamMessage")
      }),
    { timeout: 60_000 }
  )

  it.effect("metrics: retries, admission waits, circuit state and bucket levels", () =>
    Effect.gen(function*() {
      const { metrics } = yield* exported
      expect(metrics).toEqual(expect.arrayContaining([
        "claude_rate_limiter_retries_total",
        "claude_rate_limiter_admission_wait_seconds",
        "claude_rate_limiter_circuit_state",
        "claude_rate_limiter_bucket_level"
      ]))
    }), { timeout: 60_000 })

  it.effect(
    "GenAI usage: gen_ai.usage.* span attributes, gen_ai.client.* metrics",
    () =>
      Effect.gen(function*() {
        const { metrics, spans } = yield* exported
        const calls = spans.filter((span) => span.name === "ClaudeClient.createMessage")
        expect(calls).toHaveLength(3)
        for (const span of calls) {
          expect(span.attributes["gen_ai.usage.input_tokens"]).toBeGreaterThan(0)
          expect(span.attributes["gen_ai.usage.output_tokens"]).toBeGreaterThan(0)
        }
        expect(metrics).toEqual(
          expect.arrayContaining(["gen_ai.client.token.usage", "gen_ai.client.operation.duration"])
        )
      }),
    { timeout: 60_000 }
  )

  it.effect("the API key is in no exported span, metric or log", () =>
    Effect.gen(function*() {
      const { logs, metricData, spans } = yield* exported
      expect(spans.length).toBeGreaterThan(0)
      // retries were logged, and exported
      expect(logs.some((log) => String(log.body).includes("Retrying"))).toBe(true)
      const everything = JSON.stringify({
        spans: spans.map((span) => ({ name: span.name, attributes: span.attributes, events: span.events })),
        logs: logs.map((log) => ({ body: log.body, attributes: log.attributes })),
        metrics: metricData.scopeMetrics
      })
      expect(everything).toContain("claude-haiku-4-5")
      expect(everything).not.toContain(apiKey)
      expect(everything).not.toContain(apiKey.slice(10, 30))
    }), { timeout: 60_000 })
})
