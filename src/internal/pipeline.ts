/**
 * The request path every call of the client takes, whatever it returns:
 *
 * ```
 * breaker check ─▶ admission ─▶ breaker ─▶ HTTP ─▶ decode headers ─▶ read ─▶ settle the lease
 *       ▲                                                                        │
 *       └──────────────────────── retry policy (whether) ◀───────────────────────┘
 * ```
 *
 * An attempt runs in a scope of its own that holds its admission lease. A
 * call that answers with one value closes it at once; a stream keeps it open
 * until the stream ends, so the lease is settled when the answer's usage is
 * known and released however the stream stops.
 *
 * @internal
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Admission from "../Admission.js"
import type * as AdmissionStore from "../AdmissionStore.js"
import type * as CircuitBreaker from "../CircuitBreaker.js"
import * as ClaudeError from "../ClaudeError.js"
import type * as Messages from "../Messages.js"
import * as MessageStream from "../MessageStream.js"
import * as RateLimitHeaders from "../RateLimitHeaders.js"
import * as RetryPolicy from "../RetryPolicy.js"
import * as Streaming from "./streaming.js"

/** How one attempt can fail. @internal */
export type AttemptError =
  | ClaudeError.ClaudeError
  | CircuitBreaker.CircuitOpenError
  | Admission.BudgetWaitTooLongError
  | Admission.RequestExceedsLimitError
  | AdmissionStore.AdmissionStoreError

/** How a call can fail. @internal */
export type CallError = AttemptError | RetryPolicy.GiveUpError<AttemptError>

/** One call: where it goes, what it costs, and how it is admitted. @internal */
export interface Call {
  /** the span's name */
  readonly name: string
  readonly request: HttpClientRequest.HttpClientRequest
  readonly pool: string
  readonly cost: AdmissionStore.Cost
  readonly lane?: Admission.Lane | undefined
  readonly deadline?: Duration.DurationInput | undefined
  readonly attributes?: Readonly<Record<string, unknown>> | undefined
}

/** @internal */
export interface PipelineOptions {
  /** sends with the base URL and authentication in place */
  readonly http: HttpClient.HttpClient
  readonly admission: Admission.Admission
  readonly breaker: CircuitBreaker.CircuitBreaker
  readonly timeout: Duration.Duration
  readonly retry: RetryPolicy.Options | false
  readonly secrets: ReadonlyArray<Redacted.Redacted<string>>
}

// A concurrent-requests 429 says so only in its message (the real API's wording)
const concurrencyMessage = /concurrent (connections|requests)/i
// and sometimes its limit: "… has exceeded your rate limit of 20"
const concurrencyLimit = /limit of (\d+)/i

/** What the API's refusal tells admission. @internal */
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

/** How a failed attempt ended, as admission needs to know it. @internal */
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

/** What an answer's `usage` counts against the buckets. @internal */
export const usageOf = (usage: Messages.Usage | undefined): Admission.Usage =>
  usage === undefined
    ? { inputTokens: 0, outputTokens: 0 }
    : { inputTokens: usage.input_tokens + (usage.cache_creation_input_tokens ?? 0), outputTokens: usage.output_tokens }

/** Reads a 2xx body: the value, or the problem (bounded text) that makes it a MalformedResponseError. @internal */
export type BodyDecoder<A> = (body: string) => Either.Either<A, string>

// A 200 body is parsed once; a decode failure (not JSON, another shape, nesting too deep to even describe)
// is the problem text of a MalformedResponseError, never a defect.
const parse = <A>(body: string, decode: (json: unknown) => Either.Either<A, string>): Either.Either<A, string> => {
  try {
    return decode(JSON.parse(body))
  } catch (error) {
    return Either.left(error instanceof SyntaxError ? `not JSON (${error.message})` : "nested too deeply to decode")
  }
}

/** A body that is one JSON value of `schema`. @internal */
export const json = <A, I>(schema: Schema.Schema<A, I>): BodyDecoder<A> => {
  const decode = Schema.decodeUnknownEither(schema)
  return (body) => parse(body, (value) => Either.mapLeft(decode(value), ClaudeError.describeParseError))
}

/** A body of JSON Lines, each a value of `schema`. @internal */
export const jsonLines = <A, I>(schema: Schema.Schema<A, I>): BodyDecoder<ReadonlyArray<A>> => {
  const decode = Schema.decodeUnknownEither(schema)
  return (body) => {
    const values: Array<A> = []
    for (const line of body.split("\n")) {
      if (line.trim() === "") continue
      const value = parse(line, (each) => Either.mapLeft(decode(each), ClaudeError.describeParseError))
      if (Either.isLeft(value)) return Either.left(`line ${values.length + 1}: ${value.left}`)
      values.push(value.right)
    }
    return Either.right(values)
  }
}

/** @internal */
export interface Pipeline {
  /** A call answered with one body, read with `decode`; `usage` says what it used. */
  readonly call: <A>(
    call: Call,
    decode: BodyDecoder<A>,
    usage: (value: A) => Messages.Usage | undefined
  ) => Effect.Effect<A, CallError>
  /** A streamed call: its events, retried while nothing has reached the caller. */
  readonly stream: (call: Call) => Stream.Stream<
    MessageStream.MessageStreamEvent,
    CallError | MessageStream.StreamInterruptedError
  >
}

/** @internal */
export const make = (options: PipelineOptions): Pipeline => {
  const { admission, breaker, secrets, timeout } = options

  // The HttpClientError holds the request, and so the API key: keep only what went wrong.
  const toConnectionError = (error: HttpClientError.HttpClientError): ClaudeError.ConnectionError =>
    new ClaudeError.ConnectionError({ message: error.message, cause: error.cause })

  const execute = (request: HttpClientRequest.HttpClientRequest) =>
    options.http.execute(request).pipe(
      Effect.catchTags({
        RequestError: (error) =>
          error.reason === "Transport"
            ? Effect.fail(toConnectionError(error))
            : Effect.dieMessage(`Cannot send request: ${error.message}`),
        ResponseError: (error) => Effect.fail(toConnectionError(error))
      })
    )

  const errorOf = (
    response: HttpClientResponse.HttpClientResponse,
    rateLimits: RateLimitHeaders.RateLimitSnapshot
  ): Effect.Effect<never, ClaudeError.ClaudeError> =>
    Effect.flatMap(
      Effect.mapError(response.text, toConnectionError),
      (body) => Effect.fail(ClaudeError.fromResponse({ status: response.status, body, rateLimits, secrets }))
    )

  const timed = <A>(effect: Effect.Effect<A, ClaudeError.ClaudeError, Scope.Scope>) =>
    Effect.timeoutFail(effect, {
      duration: timeout,
      onTimeout: () =>
        new ClaudeError.TimeoutError({ timeout, message: `No complete response within ${Duration.format(timeout)}` })
    })

  // One retry schedule per pool, built once: the retry budget it consults is the pool's.
  const retriers = new Map<
    string,
    <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | RetryPolicy.GiveUpError<E>, R>
  >()
  const retrierFor = (pool: string) => {
    const retry = options.retry
    if (retry === false) return undefined
    let retrier = retriers.get(pool)
    if (retrier === undefined) {
      retrier = RetryPolicy.retry({
        ...retry,
        headerWaits: "gate",
        // a retry budget keeps a fleet of callers from multiplying load on a struggling API; a caller who asked to
        // wait out outages (retryOnOpenCircuit) is protected by the breaker instead, and loses nothing
        allowRetry: retry.allowRetry
          ?? ((error) =>
            retry.retryOnOpenCircuit === true || !ClaudeError.isServiceFailure(error)
              ? Effect.succeed(true)
              : admission.retryAllowed(pool))
      })
      retriers.set(pool, retrier)
    }
    return retrier
  }

  /**
   * One attempt: fails fast while the circuit is open, waits for admission,
   * sends and reads. The scope holding its lease is returned open with the
   * value; on failure the lease is settled and the scope closed here.
   */
  const attempt = <A>(
    call: Call,
    number: number,
    read: (
      response: HttpClientResponse.HttpClientResponse,
      rateLimits: RateLimitHeaders.RateLimitSnapshot,
      ticket: Admission.Ticket
    ) => Effect.Effect<A, ClaudeError.ClaudeError, Scope.Scope>
  ): Effect.Effect<readonly [A, Scope.CloseableScope], AttemptError> =>
    Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(Scope.make(), (scope) => {
        const body = Effect.gen(function*() {
          // an open circuit fails fast: no point queueing for budget first
          yield* breaker.check
          const ticket = yield* admission.admit({
            pool: call.pool,
            cost: call.cost,
            lane: call.lane,
            deadline: call.deadline,
            retry: number > 1
          })
          const sent = breaker.protect(timed(Effect.gen(function*() {
            const response = yield* execute(call.request)
            const rateLimits = yield* RateLimitHeaders.decode(response.headers)
            if (response.status < 200 || response.status >= 300) return yield* errorOf(response, rateLimits)
            return yield* read(response, rateLimits, ticket)
          })))
          return yield* sent.pipe(
            Effect.tapError((error) => ticket.complete(outcomeOf(error))),
            Effect.withSpan(`${call.name}.attempt`, { attributes: { "claude.attempt": number } })
          )
        }).pipe(Scope.extend(scope))
        return Effect.flatMap(Effect.exit(restore(body)), (exit) =>
          Exit.isSuccess(exit)
            ? Effect.succeed([exit.value, scope] as const)
            : Effect.zipRight(Scope.close(scope, exit), Effect.failCause(exit.cause)))
      })
    )

  const retried = <A>(
    call: Call,
    run: (number: number) => Effect.Effect<A, AttemptError>
  ): Effect.Effect<A, CallError> =>
    Effect.suspend(() => {
      let attempts = 0
      const once = Effect.suspend(() => run(++attempts))
      const retrier = retrierFor(call.pool)
      const all: Effect.Effect<A, CallError> = retrier === undefined ? once : retrier(once)
      return all.pipe(Effect.ensuring(Effect.suspend(() => Effect.annotateCurrentSpan("claude.attempts", attempts))))
    }).pipe(
      Effect.withSpan(call.name, {
        attributes: { "claude.pool": call.pool, "claude.path": call.request.url, ...call.attributes }
      })
    )

  const callBody = <A>(
    call: Call,
    decode: BodyDecoder<A>,
    usage: (value: A) => Messages.Usage | undefined
  ): Effect.Effect<A, CallError> => {
    const read = (
      response: HttpClientResponse.HttpClientResponse,
      rateLimits: RateLimitHeaders.RateLimitSnapshot,
      ticket: Admission.Ticket
    ) =>
      Effect.gen(function*() {
        const body = yield* Effect.mapError(response.text, toConnectionError)
        const decoded = decode(body)
        if (Either.isLeft(decoded)) {
          return yield* Effect.fail(
            ClaudeError.malformedResponse({ status: response.status, body, problem: decoded.left, rateLimits, secrets })
          )
        }
        yield* ticket.complete(
          Admission.Outcome.Served({ rateLimits, usage: usageOf(usage(decoded.right)), streamed: false })
        )
        return decoded.right
      })
    return retried(
      call,
      (number) =>
        Effect.flatMap(attempt(call, number, read), ([value, scope]) => Effect.as(Scope.close(scope, Exit.void), value))
    )
  }

  const stream = (call: Call): Stream.Stream<
    MessageStream.MessageStreamEvent,
    CallError | MessageStream.StreamInterruptedError
  > =>
    Stream.unwrapScoped(Effect.gen(function*() {
      const read = (
        response: HttpClientResponse.HttpClientResponse,
        rateLimits: RateLimitHeaders.RateLimitSnapshot,
        ticket: Admission.Ticket
      ) => Effect.map(Streaming.open(response, rateLimits, secrets), (opened) => ({ opened, rateLimits, ticket }))
      const [{ opened, rateLimits, ticket }, scope] = yield* retried(call, (number) => attempt(call, number, read))
      yield* Effect.addFinalizer((exit) => Scope.close(scope, exit))
      return deliver(opened, rateLimits, ticket)
    }))

  return { call: callBody, stream }
}

// Output produced so far when no message_delta has said: about four characters a token of what arrived.
const outputSoFar = (partial: MessageStream.PartialMessage): number =>
  Math.max(
    partial.usage.output_tokens,
    Math.ceil(
      partial.content.reduce((sum, block) => sum + JSON.stringify(block).length, 0) / 4
    )
  )

/** Hands a stream's events to the caller, settling its lease as usage arrives and whichever way it ends. */
const deliver = (
  opened: Streaming.Opened,
  rateLimits: RateLimitHeaders.RateLimitSnapshot,
  ticket: Admission.Ticket
): Stream.Stream<MessageStream.MessageStreamEvent, MessageStream.StreamInterruptedError> =>
  Stream.suspend(() => {
    let partial = MessageStream.empty
    let settled = false
    const settle = (outputTokens: number) =>
      Effect.suspend(() => {
        if (settled) return Effect.void
        settled = true
        return ticket.complete(Admission.Outcome.Served({
          rateLimits,
          usage: { ...usageOf(partial.usage), outputTokens },
          streamed: true
        }))
      })
    return Stream.concat(Stream.fromIterable(opened.buffered), opened.rest).pipe(
      Stream.tap(({ event }) => {
        partial = MessageStream.accumulate(partial, event)
        // output tokens settle as message_delta's cumulative usage arrives
        return event.type === "message_delta" ? settle(partial.usage.output_tokens) : Effect.void
      }),
      Stream.map(({ event }) => event as MessageStream.MessageStreamEvent),
      Stream.catchAll((streamBreak) =>
        Stream.fromEffect(Effect.zipRight(
          settle(outputSoFar(partial)),
          Effect.fail(
            new MessageStream.StreamInterruptedError({
              partial,
              errorType: streamBreak._tag === "ErrorEvent"
                ? streamBreak.error.errorType
                : streamBreak._tag === "Cut"
                ? "connection_error"
                : "malformed_event",
              reason: streamBreak._tag === "ErrorEvent" ? streamBreak.error.message : streamBreak.message,
              requestId: rateLimits.requestId
            })
          )
        ))
      ),
      // ended, failed, or interrupted by the caller: the lease is settled with what was produced
      Stream.ensuring(Effect.suspend(() => settle(outputSoFar(partial))))
    )
  })
