/**
 * What the library costs per request: CPU time of `ClaudeClient.createMessage`
 * against a bare `HttpClient` POST of the same body to the same loopback
 * server (a plain Node server answering a fixed message with the full
 * rate-limit header set at once), sequentially and 32 at a time. CPU time is
 * `process.cpuUsage` (user + system) of this process over the whole batch,
 * repeated; the table shows min and median per request.
 *
 * `npm run bench -- overhead` (add `--quick` for fewer requests).
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { Effect, Layer, Redacted } from "effect"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import * as ClaudeClient from "../src/ClaudeClient.js"
import { printTable, writeJson } from "./table.js"

const quick = process.argv.includes("--quick")
const requests = quick ? 500 : 3_000
const repeats = quick ? 3 : 5

const message = JSON.stringify({
  id: "msg_bench",
  type: "message",
  role: "assistant",
  model: "claude-sonnet-4-6",
  content: [{ type: "text", text: "Hello! How can I help you today?" }],
  stop_reason: "end_turn",
  stop_sequence: null,
  usage: { input_tokens: 12, output_tokens: 9, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 }
})

const headers = () => {
  const reset = new Date(Date.now() + 1_000).toISOString().replace(/\.\d+Z$/, "Z")
  return {
    "content-type": "application/json",
    "request-id": "req_bench",
    "anthropic-ratelimit-requests-limit": "1000000",
    "anthropic-ratelimit-requests-remaining": "999999",
    "anthropic-ratelimit-requests-reset": reset,
    "anthropic-ratelimit-tokens-limit": "100000000",
    "anthropic-ratelimit-tokens-remaining": "100000000",
    "anthropic-ratelimit-tokens-reset": reset,
    "anthropic-ratelimit-input-tokens-limit": "100000000",
    "anthropic-ratelimit-input-tokens-remaining": "100000000",
    "anthropic-ratelimit-input-tokens-reset": reset,
    "anthropic-ratelimit-output-tokens-limit": "100000000",
    "anthropic-ratelimit-output-tokens-remaining": "100000000",
    "anthropic-ratelimit-output-tokens-reset": reset
  }
}

const params = {
  model: "claude-sonnet-4-6",
  max_tokens: 256,
  messages: [{ role: "user" as const, content: "Say hello in one short sentence." }]
}

const startServer = () =>
  new Promise<{ readonly url: string; readonly close: () => void }>((resolve) => {
    const server = createServer((request, response) => {
      request.resume()
      request.on("end", () => {
        response.writeHead(200, headers())
        response.end(message)
      })
    })
    server.keepAliveTimeout = 60_000
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      resolve({ url: `http://127.0.0.1:${port}`, close: () => server.close() })
    })
  })

const cpuMicros = () => {
  const usage = process.cpuUsage()
  return usage.user + usage.system
}

const measure = (run: Effect.Effect<unknown, unknown>) =>
  Effect.gen(function*() {
    yield* run // warm up: connections, JIT
    const perRequest: Array<number> = []
    for (let i = 0; i < repeats; i++) {
      const before = cpuMicros()
      yield* run
      perRequest.push((cpuMicros() - before) / requests)
    }
    perRequest.sort((a, b) => a - b)
    return { min: perRequest[0]!, median: perRequest[Math.floor(perRequest.length / 2)]! }
  })

export const run = async () => {
  const server = await startServer()
  const body = JSON.stringify(params)
  const results = await Effect.runPromise(
    Effect.gen(function*() {
      const http = yield* HttpClient.HttpClient
      const client = yield* ClaudeClient.ClaudeClient
      const bare = Effect.flatMap(
        http.execute(
          HttpClientRequest.post(`${server.url}/v1/messages`).pipe(
            HttpClientRequest.setHeaders({ "x-api-key": "bench", "anthropic-version": "2023-06-01" }),
            HttpClientRequest.bodyText(body, "application/json")
          )
        ),
        (response) => response.json
      )
      const full = client.createMessage(params)
      const batch = (one: Effect.Effect<unknown, unknown>, concurrency: number) =>
        Effect.forEach(Array.from({ length: requests }), () => one, { concurrency, discard: true })
      const rows: Array<{ readonly case: string; readonly min: number; readonly median: number }> = []
      for (const concurrency of [1, 32]) {
        const plain = yield* measure(batch(bare, concurrency))
        const ours = yield* measure(batch(full, concurrency))
        rows.push({ case: `bare HttpClient, concurrency ${concurrency}`, ...plain })
        rows.push({ case: `ClaudeClient.createMessage, concurrency ${concurrency}`, ...ours })
        rows.push({
          case: `added by the library, concurrency ${concurrency}`,
          min: ours.min - plain.min,
          median: ours.median - plain.median
        })
      }
      return rows
    }).pipe(
      Effect.provide(
        ClaudeClient.layer({ apiKey: Redacted.make("bench"), baseUrl: server.url }).pipe(
          Layer.provideMerge(NodeHttpClient.layerUndici)
        )
      )
    )
  )
  server.close()
  printTable(
    `CPU per request (µs, process.cpuUsage), ${requests} requests × ${repeats} repeats, loopback`,
    ["case", "min µs", "median µs"],
    results.map((row) => [row.case, row.min.toFixed(0), row.median.toFixed(0)])
  )
  writeJson("overhead", results)
}

if (import.meta.url === `file://${process.argv[1]}`) await run()
