// CPU per operation of the pieces of a request, to see where the library's overhead goes.
import * as Headers from "@effect/platform/Headers"
import { Effect, Exit, Layer, Scope } from "effect"
import { Schema } from "effect"
import * as Admission from "../src/Admission.js"
import * as CircuitBreaker from "../src/CircuitBreaker.js"
import * as ClaudeError from "../src/ClaudeError.js"
import * as BodyDecoder from "../src/internal/bodyDecoder.js"
import * as GenAi from "../src/internal/genAiTelemetry.js"
import * as Messages from "../src/Messages.js"
import * as RateLimitHeaders from "../src/RateLimitHeaders.js"
import * as RateLimitState from "../src/RateLimitState.js"
import * as RetryPolicy from "../src/RetryPolicy.js"

const n = 20_000
const reset = new Date(Date.now() + 1_000).toISOString().replace(/\.\d+Z$/, "Z")
const raw = {
  "content-type": "application/json",
  "request-id": "req_1",
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
const headers = Headers.fromInput(raw)
const params = {
  model: "claude-sonnet-4-6",
  max_tokens: 256,
  messages: [{ role: "user" as const, content: "Say hello in one short sentence." }]
}
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
const encode = Schema.encodeUnknownEither(Messages.CreateMessageParams, Messages.encodeOptions)
const decodeMessage = BodyDecoder.json(Messages.Message)

const time = (name: string, f: () => Effect.Effect<unknown, unknown>) =>
  Effect.gen(function*() {
    for (let i = 0; i < 2000; i++) yield* f()
    const start = process.cpuUsage()
    for (let i = 0; i < n; i++) yield* f()
    const used = process.cpuUsage(start)
    console.log(`${name.padEnd(40)} ${((used.user + used.system) / n).toFixed(1)} µs`)
  })

Effect.runPromise(
  Effect.gen(function*() {
    const admission = yield* Admission.Admission
    const breaker = yield* CircuitBreaker.CircuitBreaker
    const state = yield* RateLimitState.RateLimitState
    const snapshot = RateLimitHeaders.decodeAt(
      headers,
      (yield* Effect.map(Effect.void, () => null), RateLimitHeaders.RateLimitSnapshot.empty as any)
        && RateLimitHeaders.decodeAt(headers, new Date() as any) as any
    )
    yield* time("Effect.void", () => Effect.void)
    yield* time("RateLimitHeaders.decode (full set)", () => RateLimitHeaders.decode(headers))
    yield* time(
      "encode params + JSON.stringify",
      () => Effect.sync(() => JSON.stringify((encode(params) as any).right))
    )
    yield* time("decode Message body", () => Effect.sync(() => decodeMessage(body)))
    yield* time("withSpan", () => Effect.withSpan(Effect.void, "x"))
    yield* time("withSpan no stack", () => Effect.withSpan(Effect.void, "x", { captureStackTrace: false }))
    yield* time("timeoutFail", () => Effect.timeoutFail(Effect.void, { duration: "10 minutes", onTimeout: () => 1 }))
    yield* time("Scope.make+close", () => Effect.flatMap(Scope.make(), (s) => Scope.close(s, Exit.void)))
    yield* time("breaker.check", () => breaker.check)
    yield* time("breaker.protect(void)", () => breaker.protect(Effect.void))
    const retry = RetryPolicy.retry({})
    yield* time("RetryPolicy.retry(void)", () => retry(Effect.void))
    yield* time("admit+complete(NotSent)", () =>
      Effect.scoped(
        Effect.flatMap(admission.admit({ pool: "p", cost: { requests: 1, inputTokens: 10, outputTokens: 10 } }), (t) =>
          t.complete(Admission.Outcome.NotSent()))
      ))
    const snap = yield* RateLimitHeaders.decode(headers)
    yield* time("admit+complete(Served)", () =>
      Effect.scoped(
        Effect.flatMap(admission.admit({ pool: "p", cost: { requests: 1, inputTokens: 10, outputTokens: 10 } }), (t) =>
          t.complete(
            Admission.Outcome.Served({
              rateLimits: snap,
              usage: { inputTokens: 10, outputTokens: 10 },
              streamed: false
            })
          ))
      ))
    yield* time("rateLimitState.update", () => state.update("p", snap))
    yield* time("admission.outputEstimate", () => admission.outputEstimate("p", 256))
    const attrs = { "gen_ai.request.model": "claude-sonnet-4-6", "gen_ai.operation.name": "chat" }
    yield* time("GenAi.recordUsage", () => GenAi.recordUsage(attrs, { inputTokens: 1, outputTokens: 2 }))
    yield* time("GenAi.recordDuration", () => GenAi.recordDuration(attrs, 0.1, undefined))
    yield* time("Messages.estimateInputTokens", () => Effect.sync(() => Messages.estimateInputTokens(params)))
    void snapshot
    void ClaudeError
  }).pipe(
    Effect.provide(
      Layer.mergeAll(
        Admission.layer({
          limits: { p: { requestsPerMinute: 1e9, inputTokensPerMinute: 1e12, outputTokensPerMinute: 1e12 } }
        }).pipe(Layer.provideMerge(RateLimitState.layer)),
        CircuitBreaker.layer()
      )
    ),
    Effect.scoped
  )
)
