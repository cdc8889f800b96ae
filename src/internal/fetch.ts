/**
 * `fetch` over an `HttpClient`: a web `Request` in, a web `Response` out.
 *
 * The request is normalised by the platform's own `Request` constructor
 * (every body type and header form `fetch` accepts, with the same
 * `TypeError`s), then handed to the client as an `HttpClientRequest`. Bodies
 * of the Messages API's routes are read into memory first: the pipeline
 * estimates a request's cost from its body and may send it more than once.
 * Other bodies stream.
 *
 * The caller's `AbortSignal` interrupts the request while it waits or is in
 * flight (releasing whatever it holds) and fails the body of an answer
 * already handed out, as `fetch` does. When the scope closes, every request
 * and body still open is stopped the same way, and awaited.
 *
 * @internal
 */
import * as Headers from "@effect/platform/Headers"
import * as HttpBody from "@effect/platform/HttpBody"
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import type * as HttpMethod from "@effect/platform/HttpMethod"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberSet from "effect/FiberSet"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"

/** A `fetch`-compatible function. @internal */
export type Fetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>

/**
 * Why a request through `ClaudeFetch` failed without an answer. It is a
 * `TypeError`, as `fetch`'s own network failures are, so SDKs treat it as a
 * connection error; `cause` holds what really happened (this library's
 * typed error, such as `CircuitOpenError` or `BudgetWaitTooLongError`).
 *
 * @internal
 */
export class ClaudeFetchError extends TypeError {
  readonly _tag = "ClaudeFetchError"
  override readonly name = "ClaudeFetchError"
  constructor(message: string, options: { readonly cause: unknown }) {
    super(message, options)
  }
}

const methods: ReadonlySet<string> = new Set<HttpMethod.HttpMethod>([
  "GET",
  "POST",
  "PUT",
  "PATCH",
  "DELETE",
  "HEAD",
  "OPTIONS"
])

// The routes the pipeline reads the body of (and may send again): the Messages API's.
const bufferedRoute = /\/v1\/messages(\/|$)/

// Statuses whose response has no body, by the Fetch standard.
const nullBodyStatuses: ReadonlySet<number> = new Set([101, 103, 204, 205, 304])

const isStreamLike = (body: unknown): boolean =>
  typeof body === "object" && body !== null
  && (body instanceof ReadableStream || Symbol.asyncIterator in body)

/**
 * The caller's request as the platform's `Request`, which validates it as `fetch` would.
 *
 * @internal
 */
export const webRequest = (input: string | URL | Request, init: RequestInit | undefined): Request =>
  // a streamed body needs `duplex: "half"` in Node's Request
  new Request(
    input,
    init !== undefined && isStreamLike(init.body) && !("duplex" in init)
      ? { ...init, duplex: "half" } as RequestInit
      : init
  )

const contentType = (request: Request): string | undefined => request.headers.get("content-type") ?? undefined

/**
 * The `HttpClientRequest` for a web `Request`: method, URL (query and hash
 * kept), every header, and the body (in memory for the Messages API's
 * routes, streamed otherwise).
 *
 * @internal
 */
export const toHttpClientRequest = (
  request: Request
): Effect.Effect<HttpClientRequest.HttpClientRequest, ClaudeFetchError> =>
  Effect.gen(function*() {
    if (!methods.has(request.method)) {
      return yield* Effect.fail(
        new ClaudeFetchError(`Unsupported HTTP method: ${request.method}`, { cause: request.method })
      )
    }
    const url = new URL(request.url)
    const base = HttpClientRequest.make(request.method as HttpMethod.HttpMethod)(url).pipe(
      HttpClientRequest.setHeaders(Headers.fromInput(request.headers))
    )
    const body = request.body
    if (body === null) return base
    if (bufferedRoute.test(url.pathname) || !(body instanceof ReadableStream)) {
      const bytes = yield* Effect.tryPromise({
        try: () => request.arrayBuffer(),
        catch: (cause) => new ClaudeFetchError("Could not read the request body", { cause })
      })
      return HttpClientRequest.setBody(base, HttpBody.uint8Array(new Uint8Array(bytes), contentType(request)))
    }
    const length = Number(request.headers.get("content-length") ?? Number.NaN)
    return HttpClientRequest.setBody(
      base,
      HttpBody.stream(
        Stream.fromReadableStream({
          evaluate: () => body,
          onError: (cause) => new ClaudeFetchError("Could not read the request body", { cause })
        }),
        contentType(request),
        Number.isSafeInteger(length) && length >= 0 ? length : undefined
      )
    )
  })

const webHeaders = (headers: Headers.Headers): globalThis.Headers => {
  const result = new globalThis.Headers()
  for (const [name, value] of Object.entries(headers)) result.append(name, value)
  return result
}

/** What a caller may know of an error: whether it is one of this library's tagged errors. */
const isTagged = (value: unknown): value is { readonly _tag: string; readonly message: string } =>
  typeof value === "object" && value !== null && "_tag" in value && typeof value._tag === "string"
  && "message" in value && typeof value.message === "string"

// The API key travels as a header the caller set; no message of ours may repeat it.
const scrubber = (request: Request): (text: string) => string => {
  const secrets = [request.headers.get("x-api-key"), request.headers.get("authorization")?.replace(/^Bearer\s+/i, "")]
    .filter((secret): secret is string => secret !== null && secret !== undefined && secret.length >= 8)
  return (text) => secrets.reduce((scrubbed, secret) => scrubbed.split(secret).join("<redacted>"), text)
}

/**
 * The rejection for a request that got no answer: a `ClaudeFetchError`
 * whose `cause` is the pipeline's typed error when there is one, else what
 * the transport reported.
 *
 * @internal
 */
export const failureOf = (
  cause: Cause.Cause<HttpClientError.HttpClientError | ClaudeFetchError>,
  request: Request
): ClaudeFetchError => {
  const scrub = scrubber(request)
  const failure = Cause.failureOption(cause)
  if (Option.isNone(failure)) {
    const defect = Cause.squash(cause)
    return new ClaudeFetchError(
      scrub(`Request failed unexpectedly: ${defect instanceof Error ? defect.message : String(defect)}`),
      { cause: defect }
    )
  }
  const error = failure.value
  if (error._tag === "ClaudeFetchError") return error
  if (error._tag === "RequestError" && isTagged(error.cause)) {
    return new ClaudeFetchError(scrub(`Claude request got no answer: ${error.cause._tag}: ${error.cause.message}`), {
      cause: error.cause
    })
  }
  const underlying = error.cause ?? error
  return new ClaudeFetchError(
    scrub(`fetch failed: ${underlying instanceof Error ? underlying.message : String(underlying)}`),
    { cause: underlying }
  )
}

/** The reason a signal gives for an abort, as `fetch` rejects with it. @internal */
export const abortReason = (signal: AbortSignal): unknown =>
  signal.reason ?? new DOMException("This operation was aborted", "AbortError")

/**
 * A `fetch` that sends through `client`, for as long as the scope lives.
 * `onClose` is the reason given to requests and bodies still open when it
 * closes.
 *
 * @internal
 */
export const make = (
  client: HttpClient.HttpClient,
  onClose: () => Error
): Effect.Effect<Fetch, never, Scope.Scope> =>
  Effect.gen(function*() {
    const runtime = yield* Effect.runtime<never>()
    const run = yield* FiberSet.makeRuntime<never>()
    // every request or body not finished yet: its abort controller, and what to await once it is aborted
    const open = new Map<AbortController, Promise<unknown>>()
    let closed = false
    // runs before the FiberSet interrupts what is left (finalizers run in reverse order)
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        closed = true
        const reason = onClose()
        const pending = Array.from(open, ([controller, done]) => {
          controller.abort(reason)
          return done
        })
        return Effect.promise(() => Promise.allSettled(pending))
      })
    )

    // The answer's body is always read or cancelled: a stream's admission lease is released only then.
    const toResponse = (
      response: HttpClientResponse.HttpClientResponse,
      request: Request,
      controller: AbortController,
      finished: () => void
    ): Response => {
      const source = Stream.toReadableStreamRuntime(response.stream, runtime)
      const hasBody = request.method !== "HEAD" && !nullBodyStatuses.has(response.status)
      let init: ResponseInit
      try {
        init = { status: response.status, headers: webHeaders(response.headers) }
        // a status or header the web Response refuses throws here, before anything is piped
        new Response(null, init)
      } catch (error) {
        open.set(controller, source.cancel().then(finished, finished))
        throw error
      }
      if (!hasBody) {
        open.set(controller, source.cancel().then(finished, finished))
        return withUrl(new Response(null, init), request.url)
      }
      const body = abortable(source, controller.signal)
      open.set(controller, body.done.then(finished))
      return withUrl(new Response(body.readable, init), request.url)
    }

    return (input, init) => {
      if (closed) return Promise.reject(onClose())
      const signal = init?.signal ?? (input instanceof Request ? input.signal : undefined)
      if (signal?.aborted) return Promise.reject(abortReason(signal))
      let request: Request
      try {
        request = webRequest(input, init)
      } catch (error) {
        return Promise.reject(error)
      }
      const controller = new AbortController()
      const forward = () => controller.abort(abortReason(signal!))
      signal?.addEventListener("abort", forward, { once: true })
      // the FiberSet awaits the request itself; a body adds its pipe here
      open.set(controller, Promise.resolve())
      const finished = () => {
        signal?.removeEventListener("abort", forward)
        open.delete(controller)
      }
      return new Promise<Response>((resolve, reject) => {
        const fiber = run(Effect.flatMap(toHttpClientRequest(request), (converted) => client.execute(converted)))
        const interrupt = () => Effect.runFork(Fiber.interrupt(fiber))
        controller.signal.addEventListener("abort", interrupt, { once: true })
        fiber.addObserver((exit) => {
          controller.signal.removeEventListener("abort", interrupt)
          if (Exit.isFailure(exit)) {
            finished()
            return reject(controller.signal.aborted ? controller.signal.reason : failureOf(exit.cause, request))
          }
          let response: Response
          try {
            response = toResponse(exit.value, request, controller, finished)
          } catch (error) {
            return reject(new ClaudeFetchError("The answer could not be handed on as a Response", { cause: error }))
          }
          // aborted as the answer arrived: its body is cancelled by the abort, and the caller gets the abort
          return controller.signal.aborted ? reject(controller.signal.reason) : resolve(response)
        })
      })
    }
  })

/**
 * `source` read on demand, until `signal` aborts: then the body fails with
 * the abort's reason and `source` is cancelled, as `fetch` does with a body
 * still being read. `done` resolves once `source` is finished with (read to
 * its end, failed, or cancelled).
 */
const abortable = (
  source: ReadableStream<Uint8Array>,
  signal: AbortSignal
): { readonly readable: ReadableStream<Uint8Array>; readonly done: Promise<void> } => {
  const reader = source.getReader()
  let finish: () => void = () => {}
  const done = new Promise<void>((resolve) => (finish = resolve))
  let settled = false
  let target: ReadableStreamDefaultController<Uint8Array> | undefined
  const settle = (
    end: (target: ReadableStreamDefaultController<Uint8Array>) => void,
    cancelSource: { readonly reason: unknown } | undefined
  ) => {
    if (settled) return
    settled = true
    signal.removeEventListener("abort", onAbort)
    try {
      if (target !== undefined) end(target)
    } catch {
      // already closed or errored by its reader
    }
    if (cancelSource === undefined) finish()
    else reader.cancel(cancelSource.reason).then(finish, finish)
  }
  const onAbort = () => settle((target) => target.error(signal.reason), { reason: signal.reason })
  const readable = new ReadableStream<Uint8Array>({
    start(controller) {
      target = controller
      if (signal.aborted) onAbort()
      else signal.addEventListener("abort", onAbort, { once: true })
    },
    pull(controller) {
      return reader.read().then(
        (next) => {
          if (settled) return
          if (next.done) settle((target) => target.close(), undefined)
          else controller.enqueue(next.value)
        },
        (error: unknown) => settle((target) => target.error(error), undefined)
      )
    },
    cancel(reason) {
      settle(() => {}, { reason })
      return done
    }
  }, { highWaterMark: 0 })
  return { readable, done }
}

// `Response.url` cannot be given to the constructor; SDKs read it for their logs.
const withUrl = (response: Response, url: string): Response => {
  Object.defineProperty(response, "url", { value: url })
  return response
}
