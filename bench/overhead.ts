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
import { Effect, Either, Layer, Redacted, Schema } from "effect"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import * as Admission from "../src/Admission.js"
import * as CircuitBreaker from "../src/CircuitBreaker.js"
import * as ClaudeClient from "../src/ClaudeClient.js"
import * as Messages from "../src/Messages.js"
import * as RateLimitHeaders from "../src/RateLimitHeaders.js"
import * as RetryPolicy from "../src/RetryPolicy.js"
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

/**
 * The pieces of a request's path, each alone through the public API, 32 at a
 * time like the batch above: what each costs on top of the fiber a request
 * runs in, to say where the library's CPU goes.
 */
const pieces = Effect.gen(function*() {
  const admission = yield* Admission.Admission
  const breaker = yield* CircuitBreaker.CircuitBreaker
  const responseHeaders = headers()
  const rateLimits = yield* RateLimitHeaders.decode(responseHeaders)
  const decodeMessage = Schema.decodeUnknownEither(Messages.Message)
  const encodeParams = Schema.encodeEither(Messages.CreateMessageParams)
  const retrier = RetryPolicy.retry({})
  const usage = { inputTokens: 12, outputTokens: 9 }
  const cost = { requests: 1, inputTokens: 12, outputTokens: 256 }
  const cases: ReadonlyArray<readonly [string, Effect.Effect<unknown, unknown>]> = [
    ["a fiber per request (Effect.forEach, concurrency 32)", Effect.void],
    [
      "+ a child fiber, forked and awaited (the per-attempt timeout)",
      Effect.flatMap(Effect.fork(Effect.void), (fiber) => fiber.await)
    ],
    [
      "+ two spans (the call's, and its attempt's)",
      Effect.flatMap(Effect.makeSpan("call", { captureStackTrace: false }), (span) =>
        Effect.void.pipe(
          Effect.withSpan("attempt", { parent: span, captureStackTrace: false }),
          Effect.ensuring(Effect.sync(() => span.end(0n, { _tag: "Success" } as never)))
        ))
    ],
    ["+ RetryPolicy.retry, success at once", retrier(Effect.void)],
    ["+ CircuitBreaker check and protect", Effect.zipRight(breaker.check, breaker.protect(Effect.void))],
    [
      "+ Admission.withTicket, served",
      admission.withTicket(
        { pool: "bench", cost },
        (ticket) => ticket.complete(Admission.Outcome.Served({ rateLimits, usage, streamed: false }))
      )
    ],
    ["+ RateLimitHeaders.decode (full set)", RateLimitHeaders.decode(responseHeaders)],
    [
      "+ JSON.parse and Schema decode of the message",
      Effect.sync(() => Either.getOrThrow(decodeMessage(JSON.parse(message))))
    ],
    [
      "+ Schema validation and JSON of the params, input estimate",
      Effect.sync(() => [JSON.stringify(Either.getOrThrow(encodeParams(params))), Messages.estimateInputTokens(params)])
    ]
  ]
  const rows: Array<{ readonly case: string; readonly min: number; readonly median: number }> = []
  let floor = 0
  for (const [name, piece] of cases) {
    const result = yield* measure(
      Effect.forEach(Array.from({ length: requests }), () => piece, { concurrency: 32, discard: true })
    )
    if (rows.length === 0) floor = result.min
    rows.push(
      rows.length === 0
        ? { case: name, ...result }
        : { case: name, min: result.min - floor, median: result.median - floor }
    )
  }
  return rows
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
      return { rows, pieces: yield* pieces }
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
    results.rows.map((row) => [row.case, row.min.toFixed(0), row.median.toFixed(0)])
  )
  printTable(
    `Where it goes: each piece alone, over the fiber a request runs in (CPU µs per request, ${requests} × ${repeats}, concurrency 32)`,
    ["piece", "min µs", "median µs"],
    results.pieces.map((row) => [row.case, row.min.toFixed(1), row.median.toFixed(1)])
  )
  writeJson("overhead", results)
}

if (import.meta.url === `file://${process.argv[1]}`) await run()
