/**
 * What every competing strategy shares: one attempt of `POST /v1/messages`
 * over the `HttpClient` in context, and a `ClaudeClient` built from a
 * retry policy, so the comparison runs each strategy through the same
 * workload runner as this library. No admission: a strategy only decides
 * whether and when to send again (and, for the header-aware handler,
 * whether to hold a request before sending it).
 *
 * Only `createMessage` is implemented; the other methods fail at once with a
 * `RequestValidationError` saying so (nothing is sent).
 *
 * Time goes through `Clock` and randomness through `Random`, so a strategy's
 * timeline is exact under `TestClock` and replays from the seed in virtual
 * time.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as ClaudeClient from "../../src/ClaudeClient.js"
import * as ClaudeError from "../../src/ClaudeError.js"
import * as Messages from "../../src/Messages.js"
import * as RateLimitHeaders from "../../src/RateLimitHeaders.js"

/** Where a strategy's client connects (the runner's `Connection`). */
export interface Connection {
  readonly apiKey: Redacted.Redacted<string>
  readonly baseUrl?: string | undefined
}

/** A failed attempt: the typed error the caller gets if it is not retried, and what came with it. */
export interface Failure {
  readonly error: ClaudeError.ClaudeError
  /** the HTTP status; 0 when there was no answer (connection error, timeout) */
  readonly status: number
  /** the answer's headers, lower-case; empty when there was no answer */
  readonly headers: Readonly<Record<string, string>>
}

/** A successful attempt. */
export interface Success {
  readonly message: Messages.Message
  readonly headers: Readonly<Record<string, string>>
}

/** How a strategy retries; `retry` counts from 1 (the first retry). */
export interface Policy {
  readonly name: string
  /** The wait before retry number `retry` after `failure`; none gives up with `failure.error`. */
  readonly retryDelay: (failure: Failure, retry: number) => Effect.Effect<Option.Option<Duration.Duration>>
  /** Runs before every attempt: may wait, or refuse (an open circuit). */
  readonly beforeAttempt?: Effect.Effect<void, ClaudeClient.ClaudeClientError> | undefined
  /** Sees every attempt's result (to learn from headers, to count failures). */
  readonly onResult?: ((result: Either.Either<Success, Failure>) => Effect.Effect<void>) | undefined
  /** Per-attempt timeout (a `TimeoutError`, status 0). Default: none. */
  readonly timeout?: Duration.DurationInput | undefined
}

const decodeMessage = Schema.decodeUnknown(Schema.parseJson(Messages.Message))

/** One attempt: the answer decoded, or a typed failure with the answer's status and headers. */
export const attempt = (
  http: HttpClient.HttpClient,
  request: HttpClientRequest.HttpClientRequest,
  options: { readonly secrets: ReadonlyArray<Redacted.Redacted<string>>; readonly timeout?: Duration.Duration }
): Effect.Effect<Success, Failure> => {
  const noAnswer = (message: string, cause: unknown): Failure => ({
    error: new ClaudeError.ConnectionError({ message, cause }),
    status: 0,
    headers: {}
  })
  const send = Effect.gen(function*() {
    const response = yield* Effect.mapError(http.execute(request), (error) => noAnswer(error.message, error.cause))
    const body = yield* Effect.mapError(response.text, (error) => noAnswer(error.message, error.cause))
    const rateLimits = RateLimitHeaders.decodeAt(response.headers, DateTime.unsafeMake(yield* Clock.currentTimeMillis))
    const headers = response.headers
    if (response.status >= 200 && response.status < 300) {
      return yield* Effect.mapError(decodeMessage(body), (error): Failure => ({
        error: ClaudeError.malformedResponse({
          status: response.status,
          body,
          problem: ClaudeError.describeParseError(error),
          rateLimits,
          secrets: options.secrets
        }),
        status: response.status,
        headers
      })).pipe(Effect.map((message): Success => ({ message, headers })))
    }
    return yield* Effect.fail<Failure>({
      error: ClaudeError.fromResponse({ status: response.status, body, rateLimits, secrets: options.secrets }),
      status: response.status,
      headers
    })
  })
  const timeout = options.timeout
  return timeout === undefined ? send : send.pipe(
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: (): Failure => ({
        error: new ClaudeError.TimeoutError({
          timeout,
          message: `No complete response within ${Duration.format(timeout)}`
        }),
        status: 0,
        headers: {}
      })
    })
  )
}

const unsupported = (name: string, method: string) =>
  new ClaudeError.RequestValidationError({
    message: `The "${name}" strategy implements createMessage only, not ${method} (nothing was sent)`,
    issues: []
  })

/** A `ClaudeClient` with only `createMessage`: every other method fails at once with a typed error. */
export const client = (
  name: string,
  createMessage: ClaudeClient.ClaudeClient["createMessage"]
): ClaudeClient.ClaudeClient => ({
  [ClaudeClient.TypeId]: ClaudeClient.TypeId,
  createMessage,
  streamMessage: () => Stream.fail(unsupported(name, "streamMessage")),
  countTokens: () => Effect.fail(unsupported(name, "countTokens")),
  createBatch: () => Effect.fail(unsupported(name, "createBatch")),
  retrieveBatch: () => Effect.fail(unsupported(name, "retrieveBatch")),
  batchResults: () => Effect.fail(unsupported(name, "batchResults"))
})

/** A `ClaudeClient` that sends with the `HttpClient` in context and retries as `policy` says. */
export const make = (
  policy: Policy,
  connection: Connection
): Effect.Effect<ClaudeClient.ClaudeClient, never, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const http = yield* HttpClient.HttpClient
    const baseUrl = (connection.baseUrl ?? ClaudeClient.defaultBaseUrl).replace(/\/+$/, "")
    const secrets = [connection.apiKey]
    const timeout = policy.timeout === undefined ? undefined : Duration.decode(policy.timeout)
    const attemptOptions = timeout === undefined ? { secrets } : { secrets, timeout }

    const post = HttpClientRequest.post(`${baseUrl}/v1/messages`).pipe(
      HttpClientRequest.setHeaders({
        "x-api-key": Redacted.value(connection.apiKey),
        "anthropic-version": ClaudeClient.defaultAnthropicVersion
      })
    )

    const createMessage = (params: Messages.CreateMessageParams) =>
      Effect.flatMap(
        Effect.mapError(
          HttpClientRequest.bodyJson(post, params),
          (error) => ClaudeError.requestValidationError({ reason: error.reason.error })
        ),
        (request) => {
          const from = (retry: number): Effect.Effect<Messages.Message, ClaudeClient.ClaudeClientError> =>
            Effect.gen(function*() {
              if (policy.beforeAttempt !== undefined) yield* policy.beforeAttempt
              const result = yield* Effect.either(attempt(http, request, attemptOptions))
              if (policy.onResult !== undefined) yield* policy.onResult(result)
              if (Either.isRight(result)) return result.right.message
              const delay = yield* policy.retryDelay(result.left, retry + 1)
              if (Option.isNone(delay)) return yield* Effect.fail(result.left.error)
              // whole milliseconds, as timers keep them (and as virtual time needs them)
              yield* Effect.sleep(Duration.millis(Math.round(Duration.toMillis(delay.value))))
              return yield* from(retry + 1)
            })
          return from(0)
        }
      )

    return client(policy.name, createMessage)
  })

/** The strategy as the `ClaudeClient` service; `policy` is built once per layer (it may hold state). */
export const layer = (
  policy: Effect.Effect<Policy>,
  connection: Connection
): Layer.Layer<ClaudeClient.ClaudeClient, never, HttpClient.HttpClient> =>
  Layer.effect(ClaudeClient.ClaudeClient, Effect.flatMap(policy, (p) => make(p, connection)))

/** Full jitter: uniform in `[0, min(cap, base × 2^(retry − 1)))`. */
export const fullJitter = (
  retry: number,
  options: { readonly base: Duration.DurationInput; readonly cap: Duration.DurationInput }
): Effect.Effect<Duration.Duration> =>
  Effect.map(Random.next, (u) => {
    const ceiling = Math.min(
      Duration.toMillis(options.cap),
      Duration.toMillis(options.base) * Math.pow(2, retry - 1)
    )
    return Duration.millis(u * ceiling)
  })
