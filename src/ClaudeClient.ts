/**
 * The Claude Messages API over `HttpClient`, with the whole rate-limit
 * pipeline around every request:
 *
 * ```
 * proactive wait ─▶ circuit breaker ─▶ HTTP ─▶ decode headers ─▶ update state ─▶ classify
 *       ▲                                                                          │
 *       └───────────────────────────── retry schedule ◀────────────────────────────┘
 * ```
 *
 * Each call is a span (`ClaudeClient.createMessage`, with the model, pool and
 * attempt count); each attempt a child span. The API key is `Redacted` and
 * sent only as the `x-api-key` header, which @effect/platform redacts from
 * spans and logs.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import * as CircuitBreaker from "./CircuitBreaker.js"
import * as ClaudeError from "./ClaudeError.js"
import * as Messages from "./Messages.js"
import * as RateLimitHeaders from "./RateLimitHeaders.js"
import * as RateLimitState from "./RateLimitState.js"
import * as RetryPolicy from "./RetryPolicy.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("claude-rate-limiter/ClaudeClient")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * Everything a call can fail with: what the API said (a `ClaudeError`), a
 * fast failure from the open circuit, or the retry policy giving up.
 *
 * @since 0.1.0
 * @category models
 */
export type ClaudeClientError =
  | ClaudeError.ClaudeError
  | CircuitBreaker.CircuitOpenError
  | RetryPolicy.MaxRetriesExceededError<ClaudeError.ClaudeError | CircuitBreaker.CircuitOpenError>
  | RetryPolicy.RetryWaitTooLongError<ClaudeError.ClaudeError | CircuitBreaker.CircuitOpenError>

/**
 * @since 0.1.0
 * @category models
 */
export interface ClaudeClient {
  readonly [TypeId]: TypeId
  /** `POST /v1/messages`, non-streaming. */
  readonly createMessage: (params: Messages.CreateMessageParams) => Effect.Effect<Messages.Message, ClaudeClientError>
  /** `POST /v1/messages/count_tokens`. Token counting has limits of its own, so it is its own pool. */
  readonly countTokens: (params: Messages.CountTokensParams) => Effect.Effect<Messages.TokenCount, ClaudeClientError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export const ClaudeClient: Context.Tag<ClaudeClient, ClaudeClient> = Context.GenericTag<ClaudeClient>(
  "claude-rate-limiter/ClaudeClient"
)

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly apiKey: Redacted.Redacted<string>
  /** Default `https://api.anthropic.com`. */
  readonly baseUrl?: string | undefined
  /** The `anthropic-version` header. Default `2023-06-01`. */
  readonly anthropicVersion?: string | undefined
  /** Values for the `anthropic-beta` header. */
  readonly betas?: ReadonlyArray<string> | undefined
  /** Per-attempt timeout, body included. Default 10 minutes (as the official SDK). */
  readonly timeout?: Duration.DurationInput | undefined
  /** Retry policy options; `false` sends each request once. */
  readonly retry?: RetryPolicy.Options | false | undefined
  /** Which requests share limits. Default: the model id. */
  readonly pool?: ((model: string) => string) | undefined
  /**
   * Output tokens to reserve before a request is sent. Default 0: output
   * buckets are then only held to their reserve, not charged per request.
   */
  readonly estimateOutputTokens?: ((params: Messages.CreateMessageParams) => number) | undefined
}

/**
 * Options of {@link layer}: the client's, plus those of the default
 * `RateLimitState` and `CircuitBreaker` it brings.
 *
 * @since 0.1.0
 * @category models
 */
export interface LayerOptions extends Options {
  readonly rateLimitState?: RateLimitState.Options | undefined
  /** Circuit breaker options; `false` for none. */
  readonly circuitBreaker?: CircuitBreaker.Options | false | undefined
}

/**
 * @since 0.1.0
 * @category constants
 */
export const defaultBaseUrl = "https://api.anthropic.com"

/**
 * @since 0.1.0
 * @category constants
 */
export const defaultAnthropicVersion = "2023-06-01"

const messagesPath = "/v1/messages"
const countTokensPath = "/v1/messages/count_tokens"
const countTokensPool = "count_tokens"

const encodeCreateParams = Schema.encode(Messages.CreateMessageParams)
const encodeCountParams = Schema.encode(Messages.CountTokensParams)

/**
 * What the client is built from: the `HttpClient` it sends through, and the
 * `RateLimitState` and `CircuitBreaker` around every request.
 *
 * @since 0.1.0
 * @category models
 */
export type Dependencies = HttpClient.HttpClient | RateLimitState.RateLimitState | CircuitBreaker.CircuitBreaker

/**
 * Builds the client from the `HttpClient`, `RateLimitState` and
 * `CircuitBreaker` in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<ClaudeClient, never, Dependencies> =>
  Effect.gen(function*() {
    const state = yield* RateLimitState.RateLimitState
    const breaker = yield* CircuitBreaker.CircuitBreaker
    const baseUrl = (options.baseUrl ?? defaultBaseUrl).replace(/\/+$/, "")
    const timeout = Duration.decode(options.timeout ?? Duration.minutes(10))
    const poolOf = options.pool ?? ((model: string) => model)
    const estimateOutputTokens = options.estimateOutputTokens ?? (() => 0)
    const http = (yield* HttpClient.HttpClient).pipe(
      HttpClient.mapRequest((request) =>
        request.pipe(
          HttpClientRequest.prependUrl(baseUrl),
          HttpClientRequest.setHeaders({
            "x-api-key": Redacted.value(options.apiKey),
            "anthropic-version": options.anthropicVersion ?? defaultAnthropicVersion,
            "content-type": "application/json",
            accept: "application/json",
            ...(options.betas && options.betas.length > 0 ? { "anthropic-beta": options.betas.join(",") } : {})
          })
        )
      )
    )

    // The HttpClientError holds the request, and so the API key: keep only what went wrong.
    const toConnectionError = (error: HttpClientError.HttpClientError): ClaudeError.ConnectionError =>
      new ClaudeError.ConnectionError({ message: error.message, cause: error.cause })

    const readResponse = <A, I>(
      response: HttpClientResponse.HttpClientResponse,
      pool: string,
      schema: Schema.Schema<A, I>
    ): Effect.Effect<A, ClaudeError.ClaudeError> =>
      Effect.gen(function*() {
        const rateLimits = yield* RateLimitHeaders.decode(response.headers)
        yield* state.update(pool, rateLimits)
        const body = yield* Effect.mapError(response.text, toConnectionError)
        if (response.status < 200 || response.status >= 300) {
          return yield* Effect.fail(ClaudeError.fromResponse({ status: response.status, body, rateLimits }))
        }
        return yield* Schema.decodeUnknown(Schema.parseJson(schema))(body).pipe(
          Effect.mapError((error) =>
            new ClaudeError.MalformedResponseError({
              status: response.status,
              message: `Response body does not match the API schema: ${ClaudeError.excerpt(error.message)}`,
              requestId: rateLimits.requestId,
              rateLimits,
              body: ClaudeError.excerpt(body)
            })
          )
        )
      })

    const send = <A, I>(
      request: HttpClientRequest.HttpClientRequest,
      pool: string,
      schema: Schema.Schema<A, I>
    ): Effect.Effect<A, ClaudeError.ClaudeError> =>
      http.execute(request).pipe(
        Effect.catchTags({
          RequestError: (error) =>
            error.reason === "Transport"
              ? Effect.fail(toConnectionError(error))
              : Effect.dieMessage(`Cannot send request: ${error.message}`),
          ResponseError: (error) => Effect.fail(toConnectionError(error))
        }),
        Effect.flatMap((response) => readResponse(response, pool, schema)),
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: () =>
            new ClaudeError.TimeoutError({
              timeout,
              message: `No complete response within ${Duration.format(timeout)}`
            })
        })
      )

    const call = <A, I>(
      name: string,
      path: string,
      body: unknown,
      pool: string,
      cost: RateLimitState.Cost,
      schema: Schema.Schema<A, I>
    ): Effect.Effect<A, ClaudeClientError> =>
      Effect.gen(function*() {
        const request = HttpClientRequest.post(path).pipe(HttpClientRequest.bodyUnsafeJson(body))
        const attempts = yield* Ref.make(0)
        const attempt = Effect.gen(function*() {
          const number = yield* Ref.updateAndGet(attempts, (n) => n + 1)
          yield* state.awaitCapacity(pool, cost)
          return yield* breaker.protect(send(request, pool, schema)).pipe(
            Effect.tapErrorTag("CircuitOpenError", () => state.refund(pool, cost)),
            Effect.withSpan(`${name}.attempt`, { attributes: { "claude.attempt": number } })
          )
        })
        const retried = options.retry === false ? attempt : RetryPolicy.retry(attempt, options.retry)
        return yield* retried.pipe(
          Effect.ensuring(Effect.flatMap(Ref.get(attempts), (n) => Effect.annotateCurrentSpan("claude.attempts", n)))
        )
      }).pipe(Effect.withSpan(name, { attributes: { "claude.pool": pool, "claude.path": path } }))

    // Parameters the API would reject with a 400 are rejected here, before any budget is spent.
    const validated = <A>(encoded: Effect.Effect<A, ParseResult.ParseError>) =>
      Effect.catchAll(encoded, (error) =>
        Effect.flatMap(DateTime.now, (now) =>
          Effect.fail(
            new ClaudeError.InvalidRequestError({
              status: 400,
              errorType: "invalid_request_error",
              message: `Invalid parameters (not sent): ${error.message}`,
              requestId: Option.none(),
              rateLimits: RateLimitHeaders.RateLimitSnapshot.empty(now)
            })
          )))

    const createMessage = (params: Messages.CreateMessageParams) =>
      Effect.flatMap(validated(encodeCreateParams(params)), (body) => {
        const inputTokens = Messages.estimateInputTokens(params)
        const outputTokens = Math.max(0, Math.min(params.max_tokens, estimateOutputTokens(params)))
        return call("ClaudeClient.createMessage", messagesPath, body, poolOf(params.model), {
          requests: 1,
          inputTokens,
          outputTokens,
          tokens: inputTokens + outputTokens
        }, Messages.Message)
      })

    const countTokens = (params: Messages.CountTokensParams) =>
      Effect.flatMap(
        validated(encodeCountParams(params)),
        (body) =>
          call("ClaudeClient.countTokens", countTokensPath, body, countTokensPool, { requests: 1 }, Messages.TokenCount)
      )

    return ClaudeClient.of({ [TypeId]: TypeId, createMessage, countTokens })
  })

/**
 * The client alone: it needs an `HttpClient`, a `RateLimitState` and a
 * `CircuitBreaker` from the caller's own Layers.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWithoutDependencies = (options: Options): Layer.Layer<ClaudeClient, never, Dependencies> =>
  Layer.effect(ClaudeClient, make(options))

/**
 * The client with a default `RateLimitState` and `CircuitBreaker` of its
 * own; it needs only an `HttpClient` (e.g. `FetchHttpClient.layer` or
 * `NodeHttpClient.layerUndici`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: LayerOptions): Layer.Layer<ClaudeClient, never, HttpClient.HttpClient> =>
  layerWithoutDependencies(options).pipe(
    Layer.provide(RateLimitState.layerWith(options.rateLimitState ?? {})),
    Layer.provide(
      options.circuitBreaker === false ? CircuitBreaker.layerDisabled : CircuitBreaker.layer(options.circuitBreaker)
    )
  )

/**
 * The configuration {@link layerConfig} reads: `ANTHROPIC_API_KEY` (required,
 * `Redacted`), `ANTHROPIC_BASE_URL`, `ANTHROPIC_MAX_RETRIES`,
 * `ANTHROPIC_TIMEOUT_MS`.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all({
  apiKey: Config.redacted("ANTHROPIC_API_KEY"),
  baseUrl: Config.option(Config.string("ANTHROPIC_BASE_URL")),
  maxRetries: Config.option(
    Config.integer("ANTHROPIC_MAX_RETRIES").pipe(Config.validate({
      message: "must be 0 or more",
      validation: (n) => n >= 0
    }))
  ),
  timeoutMs: Config.option(
    Config.integer("ANTHROPIC_TIMEOUT_MS").pipe(Config.validate({
      message: "must be positive",
      validation: (n) => n > 0
    }))
  )
}).pipe(Config.map(({ apiKey, baseUrl, maxRetries, timeoutMs }) => ({
  apiKey,
  baseUrl: Option.getOrUndefined(baseUrl),
  retry: Option.match(maxRetries, { onNone: () => ({}), onSome: (n) => ({ maxRetries: n }) }),
  timeout: Option.getOrUndefined(Option.map(timeoutMs, Duration.millis))
})))

/**
 * {@link layer} with options read from the environment by {@link config}, and
 * the rest from `overrides`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfigWith = (
  overrides: Omit<LayerOptions, "apiKey"> = {}
): Layer.Layer<ClaudeClient, ConfigError.ConfigError, HttpClient.HttpClient> =>
  Layer.unwrapEffect(Effect.map(config, (fromEnv) =>
    layer({
      ...overrides,
      ...fromEnv,
      baseUrl: fromEnv.baseUrl ?? overrides.baseUrl,
      timeout: fromEnv.timeout ?? overrides.timeout,
      retry: overrides.retry === false ? false : { ...overrides.retry, ...(fromEnv.retry || {}) }
    })))

/**
 * {@link layer} configured from the environment: `ANTHROPIC_API_KEY`
 * (required), `ANTHROPIC_BASE_URL`, `ANTHROPIC_MAX_RETRIES`,
 * `ANTHROPIC_TIMEOUT_MS`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: Layer.Layer<ClaudeClient, ConfigError.ConfigError, HttpClient.HttpClient> = layerConfigWith()
