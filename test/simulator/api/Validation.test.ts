import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { defaultHeaders, message, send, stats, withSimulator } from "../support/send.js"

// Validation as the API does it: the right status and error type, never a 500, never a crash.
describe("Simulator validation (in memory)", () => {
  it.effect("an unknown model is a 404 not_found_error naming the model", () =>
    withSimulator(
      {},
      Effect.gen(function*() {
        const answer = yield* send(message("Hi", { model: "claude-imaginary-9" }))
        expect(answer.status).toBe(404)
        expect(answer.body.error).toEqual({ type: "not_found_error", message: "model: claude-imaginary-9" })
      })
    ))

  it.effect("dated aliases and models added by the config are known", () =>
    withSimulator(
      { models: [{ id: "claude-next-1", family: "sonnet", maxOutputTokens: 1_000, contextWindow: 10_000 }] },
      Effect.gen(function*() {
        expect((yield* send(message("Hi", { model: "claude-sonnet-4-5-20250929" }))).status).toBe(200)
        expect((yield* send(message("Hi", { model: "claude-next-1" }))).status).toBe(200)
      })
    ))

  it.effect("max_tokens above the model's maximum is a 400, so 100,000,000 never holds a connection", () =>
    withSimulator(
      { latency: { base: 0, perOutputToken: 0, jitter: 0 } },
      Effect.gen(function*() {
        const huge = yield* send(message("Hi", { max_tokens: 100_000_000 }))
        expect(huge.status).toBe(400)
        expect(huge.body.error.type).toBe("invalid_request_error")
        expect(huge.body.error.message).toContain("64000")
        const haiku35 = yield* send(message("Hi", { model: "claude-3-5-haiku-latest", max_tokens: 8_193 }))
        expect(haiku35.status).toBe(400)
        expect((yield* send(message("Hi", { model: "claude-3-5-haiku-latest", max_tokens: 8_192 }))).status).toBe(200)
      })
    ))

  it.effect("a prompt above the context window is a 400 'prompt is too long'", () =>
    withSimulator(
      { models: [{ id: "claude-tiny", family: "tiny", maxOutputTokens: 100, contextWindow: 1_000 }] },
      Effect.gen(function*() {
        const answer = yield* send(message("x".repeat(3_504), { model: "claude-tiny" }))
        expect(answer.status).toBe(400)
        expect(answer.body.error.message).toBe("prompt is too long: 1002 tokens > 1000 maximum")
      })
    ))

  it.effect("a body over the size limit is a 413 request_too_large, and nothing is charged", () =>
    withSimulator(
      { maxRequestBytes: 10_000 },
      Effect.gen(function*() {
        const answer = yield* send(message("x".repeat(10_000)))
        expect(answer.status).toBe(413)
        expect(answer.body.error.type).toBe("request_too_large")
        const seen = yield* stats
        expect(seen.clientErrorsByStatus).toEqual({ "413": 1 })
        expect(seen.inputTokens).toBe(0)
      })
    ))

  it.effect("deep nesting is a 400, not a stack overflow or a 500", () =>
    withSimulator(
      {},
      Effect.gen(function*() {
        const deepTools =
          `{"model":"claude-sonnet-4-6","max_tokens":10,"messages":[{"role":"user","content":"hi"}],"tools":${
            "[".repeat(20_000)
          }${"]".repeat(20_000)}}`
        const answer = yield* send(deepTools)
        expect(answer.status).toBe(400)
        expect(answer.body.error.message).toContain("nested")
        expect((yield* send(message("Hi", { tools: [[[[]]]] }))).status).toBe(400)
      })
    ))

  it.effect("bad targets and methods are 404 not_found_error", () =>
    withSimulator(
      {},
      Effect.gen(function*() {
        for (const path of ["/v1/complete", "/v1/messages/../x", "/%zz", "//", "/v1/messages?x=%"]) {
          const answer = yield* send(message(), { path })
          if (path === "/v1/messages?x=%") expect(answer.status).toBe(200)
          else expect([path, answer.status, answer.body.error.type]).toEqual([path, 404, "not_found_error"])
        }
        expect((yield* send(null, { method: "GET" })).status).toBe(404)
      })
    ))

  it.effect("unknown fields are tolerated (the API grows), and stream must be a boolean", () =>
    withSimulator(
      {},
      Effect.gen(function*() {
        const answer = yield* send(message("Hi", { context_management: { edits: [] }, mcp_servers: [], future: 1 }))
        expect(answer.status).toBe(200)
        expect((yield* send(message("Hi", { stream: "yes" }))).status).toBe(400)
      })
    ))

  it.effect("both anthropic-version values the SDKs send are accepted; others are a 400", () =>
    withSimulator(
      {},
      Effect.gen(function*() {
        for (const version of ["2023-06-01", "2026-10-21"]) {
          const answer = yield* send(message(), { headers: { ...defaultHeaders, "anthropic-version": version } })
          expect(answer.status).toBe(200)
        }
        const bad = yield* send(message(), { headers: { ...defaultHeaders, "anthropic-version": "1999-01-01" } })
        expect([bad.status, bad.body.error.type]).toEqual([400, "invalid_request_error"])
      })
    ))

  it.effect("schema errors are short and name the field", () =>
    withSimulator(
      {},
      Effect.gen(function*() {
        const answer = yield* send({ model: "claude-sonnet-4-6", max_tokens: -1, messages: [] })
        expect(answer.status).toBe(400)
        expect(answer.body.error.message).toMatch(/^max_tokens/)
        expect(answer.body.error.message.length).toBeLessThan(320)
      })
    ))

  it.effect("generated text is bounded whatever max_tokens a model allows", () =>
    withSimulator(
      {
        models: [{ id: "claude-huge", family: "huge", maxOutputTokens: 10_000_000, contextWindow: 1_000_000 }],
        limits: { outputTokensPerMinute: 100_000_000 },
        output: { min: 1, max: 1 }
      },
      Effect.gen(function*() {
        const answer = yield* send(message("Hi", { model: "claude-huge", max_tokens: 10_000_000 }))
        expect(answer.status).toBe(200)
        expect(answer.body.usage.output_tokens).toBe(10_000_000)
        expect(answer.body.content[0].text.length).toBe(512 * 1024)
      })
    ))
})
