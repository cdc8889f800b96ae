/**
 * Keeps the API key out of what `HttpClient` records. @effect/platform redacts `x-api-key` from the attributes of
 * its `http.client` span, but the span's end holds the request itself: a refused connection ends it with a
 * `RequestError` whose `request.headers` has the key in clear, and so does the answer's `request` on success.
 * They are redacted only when rendered inside a fiber; an exporter or error tracker that serialises them later
 * (a custom tracer, an error reporter walking the error's fields) prints the key.
 *
 * So requests travel without the secret headers, and the client returned here adds them last: the outer client
 * traces the request as it was given (its span, attributes and errors never hold the key), and the client under
 * it sends the request with the key, untraced, its errors and answers carrying the request without the key.
 *
 * @internal
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as IncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as Effect from "effect/Effect"
import * as Inspectable from "effect/Inspectable"
import * as Redacted from "effect/Redacted"

// The answer as the client under it gave it, naming the request without the key (and holding the one with it
// where no rendering looks).
class WithoutSecret implements HttpClientResponse.HttpClientResponse {
  readonly [HttpClientResponse.TypeId]: HttpClientResponse.TypeId = HttpClientResponse.TypeId
  readonly [IncomingMessage.TypeId]: IncomingMessage.TypeId = IncomingMessage.TypeId
  readonly #original: HttpClientResponse.HttpClientResponse

  constructor(original: HttpClientResponse.HttpClientResponse, readonly request: HttpClientRequest.HttpClientRequest) {
    this.#original = original
  }

  get status() {
    return this.#original.status
  }
  get headers() {
    return this.#original.headers
  }
  get cookies() {
    return this.#original.cookies
  }
  get remoteAddress() {
    return this.#original.remoteAddress
  }
  get formData() {
    return this.#original.formData
  }
  get text() {
    return this.#original.text
  }
  get json() {
    return this.#original.json
  }
  get urlParamsBody() {
    return this.#original.urlParamsBody
  }
  get arrayBuffer() {
    return this.#original.arrayBuffer
  }
  get stream() {
    return this.#original.stream
  }

  toJSON(): unknown {
    return {
      _id: "@effect/platform/HttpClientResponse",
      request: this.request.toJSON(),
      status: this.status,
      headers: Inspectable.redact(this.headers)
    }
  }
  toString(): string {
    return Inspectable.format(this.toJSON())
  }
  [Inspectable.NodeInspectSymbol](): unknown {
    return this.toJSON()
  }
}

const withRequest = (
  response: HttpClientResponse.HttpClientResponse,
  request: HttpClientRequest.HttpClientRequest
): HttpClientResponse.HttpClientResponse => new WithoutSecret(response, request)

const withoutSecret = (
  error: HttpClientError.HttpClientError,
  request: HttpClientRequest.HttpClientRequest
): HttpClientError.HttpClientError =>
  error._tag === "RequestError"
    ? new HttpClientError.RequestError({
      request,
      reason: error.reason,
      cause: error.cause,
      ...(error.description === undefined ? {} : { description: error.description })
    })
    : new HttpClientError.ResponseError({
      request,
      response: withRequest(error.response, request),
      reason: error.reason,
      cause: error.cause,
      ...(error.description === undefined ? {} : { description: error.description })
    })

/**
 * `client`, with `headers` added to every request after tracing has seen it.
 *
 * @internal
 */
export const make = (
  client: HttpClient.HttpClient,
  headers: Readonly<Record<string, Redacted.Redacted<string>>>
): HttpClient.HttpClient => {
  const entries = Object.entries(headers)
  // the client under it traces nothing: the span is the outer one, which never sees the key
  const underneath = client.pipe(HttpClient.withTracerDisabledWhen(() => true))
  return HttpClient.make((request) => {
    let keyed = request
    for (const [name, value] of entries) keyed = HttpClientRequest.setHeader(keyed, name, Redacted.value(value))
    return underneath.execute(keyed).pipe(
      Effect.mapError((error) => withoutSecret(error, request)),
      Effect.map((response) => withRequest(response, request))
    )
  })
}
