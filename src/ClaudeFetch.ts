/**
 * The rate-limit pipeline as a `fetch`, for the official Anthropic SDK (or
 * any code that calls the API with `fetch`) in applications that are not
 * written in Effect:
 *
 * ```ts
 * const claudeFetch = ClaudeFetch.make()
 * const anthropic = new Anthropic({ fetch: claudeFetch, maxRetries: 0 })
 * // …
 * await claudeFetch.dispose()
 * ```
 *
 * Every Messages request (streaming or not), token count and Message Batches
 * request passes admission, the circuit breaker and the retry policy (see
 * `ClaudeHttpClient`); other requests pass through. It runs on an Effect
 * runtime of its own, started on the first request and closed by `dispose`.
 *
 * One instance holds one budget: create one per process and give it to
 * every SDK client, so they share it. Turn the SDK's own retries off
 * (`maxRetries: 0`): this retries with the API's guidance, and retries on
 * top of it would multiply the load on a struggling API.
 *
 * @since 0.2.0
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as HashMap from "effect/HashMap"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as Admission from "./Admission.js"
import type * as AdmissionStore from "./AdmissionStore.js"
import type * as CircuitBreaker from "./CircuitBreaker.js"
import * as ClaudeHttpClient from "./ClaudeHttpClient.js"
import * as Internal from "./internal/fetch.js"

/**
 * A `fetch`-compatible function, as the official SDK's `fetch` option takes it.
 *
 * @since 0.2.0
 * @category models
 */
export type Fetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>

/**
 * What {@link make} returns: a `fetch` (callable itself, or as `.fetch`)
 * and `dispose`, which stops what is in flight and closes the runtime.
 *
 * @since 0.2.0
 * @category models
 */
export interface ClaudeFetch extends Fetch {
  readonly fetch: Fetch
  /**
   * Interrupts requests still waiting or in flight (they reject with a
   * `ClaudeFetchError`) and bodies still being read, releases their budget,
   * and closes the runtime. Later calls reject at once. Safe to call more
   * than once; every call resolves when it is done.
   */
  readonly dispose: () => Promise<void>
}

/**
 * Why a request got no answer (an open circuit, a wait longer than allowed,
 * a request larger than a bucket, a lost connection, `dispose`). A
 * `TypeError`, as `fetch`'s own network failures are, so the SDK raises its
 * `APIConnectionError` with this as its `cause`; this error's own `cause` is
 * the library's typed error (`CircuitOpenError`, `BudgetWaitTooLongError`,
 * …), whose `_tag` says which. An answer the API gave, even an error
 * answer after the retries ran out, is never this: it is handed to the SDK
 * as a `Response`, and the SDK raises its own typed error for it.
 *
 * @since 0.2.0
 * @category errors
 */
export const ClaudeFetchError: typeof Internal.ClaudeFetchError = Internal.ClaudeFetchError

/**
 * @since 0.2.0
 * @category errors
 */
export type ClaudeFetchError = Internal.ClaudeFetchError

/**
 * Where log lines go: `console` by default (the official SDK's shape).
 *
 * @since 0.2.0
 * @category models
 */
export interface FetchLogger {
  readonly debug: (message: string, ...rest: ReadonlyArray<unknown>) => void
  readonly info: (message: string, ...rest: ReadonlyArray<unknown>) => void
  readonly warn: (message: string, ...rest: ReadonlyArray<unknown>) => void
  readonly error: (message: string, ...rest: ReadonlyArray<unknown>) => void
}

/**
 * @since 0.2.0
 * @category models
 */
export type FetchLogLevel = "debug" | "info" | "warn" | "error" | "off"

/**
 * Options of {@link make}. Every one has a default.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options extends ClaudeHttpClient.Options {
  /** Admission: limits known in advance, reserve share, concurrency, lanes. */
  readonly admission?: Admission.Options | undefined
  /** Circuit breaker options; `false` for none. */
  readonly circuitBreaker?: CircuitBreaker.Options | false | undefined
  /** A store that shares the budget between processes (e.g. a Redis one). Default: in memory, this instance's. */
  readonly store?: Layer.Layer<AdmissionStore.AdmissionStore, unknown> | undefined
  /** The client that sends the requests. Default: the platform's `fetch` (`FetchHttpClient`). */
  readonly httpClient?: Layer.Layer<HttpClient.HttpClient, unknown> | undefined
  /** Default `"warn"`: retries and waits are logged at `"info"`, open circuits at `"warn"`. */
  readonly logLevel?: FetchLogLevel | undefined
  /** Default `console`. */
  readonly logger?: FetchLogger | undefined
}

const closedError = () =>
  new Internal.ClaudeFetchError("ClaudeFetch is disposed: the request was not sent, or was stopped", {
    cause: "disposed"
  })

/**
 * The `fetch` on the `Admission` gate, `CircuitBreaker` and `HttpClient` in
 * context, for Effect applications that also call the API through the
 * official SDK: give it the services your `ClaudeClient` uses, and both share
 * one budget. Requests and bodies still open when the scope closes are
 * stopped (and awaited).
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeScoped = (
  options: ClaudeHttpClient.Options = {}
): Effect.Effect<
  Fetch,
  never,
  Scope.Scope | HttpClient.HttpClient | Admission.Admission | CircuitBreaker.CircuitBreaker
> =>
  Effect.gen(function*() {
    const transform = yield* ClaudeHttpClient.transform(options)
    // the Anthropic host has no use for our trace ids
    const client = HttpClient.withTracerPropagation(transform(yield* HttpClient.HttpClient), false)
    return yield* Internal.make(client, closedError)
  })

const FetchService = Context.GenericTag<Fetch>("claude-rate-limiter/ClaudeFetch/Fetch")

const logLevels: Record<FetchLogLevel, LogLevel.LogLevel> = {
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warn: LogLevel.Warning,
  error: LogLevel.Error,
  off: LogLevel.None
}

const loggerLayer = (logger: FetchLogger, level: FetchLogLevel): Layer.Layer<never> =>
  Layer.merge(
    Logger.replace(
      Logger.defaultLogger,
      Logger.make(({ annotations, cause, logLevel, message }) => {
        const text = Array.isArray(message) ? message.map(String).join(" ") : String(message)
        const details: Record<string, unknown> = Object.fromEntries(HashMap.toEntries(annotations))
        if (!Cause.isEmpty(cause)) details.cause = Cause.pretty(cause)
        const rest = Object.keys(details).length > 0 ? [details] : []
        const line = `[claude-rate-limiter] ${text}`
        if (LogLevel.greaterThanEqual(logLevel, LogLevel.Error)) logger.error(line, ...rest)
        else if (LogLevel.greaterThanEqual(logLevel, LogLevel.Warning)) logger.warn(line, ...rest)
        else if (LogLevel.greaterThanEqual(logLevel, LogLevel.Info)) logger.info(line, ...rest)
        else logger.debug(line, ...rest)
      })
    ),
    Logger.minimumLogLevel(logLevels[level])
  )

/**
 * A `fetch` for `new Anthropic({ fetch, maxRetries: 0 })` that sends every
 * request of the SDK through the pipeline, on a runtime of its own. With no
 * options it learns each pool's limits from the API's headers, keeps its
 * budget in memory, and sends with the platform's `fetch`.
 *
 * Aborting a request (its `signal`) stops it wherever it is (waiting for
 * admission, in flight, or its body being read) and gives back what it
 * held. Create one per process: each instance has its own budget.
 *
 * @example
 * ```ts
 * import Anthropic from "@anthropic-ai/sdk"
 * import { ClaudeFetch } from "claude-rate-limiter"
 *
 * const claudeFetch = ClaudeFetch.make()
 * const anthropic = new Anthropic({ fetch: claudeFetch, maxRetries: 0 })
 * const message = await anthropic.messages.create({
 *   model: "claude-sonnet-4-6",
 *   max_tokens: 1024,
 *   messages: [{ role: "user", content: "Hello, Claude" }]
 * })
 * await claudeFetch.dispose()
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (options: Options = {}): ClaudeFetch => {
  const services = ClaudeHttpClient.layerServices(options).pipe(
    options.store === undefined ? (layer) => layer : Layer.provide(options.store)
  )
  const runtime = ManagedRuntime.make(
    Layer.scoped(FetchService, makeScoped(options)).pipe(
      Layer.provide(Layer.merge(services, options.httpClient ?? FetchHttpClient.layer)),
      Layer.provide(loggerLayer(options.logger ?? console, options.logLevel ?? "warn"))
    )
  )
  let started: Promise<Fetch> | undefined
  let disposed: Promise<void> | undefined
  const fetch: Fetch = (input, init) => {
    if (disposed !== undefined) return Promise.reject(closedError())
    started ??= runtime.runPromiseExit(FetchService).then((exit) =>
      Exit.isSuccess(exit)
        ? exit.value
        : Promise.reject(
          new Internal.ClaudeFetchError("ClaudeFetch could not start its services", {
            // the error that stopped it (an unreachable store), rather than what it interrupted
            cause: Option.getOrElse(Cause.failureOption(exit.cause), () => Cause.squash(exit.cause))
          })
        )
    )
    return started.then((send) => send(input, init))
  }
  const dispose = () => (disposed ??= runtime.dispose())
  return Object.assign((input: string | URL | Request, init?: RequestInit) => fetch(input, init), { fetch, dispose })
}
