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
 * spans and logs, and scrubbed from error messages built from a body. No
 * trace-context header (`traceparent`, `b3`) goes to the API unless
 * `tracePropagation` is on.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
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
  /**
   * Default `https://api.anthropic.com`. An absolute `http:`/`https:` URL, a path prefix allowed; anything
   * else fails the layer with `InvalidBaseUrlError`.
   */
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
  /**
   * Send the trace context (`traceparent`, `b3`) of each attempt's span to the API. Default `false`: the
   * Anthropic host has no use for your trace ids.
   */
  readonly tracePropagation?: boolean | undefined
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

/**
 * Checks a base URL: absolute, `http:` or `https:`, no credentials, query or
 * fragment. Returns it without trailing slashes (paths are appended to it).
 *
 * @since 0.2.0
 * @category constructors
 */
export const parseBaseUrl = (baseUrl: string): Either.Either<string, ClaudeError.InvalidBaseUrlError> => {
  const invalid = (reason: string) =>
    Either.left(new ClaudeError.InvalidBaseUrlError({ baseUrl: ClaudeError.excerpt(baseUrl), reason }))
  let url: URL
  try {
    url = new URL(baseUrl.trim())
  } catch {
    return invalid("not an absolute URL (e.g. https://api.anthropic.com)")
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return invalid(`${url.protocol} is not http: or https:`)
  if (url.username !== "" || url.password !== "") return invalid("credentials in the URL are not sent")
  if (url.search !== "" || url.hash !== "") return invalid("a query or fragment cannot prefix a path")
  return Either.right(url.href.replace(/\/+$/, ""))
}

// Hostile or broken parameters (a BigInt, a cycle, a throwing getter, nesting deeper than the stack) are a
// RequestValidationError, never a defect: nothing is sent.
const bodyEncoder = <A, I>(schema: Schema.Schema<A, I>) => {
  const encode = Schema.encodeUnknownEither(schema, Messages.encodeOptions)
  return (params: A): Either.Either<string, ClaudeError.RequestValidationError> => {
    try {
      return Either.match(encode(params), {
        onLeft: (error) => Either.left(ClaudeError.requestValidationError(error)),
        onRight: (encoded) => Either.right(JSON.stringify(encoded))
      })
    } catch (reason) {
      return Either.left(ClaudeError.requestValidationError({ reason }))
    }
  }
}

const encodeCreateParams = bodyEncoder(Messages.CreateMessageParams)
const encodeCountParams = bodyEncoder(Messages.CountTokensParams)

// A 200 body is parsed once; a decode failure (not JSON, another shape, nesting too deep to even describe)
// is the problem text of a MalformedResponseError, never a defect.
const decodeBody = <A, I>(schema: Schema.Schema<A, I>, body: string): Either.Either<A, string> => {
  try {
    return Either.mapLeft(Schema.decodeUnknownEither(schema)(JSON.parse(body)), ClaudeError.describeParseError)
  } catch (error) {
    return Either.left(error instanceof SyntaxError ? `not JSON (${error.message})` : "nested too deeply to decode")
  }
}

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
export const make = (options: Options): Effect.Effect<ClaudeClient, ClaudeError.InvalidBaseUrlError, Dependencies> =>
  Effect.gen(function*() {
    const baseUrl = yield* parseBaseUrl(options.baseUrl ?? defaultBaseUrl)
    const state = yield* RateLimitState.RateLimitState
    const breaker = yield* CircuitBreaker.CircuitBreaker
    const secrets = [options.apiKey]
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
      ),
      HttpClient.withTracerPropagation(options.tracePropagation ?? false)
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
          return yield* Effect.fail(ClaudeError.fromResponse({ status: response.status, body, rateLimits, secrets }))
        }
        return yield* Either.mapLeft(
          decodeBody(schema, body),
          (problem) => ClaudeError.malformedResponse({ status: response.status, body, problem, rateLimits, secrets })
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
      body: string,
      pool: string,
      cost: RateLimitState.Cost,
      schema: Schema.Schema<A, I>
    ): Effect.Effect<A, ClaudeClientError> =>
      Effect.gen(function*() {
        const request = HttpClientRequest.post(path).pipe(HttpClientRequest.bodyText(body, "application/json"))
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
    const createMessage = (params: Messages.CreateMessageParams) =>
      Effect.flatMap(Effect.suspend(() => encodeCreateParams(params)), (body) => {
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
        Effect.suspend(() => encodeCountParams(params)),
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
export const layerWithoutDependencies = (
  options: Options
): Layer.Layer<ClaudeClient, ClaudeError.InvalidBaseUrlError, Dependencies> => Layer.effect(ClaudeClient, make(options))

/**
 * The client with a default `RateLimitState` and `CircuitBreaker` of its
 * own; it needs only an `HttpClient` (e.g. `FetchHttpClient.layer` or
 * `NodeHttpClient.layerUndici`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: LayerOptions
): Layer.Layer<ClaudeClient, ClaudeError.InvalidBaseUrlError, HttpClient.HttpClient> =>
  layerWithoutDependencies(options).pipe(
    Layer.provide(RateLimitState.layerWith(options.rateLimitState ?? {})),
    Layer.provide(
      options.circuitBreaker === false ? CircuitBreaker.layerDisabled : CircuitBreaker.layer(options.circuitBreaker)
    )
  )

/**
 * The configuration {@link layerConfig} reads: `ANTHROPIC_API_KEY` (required,
 * `Redacted`), `ANTHROPIC_BASE_URL` (blank means unset; an invalid URL is a
 * `ConfigError` naming it), `ANTHROPIC_MAX_RETRIES`, `ANTHROPIC_TIMEOUT_MS`.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all({
  apiKey: Config.redacted("ANTHROPIC_API_KEY"),
  // blank means unset, as in the official SDK; anything else must be a valid base URL
  baseUrl: Config.option(Config.string("ANTHROPIC_BASE_URL")).pipe(
    Config.mapOrFail((value) =>
      Option.match(Option.filter(value, (url) => url.trim() !== ""), {
        onNone: () => Either.right(Option.none<string>()),
        onSome: (url) =>
          Either.mapBoth(parseBaseUrl(url), {
            onLeft: (error) => ConfigError.InvalidData(["ANTHROPIC_BASE_URL"], `not a valid base URL: ${error.reason}`),
            onRight: () => Option.some(url)
          })
      })
    )
  ),
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
    }).pipe(
      // ANTHROPIC_BASE_URL was checked by `config`: this one is the override's
      Layer.mapError((error) => ConfigError.InvalidData(["baseUrl"], `not a valid base URL: ${error.reason}`))
    )))

/**
 * {@link layer} configured from the environment: `ANTHROPIC_API_KEY`
 * (required), `ANTHROPIC_BASE_URL`, `ANTHROPIC_MAX_RETRIES`,
 * `ANTHROPIC_TIMEOUT_MS`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: Layer.Layer<ClaudeClient, ConfigError.ConfigError, HttpClient.HttpClient> = layerConfigWith()
