// Profiles ClaudeClient.createMessage against a loopback server: node --cpu-prof.
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Effect, Layer, Redacted } from "effect"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import * as ClaudeClient from "../src/ClaudeClient.js"

const message = JSON.stringify({
  id: "msg_bench",
  type: "message",
  role: "assistant",
  model: "claude-sonnet-4-6",
  content: [{ type: "text", text: "Hello!" }],
  stop_reason: "end_turn",
  stop_sequence: null,
  usage: { input_tokens: 12, output_tokens: 9 }
})
const server = createServer((request, response) => {
  request.resume()
  request.on("end", () => {
    const reset = new Date(Date.now() + 1_000).toISOString().replace(/\.\d+Z$/, "Z")
    response.writeHead(200, {
      "content-type": "application/json",
      "anthropic-ratelimit-requests-limit": "1000000",
      "anthropic-ratelimit-requests-remaining": "999999",
      "anthropic-ratelimit-requests-reset": reset,
      "anthropic-ratelimit-input-tokens-limit": "100000000",
      "anthropic-ratelimit-input-tokens-remaining": "100000000",
      "anthropic-ratelimit-input-tokens-reset": reset,
      "anthropic-ratelimit-output-tokens-limit": "100000000",
      "anthropic-ratelimit-output-tokens-remaining": "100000000",
      "anthropic-ratelimit-output-tokens-reset": reset
    })
    response.end(message)
  })
})
server.listen(0, "127.0.0.1", async () => {
  const { port } = server.address() as AddressInfo
  const params = { model: "claude-sonnet-4-6", max_tokens: 256, messages: [{ role: "user" as const, content: "hi" }] }
  await Effect.runPromise(
    Effect.gen(function*() {
      const client = yield* ClaudeClient.ClaudeClient
      yield* Effect.forEach(Array.from({ length: Number(process.env.N ?? 5000) }), () => client.createMessage(params), {
        concurrency: 32,
        discard: true
      })
    }).pipe(
      Effect.provide(
        ClaudeClient.layer({ apiKey: Redacted.make("k"), baseUrl: `http://127.0.0.1:${port}` }).pipe(
          Layer.provideMerge(NodeHttpClient.layerUndici)
        )
      )
    )
  )
  server.close()
})
