import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer, TestClock } from "effect"
import * as Admission from "../src/Admission.js"
import * as ClaudeHttpClient from "../src/ClaudeHttpClient.js"
import * as Scripted from "../src/testing/ScriptedHttpClient.js"

// The pipeline around a client that speaks the API itself (an SDK's), under TestClock.

const services = ClaudeHttpClient.layerServices({
  admission: { limits: { "claude-sonnet-4.x": { requestsPerMinute: 600 } } }
})

const transformed = Effect.gen(function*() {
  const transform = yield* ClaudeHttpClient.transform()
  return transform(yield* HttpClient.HttpClient)
})

const messages = (body: Record<string, unknown>) =>
  HttpClientRequest.post("https://api.example.test/v1/messages").pipe(
    HttpClientRequest.bodyUnsafeJson({
      model: "claude-sonnet-4-6",
      max_tokens: 100,
      messages: [{ role: "user", content: "hi" }],
      ...body
    })
  )

const layer = (script: ReadonlyArray<Scripted.Step>) => Layer.mergeAll(services, Scripted.layer(script))

describe("ClaudeHttpClient.transform", () => {
  it.effect("retries a 429 at the gate and hands on the success as the API gave it", () =>
    Effect.gen(function*() {
      const client = yield* transformed
      const fiber = yield* Effect.fork(Effect.flatMap(client.execute(messages({})), (response) => response.json))
      yield* TestClock.adjust("10 seconds")
      const body = yield* Fiber.join(fiber)
      expect(body).toMatchObject({ type: "message", content: [{ type: "text", text: "Hello!" }] })
      expect(yield* (yield* Scripted.ScriptedHttpClient).sendTimes).toEqual([0, 2_000])
    }).pipe(Effect.provide(layer([
      Scripted.error(429, "rate_limit_error", { headers: { "retry-after": "2" } }),
      Scripted.message()
    ]))))

  it.effect("when retries run out, the last error answer is handed on as is (the SDK raises its own error)", () =>
    Effect.gen(function*() {
      const client = yield* transformed
      const fiber = yield* Effect.fork(client.execute(messages({})))
      yield* TestClock.adjust("10 minutes")
      const response = yield* Fiber.join(fiber)
      expect(response.status).toBe(400)
      expect(yield* response.json).toMatchObject({ error: { type: "invalid_request_error" } })
    }).pipe(Effect.provide(layer([Scripted.error(400, "invalid_request_error")]))))

  it.effect("a stream whose first attempt fails before any content is retried; the reader sees one clean stream", () =>
    Effect.gen(function*() {
      const client = yield* transformed
      const fiber = yield* Effect.fork(
        Effect.flatMap(client.execute(messages({ stream: true })), (response) => response.text)
      )
      yield* TestClock.adjust("1 minute")
      const text = yield* Fiber.join(fiber)
      expect(text.match(/event: message_start/g)).toHaveLength(1)
      expect(text).toContain("event: message_stop")
      expect(text).not.toContain("event: error")
    }).pipe(
      Effect.provide(layer([
        { events: Scripted.streamEvents({ errorAfter: 0 }) },
        { events: Scripted.streamEvents() }
      ])),
      Effect.withRandomFixed([0.5])
    ))

  it.effect("an error after content is passed on as the API's event: error", () =>
    Effect.gen(function*() {
      const client = yield* transformed
      const text = yield* Effect.flatMap(client.execute(messages({ stream: true })), (response) => response.text)
      expect(text).toContain("Hello")
      expect(text).toContain("event: error")
      expect(text).toContain("api_error")
    }).pipe(Effect.provide(layer([{ events: Scripted.streamEvents({ errorAfter: 2, errorType: "api_error" }) }]))))

  it.effect("a request never answered fails with a RequestError whose cause is the typed error", () =>
    Effect.gen(function*() {
      const client = yield* transformed
      const error = yield* Effect.flip(
        client.execute(messages({ max_tokens: 100, messages: [{ role: "user", content: "x".repeat(400_000) }] }))
      )
      expect(error._tag).toBe("RequestError")
      expect((error.cause as { _tag: string })._tag).toBe("RequestExceedsLimitError")
    }).pipe(Effect.provide(Layer.mergeAll(
      ClaudeHttpClient.layerServices({
        admission: { limits: { "claude-sonnet-4.x": { inputTokensPerMinute: 40_000 } } }
      }),
      Scripted.layer([])
    ))))

  it.effect("other requests pass through untouched", () =>
    Effect.gen(function*() {
      const client = yield* transformed
      const response = yield* client.execute(HttpClientRequest.get("https://api.example.test/v1/models"))
      expect(response.status).toBe(200)
    }).pipe(Effect.provide(layer([{ body: { data: [] } }]))))

  it.effect("a request still relative (the SDK's client adds its base URL inside) is routed and sent", () =>
    Effect.gen(function*() {
      const transform = yield* ClaudeHttpClient.transform()
      const inner = (yield* HttpClient.HttpClient).pipe(
        HttpClient.mapRequest(HttpClientRequest.prependUrl("https://api.example.test"))
      )
      const client = transform(inner)
      const response = yield* client.execute(
        HttpClientRequest.post("/v1/messages").pipe(
          HttpClientRequest.bodyUnsafeJson({ model: "claude-sonnet-4-6", max_tokens: 10, messages: [] })
        )
      )
      expect(response.status).toBe(200)
      const [sent] = yield* (yield* Scripted.ScriptedHttpClient).requests
      expect(sent?.url).toBe("https://api.example.test/v1/messages")
      expect((yield* (yield* Admission.Admission).status("claude-sonnet-4.x")).view.known).toBe(true)
    }).pipe(Effect.provide(layer([Scripted.message()]))))
})
