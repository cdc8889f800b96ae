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
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import type * as Redacted from "effect/Redacted"
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
import type * as RetryPolicy from "../RetryPolicy.js"
import * as AttemptOutcome from "./attemptOutcome.js"
import * as BodyDecoder from "./bodyDecoder.js"
import * as CallTelemetry from "./callTelemetry.js"
import * as Delivery from "./delivery.js"
import * as GenAi from "./genAiTelemetry.js"
import * as PoolRetriers from "./poolRetriers.js"
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

/** Whether the call ended on an answer from the API (rather than without one). @internal */
const answeredWith = (error: CallError): boolean => {
  const last = "lastError" in error ? error.lastError : error
  return ClaudeError.isResponseError(last)
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
    decode: BodyDecoder.BodyDecoder<A>,
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

  const retrierFor = PoolRetriers.make(options.retry, admission)

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
        ticket.complete(AttemptOutcome.outcomeOf(error))
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
                  Exit.isSuccess(exit) ? undefined : CallTelemetry.errorTypeOf(exit.cause)
                )
              })
            )
          )
        })
    )

  const callBody = <A>(
    call: Call,
    decode: BodyDecoder.BodyDecoder<A>,
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
          Admission.Outcome.Served({ rateLimits, usage: AttemptOutcome.usageOf(usage(decoded.right)), streamed: false })
        )
        return decoded.right
      })
    return retried(
      call,
      (number, span) => attemptOnce(call, number, span, read),
      (value, span) => CallTelemetry.answered(call.attributes, usage(value), value, span)
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
            Admission.Outcome.Served({
              rateLimits,
              usage: AttemptOutcome.usageOf(BodyDecoder.usageInBody(body)),
              streamed: false
            })
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
