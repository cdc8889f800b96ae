import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Exit, Layer, Option, Redacted } from "effect"
import * as Admission from "../src/Admission.js"
import * as CircuitBreaker from "../src/CircuitBreaker.js"
import * as ClaudeClient from "../src/ClaudeClient.js"
import type * as Messages from "../src/Messages.js"
import * as RateLimitState from "../src/RateLimitState.js"
import * as Scripted from "../src/testing/ScriptedHttpClient.js"

// Requests as the API defines them, and hostile or broken input on both sides of the wire.

const apiKey = "sk-ant-api03-input-test-0123456789-SECRET"

const params: Messages.CreateMessageParams = {
  model: "claude-sonnet-4-6",
  max_tokens: 256,
  messages: [{ role: "user", content: "Say hello" }]
}

const layer = (script: ReadonlyArray<Scripted.Step>, options: Partial<ClaudeClient.Options> = {}) =>
  ClaudeClient.layerWithoutDependencies({ apiKey: Redacted.make(apiKey), retry: false, ...options }).pipe(
    Layer.provideMerge(Admission.layer()),
    Layer.provideMerge(Layer.mergeAll(Scripted.layer(script), RateLimitState.layer, CircuitBreaker.layer({})))
  )

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit) || exit.cause._tag !== "Fail") throw new Error(`expected a failure, got ${exit}`)
  return exit.cause.error
}

const sentRequests = Effect.flatMap(Scripted.ScriptedHttpClient, (recorder) => recorder.requests)

describe("ClaudeClient: fields the schema does not know", () => {
  it.effect("pass through untouched, at the top level and inside known objects", () =>
    Effect.gen(function*() {
      const client = yield* ClaudeClient.ClaudeClient
      const withNewFields: Messages.CreateMessageParams = {
        ...params,
        messages: [{
          role: "user",
          content: [{ type: "text", text: "cite this", citations: [{ type: "char_location" }] }]
        }],
        context_management: { edits: [{ type: "clear_tool_uses_20250919" }] },
        mcp_servers: [{ type: "url", url: "https://mcp.example.test", name: "example" }],
        metadata: { user_id: "u1" },
        stream: false
      }
      yield* client.createMessage(withNewFields)
      yield* client.countTokens({ model: params.model, messages: params.messages, mcp_servers: [] })
      const [create, count] = yield* sentRequests
      expect(create?.body).toEqual(withNewFields)
      expect(count?.body).toEqual({ model: params.model, messages: params.messages, mcp_servers: [] })
    }).pipe(Effect.provide(layer([Scripted.message(), { body: { input_tokens: 3 } }]))))

  it.effect("stream: true is refused before sending (createMessage reads one message, not a stream)", () =>
    Effect.gen(function*() {
      const client = yield* ClaudeClient.ClaudeClient
      const streaming = { ...params, stream: true } as unknown as Messages.CreateMessageParams
      const error = failureOf(yield* Effect.exit(client.createMessage(streaming)))
      expect(error).toMatchObject({ _tag: "RequestValidationError", issues: [{ path: "stream" }] })
      expect(yield* sentRequests).toHaveLength(0)
    }).pipe(Effect.provide(layer([]))))
})

describe("ClaudeClient: hostile or broken parameters are a RequestValidationError, never a defect", () => {
  const cyclic: Record<string, unknown> = { type: "tool_result", tool_use_id: "t1" }
  cyclic.self = cyclic
  const deep = JSON.parse(`${"[".repeat(20_000)}${"]".repeat(20_000)}`)
  const throwingGetter = Object.defineProperty({ type: "image" }, "source", {
    enumerable: true,
    get: () => {
      throw new Error("getter exploded")
    }
  })

  it.effect.each(
    [
      ["a BigInt in an unknown field", { ...params, budget: 10n }, "BigInt"],
      ["a cycle in a block", { ...params, messages: [{ role: "user", content: [cyclic] }] }, "circular"],
      ["nesting deeper than the stack", { ...params, extra: deep }, "call stack"],
      ["nesting deeper than the stack where a string belongs", { ...params, model: deep }, "model: Expected"],
      ["a throwing getter", { ...params, messages: [{ role: "user", content: [throwingGetter] }] }, "getter exploded"],
      ["a BigInt where a number belongs", { ...params, max_tokens: 10n }, "max_tokens"]
    ] as const
  )("%s", ([, hostile, mentions]) =>
    Effect.gen(function*() {
      const client = yield* ClaudeClient.ClaudeClient
      const exit = yield* Effect.exit(client.createMessage(hostile as unknown as Messages.CreateMessageParams))
      const error = failureOf(exit)
      expect(error._tag).toBe("RequestValidationError")
      expect(error.message).toContain("nothing was sent")
      expect(error.message).toContain(mentions)
      expect(error.message.length).toBeLessThan(700)
      expect(yield* sentRequests).toHaveLength(0)
    }).pipe(Effect.provide(layer([]))))
})

describe("ClaudeClient: trace context", () => {
  const headersSent = Effect.gen(function*() {
    const client = yield* ClaudeClient.ClaudeClient
    yield* client.createMessage(params).pipe(Effect.withSpan("caller"))
    const [request] = yield* sentRequests
    return request?.headers ?? {}
  })

  it.effect("no traceparent or b3 goes to the API by default", () =>
    Effect.gen(function*() {
      const headers = yield* headersSent
      expect(headers).not.toHaveProperty("traceparent")
      expect(headers).not.toHaveProperty("b3")
      expect(headers["x-api-key"]).toBe(apiKey)
    }).pipe(Effect.provide(layer([Scripted.message()]))))

  it.effect("tracePropagation: true sends it", () =>
    Effect.gen(function*() {
      const headers = yield* headersSent
      expect(headers).toHaveProperty("traceparent")
      expect(headers).toHaveProperty("b3")
    }).pipe(Effect.provide(layer([Scripted.message()], { tracePropagation: true }))))
})

describe("ClaudeClient: base URL", () => {
  it.effect.each(
    [
      ["not a URL", "api.anthropic.com", "not an absolute URL"],
      ["another scheme", "ftp://api.anthropic.com", "ftp: is not http: or https:"],
      ["credentials", "https://user:pw@proxy.example.test", "credentials"],
      ["a query", "https://proxy.example.test/?team=1", "query or fragment"],
      ["empty", "", "not an absolute URL"]
    ] as const
  )("%s is an InvalidBaseUrlError when the layer is built", ([, baseUrl, reason]) =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Layer.build(layer([], { baseUrl })).pipe(Effect.scoped))
      const error = failureOf(exit)
      expect(error._tag).toBe("InvalidBaseUrlError")
      expect(error.message).toContain(reason)
    }))

  it.effect("a path prefix is kept and trailing slashes dropped", () =>
    Effect.gen(function*() {
      const client = yield* ClaudeClient.ClaudeClient
      yield* client.createMessage(params)
      const [request] = yield* sentRequests
      expect(request?.url).toBe("http://127.0.0.1:8787/anthropic/v1/messages")
    }).pipe(Effect.provide(layer([Scripted.message()], { baseUrl: "http://127.0.0.1:8787/anthropic//" }))))

  const fromEnv = (baseUrl: string) =>
    ClaudeClient.layerConfig.pipe(
      Layer.provide(Scripted.layer([])),
      Layer.build,
      Effect.scoped,
      Effect.exit,
      Effect.withConfigProvider(ConfigProvider.fromMap(
        new Map([["ANTHROPIC_API_KEY", apiKey], ["ANTHROPIC_BASE_URL", baseUrl]])
      ))
    )

  it.effect("layerConfig: an invalid ANTHROPIC_BASE_URL is a ConfigError naming it; a blank one means unset", () =>
    Effect.gen(function*() {
      const invalid = failureOf(yield* fromEnv("localhost:8787"))
      expect(invalid).toMatchObject({ _op: "InvalidData", path: ["ANTHROPIC_BASE_URL"] })
      expect(String(invalid)).toContain("ANTHROPIC_BASE_URL")
      expect(String(invalid)).toContain("localhost: is not http: or https:")
      expect(Exit.isSuccess(yield* fromEnv("  "))).toBe(true)
      const overridden = yield* ClaudeClient.layerConfigWith({ baseUrl: "nope" }).pipe(
        Layer.provide(Scripted.layer([])),
        Layer.build,
        Effect.scoped,
        Effect.exit,
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["ANTHROPIC_API_KEY", apiKey]])))
      )
      expect(String(failureOf(overridden))).toContain("baseUrl")
    }))
})

describe("ClaudeClient: hostile or broken responses", () => {
  it.effect("a 200 nested 100,000 deep is a MalformedResponseError with a bounded message, not a defect", () =>
    Effect.gen(function*() {
      const client = yield* ClaudeClient.ClaudeClient
      const error = failureOf(yield* Effect.exit(client.createMessage(params)))
      expect(error._tag).toBe("MalformedResponseError")
      expect(error.message.length).toBeLessThan(800)
      expect(error.message).toBe("Response body does not match the API schema: content[0].type: is missing")
    }).pipe(Effect.provide(layer([{
      status: 200,
      body: `{"id":"m","type":"message","role":"assistant","model":"x","content":${"[".repeat(100_000)}${
        "]".repeat(100_000)
      },"stop_reason":null,"usage":{"input_tokens":1,"output_tokens":1}}`
    }]))))

  it.effect("a 1 MB error body gives a bounded message; a proxy page echoing the key has it scrubbed", () =>
    Effect.gen(function*() {
      const client = yield* ClaudeClient.ClaudeClient
      const huge = failureOf(yield* Effect.exit(client.createMessage(params)))
      expect(huge._tag).toBe("InvalidRequestError")
      expect(huge.message.length).toBeLessThanOrEqual(1_001)
      const echoed = failureOf(yield* Effect.exit(client.createMessage(params)))
      expect(echoed._tag).toBe("ApiError")
      expect(echoed.message).toContain("x-api-key: [redacted]")
      expect(echoed.message).not.toContain(apiKey)
      expect(echoed.message).not.toContain("SECRET")
      const malformed = failureOf(yield* Effect.exit(client.createMessage(params)))
      expect(malformed._tag).toBe("MalformedResponseError")
      expect(JSON.stringify(malformed)).not.toContain("SECRET")
    }).pipe(Effect.provide(layer([
      Scripted.error(400, "invalid_request_error", { message: "x".repeat(1_000_000) }),
      { status: 502, body: `<html><pre>x-api-key: ${apiKey}\nanthropic-version: 2023-06-01</pre></html>` },
      { status: 200, body: `{"echo":"${apiKey}"}` }
    ]))))

  it.effect("error_code reaches the typed error", () =>
    Effect.gen(function*() {
      const client = yield* ClaudeClient.ClaudeClient
      const error = failureOf(yield* Effect.exit(client.createMessage(params)))
      expect(error).toMatchObject({ _tag: "RateLimitError", errorCode: Option.some("ramp_limit_exceeded") })
    }).pipe(Effect.provide(layer([
      Scripted.error(429, "rate_limit_error", { details: { error_code: "ramp_limit_exceeded" } })
    ]))))
})
