/**
 * What the scripted client reads and sends on the wire: a request's body as
 * it is recorded, and a scripted answer as the `HttpClientResponse` it
 * becomes (a whole body, server-sent events one a pull, or a body in chunks
 * ended by a reset, a clean end or a stall).
 *
 * @internal
 */
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Stream from "effect/Stream"
import type { ScriptedResponse } from "../ScriptedHttpClient.js"

/** A request's body as recorded: JSON parsed, other text as is. @internal */
export const bodyOf = (request: HttpClientRequest.HttpClientRequest): unknown => {
  const body = request.body
  if (body._tag !== "Uint8Array") return undefined
  const text = new TextDecoder().decode(body.body)
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

const nullBodyStatuses: ReadonlySet<number> = new Set([204, 205, 304])

const encoder = new TextEncoder()

/** The answer a scripted response that does not drop the connection makes. @internal */
export const respond = (
  request: HttpClientRequest.HttpClientRequest,
  response: ScriptedResponse
): HttpClientResponse.HttpClientResponse => {
  const status = response.status ?? 200
  if (response.chunkBytes !== undefined || response.cutAfterBytes !== undefined) {
    return cutResponse(request, status, response)
  }
  const body = response.events !== undefined
    ? sseBody(response.events, response.cutAfterEvents)
    : response.body === undefined
    ? null
    : typeof response.body === "string"
    ? response.body
    : JSON.stringify(response.body)
  const headers = response.events !== undefined
    ? { "content-type": "text/event-stream", ...response.headers }
    : response.headers ?? {}
  // a 204, 205 or 304 has no body on the wire (the web Response refuses one)
  const sent = nullBodyStatuses.has(status) ? null : body
  return HttpClientResponse.fromWeb(request, new Response(sent, { status, headers }))
}

// One event a pull, so a reader gets every event before the cut (an errored stream drops what is queued).
const sseBody = (
  events: ReadonlyArray<{ readonly event: string; readonly data: unknown }>,
  cutAfter: number | undefined
): ReadableStream<Uint8Array> => {
  let next = 0
  return new ReadableStream({
    pull(controller) {
      if (cutAfter !== undefined && next >= cutAfter) {
        controller.error(new Error("connection reset by peer"))
        return
      }
      const item = events[next++]
      if (item === undefined) {
        controller.close()
        return
      }
      const data = typeof item.data === "string" ? item.data : JSON.stringify(item.data)
      controller.enqueue(encoder.encode(`event: ${item.event}\ndata: ${data}\n\n`))
    }
  }, { highWaterMark: 0 })
}

/** The server-sent events `events` as the bytes of a body, as the API frames them. @internal */
export const sseText = (events: ReadonlyArray<{ readonly event: string; readonly data: unknown }>): Uint8Array =>
  encoder.encode(
    events.map((item) =>
      `event: ${item.event}\ndata: ${typeof item.data === "string" ? item.data : JSON.stringify(item.data)}\n\n`
    ).join("")
  )

// A response whose body (the events, or `body`) comes in chunks of `chunkBytes`, ended after `cutAfterBytes` by a
// reset, a clean end or a stall. The body is a Stream of values, not a web stream: no promise to wait for between
// chunks, so a body cut byte by byte costs microseconds a chunk (and works inside VirtualTime).
const cutResponse = (
  request: HttpClientRequest.HttpClientRequest,
  status: number,
  response: ScriptedResponse
): HttpClientResponse.HttpClientResponse => {
  const headers = response.events !== undefined
    ? { "content-type": "text/event-stream", ...response.headers }
    : { ...response.headers }
  const all = response.events !== undefined
    ? sseText(response.events)
    : encoder.encode(
      response.body === undefined
        ? ""
        : typeof response.body === "string"
        ? response.body
        : JSON.stringify(response.body)
    )
  const cutAfter = response.cutAfterBytes
  const end = cutAfter === undefined ? all.length : Math.max(0, Math.min(all.length, Math.floor(cutAfter)))
  const size = Math.max(1, Math.floor(response.chunkBytes ?? all.length))
  const chunks: Array<Uint8Array> = []
  for (let offset = 0; offset < end; offset += size) chunks.push(all.slice(offset, Math.min(end, offset + size)))
  const base = HttpClientResponse.fromWeb(request, new Response(null, { status, headers }))
  const cutWith = cutAfter === undefined ? "end" : response.cutWith ?? "reset"
  const bytes: Stream.Stream<Uint8Array, HttpClientError.ResponseError> = cutWith === "stall"
    ? Stream.concat(Stream.fromIterable(chunks), Stream.never)
    : cutWith === "reset"
    ? Stream.concat(
      Stream.fromIterable(chunks),
      Stream.fail(
        new HttpClientError.ResponseError({
          request,
          response: base,
          reason: "Decode",
          description: "connection reset by peer"
        })
      )
    )
    : Stream.fromIterable(chunks)
  return Object.create(base, {
    stream: { value: bytes },
    text: { value: Stream.mkString(Stream.decodeText(bytes)) }
  }) as HttpClientResponse.HttpClientResponse
}
