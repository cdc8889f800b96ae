// Bisects the client's cost by turning its parts off, against an in-memory HttpClient.
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { Effect, Layer, Redacted } from "effect"
import * as ClaudeClient from "../src/ClaudeClient.js"

const body = JSON.stringify({
  id: "m",
  type: "message",
  role: "assistant",
  model: "claude-sonnet-4-6",
  content: [{ type: "text", text: "Hello!" }],
  stop_reason: "end_turn",
  stop_sequence: null,
  usage: { input_tokens: 12, output_tokens: 9 }
})
const reset = new Date(Date.now() + 1_000).toISOString().replace(/\.\d+Z$/, "Z")
const headers = {
  "content-type": "application/json",
  "request-id": "req_1",
  "anthropic-ratelimit-requests-limit": "1000000",
  "anthropic-ratelimit-requests-remaining": "999999",
  "anthropic-ratelimit-requests-reset": reset,
  "anthropic-ratelimit-input-tokens-limit": "100000000",
  "anthropic-ratelimit-input-tokens-remaining": "100000000",
  "anthropic-ratelimit-input-tokens-reset": reset,
  "anthropic-ratelimit-output-tokens-limit": "100000000",
  "anthropic-ratelimit-output-tokens-remaining": "100000000",
  "anthropic-ratelimit-output-tokens-reset": reset
}
const stub = HttpClient.make((request) =>
  Effect.succeed(HttpClientResponse.fromWeb(request, new Response(body, { status: 200, headers })))
)
const params = {
  model: "claude-sonnet-4-6",
  max_tokens: 256,
  messages: [{ role: "user" as const, content: "Say hello in one short sentence." }]
}
const n = 20_000
const measure = (options: Partial<ClaudeClient.LayerOptions>, tracer = true) =>
  Effect.gen(function*() {
    const client = yield* ClaudeClient.ClaudeClient
    const f = () => client.createMessage(params)
    yield* Effect.forEach(Array.from({ length: 2000 }), f, { concurrency: 32, discard: true })
    const start = process.cpuUsage()
    yield* Effect.forEach(Array.from({ length: n }), f, { concurrency: 32, discard: true })
    const used = process.cpuUsage(start)
    return (used.user + used.system) / n
  }).pipe(
    Effect.withTracerEnabled(tracer),
    Effect.provide(
      ClaudeClient.layer({ apiKey: Redacted.make("k"), ...options }).pipe(
        Layer.provideMerge(Layer.succeed(HttpClient.HttpClient, stub))
      )
    )
  )
Effect.runPromise(Effect.gen(function*() {
  const http = stub
  const text = JSON.stringify(params)
  const f = () =>
    Effect.flatMap(
      http.execute(
        HttpClientRequest.post("http://x/v1/messages").pipe(HttpClientRequest.bodyText(text, "application/json"))
      ),
      (r) => r.json
    )
  yield* Effect.forEach(Array.from({ length: 2000 }), f, { concurrency: 32, discard: true })
  const start = process.cpuUsage()
  yield* Effect.forEach(Array.from({ length: n }), f, { concurrency: 32, discard: true })
  const used = process.cpuUsage(start)
  console.log("bare", ((used.user + used.system) / n).toFixed(1))
  console.log("full", (yield* measure({})).toFixed(1))
  console.log("no retry", (yield* measure({ retry: false })).toFixed(1))
  console.log("no breaker", (yield* measure({ circuitBreaker: false })).toFixed(1))
  console.log("no admission", (yield* measure({ admission: { enabled: false } })).toFixed(1))
  console.log("no tracer", (yield* measure({}, false)).toFixed(1))
  console.log(
    "none of them",
    (yield* measure({ retry: false, circuitBreaker: false, admission: { enabled: false } }, false)).toFixed(1)
  )
}))
