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
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import type * as Stream from "effect/Stream"
import * as Admission from "./Admission.js"
import type * as AdmissionStore from "./AdmissionStore.js"
import * as CircuitBreaker from "./CircuitBreaker.js"
import type * as ClaudeError from "./ClaudeError.js"
import * as AttemptOutcome from "./internal/attemptOutcome.js"
import * as internal from "./internal/client.js"
import * as ClientConfig from "./internal/clientConfig.js"
import * as GenAi from "./internal/genAiTelemetry.js"
import type * as Pipeline from "./internal/pipeline.js"
import type * as MessageBatches from "./MessageBatches.js"
import type * as Messages from "./Messages.js"
import type * as MessageStream from "./MessageStream.js"
import * as RateLimitState from "./RateLimitState.js"
import type * as RetryPolicy from "./RetryPolicy.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = internal.TypeId

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
export const defaultBaseUrl = ClientConfig.defaultBaseUrl

/**
 * @since 0.1.0
 * @category constants
 */
export const defaultAnthropicVersion = ClientConfig.defaultAnthropicVersion

/**
 * Checks a base URL: absolute, `http:` or `https:`, no credentials, query or
 * fragment. Returns it without trailing slashes (paths are appended to it).
 *
 * @since 0.2.0
 * @category constructors
 */
export const parseBaseUrl: (baseUrl: string) => Either.Either<string, ClaudeError.InvalidBaseUrlError> =
  ClientConfig.parseBaseUrl

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
export const make: (
  options: Options
) => Effect.Effect<ClaudeClient, ClaudeError.InvalidBaseUrlError, Dependencies> = internal.make

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
export const config: Config.Config<Options> = ClientConfig.config

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
