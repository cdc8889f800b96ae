import * as HttpClient from "@effect/platform/HttpClient"
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
const headers = {
  "content-type": "application/json",
  "anthropic-ratelimit-requests-limit": "1000000",
  "anthropic-ratelimit-requests-remaining": "999999"
}
const stub = HttpClient.make((request) =>
  Effect.succeed(HttpClientResponse.fromWeb(request, new Response(body, { status: 200, headers })))
)
const params = {
  model: "claude-sonnet-4-6",
  max_tokens: 256,
  messages: [{ role: "user" as const, content: "Say hello." }]
}
Effect.runPromise(
  Effect.gen(function*() {
    const client = yield* ClaudeClient.ClaudeClient
    yield* Effect.forEach(Array.from({ length: 60_000 }), () => client.createMessage(params), {
      concurrency: 32,
      discard: true
    })
  }).pipe(
    Effect.provide(
      ClaudeClient.layer({ apiKey: Redacted.make("k") }).pipe(
        Layer.provideMerge(Layer.succeed(HttpClient.HttpClient, stub))
      )
    )
  )
)
