// The client's own cost with an HttpClient that answers at once in memory (no network), vs the same client bare.
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
const n = Number(process.env.N ?? 20_000)
const time = (name: string, f: () => Effect.Effect<unknown, unknown>, concurrency: number) =>
  Effect.gen(function*() {
    yield* Effect.forEach(Array.from({ length: 2000 }), f, { concurrency, discard: true })
    const start = process.cpuUsage()
    yield* Effect.forEach(Array.from({ length: n }), f, { concurrency, discard: true })
    const used = process.cpuUsage(start)
    const micros = (used.user + used.system) / n
    console.log(`${name.padEnd(44)} ${micros.toFixed(1)} µs`)
    return micros
  })
Effect.runPromise(
  Effect.gen(function*() {
    const client = yield* ClaudeClient.ClaudeClient
    const http = yield* HttpClient.HttpClient
    const text = JSON.stringify(params)
    for (const c of [1, 32]) {
      const bare = yield* time(`bare, c=${c}`, () =>
        Effect.flatMap(
          http.execute(
            HttpClientRequest.post("http://x/v1/messages").pipe(HttpClientRequest.bodyText(text, "application/json"))
          ),
          (r) => r.json
        ), c)
      const ours = yield* time(`createMessage, c=${c}`, () => client.createMessage(params), c)
      console.log(`added, c=${c}: ${(ours - bare).toFixed(1)} µs`)
    }
  }).pipe(
    Effect.provide(
      ClaudeClient.layer({ apiKey: Redacted.make("k") }).pipe(
        Layer.provideMerge(Layer.succeed(HttpClient.HttpClient, stub))
      )
    )
  )
)
