/**
 * The rate-limit pipeline for any `HttpClient` that speaks the Anthropic API
 * itself, such as the one inside `@effect/ai-anthropic` (give it as
 * `transformClient`) or the official SDK's `fetch` (see `ClaudeFetch`).
 *
 * Every `POST /v1/messages` (streaming or not), `/v1/messages/count_tokens`
 * and Message Batches request passes the same gate as `ClaudeClient`'s:
 * admission (its cost estimated from the request body), the circuit breaker,
 * the retry policy, and settlement from the answer's `usage`. A stream is
 * retried only while nothing of it has reached the reader; after that, an
 * `event: error` is passed on as the API sent it, and a cut connection fails
 * the body. When the policy gives up on an error answer (a 429 after its
 * retries, say), that answer is handed on as the API gave it, so the SDK
 * raises its own typed error; a request that was never answered (an open
 * circuit, a wait longer than allowed, a lost connection) fails with a
 * `RequestError` whose `cause` is this library's typed error.
 *
 * Other requests pass through untouched.
 *
 * @since 0.2.0
 */
import * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as Admission from "./Admission.js"
import type * as AdmissionStore from "./AdmissionStore.js"
import * as CircuitBreaker from "./CircuitBreaker.js"
import * as Pipeline from "./internal/pipeline.js"
import * as RateLimitState from "./RateLimitState.js"
import type * as RetryPolicy from "./RetryPolicy.js"

/**
 * @since 0.2.0
 * @category models
 */
export interface Options {
  /** Per-attempt timeout (for a stream: until its first content, then the longest silence between two chunks). Default 10 minutes. */
  readonly timeout?: Duration.DurationInput | undefined
  /** Retry policy options; `false` sends each request once. */
  readonly retry?: RetryPolicy.Options | false | undefined
  /** Which requests share limits. Default: the model's family and version (`Admission.modelPool`). */
  readonly pool?: ((model: string) => string) | undefined
}

const decoder = new TextDecoder()

type Route = "messages" | "count_tokens" | "batches"

const routeOf = (request: HttpClientRequest.HttpClientRequest, url: URL): Route | undefined => {
  const path = url.pathname.replace(/\/+$/, "")
  if (request.method === "POST" && path.endsWith("/v1/messages")) return "messages"
  if (request.method === "POST" && path.endsWith("/v1/messages/count_tokens")) return "count_tokens"
  if (/\/v1\/messages\/batches(\/|$)/.test(path)) return "batches"
  return undefined
}

const bodyJson = (request: HttpClientRequest.HttpClientRequest): Record<string, unknown> | undefined => {
  const body = request.body
  if (body._tag !== "Uint8Array") return undefined
  try {
    const value: unknown = JSON.parse(decoder.decode(body.body))
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? value as Record<string, unknown>
      : undefined
  } catch {
    return undefined
  }
}

// The input a request will count, estimated as the client does: a token per four characters of its content.
const estimateInput = (body: Record<string, unknown>): number => {
  const length = (value: unknown) =>
    value === undefined ? 0 : typeof value === "string" ? value.length : JSON.stringify(value).length
  return Math.ceil((length(body.system) + length(body.messages) + length(body.tools)) / 4)
}

const nonNegative = (value: unknown, fallback: number): number =>
  typeof value === "number" && Number.isFinite(value) && value >= 0 ? value : fallback

// The answer is handed on decoded: headers about the original encoding and length no longer hold.
const responseHeaders = (headers: Headers.Headers): globalThis.Headers => {
  const result = new globalThis.Headers()
  for (const [name, value] of Object.entries(Headers.remove(headers, ["content-encoding", "content-length"]))) {
    result.set(name, value)
  }
  return result
}

const toResponse = (
  request: HttpClientRequest.HttpClientRequest,
  answer: Pipeline.RawAnswer
): Effect.Effect<HttpClientResponse.HttpClientResponse> =>
  answer._tag === "Answer"
    ? Effect.succeed(HttpClientResponse.fromWeb(
      request,
      new Response(answer.body, { status: answer.status, headers: responseHeaders(answer.headers) })
    ))
    : Effect.map(
      Stream.toReadableStreamEffect(answer.body),
      (readable) =>
        HttpClientResponse.fromWeb(
          request,
          new Response(readable, { status: answer.status, headers: responseHeaders(answer.headers) })
        )
    )

/**
 * A transform of `HttpClient`s: the client it returns sends the Anthropic
 * API's requests through the `Admission` gate and the `CircuitBreaker` in
 * context, with the retry policy.
 *
 * @example
 * ```ts
 * import { AnthropicClient } from "@effect/ai-anthropic"
 * import { Effect, Layer, Redacted } from "effect"
 * import { ClaudeHttpClient } from "claude-rate-limiter"
 *
 * const Anthropic = Layer.unwrapEffect(
 *   Effect.map(ClaudeHttpClient.transform(), (transformClient) =>
 *     AnthropicClient.layer({ apiKey: Redacted.make("sk-ant-…"), transformClient }))
 * ).pipe(Layer.provide(ClaudeHttpClient.layerServices()))
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const transform = (
  options: Options = {}
): Effect.Effect<
  (client: HttpClient.HttpClient) => HttpClient.HttpClient,
  never,
  Admission.Admission | CircuitBreaker.CircuitBreaker
> =>
  Effect.gen(function*() {
    const admission = yield* Admission.Admission
    const breaker = yield* CircuitBreaker.CircuitBreaker
    const timeout = Duration.decode(options.timeout ?? Duration.minutes(10))
    const poolOf = options.pool ?? Admission.modelPool
    return (client: HttpClient.HttpClient): HttpClient.HttpClient => {
      const pipeline = Pipeline.make({
        http: client,
        admission,
        breaker,
        timeout,
        retry: options.retry ?? {},
        secrets: []
      })
      const call = (request: HttpClientRequest.HttpClientRequest, route: Route): Effect.Effect<
        readonly [Pipeline.Call, boolean]
      > => {
        const body = bodyJson(request) ?? {}
        if (route !== "messages") {
          return Effect.succeed(
            [{
              name: `ClaudeHttpClient.${route}`,
              request,
              pool: route === "batches" ? "message_batches" : "count_tokens",
              cost: { requests: 1 }
            }, false] as const
          )
        }
        const model = typeof body.model === "string" ? body.model : "unknown"
        const pool = poolOf(model)
        const maxTokens = nonNegative(body.max_tokens, 4_096)
        const inputTokens = estimateInput(body)
        return Effect.map(admission.outputEstimate(pool, maxTokens), (outputTokens) =>
          [{
            name: "ClaudeHttpClient.messages",
            request,
            pool,
            cost: { requests: 1, inputTokens, outputTokens, tokens: inputTokens + outputTokens },
            attributes: {
              "gen_ai.system": "anthropic",
              "gen_ai.operation.name": "chat",
              "gen_ai.request.model": model,
              "gen_ai.request.max_tokens": maxTokens
            }
          }, body.stream === true] as const)
      }
      // `makeWith`, not `make`: the request may still be relative here (an SDK's client adds its base URL inside
      // the client it hands over), so it must not be parsed as a URL before that client has seen it
      return HttpClient.makeWith(
        (prepared: Effect.Effect<HttpClientRequest.HttpClientRequest>) =>
          Effect.flatMap(
            prepared,
            (request): Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError> => {
              const route = routeOf(request, new URL(request.url, "http://relative.invalid"))
              if (route === undefined) return client.execute(request)
              return call(request, route).pipe(
                Effect.flatMap(([call, streamed]) => pipeline.raw(call, streamed)),
                Effect.flatMap((answer) => toResponse(request, answer)),
                Effect.catchAll((error) =>
                  Effect.fail(
                    new HttpClientError.RequestError({
                      request,
                      reason: "Transport",
                      cause: error,
                      description: `${error._tag}: ${error.message}`
                    })
                  )
                )
              )
            }
          ),
        Effect.succeed
      )
    }
  })

/**
 * What {@link transform} needs: an `Admission` gate (over the `AdmissionStore`
 * in context, else one in memory), its `RateLimitState`, and a
 * `CircuitBreaker`, all provided to the caller too.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerServices = (
  options: {
    readonly admission?: Admission.Options | undefined
    readonly circuitBreaker?: CircuitBreaker.Options | false | undefined
  } = {}
): Layer.Layer<
  Admission.Admission | RateLimitState.RateLimitState | CircuitBreaker.CircuitBreaker,
  AdmissionStore.AdmissionStoreError
> =>
  Admission.layer(options.admission).pipe(
    Layer.provideMerge(RateLimitState.layer),
    Layer.merge(
      options.circuitBreaker === false ? CircuitBreaker.layerDisabled : CircuitBreaker.layer(options.circuitBreaker)
    )
  )
