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
 * sent only as the `x-api-key` header, added after the HTTP client's own
 * span has seen the request (whose end would otherwise hold it in clear),
 * and scrubbed from error messages built from a body. No
 * trace-context header (`traceparent`, `b3`) goes to the API unless
 * `tracePropagation` is on.
 *
 * @since 0.1.0
 */
import * as Headers from "@effect/platform/Headers"
import * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Admission from "./Admission.js"
import type * as AdmissionStore from "./AdmissionStore.js"
import * as CircuitBreaker from "./CircuitBreaker.js"
import * as ClaudeError from "./ClaudeError.js"
import * as AttemptOutcome from "./internal/attemptOutcome.js"
import * as BodyDecoder from "./internal/bodyDecoder.js"
import * as ErrorText from "./internal/errorText.js"
import * as GenAi from "./internal/genAiTelemetry.js"
import * as Pipeline from "./internal/pipeline.js"
import * as SecretHeaders from "./internal/secretHeaders.js"
import * as MessageBatches from "./MessageBatches.js"
import * as Messages from "./Messages.js"
import type * as MessageStream from "./MessageStream.js"
import * as RateLimitState from "./RateLimitState.js"
import type * as RetryPolicy from "./RetryPolicy.js"

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
export type AttemptError = Pipeline.AttemptError

/**
 * Everything a call can fail with: how its last attempt failed, or why the
 * retry policy gave up on it.
 *
 * @since 0.1.0
 * @category models
 */
export type ClaudeClientError = Pipeline.CallError

/**
 * Tokens used per chat call, by `gen_ai.token.type` (`input`, `output`),
 * `gen_ai.request.model`, `gen_ai.operation.name` and `gen_ai.system`: the
 * `gen_ai.client.token.usage` histogram of OpenTelemetry's GenAI semantic
 * conventions.
 *
 * @since 0.2.0
 * @category metrics
 */
export const tokenUsage = GenAi.tokenUsage

/**
 * Seconds per chat call, waits and retries included, with `error.type` when
 * it failed: the `gen_ai.client.operation.duration` histogram of OpenTelemetry's
 * GenAI semantic conventions.
 *
 * @since 0.2.0
 * @category metrics
 */
export const operationDuration = GenAi.operationDuration

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
  /**
   * `POST /v1/messages` with `stream: true`: the server-sent events, typed.
   * Admission, the breaker and the retry policy apply as for `createMessage`
   * to everything before the first piece of content; a stream that fails
   * before it (an `event: error`, a cut connection) is retried transparently.
   * After content has reached you, a failure is a `StreamInterruptedError`
   * carrying what was received. `MessageStream.finalMessage` folds the events
   * into the `Message`.
   */
  readonly streamMessage: (
    params: Messages.CreateMessageParams,
    options?: CallOptions
  ) => Stream.Stream<MessageStream.MessageStreamEvent, ClaudeClientError | MessageStream.StreamInterruptedError>
  /** `POST /v1/messages/count_tokens`. Token counting has limits of its own, so it is its own pool. */
  readonly countTokens: (
    params: Messages.CountTokensParams,
    options?: CallOptions
  ) => Effect.Effect<Messages.TokenCount, ClaudeClientError>
  /** `POST /v1/messages/batches`: the Message Batches API has limits of its own, so it is its own pool. */
  readonly createBatch: (
    params: MessageBatches.CreateBatchParams,
    options?: CallOptions
  ) => Effect.Effect<MessageBatches.MessageBatch, ClaudeClientError>
  /** `GET /v1/messages/batches/{id}`. */
  readonly retrieveBatch: (
    id: string,
    options?: CallOptions
  ) => Effect.Effect<MessageBatches.MessageBatch, ClaudeClientError>
  /** `GET /v1/messages/batches/{id}/results`, once the batch has ended. */
  readonly batchResults: (
    id: string,
    options?: CallOptions
  ) => Effect.Effect<ReadonlyArray<MessageBatches.BatchResult>, ClaudeClientError>
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
  /**
   * Per-attempt timeout, body included; for a stream, until its first content, then the longest silence between
   * two of its chunks. Default 10 minutes (as the official SDK).
   */
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
const batchesPath = "/v1/messages/batches"
const batchesPool = "message_batches"

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
const encodeBatchParams = bodyEncoder(MessageBatches.CreateBatchParams)

const decodeMessage = BodyDecoder.json(Messages.Message)
const decodeTokenCount = BodyDecoder.json(Messages.TokenCount)
const decodeBatch = BodyDecoder.json(MessageBatches.MessageBatch)
// the results endpoint answers JSON Lines, one result a line
const decodeBatchResults = BodyDecoder.jsonLines(MessageBatches.BatchResult)

/**
 * What the client is built from: the `HttpClient` it sends through, and the
 * `Admission` gate and `CircuitBreaker` around every request.
 *
 * @since 0.1.0
 * @category models
 */
export type Dependencies = HttpClient.HttpClient | Admission.Admission | CircuitBreaker.CircuitBreaker

/**
 * What the API's refusal tells admission: a rate limit, an acceleration
 * limit (`ramp_limit_exceeded`), the concurrency cap, a spend limit, an
 * overload, a server error, or a client error.
 *
 * @since 0.2.0
 * @category admission
 */
export const signalOf: (error: ClaudeError.ResponseError) => Admission.Signal = AttemptOutcome.signalOf

/**
 * How an attempt that admission let through and that failed ended, as
 * admission needs to know it: refused by the API (nothing charged), never
 * sent (the open circuit), or unknown (timeout, lost connection: what it
 * took stays taken).
 *
 * @since 0.2.0
 * @category admission
 */
export const outcomeOf: (error: AttemptError) => Admission.Outcome = AttemptOutcome.outcomeOf

/**
 * Builds the client from the `HttpClient`, `Admission` and
 * `CircuitBreaker` in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<ClaudeClient, ClaudeError.InvalidBaseUrlError, Dependencies> =>
  Effect.gen(function*() {
    const baseUrl = yield* Either.mapLeft(
      parseBaseUrl(options.baseUrl ?? defaultBaseUrl),
      // the key given as the base URL by mistake (two variables swapped) is not repeated in the error
      (error) =>
        new ClaudeError.InvalidBaseUrlError({ ...error, baseUrl: ErrorText.scrub(error.baseUrl, [options.apiKey]) })
    )
    const admission = yield* Admission.Admission
    const breaker = yield* CircuitBreaker.CircuitBreaker
    const secrets = [options.apiKey]
    const timeout = Duration.decode(options.timeout ?? Duration.minutes(10))
    const poolOf = options.pool ?? Admission.modelPool
    const estimateOutputTokens = options.estimateOutputTokens
    // the key is added last, under the tracing of the request: no span or error of the HTTP client holds it
    const http = SecretHeaders.make(yield* HttpClient.HttpClient, { "x-api-key": options.apiKey }).pipe(
      HttpClient.withTracerPropagation(options.tracePropagation ?? false)
    )
    // every request's URL prefix and headers, built once
    const headers = Headers.fromInput({
      "anthropic-version": options.anthropicVersion ?? defaultAnthropicVersion,
      "content-type": "application/json",
      accept: "application/json",
      ...(options.betas && options.betas.length > 0 ? { "anthropic-beta": options.betas.join(",") } : {})
    })
    const post = (path: string, body: string) =>
      HttpClientRequest.post(baseUrl + path, {
        headers,
        body: HttpBody.text(body, "application/json")
      })
    const get = (path: string) => HttpClientRequest.get(baseUrl + path, { headers })

    const pipeline = Pipeline.make({ http, admission, breaker, timeout, retry: options.retry ?? {}, secrets })

    const messageCall = (
      name: string,
      params: Messages.CreateMessageParams,
      body: string,
      callOptions?: CallOptions
    ) => {
      const pool = poolOf(params.model)
      const inputTokens = Messages.estimateInputTokens(params)
      const outputEstimate = estimateOutputTokens === undefined
        ? admission.outputEstimate(pool, params.max_tokens)
        : Effect.sync(() => Math.max(0, Math.min(params.max_tokens, estimateOutputTokens(params))))
      return Effect.map(outputEstimate, (outputTokens): Pipeline.Call => ({
        name,
        request: post(messagesPath, body),
        pool,
        cost: { requests: 1, inputTokens, outputTokens, tokens: inputTokens + outputTokens },
        lane: callOptions?.lane,
        deadline: callOptions?.deadline,
        attributes: {
          "gen_ai.system": "anthropic",
          "gen_ai.operation.name": "chat",
          "gen_ai.request.model": params.model,
          "gen_ai.request.max_tokens": params.max_tokens
        }
      }))
    }

    // Parameters the API would reject with a 400 are rejected here, before any budget is spent.
    const createMessage = (params: Messages.CreateMessageParams, callOptions?: CallOptions) =>
      Effect.suspend(() => params.stream === true ? Either.left(streamRefused) : encodeCreateParams(params)).pipe(
        Effect.flatMap((body) => messageCall("ClaudeClient.createMessage", params, body, callOptions)),
        Effect.flatMap((call) => pipeline.call(call, decodeMessage, (message) => message.usage))
      )

    const streamMessage = (params: Messages.CreateMessageParams, callOptions?: CallOptions) =>
      Stream.unwrap(
        Effect.suspend(() => encodeCreateParams({ ...params, stream: true })).pipe(
          Effect.flatMap((body) => messageCall("ClaudeClient.streamMessage", params, body, callOptions)),
          Effect.map((call) =>
            pipeline.stream({
              ...call,
              request: call.request.pipe(HttpClientRequest.setHeader("accept", "text/event-stream"))
            })
          )
        )
      )

    const countTokens = (params: Messages.CountTokensParams, callOptions?: CallOptions) =>
      Effect.flatMap(
        Effect.suspend(() => encodeCountParams(params)),
        (body) =>
          pipeline.call(
            {
              name: "ClaudeClient.countTokens",
              request: post(countTokensPath, body),
              pool: countTokensPool,
              cost: { requests: 1 },
              lane: callOptions?.lane,
              deadline: callOptions?.deadline
            },
            decodeTokenCount,
            () => undefined
          )
      )

    const batchCall = (name: string, request: HttpClientRequest.HttpClientRequest, callOptions?: CallOptions) => ({
      name,
      request,
      pool: batchesPool,
      cost: { requests: 1 },
      lane: callOptions?.lane,
      deadline: callOptions?.deadline
    })

    const createBatch = (params: MessageBatches.CreateBatchParams, callOptions?: CallOptions) =>
      Effect.flatMap(
        Effect.suspend(() => encodeBatchParams(params)),
        (body) =>
          pipeline.call(
            batchCall(
              "ClaudeClient.createBatch",
              post(batchesPath, body),
              callOptions
            ),
            decodeBatch,
            () => undefined
          )
      )

    const retrieveBatch = (id: string, callOptions?: CallOptions) =>
      pipeline.call(
        batchCall(
          "ClaudeClient.retrieveBatch",
          get(`${batchesPath}/${encodeURIComponent(id)}`),
          callOptions
        ),
        decodeBatch,
        () => undefined
      )

    const batchResults = (id: string, callOptions?: CallOptions) =>
      pipeline.call(
        batchCall(
          "ClaudeClient.batchResults",
          get(`${batchesPath}/${encodeURIComponent(id)}/results`),
          callOptions
        ),
        decodeBatchResults,
        () => undefined
      )

    return ClaudeClient.of({
      [TypeId]: TypeId,
      createMessage,
      streamMessage,
      countTokens,
      createBatch,
      retrieveBatch,
      batchResults
    })
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
  Layer.unwrapEffect(Effect.map(Effect.zip(config, Admission.limitsConfig), ([fromEnv, limits]) =>
    layer({
      ...overrides,
      ...fromEnv,
      // limits known in advance: from CLAUDE_RATE_LIMITS, then the overrides' per pool
      admission: { ...overrides.admission, limits: { ...limits, ...overrides.admission?.limits } },
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
 * `ANTHROPIC_TIMEOUT_MS`, and limits known in advance from
 * `CLAUDE_RATE_LIMITS` (`Admission.limitsConfig`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: Layer.Layer<
  Services,
  ConfigError.ConfigError | AdmissionStore.AdmissionStoreError,
  HttpClient.HttpClient
> = layerConfigWith()
