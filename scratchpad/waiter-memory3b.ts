import * as HttpClient from "@effect/platform/HttpClient"
import { Effect, Fiber, Layer, Redacted } from "effect"
import * as ClaudeClient from "../src/ClaudeClient.js"
const gc = (globalThis as any).gc as () => void
const n = 10_000
const never = Layer.succeed(HttpClient.HttpClient, HttpClient.make(() => Effect.never))
const params = { model: "claude-sonnet-4-6", max_tokens: 256, messages: [{ role: "user" as const, content: "hi" }] }
const run = (label: string, options: Partial<ClaudeClient.LayerOptions>, tracer: boolean) =>
  Effect.gen(function*() {
    const client = yield* ClaudeClient.ClaudeClient
    const first = yield* Effect.fork(client.createMessage(params))
    yield* Effect.sleep("10 millis")
    gc()
    gc()
    const before = process.memoryUsage().heapUsed
    const fibers = yield* Effect.forEach(Array.from({ length: n }), () => Effect.fork(client.createMessage(params)))
    yield* Effect.sleep("200 millis")
    gc()
    gc()
    const after = process.memoryUsage().heapUsed
    console.log(`${label}: ${((after - before) / n).toFixed(0)} bytes each`)
    yield* Fiber.interruptAll([first, ...fibers])
  }).pipe(
    Effect.withTracerEnabled(tracer),
    Effect.provide(
      ClaudeClient.layer({
        apiKey: Redacted.make("k"),
        admission: { limits: { "claude-sonnet-4.x": { requestsPerMinute: 1 } } },
        ...options
      }).pipe(Layer.provide(never))
    ),
    Effect.scoped
  )
Effect.runPromise(Effect.gen(function*() {
  yield* run("full", {}, true)
  yield* run("no retry", { retry: false }, true)
  yield* run("no tracer", {}, false)
  yield* run("no retry, no tracer", { retry: false }, false)
}))
