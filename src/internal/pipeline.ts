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
import type * as Headers from "@effect/platform/Headers"
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Tracer from "effect/Tracer"
import * as Admission from "../Admission.js"
import type * as AdmissionStore from "../AdmissionStore.js"
import type * as CircuitBreaker from "../CircuitBreaker.js"
import * as ClaudeError from "../ClaudeError.js"
import type * as Messages from "../Messages.js"
import type * as MessageStream from "../MessageStream.js"
import * as RateLimitHeaders from "../RateLimitHeaders.js"
import * as RetryPolicy from "../RetryPolicy.js"
import * as Delivery from "./delivery.js"
import * as GenAi from "./genAiTelemetry.js"
import * as Streaming from "./streaming.js"
import * as Watchdog from "./watchdog.js"

/** How one attempt can fail. @internal */
export type AttemptError =
  | ClaudeError.ClaudeError
  | CircuitBreaker.CircuitOpenError
  | Admission.RefusalError
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

// The span attributes and metrics of a call's answer, in OpenTelemetry's GenAI names.
const answered = (
  call: Call,
  usage: Messages.Usage | undefined,
  value: unknown,
  span: Tracer.Span
): Effect.Effect<void> => {
  if (usage === undefined) return Effect.void
  const used = usageOf(usage)
  const message = value as Partial<Messages.Message>
  span.attribute("gen_ai.usage.input_tokens", used.inputTokens)
  span.attribute("gen_ai.usage.output_tokens", used.outputTokens)
  if (typeof message.id === "string") span.attribute("gen_ai.response.id", message.id)
  if (typeof message.model === "string") span.attribute("gen_ai.response.model", message.model)
  if (typeof message.stop_reason === "string") span.attribute("gen_ai.response.finish_reasons", [message.stop_reason])
  return GenAi.recordUsage(call.attributes, used)
}

const errorTypeOf = (cause: Cause.Cause<unknown>): string =>
  Option.match(Cause.failureOption(cause), {
    onNone: () => Cause.isInterruptedOnly(cause) ? "interrupted" : "defect",
    onSome: (error) => typeof error === "object" && error !== null && "_tag" in error ? String(error._tag) : "unknown"
  })

/** Whether the call ended on an answer from the API (rather than without one). @internal */
const answeredWith = (error: CallError): boolean => {
  const last = "lastError" in error ? error.lastError : error
  return ClaudeError.isResponseError(last)
}

// The usage of a JSON answer read as text, if it has one.
const usageInBody = (body: string): Messages.Usage | undefined => {
  try {
    const usage = (JSON.parse(body) as { readonly usage?: Messages.Usage } | null)?.usage
    return typeof usage?.input_tokens === "number" && typeof usage.output_tokens === "number" ? usage : undefined
  } catch {
    return undefined
  }
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

/** An error answer as it came, to hand on as is. @internal */
export interface ErrorAnswer {
  readonly status: number
  readonly headers: Headers.Headers
  readonly body: string
}

/** An answer to hand on as an HTTP response. @internal */
export type RawAnswer =
  | { readonly _tag: "Answer"; readonly status: number; readonly headers: Headers.Headers; readonly body: string }
  | {
    readonly _tag: "Stream"
    readonly status: number
    readonly headers: Headers.Headers
    readonly body: Stream.Stream<Uint8Array, Delivery.StreamBrokenError>
  }

/** @internal */
export interface Pipeline {
  /** A call answered with one body, read with `decode`; `usage` says what it used. */
  readonly call: <A>(
    call: Call,
    decode: BodyDecoder<A>,
    usage: (value: A) => Messages.Usage | undefined
  ) => Effect.Effect<A, CallError>
  /**
   * A call whose answer is handed on as an HTTP response (see {@link RawAnswer}) (for SDKs that read
   * it themselves): the body read and settled, or, for a stream, its events
   * as server-sent event bytes, settled as they pass. When the policy gives
   * up on an error answer, that answer is the response; a failure without
   * one (open circuit, admission, connection) is the error.
   */
  readonly raw: (call: Call, streamed: boolean) => Effect.Effect<RawAnswer, CallError>
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
    rateLimits: RateLimitHeaders.RateLimitSnapshot,
    remember: ((answer: ErrorAnswer) => void) | undefined
  ): Effect.Effect<never, ClaudeError.ClaudeError> =>
    Effect.flatMap(Effect.mapError(response.text, toConnectionError), (body) => {
      remember?.({ status: response.status, headers: response.headers, body })
      return Effect.fail(ClaudeError.fromResponse({ status: response.status, body, rateLimits, secrets }))
    })

  const watchdog = Watchdog.make(timeout)
  const timedOut = () =>
    new ClaudeError.TimeoutError({ timeout, message: `No complete response within ${Duration.format(timeout)}` })
  const timed = <A, R>(effect: Effect.Effect<A, ClaudeError.ClaudeError, R>) => watchdog.timeout(effect, timedOut)

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
        // the gate holds a retry until the server's time; with the gate off, the schedule must sleep it
        headerWaits: admission.gating ? "gate" : "sleep",
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

  type Read<A, R> = (
    response: HttpClientResponse.HttpClientResponse,
    rateLimits: RateLimitHeaders.RateLimitSnapshot,
    ticket: Admission.Ticket
  ) => Effect.Effect<A, ClaudeError.ClaudeError, R>

  const admitRequest = (call: Call, number: number): Admission.AdmitRequest => ({
    pool: call.pool,
    cost: call.cost,
    lane: call.lane,
    deadline: call.deadline,
    retry: number > 1
  })

  // Sends an admitted attempt and reads its answer; a failure settles the lease with what it says.
  const send = <A, R>(
    call: Call,
    number: number,
    span: Tracer.Span,
    ticket: Admission.Ticket,
    read: Read<A, R>,
    remember: ((answer: ErrorAnswer) => void) | undefined
  ): Effect.Effect<A, ClaudeError.ClaudeError | CircuitBreaker.CircuitOpenError, R> =>
    breaker.protect(timed(
      Effect.flatMap(execute(call.request), (response) =>
        Effect.flatMap(RateLimitHeaders.decode(response.headers), (rateLimits) =>
          response.status < 200 || response.status >= 300
            ? errorOf(response, rateLimits, remember)
            : read(response, rateLimits, ticket)))
    )).pipe(
      Effect.tapError((error) =>
        ticket.complete(outcomeOf(error))
      ),
      // no stack trace: it would cost more than the rest of the span, on every attempt
      Effect.withSpan(`${call.name}.attempt`, {
        attributes: { "claude.attempt": number },
        parent: span,
        captureStackTrace: false
      })
    )

  /**
   * One attempt answered with one value: fails fast while the circuit is
   * open, waits for admission, sends and reads; the lease is released when
   * it ends (no Scope: this is every request's path).
   */
  const attemptOnce = <A>(
    call: Call,
    number: number,
    span: Tracer.Span,
    read: Read<A, never>,
    remember?: (answer: ErrorAnswer) => void
  ): Effect.Effect<A, AttemptError> =>
    // an open circuit fails fast: no point queueing for budget first
    Effect.zipRight(
      breaker.check,
      admission.withTicket(admitRequest(call, number), (ticket) => send(call, number, span, ticket, read, remember))
    )

  /**
   * One attempt that opens a stream: as {@link attemptOnce}, but the scope
   * holding its lease is returned open with the value, to be closed when the
   * stream ends; on failure it is closed here.
   */
  const attemptOpen = <A>(
    call: Call,
    number: number,
    span: Tracer.Span,
    read: Read<A, Scope.Scope>,
    remember?: (answer: ErrorAnswer) => void
  ): Effect.Effect<readonly [A, Scope.CloseableScope], AttemptError> =>
    Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(Scope.make(), (scope) => {
        const body = Effect.zipRight(
          breaker.check,
          Effect.flatMap(admission.admit(admitRequest(call, number)), (ticket) =>
            send(call, number, span, ticket, read, remember))
        ).pipe(Scope.extend(scope))
        return Effect.flatMap(Effect.exit(restore(body)), (exit) =>
          Exit.isSuccess(exit)
            ? Effect.succeed([exit.value, scope] as const)
            : Effect.zipRight(Scope.close(scope, exit), Effect.failCause(exit.cause)))
      })
    )

  // The call's span is made at once (so it covers any wait) but entered only by the attempts, which name it as
  // their parent: a request waiting at the gate then holds a span object, not the context frames around it.
  const retried = <A>(
    call: Call,
    run: (number: number, span: Tracer.Span) => Effect.Effect<A, AttemptError>,
    onSuccess: (value: A, span: Tracer.Span) => Effect.Effect<void> = () => Effect.void
  ): Effect.Effect<A, CallError> =>
    Effect.flatMap(
      Effect.makeSpan(call.name, {
        attributes: { "claude.pool": call.pool, "claude.path": call.request.url, ...call.attributes },
        captureStackTrace: false
      }),
      (span) =>
        Effect.clockWith((clock) => {
          const start = clock.unsafeCurrentTimeMillis()
          let attempts = 0
          const once = Effect.suspend(() => run(++attempts, span))
          const retrier = retrierFor(call.pool)
          const all: Effect.Effect<A, CallError> = retrier === undefined ? once : retrier(once)
          return all.pipe(
            Effect.tap((value) => onSuccess(value, span)),
            Effect.onExit((exit) =>
              Effect.suspend(() => {
                span.attribute("claude.attempts", attempts)
                span.end(clock.unsafeCurrentTimeNanos(), exit)
                return GenAi.recordDuration(
                  call.attributes,
                  (clock.unsafeCurrentTimeMillis() - start) / 1000,
                  Exit.isSuccess(exit) ? undefined : errorTypeOf(exit.cause)
                )
              })
            )
          )
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
      (number, span) => attemptOnce(call, number, span, read),
      (value, span) => answered(call, usage(value), value, span)
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
      ) =>
        Effect.map(Streaming.open(response, rateLimits, secrets, timeout), (opened) => ({ opened, rateLimits, ticket }))
      const [{ opened, rateLimits, ticket }, scope] = yield* retried(
        call,
        (number, span) => attemptOpen(call, number, span, read)
      )
      yield* Effect.addFinalizer((exit) => Scope.close(scope, exit))
      return Delivery.events(opened, rateLimits, ticket, (used) => GenAi.recordUsage(call.attributes, used))
    }))

  const raw = (call: Call, streamed: boolean): Effect.Effect<RawAnswer, CallError> =>
    Effect.suspend(() => {
      let lastError: ErrorAnswer | undefined
      const remember = (answer: ErrorAnswer) => {
        lastError = answer
      }
      const readBody = (
        response: HttpClientResponse.HttpClientResponse,
        rateLimits: RateLimitHeaders.RateLimitSnapshot,
        ticket: Admission.Ticket
      ) =>
        Effect.gen(function*() {
          const body = yield* Effect.mapError(response.text, toConnectionError)
          yield* ticket.complete(
            Admission.Outcome.Served({ rateLimits, usage: usageOf(usageInBody(body)), streamed: false })
          )
          return { _tag: "Answer" as const, status: response.status, headers: response.headers, body }
        })
      const readStream = (
        response: HttpClientResponse.HttpClientResponse,
        rateLimits: RateLimitHeaders.RateLimitSnapshot,
        ticket: Admission.Ticket
      ) =>
        Effect.map(Streaming.open(response, rateLimits, secrets, timeout), (opened) => ({
          _tag: "Stream" as const,
          status: response.status,
          headers: response.headers,
          body: Delivery.bytes(opened, rateLimits, ticket, (used) => GenAi.recordUsage(call.attributes, used))
        }))
      const answered = retried<RawAnswer>(call, (number, span) =>
        streamed
          ? Effect.map(attemptOpen(call, number, span, readStream, remember), ([answer, scope]): RawAnswer => ({
            ...answer,
            // the lease is held until the reader is done with the stream
            body: Stream.ensuring(answer.body, Scope.close(scope, Exit.void))
          }))
          : attemptOnce<RawAnswer>(call, number, span, readBody, remember))
      return Effect.catchAll(answered, (error) => {
        // the policy gave up on an error answer: hand that answer on, as the API gave it
        const last = lastError
        return last !== undefined && answeredWith(error)
          ? Effect.succeed<RawAnswer>({ _tag: "Answer", ...last })
          : Effect.fail(error)
      })
    })

  return { call: callBody, raw, stream }
}
