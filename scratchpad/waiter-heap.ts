// Which objects a waiting createMessage holds: a heap snapshot's counts by constructor, per waiter.
import * as HttpClient from "@effect/platform/HttpClient"
import { Effect, Fiber, Layer, Redacted } from "effect"
import { writeHeapSnapshot } from "node:v8"
import * as ClaudeClient from "../src/ClaudeClient.js"
const n = 5_000
const never = Layer.succeed(HttpClient.HttpClient, HttpClient.make(() => Effect.never))
const params = { model: "claude-sonnet-4-6", max_tokens: 256, messages: [{ role: "user" as const, content: "hi" }] }
Effect.runPromise(
  Effect.gen(function*() {
    const client = yield* ClaudeClient.ClaudeClient
    const first = yield* Effect.fork(client.createMessage(params))
    yield* Effect.sleep("10 millis")
    const fibers = yield* Effect.forEach(Array.from({ length: n }), () => Effect.fork(client.createMessage(params)))
    yield* Effect.sleep("200 millis")
    console.log(writeHeapSnapshot("/tmp/prof/waiters.heapsnapshot"))
    yield* Fiber.interruptAll([first, ...fibers])
  }).pipe(
    Effect.provide(
      ClaudeClient.layer({
        apiKey: Redacted.make("k"),
        admission: { limits: { "claude-sonnet-4.x": { requestsPerMinute: 1 } } }
      }).pipe(Layer.provide(never))
    ),
    Effect.scoped
  )
)
