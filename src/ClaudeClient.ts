/**
 * The Claude Messages API over `HttpClient`, with the whole rate-limit
 * pipeline around every request:
 *
 * ```
 * admission ─▶ circuit breaker ─▶ HTTP ─▶ decode headers ─▶ settle and fold into state ─▶ classify
 *     ▲                                                                                    │
 *     └────────────────────────── retry schedule (whether) ◀──────────────────────────────┘
 * ```
 *
 * Admission is the one gate that decides *when* an attempt may go (buckets,
 * the server's embargoes, concurrency, lanes, deadlines); the retry policy
 * decides *whether* to retry, and its own backoff applies only to failures
 * that carry no server guidance.
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
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Admission from "./Admission.js"
import type * as AdmissionStore from "./AdmissionStore.js"
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
 * How one attempt can fail: what the API said (a `ClaudeError`), the open
 * circuit, or admission refusing to send it (too long a wait, a request
 * larger than a bucket, an unreachable shared store).
 *
 * @since 0.2.0
 * @category models
 */
export type AttemptError =
  | ClaudeError.ClaudeError
  | CircuitBreaker.CircuitOpenError
  | Admission.BudgetWaitTooLongError
  | Admission.RequestExceedsLimitError
  | AdmissionStore.AdmissionStoreError

/**
 * Everything a call can fail with: how its last attempt failed, or why the
 * retry policy gave up on it.
 *
 * @since 0.1.0
 * @category models
 */
export type ClaudeClientError = AttemptError | RetryPolicy.GiveUpError<AttemptError>

/**
 * Per-call options.
 *
 * @since 0.2.0
 * @category models
 */
export interface CallOptions {
  /** `"interactive"` (default) goes first when budget is scarce; `"batch"` leaves it a share of each bucket. */
  readonly lane?: Admission.Lane | undefined
  /**
   * The longest this call may wait for admission: a predicted wait beyond it
   * fails at once with `BudgetWaitTooLongError`, nothing sent.
   */
  readonly deadline?: Duration.DurationInput | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ClaudeClient {
  readonly [TypeId]: TypeId
  /** `POST /v1/messages`, non-streaming. */
  readonly createMessage: (
    params: Messages.CreateMessageParams,
    options?: CallOptions
  ) => Effect.Effect<Messages.Message, ClaudeClientError>
  /** `POST /v1/messages/count_tokens`. Token counting has limits of its own, so it is its own pool. */
  readonly countTokens: (
    params: Messages.CountTokensParams,
    options?: CallOptions
  ) => Effect.Effect<Messages.TokenCount, ClaudeClientError>
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
  /** Which requests share limits. Default: the model's family and version (`Admission.modelPool`). */
  readonly pool?: ((model: string) => string) | undefined
  /**
   * Output tokens to reserve before a request is sent (at most `max_tokens`).
   * Default: `max_tokens` until the pool has seen enough answers, then a high
   * percentile of their real output (learned by admission). Either way the
   * reservation is settled with the answer's real `usage`.
   */
  readonly estimateOutputTokens?: ((params: Messages.CreateMessageParams) => number) | undefined
  /**
   * Send the trace context (`traceparent`, `b3`) of each attempt's span to the API. Default `false`: the
   * Anthropic host has no use for your trace ids.
   */
  readonly tracePropagation?: boolean | undefined
}

/**
 * Options of {@link layer}: the client's, plus those of the `Admission` gate
 * and the `CircuitBreaker` it brings.
 *
 * @since 0.1.0
 * @category models
 */
export interface LayerOptions extends Options {
  readonly admission?: Admission.Options | undefined
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

// A concurrent-requests 429 says so only in its message (the real API's wording).
const concurrencyMessage = /concurrent (connections|requests)/i
// and sometimes its limit: "… has exceeded your rate limit of 20"
const concurrencyLimit = /limit of (\d+)/i

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

const streamRefused = new ClaudeError.RequestValidationError({
  message: "Invalid request parameters (nothing was sent): stream: createMessage reads one message; "
    + "use streamMessage for a stream",
  issues: [{ path: "stream", message: "createMessage reads one message; use streamMessage for a stream" }]
})
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
 * `Admission` gate and `CircuitBreaker` around every request.
 *
 * @since 0.1.0
 * @category models
 */
export type Dependencies = HttpClient.HttpClient | Admission.Admission | CircuitBreaker.CircuitBreaker

/**
 * What the API's refusal tells admission.
 *
 * @since 0.2.0
 * @category admission
 */
export const signalOf = (error: ClaudeError.ResponseError): Admission.Signal => {
  switch (error._tag) {
    case "SpendLimitReachedError":
      return "spend-limit"
    case "OverloadedError":
      return "overloaded"
    case "RateLimitError":
      return Option.contains(error.errorCode, "ramp_limit_exceeded")
        ? "acceleration"
        : concurrencyMessage.test(error.message)
        ? "concurrency"
        : "rate-limit"
    default:
      return error.status === 429 ? "rate-limit" : error.status >= 500 ? "server-error" : "client-error"
  }
}

/**
 * How an attempt that admission let through ended, as admission needs to
 * know it: served (settle with the real usage), refused by the API (nothing
 * charged), never sent (the open circuit), or unknown (timeout, lost
 * connection: what it took stays taken).
 *
 * @since 0.2.0
 * @category admission
 */
export const outcomeOf = (error: AttemptError): Admission.Outcome => {
  if (ClaudeError.isResponseError(error)) {
    const signal = signalOf(error)
    const limit = signal === "concurrency"
      ? Number(concurrencyLimit.exec(error.message)?.[1] ?? Number.NaN)
      : Number.NaN
    return Admission.Outcome.Refused({
      rateLimits: error.rateLimits,
      signal,
      ...(Number.isSafeInteger(limit) && limit > 0 ? { limit } : {})
    })
  }
  return error._tag === "CircuitOpenError" ? Admission.Outcome.NotSent() : Admission.Outcome.Unknown()
}

const usageOf = (value: unknown): Admission.Usage => {
  const usage = (value as { readonly usage?: Messages.Usage }).usage
  return usage === undefined
    ? { inputTokens: 0, outputTokens: 0 }
    : {
      inputTokens: usage.input_tokens + (usage.cache_creation_input_tokens ?? 0),
      outputTokens: usage.output_tokens
    }
}

/**
 * Builds the client from the `HttpClient`, `Admission` and
 * `CircuitBreaker` in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<ClaudeClient, ClaudeError.InvalidBaseUrlError, Dependencies> =>
  Effect.gen(function*() {
    const baseUrl = yield* parseBaseUrl(options.baseUrl ?? defaultBaseUrl)
    const admission = yield* Admission.Admission
    const breaker = yield* CircuitBreaker.CircuitBreaker
    const secrets = [options.apiKey]
    const timeout = Duration.decode(options.timeout ?? Duration.minutes(10))
    const poolOf = options.pool ?? Admission.modelPool
    const estimateOutputTokens = options.estimateOutputTokens
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

    interface Answer<A> {
      readonly value: A
      readonly rateLimits: RateLimitHeaders.RateLimitSnapshot
    }

    const readResponse = <A, I>(
      response: HttpClientResponse.HttpClientResponse,
      schema: Schema.Schema<A, I>
    ): Effect.Effect<Answer<A>, ClaudeError.ClaudeError> =>
      Effect.gen(function*() {
        const rateLimits = yield* RateLimitHeaders.decode(response.headers)
        const body = yield* Effect.mapError(response.text, toConnectionError)
        if (response.status < 200 || response.status >= 300) {
          return yield* Effect.fail(ClaudeError.fromResponse({ status: response.status, body, rateLimits, secrets }))
        }
        return yield* Either.match(decodeBody(schema, body), {
          onLeft: (problem) =>
            Either.left(ClaudeError.malformedResponse({ status: response.status, body, problem, rateLimits, secrets })),
          onRight: (value) => Either.right({ value, rateLimits })
        })
      })

    const send = <A, I>(
      request: HttpClientRequest.HttpClientRequest,
      schema: Schema.Schema<A, I>
    ): Effect.Effect<Answer<A>, ClaudeError.ClaudeError> =>
      http.execute(request).pipe(
        Effect.catchTags({
          RequestError: (error) =>
            error.reason === "Transport"
              ? Effect.fail(toConnectionError(error))
              : Effect.dieMessage(`Cannot send request: ${error.message}`),
          ResponseError: (error) => Effect.fail(toConnectionError(error))
        }),
        Effect.flatMap((response) => readResponse(response, schema)),
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: () =>
            new ClaudeError.TimeoutError({
              timeout,
              message: `No complete response within ${Duration.format(timeout)}`
            })
        })
      )

    // A retry budget keeps a fleet of callers from multiplying load on a struggling API; a caller who asked to
    // wait out outages (retryOnOpenCircuit) is protected by the breaker instead, and loses nothing.
    const retryOptions = (pool: string): RetryPolicy.Options | false => {
      const retry = options.retry
      if (retry === false) return false
      return {
        ...retry,
        headerWaits: "gate",
        allowRetry: retry?.allowRetry
          ?? ((error) =>
            retry?.retryOnOpenCircuit === true || !ClaudeError.isServiceFailure(error)
              ? Effect.succeed(true)
              : admission.retryAllowed(pool))
      }
    }

    const call = <A, I>(
      name: string,
      path: string,
      body: string,
      pool: string,
      cost: AdmissionStore.Cost,
      schema: Schema.Schema<A, I>,
      callOptions: CallOptions | undefined
    ): Effect.Effect<A, ClaudeClientError> =>
      Effect.suspend(() => {
        const request = HttpClientRequest.post(path).pipe(HttpClientRequest.bodyText(body, "application/json"))
        let attempts = 0
        const attempt: Effect.Effect<A, AttemptError> = Effect.suspend(() => {
          const number = ++attempts
          return Effect.scoped(Effect.gen(function*() {
            // an open circuit fails fast: no point queueing for budget first
            yield* breaker.check
            const ticket = yield* admission.admit({
              pool,
              cost,
              lane: callOptions?.lane,
              deadline: callOptions?.deadline,
              retry: number > 1
            })
            const exit = yield* Effect.exit(breaker.protect(send(request, schema)))
            if (Exit.isSuccess(exit)) {
              const { rateLimits, value } = exit.value
              yield* ticket.complete(Admission.Outcome.Served({ rateLimits, usage: usageOf(value), streamed: false }))
              return value
            }
            const failure = Cause.failureOption(exit.cause)
            if (Option.isSome(failure)) yield* ticket.complete(outcomeOf(failure.value))
            return yield* Effect.failCause(exit.cause)
          })).pipe(Effect.withSpan(`${name}.attempt`, { attributes: { "claude.attempt": number } }))
        })
        const policy = retryOptions(pool)
        const retried: Effect.Effect<A, ClaudeClientError> = policy === false
          ? attempt
          : RetryPolicy.retry(attempt, policy)
        return retried.pipe(
          Effect.ensuring(Effect.suspend(() => Effect.annotateCurrentSpan("claude.attempts", attempts)))
        )
      }).pipe(Effect.withSpan(name, { attributes: { "claude.pool": pool, "claude.path": path } }))

    // Parameters the API would reject with a 400 are rejected here, before any budget is spent.
    const createMessage = (params: Messages.CreateMessageParams, callOptions?: CallOptions) =>
      Effect.flatMap(
        Effect.suspend(() => params.stream === true ? Either.left(streamRefused) : encodeCreateParams(params)),
        (body) => {
          const pool = poolOf(params.model)
          const inputTokens = Messages.estimateInputTokens(params)
          const outputEstimate = estimateOutputTokens === undefined
            ? admission.outputEstimate(pool, params.max_tokens)
            : Effect.sync(() => Math.max(0, Math.min(params.max_tokens, estimateOutputTokens(params))))
          return Effect.flatMap(
            outputEstimate,
            (outputTokens) =>
              call(
                "ClaudeClient.createMessage",
                messagesPath,
                body,
                pool,
                {
                  requests: 1,
                  inputTokens,
                  outputTokens,
                  tokens: inputTokens + outputTokens
                },
                Messages.Message,
                callOptions
              )
          )
        }
      )

    const countTokens = (params: Messages.CountTokensParams, callOptions?: CallOptions) =>
      Effect.flatMap(
        Effect.suspend(() => encodeCountParams(params)),
        (body) =>
          call(
            "ClaudeClient.countTokens",
            countTokensPath,
            body,
            countTokensPool,
            { requests: 1 },
            Messages.TokenCount,
            callOptions
          )
      )

    return ClaudeClient.of({ [TypeId]: TypeId, createMessage, countTokens })
  })

/**
 * The client alone: it needs an `HttpClient`, an `Admission` gate and a
 * `CircuitBreaker` from the caller's own Layers.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWithoutDependencies = (
  options: Options
): Layer.Layer<ClaudeClient, ClaudeError.InvalidBaseUrlError, Dependencies> => Layer.effect(ClaudeClient, make(options))

/**
 * The services {@link layer} builds and hands to the caller: the client, and
 * the gate, state and breaker around it (to read their `changes` and
 * status, or to share them with other clients).
 *
 * @since 0.2.0
 * @category models
 */
export type Services =
  | ClaudeClient
  | Admission.Admission
  | RateLimitState.RateLimitState
  | CircuitBreaker.CircuitBreaker

/**
 * The client with an `Admission` gate (over the `AdmissionStore` in context,
 * else one in memory), a `RateLimitState` and a `CircuitBreaker` of its own;
 * it needs only an `HttpClient` (e.g. `FetchHttpClient.layer` or
 * `NodeHttpClient.layerUndici`). All four are provided to the caller.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: LayerOptions
): Layer.Layer<
  Services,
  ClaudeError.InvalidBaseUrlError | AdmissionStore.AdmissionStoreError,
  HttpClient.HttpClient
> =>
  layerWithoutDependencies(options).pipe(
    Layer.provideMerge(Admission.layer(options.admission)),
    Layer.provideMerge(RateLimitState.layer),
    Layer.provideMerge(
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
): Layer.Layer<Services, ConfigError.ConfigError | AdmissionStore.AdmissionStoreError, HttpClient.HttpClient> =>
  Layer.unwrapEffect(Effect.map(config, (fromEnv) =>
    layer({
      ...overrides,
      ...fromEnv,
      baseUrl: fromEnv.baseUrl ?? overrides.baseUrl,
      timeout: fromEnv.timeout ?? overrides.timeout,
      retry: overrides.retry === false ? false : { ...overrides.retry, ...(fromEnv.retry || {}) }
    }).pipe(
      // ANTHROPIC_BASE_URL was checked by `config`: this one is the override's
      Layer.mapError((error) =>
        error._tag === "InvalidBaseUrlError"
          ? ConfigError.InvalidData(["baseUrl"], `not a valid base URL: ${error.reason}`)
          : error
      )
    )))

/**
 * {@link layer} configured from the environment: `ANTHROPIC_API_KEY`
 * (required), `ANTHROPIC_BASE_URL`, `ANTHROPIC_MAX_RETRIES`,
 * `ANTHROPIC_TIMEOUT_MS`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: Layer.Layer<
  Services,
  ConfigError.ConfigError | AdmissionStore.AdmissionStoreError,
  HttpClient.HttpClient
> = layerConfigWith()
