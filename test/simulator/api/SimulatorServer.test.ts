import Anthropic from "@anthropic-ai/sdk"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import { connect } from "node:net"
import * as ClaudeClient from "../../../src/ClaudeClient.js"
import * as Simulator from "../../../src/simulator/api/Simulator.js"
import type * as SimulatorConfig from "../../../src/simulator/api/SimulatorConfig.js"

// Real time on loopback: short latencies keep these tests quick.
const fast: SimulatorConfig.Options = { latency: { base: "5 millis", perOutputToken: 0, jitter: 0 } }

const serve = <A, E>(
  options: SimulatorConfig.Options,
  body: (server: Simulator.SimulatorServer, simulator: Simulator.Simulator) => Effect.Effect<A, E>
) =>
  Effect.gen(function*() {
    const server = yield* Simulator.SimulatorServer
    const simulator = yield* Simulator.Simulator
    return yield* body(server, simulator)
  }).pipe(Effect.provide(Simulator.layerServer({ ...fast, ...options })))

// A real HTTP client for the whole test body: its dispatcher lives as long as the layer.
const clientLayer = (options: Omit<ClaudeClient.LayerOptions, "apiKey">) =>
  ClaudeClient.layer({ apiKey: Redacted.make("sk-ant-loopback"), ...options }).pipe(
    Layer.provide(NodeHttpClient.layerUndici)
  )

// A raw HTTP/1.1 exchange, for what fetch would refuse to send; the socket closes after the answer.
const raw = (port: number, head: string, body = ""): Promise<string> =>
  new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1")
    let received = ""
    const timer = setTimeout(() => {
      socket.destroy()
      resolve(received)
    }, 10_000)
    socket.on("data", (chunk) => {
      received += chunk.toString()
    })
    socket.on("close", () => {
      clearTimeout(timer)
      resolve(received)
    })
    socket.on("error", reject)
    socket.write(`${head}\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n${body}`)
  })

const statusOf = (response: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? 0)

const params = {
  model: "claude-sonnet-4-6",
  max_tokens: 64,
  messages: [{ role: "user" as const, content: "Hello over loopback" }]
}

describe("Simulator on loopback", () => {
  it.live("listens on 127.0.0.1 and serves ClaudeClient end to end", () =>
    serve({}, (server, simulator) =>
      Effect.gen(function*() {
        expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
        const client = yield* ClaudeClient.ClaudeClient
        const messages = yield* Effect.forEach(Array.from({ length: 5 }), () => client.createMessage(params), {
          concurrency: 5
        })
        expect(messages.every((message) => message.content[0]?.type === "text")).toBe(true)
        const count = yield* client.countTokens({ model: params.model, messages: params.messages })
        // 19 characters at 3.5 a token
        expect(count.input_tokens).toBe(6)
        const stats = yield* simulator.stats
        expect(stats.succeeded).toBe(5)
        expect(stats.tokenCounts).toBe(1)
      }).pipe(Effect.provide(clientLayer({ baseUrl: server.url })))))

  it.live("a dropped connection on a real socket reaches ClaudeClient as a ConnectionError", () =>
    serve({ faults: { connectionResetRate: 1 } }, (server) =>
      Effect.gen(function*() {
        const client = yield* ClaudeClient.ClaudeClient
        const error = yield* Effect.flip(client.createMessage(params))
        expect(error._tag).toBe("ConnectionError")
      }).pipe(Effect.provide(clientLayer({ baseUrl: server.url, retry: false })))))

  it.live("the official @anthropic-ai/sdk reads our messages and rate-limit headers", () =>
    serve({ limits: { requestsPerMinute: 2 } }, (server) =>
      Effect.promise(async () => {
        const anthropic = new Anthropic({ apiKey: "sk-ant-sdk-test", baseURL: server.url, maxRetries: 0 })
        const { data, response } = await anthropic.messages.create(params).withResponse()
        expect(data.type).toBe("message")
        expect(data.content[0]?.type).toBe("text")
        expect(data.usage.input_tokens).toBeGreaterThan(0)
        expect(response.headers.get("anthropic-ratelimit-requests-limit")).toBe("2")
        expect(response.headers.get("anthropic-ratelimit-requests-remaining")).toBe("1")
        const counted = await anthropic.messages.countTokens({ model: params.model, messages: params.messages })
        expect(counted.input_tokens).toBe(6)
      })))

  it.live("the official SDK decodes our 429 as its RateLimitError, with retry-after and request id", () =>
    serve({ limits: { requestsPerMinute: 1 } }, (server) =>
      Effect.promise(async () => {
        const anthropic = new Anthropic({ apiKey: "sk-ant-sdk-test", baseURL: server.url, maxRetries: 0 })
        await anthropic.messages.create(params)
        const error = await anthropic.messages.create(params).then(
          () => undefined,
          (e: unknown) => e
        )
        expect(error).toBeInstanceOf(Anthropic.RateLimitError)
        const rateLimited = error as InstanceType<typeof Anthropic.RateLimitError>
        expect(rateLimited.status).toBe(429)
        expect(rateLimited.headers.get("retry-after")).toBe("60")
        expect(rateLimited.headers.get("anthropic-ratelimit-requests-remaining")).toBe("0")
        expect(rateLimited.requestID).toMatch(/^req_sim_/)
        expect(rateLimited.error).toMatchObject({ type: "error", error: { type: "rate_limit_error" } })
      })))

  it.live("the official SDK decodes our 529 as an overloaded server error", () =>
    serve({ faults: { overloadedRate: 1 } }, (server) =>
      Effect.promise(async () => {
        const anthropic = new Anthropic({ apiKey: "k", baseURL: server.url, maxRetries: 0 })
        const error = await anthropic.messages.create(params).then(() => undefined, (e: unknown) => e)
        expect(error).toBeInstanceOf(Anthropic.InternalServerError)
        expect((error as InstanceType<typeof Anthropic.APIError>).status).toBe(529)
        expect((error as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({
          error: { type: "overloaded_error" }
        })
      })))

  it.live("a port already in use is a typed ServeError", () =>
    serve({}, (server) =>
      Effect.gen(function*() {
        const clash = yield* Effect.flip(Layer.build(Simulator.layerServer({ port: server.port })).pipe(Effect.scoped))
        expect(clash._tag).toBe("ServeError")
      })))

  it.live("the official SDK's messages.stream() and finalMessage() consume our SSE", () =>
    serve(
      { latency: { base: "5 millis", perOutputToken: "1 millis", jitter: 0 }, output: { min: 1, max: 1 } },
      (server) =>
        Effect.promise(async () => {
          const anthropic = new Anthropic({ apiKey: "sk-ant-sdk-test", baseURL: server.url, maxRetries: 0 })
          const deltas: Array<string> = []
          const stream = anthropic.messages.stream({ ...params, max_tokens: 40 })
          stream.on("text", (text) => deltas.push(text))
          const final = await stream.finalMessage()
          expect(final.type).toBe("message")
          expect(final.stop_reason).toBe("max_tokens")
          expect(final.usage.output_tokens).toBe(40)
          expect(deltas.length).toBe(10)
          expect(deltas.join("")).toBe((final.content[0] as { text: string }).text)
          const stats = await (await fetch(server.statsUrl)).json()
          expect(stats).toMatchObject({ streams: 1, succeeded: 1, outputTokens: 40, inFlight: 0 })
        })
    ))

  it.live("the SDK sees an event: error inside a 200 stream as an API error", () =>
    serve({ faults: { stream: { errorMidStreamRate: 1, afterDeltas: 2 } } }, (server) =>
      Effect.promise(async () => {
        const anthropic = new Anthropic({ apiKey: "k", baseURL: server.url, maxRetries: 0 })
        const error = await anthropic.messages.stream(params).finalMessage().then(() => undefined, (e: unknown) => e)
        expect(error).toBeInstanceOf(Anthropic.APIError)
        expect(String(error)).toContain("overloaded_error")
      })))

  it.live("a connection cut mid-stream reaches the SDK as a failure, and the simulator counts it", () =>
    serve({ faults: { stream: { cutRate: 1, afterDeltas: 1 } } }, (server, simulator) =>
      Effect.gen(function*() {
        const error = yield* Effect.promise(() => {
          const anthropic = new Anthropic({ apiKey: "k", baseURL: server.url, maxRetries: 0 })
          return anthropic.messages.stream(params).finalMessage().then(() => undefined, (e: unknown) => e)
        })
        expect(error).toBeInstanceOf(Error)
        expect((yield* simulator.stats).streamCuts).toBe(1)
      })))

  it.live("a body declared over the size limit gets a 413 before it is sent", () =>
    serve({}, (server) =>
      Effect.promise(async () => {
        // 50 MB announced, nothing sent: the answer cannot come from reading it
        const answer = await raw(
          server.port,
          "POST /v1/messages HTTP/1.1\r\nx-api-key: k\r\nanthropic-version: 2023-06-01\r\ncontent-type: application/json\r\ncontent-length: 52428800"
        )
        expect(statusOf(answer)).toBe(413)
        expect(answer).toContain("request_too_large")
      })))

  it.live("a chunked body that grows past the limit stops being read and is refused", () =>
    serve({ maxRequestBytes: 100_000 }, (server, simulator) =>
      Effect.gen(function*() {
        const status = yield* Effect.promise(() =>
          fetch(`${server.url}/v1/messages`, {
            method: "POST",
            headers: { "x-api-key": "k", "anthropic-version": "2023-06-01", "content-type": "application/json" },
            body: new ReadableStream({
              start(controller) {
                for (let i = 0; i < 10; i++) controller.enqueue(new TextEncoder().encode("x".repeat(50_000)))
                controller.close()
              }
            }),
            duplex: "half"
          } as RequestInit).then((response) => response.status, () => 0)
        )
        // a 413, or the connection closed on the sender: never an answer to a half-read body
        expect([413, 0]).toContain(status)
        const stats = yield* simulator.stats
        expect(stats.succeeded).toBe(0)
        expect(stats.clientErrorsByStatus["413"]).toBe(1)
      })))

  it.live("bad request targets are 404 not_found_error, never a 500", () =>
    serve({}, (server) =>
      Effect.promise(async () => {
        const head = (target: string) =>
          `POST ${target} HTTP/1.1\r\nx-api-key: k\r\nanthropic-version: 2023-06-01\r\ncontent-length: 2`
        for (const target of ["//[", "/%zz", "http://example.com/v1/messages", "/v1/messages/%2e%2e/x", "*"]) {
          const answer = await raw(server.port, head(target), "{}")
          expect([target, statusOf(answer)]).toEqual([target, answer.includes("not_found_error") ? 404 : 400])
          expect(answer).not.toContain("api_error")
        }
      })))

  it.live("GET /_simulator/stats is JSON for clients in any language", () =>
    serve({}, (server) =>
      Effect.promise(async () => {
        const anthropic = new Anthropic({ apiKey: "k", baseURL: server.url, maxRetries: 0 })
        await anthropic.messages.create(params)
        const response = await fetch(server.statsUrl)
        expect(response.headers.get("content-type")).toContain("application/json")
        expect(await response.json()).toMatchObject({ requests: 1, succeeded: 1, peakConcurrency: 1 })
      })))
})
