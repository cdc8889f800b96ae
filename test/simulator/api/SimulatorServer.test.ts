import Anthropic from "@anthropic-ai/sdk"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
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
})
