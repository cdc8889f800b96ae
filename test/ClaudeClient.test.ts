import { describe, expect, it } from "@effect/vitest"
import type { Context } from "effect"
import {
  Cause,
  ConfigProvider,
  Duration,
  Effect,
  Exit,
  Fiber,
  HashMap,
  Inspectable,
  Layer,
  Metric,
  MetricLabel,
  Option,
  Redacted,
  TestClock,
  Tracer
} from "effect"
import * as Admission from "../src/Admission.js"
import * as CircuitBreaker from "../src/CircuitBreaker.js"
import * as ClaudeClient from "../src/ClaudeClient.js"
import type * as ClaudeError from "../src/ClaudeError.js"
import type * as Messages from "../src/Messages.js"
import * as RateLimitState from "../src/RateLimitState.js"
import type * as RetryPolicy from "../src/RetryPolicy.js"
import * as Scripted from "../src/testing/ScriptedHttpClient.js"
import { captureLogs } from "./support/logs.js"

const apiKey = "sk-ant-test-0123456789-SECRET"

const pool = "claude-sonnet-4.x"

const params: Messages.CreateMessageParams = {
  model: "claude-sonnet-4-6",
  max_tokens: 256,
  messages: [{ role: "user", content: "Say hello" }]
}

const layer = (
  script: ReadonlyArray<Scripted.Step>,
  options: Partial<ClaudeClient.Options> & {
    readonly breaker?: CircuitBreaker.Options
    readonly admission?: Admission.Options
  } = {}
) =>
  ClaudeClient.layerWithoutDependencies({ apiKey: Redacted.make(apiKey), ...options }).pipe(
    Layer.provideMerge(Admission.layer(options.admission ?? {})),
    Layer.provideMerge(Layer.mergeAll(
      Scripted.layer(script),
      RateLimitState.layer,
      CircuitBreaker.layer(options.breaker ?? {})
    ))
  )

/** Sends one message in a fiber, lets virtual time run `horizon`, returns the exit and send times. */
const runTimeline = (horizon: Duration.DurationInput = "30 minutes") =>
  Effect.gen(function*() {
    const client = yield* ClaudeClient.ClaudeClient
    const fiber = yield* Effect.fork(client.createMessage(params))
    yield* TestClock.adjust(horizon)
    const exit = yield* Fiber.await(fiber)
    const times = yield* (yield* Scripted.ScriptedHttpClient).sendTimes
    return { exit, times }
  })

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit) || exit.cause._tag !== "Fail") throw new Error(`expected a failure, got ${exit}`)
  return exit.cause.error
}

describe("ClaudeClient pipeline timelines (TestClock, Random.fixed)", () => {
  it.effect("two 429s with retry-after 2 and 1, then 200: the gate holds the retries exactly 2 s, then 1 s", () =>
    Effect.gen(function*() {
      const { exit, times } = yield* runTimeline()
      expect(Exit.isSuccess(exit)).toBe(true)
      // the retry-after embargoes the pool; the gate releases its queue in order, so no jitter is needed
      expect(times).toEqual([0, 2_000, 3_000])
    }).pipe(
      Effect.provide(layer([
        Scripted.error(429, "rate_limit_error", { headers: { "retry-after": "2" } }),
        Scripted.error(429, "rate_limit_error", { headers: { "retry-after": "1" } }),
        Scripted.message()
      ])),
      Effect.withRandomFixed([0.5])
    ))

  it.effect("429 without retry-after: waits for the exhausted token bucket's reset (12 s), not the requests bucket's (3 s)", () =>
    Effect.gen(function*() {
      const { exit, times } = yield* runTimeline()
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(times).toEqual([0, 12_000])
    }).pipe(
      Effect.provide(layer([
        ({ now }) =>
          Scripted.error(429, "rate_limit_error", {
            headers: {
              ...Scripted.bucketHeaders("requests", { limit: 50, remaining: 0, now, resetIn: "3 seconds" }),
              ...Scripted.bucketHeaders("input-tokens", { limit: 30_000, remaining: 0, now, resetIn: "12 seconds" })
            }
          }),
        Scripted.message()
      ])),
      Effect.withRandomFixed([0.5])
    ))

  it.effect("no headers at all: exponential backoff with full jitter, then MaxRetriesExceededError with the count", () =>
    Effect.gen(function*() {
      const { exit, times } = yield* runTimeline()
      // U = 0.5 of 1 s, 2 s, 4 s, 8 s, 16 s
      expect(times).toEqual([0, 500, 1_500, 3_500, 7_500, 15_500])
      const error = failureOf(exit)
      expect(error._tag).toBe("MaxRetriesExceededError")
      const exceeded = error as RetryPolicy.MaxRetriesExceededError<ClaudeError.ClaudeError>
      expect(exceeded.attempts).toBe(6)
      expect(exceeded.lastError._tag).toBe("ApiError")
    }).pipe(
      // the breaker would open after 5 consecutive failures, and the retry budget stop retries, before the sixth
      Effect.provide(layer(Array.from({ length: 6 }, () => Scripted.error(500, "api_error")), {
        breaker: { failureThreshold: 10 },
        admission: { retryBudget: false }
      })),
      Effect.withRandomFixed([0.5])
    ))

  it.effect("400: one attempt and a typed InvalidRequestError carrying status, type, message and request-id", () =>
    Effect.gen(function*() {
      const { exit, times } = yield* runTimeline()
      expect(times).toEqual([0])
      const error = failureOf(exit)
      expect(error._tag).toBe("InvalidRequestError")
      expect(error).toMatchObject({
        status: 400,
        errorType: "invalid_request_error",
        message: "max_tokens: too large",
        requestId: Option.some("req_scripted_400")
      })
    }).pipe(
      Effect.provide(layer([Scripted.error(400, "invalid_request_error", { message: "max_tokens: too large" })]))
    ))

  it.effect("spend-limit 429: not retried, SpendLimitReachedError", () =>
    Effect.gen(function*() {
      const { exit, times } = yield* runTimeline()
      expect(times).toEqual([0])
      expect(failureOf(exit)._tag).toBe("SpendLimitReachedError")
    }).pipe(
      Effect.provide(layer([
        Scripted.error(429, "rate_limit_error", { details: { error_code: "enforced_spend_limit_reached" } })
      ]))
    ))

  it.effect("a retry-after beyond maxHeaderWait fails at once with RetryWaitTooLongError instead of sleeping", () =>
    Effect.gen(function*() {
      const { exit, times } = yield* runTimeline("1 second")
      expect(times).toEqual([0])
      const error = failureOf(exit) as RetryPolicy.RetryWaitTooLongError
      expect(error._tag).toBe("RetryWaitTooLongError")
      expect(Duration.toSeconds(error.wait)).toBe(3600)
      expect(error.rule).toBe("retry-after")
      expect(error.attempts).toBe(1)
    }).pipe(
      Effect.provide(layer([Scripted.error(429, "rate_limit_error", { headers: { "retry-after": "3600" } })]))
    ))

  it.effect("retry-after: 999999 (beyond the plausibility cap): one send, RetryWaitTooLongError, the circuit stays closed", () =>
    Effect.gen(function*() {
      const { exit, times } = yield* runTimeline()
      expect(times).toEqual([0])
      const error = failureOf(exit) as RetryPolicy.RetryWaitTooLongError
      expect(error._tag).toBe("RetryWaitTooLongError")
      expect(error.wait).toEqual(Duration.seconds(999_999))
      expect(error.rule).toBe("retry-after")
      const breaker = yield* CircuitBreaker.CircuitBreaker
      expect((yield* breaker.state)._tag).toBe("Closed")
    }).pipe(
      Effect.provide(layer([Scripted.error(429, "rate_limit_error", { headers: { "retry-after": "999999" } })], {
        breaker: { failureThreshold: 2 }
      })),
      Effect.withRandomFixed([0.5])
    ))

  it.effect("x-should-retry overrides the status both ways", () =>
    Effect.gen(function*() {
      const { exit, times } = yield* runTimeline()
      // a 500 the server says not to retry fails at once
      expect(times).toEqual([0])
      expect(failureOf(exit)._tag).toBe("ApiError")
      const client = yield* ClaudeClient.ClaudeClient
      const second = yield* Effect.fork(client.createMessage(params))
      yield* TestClock.adjust("1 minute")
      expect(Exit.isSuccess(yield* Fiber.await(second))).toBe(true)
      // then a 418 the server says to retry is retried (the second call starts when the first timeline ended, at 30 min)
      expect(yield* (yield* Scripted.ScriptedHttpClient).sendTimes).toEqual([0, 1_800_000, 1_800_500])
    }).pipe(
      Effect.provide(layer([
        Scripted.error(500, "api_error", { headers: { "x-should-retry": "false" } }),
        Scripted.error(418, "teapot_error", { headers: { "x-should-retry": "true" } }),
        Scripted.message()
      ])),
      Effect.withRandomFixed([0.5])
    ))

  it.effect("malformed rate-limit headers never fail a request", () =>
    Effect.gen(function*() {
      const { exit, times } = yield* runTimeline()
      expect(times).toEqual([0, 500])
      expect(Exit.isSuccess(exit)).toBe(true)
      const state = yield* RateLimitState.RateLimitState
      const snapshot = Option.getOrThrow(yield* state.get(pool))
      expect(snapshot.malformed).toContain("anthropic-ratelimit-requests-remaining")
    }).pipe(
      Effect.provide(layer([
        Scripted.error(529, "overloaded_error", {
          headers: {
            "retry-after": "soon",
            "retry-after-ms": "-5",
            "anthropic-ratelimit-requests-limit": "NaN",
            "anthropic-ratelimit-requests-reset": "yesterday"
          }
        }),
        Scripted.message({
          headers: {
            "anthropic-ratelimit-requests-remaining": "-1",
            "anthropic-ratelimit-tokens-limit": "1e400",
            "x-should-retry": "maybe"
          }
        })
      ])),
      Effect.withRandomFixed([0.5])
    ))

  it.effect("bodies that are not JSON still yield the right typed error: 502 HTML is retried, 413 text is not", () =>
    Effect.gen(function*() {
      const { exit, times } = yield* runTimeline()
      expect(times).toEqual([0, 500])
      const error = failureOf(exit)
      expect(error._tag).toBe("RequestTooLargeError")
      expect(error).toMatchObject({ status: 413, errorType: "request_too_large" })
    }).pipe(
      Effect.provide(layer([
        { status: 502, body: "<html><body>Bad Gateway</body></html>" },
        { status: 413, body: "Request Entity Too Large" }
      ])),
      Effect.withRandomFixed([0.5])
    ))

  it.effect("a dropped connection and a slow answer are retried as ConnectionError and TimeoutError", () =>
    Effect.gen(function*() {
      const { exit, times } = yield* runTimeline()
      expect(Exit.isSuccess(exit)).toBe(true)
      // attempt 2 starts 0.5 s after the reset; it times out at 30 s; attempt 3 waits U × 2 s = 1 s more
      expect(times).toEqual([0, 500, 31_500])
    }).pipe(
      Effect.provide(layer([
        { disconnect: true },
        { ...Scripted.message(), latency: "5 minutes" },
        Scripted.message()
      ], { timeout: "30 seconds" })),
      Effect.withRandomFixed([0.5])
    ))
})

describe("ClaudeClient state, breaker and requests", () => {
  it.effect("sends the documented request: URL, x-api-key, anthropic-version, JSON body", () =>
    Effect.gen(function*() {
      const client = yield* ClaudeClient.ClaudeClient
      const message = yield* client.createMessage(params)
      expect(message.content).toEqual([{ type: "text", text: "Hello!" }])
      const [request] = yield* (yield* Scripted.ScriptedHttpClient).requests
      expect(request?.method).toBe("POST")
      expect(request?.url).toBe("https://api.example.test/v1/messages")
      expect(request?.headers["x-api-key"]).toBe(apiKey)
      expect(request?.headers["anthropic-version"]).toBe("2023-06-01")
      expect(request?.headers["anthropic-beta"]).toBe("token-efficient-tools-2025-02-19")
      expect(request?.body).toEqual(params)
      const count = yield* client.countTokens({ model: params.model, messages: params.messages })
      expect(count.input_tokens).toBe(14)
    }).pipe(Effect.provide(layer([Scripted.message(), { body: { input_tokens: 14 } }], {
      baseUrl: "https://api.example.test/",
      betas: ["token-efficient-tools-2025-02-19"]
    }))))

  it.effect("every response, success or error, updates the pool's RateLimitState", () =>
    Effect.gen(function*() {
      const client = yield* ClaudeClient.ClaudeClient
      const state = yield* RateLimitState.RateLimitState
      yield* Effect.exit(client.createMessage(params))
      const afterError = Option.getOrThrow(yield* state.get(pool))
      expect(afterError.requests.remaining).toEqual(Option.some(7))
      yield* client.createMessage(params)
      const afterSuccess = Option.getOrThrow(yield* state.get(pool))
      expect(afterSuccess.requests.remaining).toEqual(Option.some(48))
      expect(HashMap.size(yield* state.current)).toBe(1)
    }).pipe(Effect.provide(layer([
      ({ now }) =>
        Scripted.error(400, "invalid_request_error", {
          headers: Scripted.bucketHeaders("requests", { limit: 50, remaining: 7, now, resetIn: "10 seconds" })
        }),
      ({ now }) =>
        Scripted.message({
          headers: Scripted.bucketHeaders("requests", { limit: 50, remaining: 48, now, resetIn: "1 second" })
        })
    ]))))

  it.effect("admission: with 2 of 60 requests left, the next request waits for its share of refill (1.5 s)", () =>
    Effect.gen(function*() {
      const client = yield* ClaudeClient.ClaudeClient
      yield* client.createMessage(params)
      const fiber = yield* Effect.fork(client.createMessage(params))
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(fiber)
      // reserve = 5 % of 60 = 3 requests; the request needs the level at 4: (4 - 2.5) / (1 per s) = 1.5 s
      // (the level is 2.5: `remaining: 2`, and a reset 57.5 s away)
      expect(yield* (yield* Scripted.ScriptedHttpClient).sendTimes).toEqual([0, 1_500])
    }).pipe(Effect.provide(layer([
      ({ now }) =>
        Scripted.message({
          headers: Scripted.bucketHeaders("requests", { limit: 60, remaining: 2, now, resetIn: "57.5 seconds" })
        }),
      Scripted.message()
    ]))))

  it.effect("an open breaker fails fast with CircuitOpenError and sends nothing", () =>
    Effect.gen(function*() {
      const client = yield* ClaudeClient.ClaudeClient
      const first = yield* Effect.exit(client.createMessage(params))
      const second = yield* Effect.exit(client.createMessage(params))
      expect(failureOf(first)._tag).toBe("OverloadedError")
      const rejected = failureOf(second)
      expect(rejected._tag).toBe("CircuitOpenError")
      expect(Duration.toSeconds((rejected as CircuitBreaker.CircuitOpenError).remaining)).toBe(60)
      expect((yield* (yield* Scripted.ScriptedHttpClient).requests).length).toBe(1)
    }).pipe(Effect.provide(layer([Scripted.error(529, "overloaded_error")], {
      retry: false,
      breaker: { failureThreshold: 1 }
    }))))

  it.effect("a request the open breaker refuses gives its reserved budget back", () =>
    Effect.gen(function*() {
      const client = yield* ClaudeClient.ClaudeClient
      yield* Effect.exit(client.createMessage(params)) // 529: the circuit opens for 1 s
      for (let i = 0; i < 3; i++) {
        expect(failureOf(yield* Effect.exit(client.createMessage(params)))._tag).toBe("CircuitOpenError")
      }
      yield* TestClock.adjust("1 second")
      const probe = yield* Effect.fork(client.createMessage(params))
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(probe)
      // 8 of 50 left, reserve 5: the probe may go at once. Had the three refused requests kept
      // their reservations, the level would be 5.83 and it would wait 0.2 s for the sixth request.
      expect(yield* (yield* Scripted.ScriptedHttpClient).sendTimes).toEqual([0, 1_000])
    }).pipe(Effect.provide(layer([
      ({ now }) =>
        Scripted.error(529, "overloaded_error", {
          headers: Scripted.bucketHeaders("requests", { limit: 50, remaining: 8, now, resetIn: "50 seconds" })
        }),
      Scripted.message()
    ], { retry: false, breaker: { failureThreshold: 1, cooldown: "1 second" } }))))

  it.effect("invalid parameters are a RequestValidationError with a short message, and nothing is sent", () =>
    Effect.gen(function*() {
      const client = yield* ClaudeClient.ClaudeClient
      const exit = yield* Effect.exit(client.createMessage({ ...params, max_tokens: -1 }))
      expect(failureOf(exit)).toMatchObject({
        _tag: "RequestValidationError",
        message: "Invalid request parameters (nothing was sent): max_tokens: Expected a positive number, actual -1",
        issues: [{ path: "max_tokens", message: "Expected a positive number, actual -1" }]
      })
      expect((yield* (yield* Scripted.ScriptedHttpClient).requests).length).toBe(0)
    }).pipe(Effect.provide(layer([]))))

  it.effect("a 200 whose body is not a Message is a MalformedResponseError, not retried", () =>
    Effect.gen(function*() {
      const client = yield* ClaudeClient.ClaudeClient
      const exit = yield* Effect.exit(client.createMessage(params))
      expect(failureOf(exit)).toMatchObject({ _tag: "MalformedResponseError", status: 200, body: "not json" })
    }).pipe(Effect.provide(layer([{ status: 200, body: "not json" }]))))
})

describe("ClaudeClient secrets", () => {
  it.effect("the API key never appears in logs, errors or spans", () =>
    Effect.gen(function*() {
      const spans: Array<RecordingSpan> = []
      const tracer = Tracer.make({
        span: (name, parent, context, links, startTime, kind) => {
          const recorded = new RecordingSpan(name, parent, context, links, startTime, kind)
          spans.push(recorded)
          return recorded
        },
        context: (f) => f()
      })
      const [exit, logs] = yield* captureLogs(
        Effect.gen(function*() {
          const client = yield* ClaudeClient.ClaudeClient
          const fiber = yield* Effect.fork(Effect.exit(client.createMessage(params)))
          yield* TestClock.adjust("10 minutes")
          return yield* Fiber.join(fiber)
        }).pipe(Effect.withTracer(tracer))
      )
      expect(failureOf(exit)._tag).toBe("AuthenticationError")
      const everything = [
        JSON.stringify(logs),
        Inspectable.format(exit),
        JSON.stringify(exit),
        Exit.isFailure(exit) ? Cause.pretty(exit.cause) : "",
        JSON.stringify(spans.map((span) => [span.name, Object.fromEntries(span.attributes)]))
      ].join("\n")
      const call = spans.find((span) => span.name === "ClaudeClient.createMessage")
      expect(call?.attributes.get("claude.attempts")).toBe(3)
      expect(call?.attributes.get("claude.pool")).toBe("claude-sonnet-4.x")
      expect(spans.filter((span) => span.name === "ClaudeClient.createMessage.attempt")).toHaveLength(3)
      expect(logs.some((line) => line.annotations["error"] === "ConnectionError")).toBe(true)
      expect(everything).not.toContain(apiKey)
      expect(everything).not.toContain("SECRET")
    }).pipe(
      Effect.provide(layer([
        Scripted.error(429, "rate_limit_error", { headers: { "retry-after": "1" } }),
        { disconnect: true },
        Scripted.error(401, "authentication_error", { message: "invalid x-api-key" })
      ])),
      Effect.withRandomFixed([0.5])
    ))

  it.effect("the call's span and metrics use OpenTelemetry's GenAI names", () =>
    Effect.gen(function*() {
      const spans: Array<RecordingSpan> = []
      const tracer = Tracer.make({
        span: (name, parent, context, links, startTime, kind) => {
          const recorded = new RecordingSpan(name, parent, context, links, startTime, kind)
          spans.push(recorded)
          return recorded
        },
        context: (f) => f()
      })
      const usage = Metric.taggedWithLabels(
        ClaudeClient.tokenUsage,
        [
          MetricLabel.make("gen_ai.system", "anthropic"),
          MetricLabel.make("gen_ai.operation.name", "chat"),
          MetricLabel.make("gen_ai.request.model", "claude-sonnet-4-6"),
          MetricLabel.make("gen_ai.token.type", "output")
        ]
      )
      const before = (yield* Metric.value(usage)).count
      const client = yield* ClaudeClient.ClaudeClient
      yield* client.createMessage(params).pipe(Effect.withTracer(tracer))
      const call = spans.find((span) => span.name === "ClaudeClient.createMessage")!
      expect(Object.fromEntries(call.attributes)).toMatchObject({
        "gen_ai.system": "anthropic",
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "claude-sonnet-4-6",
        "gen_ai.request.max_tokens": 256,
        "gen_ai.usage.input_tokens": 10,
        "gen_ai.usage.output_tokens": 5,
        "claude.attempts": 1
      })
      expect((yield* Metric.value(usage)).count).toBe(before + 1)
    }).pipe(Effect.provide(layer([Scripted.message({ inputTokens: 10, outputTokens: 5 })]))))

  it.effect("a ConnectionError does not carry the request, so serialising it cannot leak the key", () =>
    Effect.gen(function*() {
      const client = yield* ClaudeClient.ClaudeClient
      const error = failureOf(yield* Effect.exit(client.createMessage(params)))
      expect(error._tag).toBe("ConnectionError")
      expect(JSON.stringify(error)).not.toContain(apiKey)
      expect(Inspectable.format(error)).not.toContain(apiKey)
      expect(String(error)).not.toContain(apiKey)
    }).pipe(Effect.provide(layer([{ disconnect: true }], { retry: false }))))

  it.effect("layerConfig reads ANTHROPIC_API_KEY as Redacted and ANTHROPIC_BASE_URL", () =>
    Effect.gen(function*() {
      const options = yield* ClaudeClient.config
      expect(Redacted.isRedacted(options.apiKey)).toBe(true)
      expect(String(options.apiKey)).not.toContain(apiKey)
      expect(options.baseUrl).toBe("http://127.0.0.1:9999")
      expect(options.retry).toEqual({ maxRetries: 2 })
      const client = yield* ClaudeClient.ClaudeClient.pipe(
        Effect.provide(ClaudeClient.layerConfig.pipe(Layer.provide(Scripted.layer([]))))
      )
      expect(client[ClaudeClient.TypeId]).toBe(ClaudeClient.TypeId)
      const missing = yield* Effect.exit(
        ClaudeClient.config.pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map())))
      )
      expect(Exit.isFailure(missing)).toBe(true)
    }).pipe(Effect.withConfigProvider(ConfigProvider.fromMap(
      new Map([
        ["ANTHROPIC_API_KEY", apiKey],
        ["ANTHROPIC_BASE_URL", "http://127.0.0.1:9999"],
        ["ANTHROPIC_MAX_RETRIES", "2"]
      ])
    ))))
})

class RecordingSpan implements Tracer.Span {
  readonly _tag = "Span"
  readonly spanId = Math.random().toString(16).slice(2)
  readonly traceId = "trace"
  readonly sampled = true
  status: Tracer.SpanStatus
  readonly attributes = new Map<string, unknown>()
  readonly events: Array<[string, bigint, Record<string, unknown>]> = []
  constructor(
    readonly name: string,
    readonly parent: Option.Option<Tracer.AnySpan>,
    readonly context: Context.Context<never>,
    readonly links: ReadonlyArray<Tracer.SpanLink>,
    startTime: bigint,
    readonly kind: Tracer.SpanKind
  ) {
    this.status = { _tag: "Started", startTime }
  }
  end(endTime: bigint, exit: Exit.Exit<unknown, unknown>) {
    this.status = { _tag: "Ended", startTime: this.status.startTime, endTime, exit }
    // what an exporter sends for a failed span: the pretty cause
    if (Exit.isFailure(exit)) this.attributes.set("exception", Cause.pretty(exit.cause))
  }
  attribute(key: string, value: unknown) {
    this.attributes.set(key, value)
  }
  event(name: string, startTime: bigint, attributes?: Record<string, unknown>) {
    this.events.push([name, startTime, attributes ?? {}])
    this.attributes.set(`event:${name}`, attributes)
  }
  addLinks(links: ReadonlyArray<Tracer.SpanLink>) {
    void links
  }
}
