/**
 * Opening a streamed answer: the response body becomes typed events, read
 * until the first piece of content. Until then nothing has reached the
 * caller, so a failure (an `event: error`, a cut connection, an unreadable
 * event) fails the attempt with a retryable typed error; after it, the rest
 * of the stream is handed over, and its failures are breaks the caller sees.
 *
 * @internal
 */
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as ClaudeError from "../ClaudeError.js"
import * as MessageStream from "../MessageStream.js"
import type * as RateLimitHeaders from "../RateLimitHeaders.js"
import * as Sse from "./sse.js"

/** One event as it came: its name and data (to send on as is), and decoded. @internal */
export interface ParsedEvent {
  readonly name: string
  readonly data: string
  readonly event: MessageStream.StreamEvent
}

/** Why a stream stopped before `message_stop`. @internal */
export type StreamBreak =
  | { readonly _tag: "ErrorEvent"; readonly error: ClaudeError.ResponseError }
  | { readonly _tag: "Cut"; readonly message: string }
  | { readonly _tag: "Malformed"; readonly message: string }

/** @internal */
export interface Opened {
  /** the events up to and including the chunk with the first content delta (all of them if the stream ended) */
  readonly buffered: ReadonlyArray<ParsedEvent>
  /** the events after `buffered` */
  readonly rest: Stream.Stream<ParsedEvent, StreamBreak>
}

/**
 * The typed error an `event: error` stands for, classified by its type as if
 * it had come with the status that type is documented with (an
 * `overloaded_error` inside a 200 is what a 529 would have been).
 *
 * @internal
 */
export const errorFromEvent = (
  data: string,
  errorType: string,
  rateLimits: RateLimitHeaders.RateLimitSnapshot,
  secrets: ReadonlyArray<Redacted.Redacted<string>>
): ClaudeError.ResponseError => {
  return ClaudeError.fromResponse({ status: statusOf.get(errorType) ?? 500, body: data, rateLimits, secrets })
}

// the status each error type is documented with
const statusOf: ReadonlyMap<string, number> = new Map(
  Object.values(ClaudeError.classification).flatMap((row) =>
    row.response && "errorType" in row && row.errorType !== undefined && row.status !== undefined
      ? [[row.errorType, row.status] as const]
      : []
  )
)

const isContent = (event: MessageStream.StreamEvent) => event.type === "content_block_delta"

/** The body of a streamed answer as typed events; a break is the stream's failure. @internal */
export const events = (
  response: HttpClientResponse.HttpClientResponse,
  rateLimits: RateLimitHeaders.RateLimitSnapshot,
  secrets: ReadonlyArray<Redacted.Redacted<string>>
): Stream.Stream<ParsedEvent, StreamBreak> =>
  Stream.suspend(() => {
    const parser = new Sse.Parser()
    const decoder = new TextDecoder()
    let stopped = false
    // The events of one network read, and the break that ends them if any. Events before the break are kept:
    // what the caller sees must depend on the events the server sent, not on how the network grouped them.
    const parse = (text: string): { readonly parsed: Array<ParsedEvent>; readonly broken?: StreamBreak } => {
      const parsed: Array<ParsedEvent> = []
      let raw: ReadonlyArray<Sse.ServerSentEvent>
      try {
        raw = parser.feed(text)
      } catch (error) {
        return {
          parsed,
          broken: { _tag: "Malformed", message: error instanceof Error ? error.message : String(error) }
        }
      }
      for (const { data, event: name } of raw) {
        const decoded = MessageStream.decodeData(data)
        if (Either.isLeft(decoded)) return { parsed, broken: { _tag: "Malformed", message: decoded.left } }
        const event = decoded.right
        if (event.type === "error") {
          const errorType = (event as typeof MessageStream.ErrorEvent.Type).error.type
          return { parsed, broken: { _tag: "ErrorEvent", error: errorFromEvent(data, errorType, rateLimits, secrets) } }
        }
        if (event.type === "message_stop") stopped = true
        parsed.push({ name, data, event })
      }
      return { parsed }
    }
    const emit = (read: ReturnType<typeof parse>): Stream.Stream<ParsedEvent, StreamBreak> =>
      read.broken === undefined
        ? Stream.fromIterable(read.parsed)
        : read.parsed.length === 0
        ? Stream.fail(read.broken)
        : Stream.concat(Stream.fromIterable(read.parsed), Stream.fail(read.broken))
    const body = response.stream.pipe(
      // once message_stop has arrived the answer is whole: a connection lost afterwards takes nothing from it
      Stream.catchAll((error) =>
        stopped ? Stream.empty : Stream.fail<StreamBreak>({ _tag: "Cut", message: error.message })
      ),
      Stream.flatMap((bytes) => emit(parse(decoder.decode(bytes, { stream: true }))))
    )
    const end = Stream.suspend(() => {
      const tail = parse(decoder.decode())
      if (tail.broken === undefined && (parser.pending || !stopped)) {
        return emit({ parsed: tail.parsed, broken: { _tag: "Cut", message: "the stream ended before message_stop" } })
      }
      return emit(tail)
    })
    return Stream.concat(body, end)
  })

/** What a break before any content means for the attempt: a typed, classified error. @internal */
export const breakToError = (
  streamBreak: StreamBreak,
  status: number,
  rateLimits: RateLimitHeaders.RateLimitSnapshot,
  secrets: ReadonlyArray<Redacted.Redacted<string>>
): ClaudeError.ClaudeError => {
  switch (streamBreak._tag) {
    case "ErrorEvent":
      return streamBreak.error
    case "Cut":
      return new ClaudeError.ConnectionError({ message: `stream cut: ${streamBreak.message}`, cause: undefined })
    case "Malformed":
      return ClaudeError.malformedResponse({ status, body: "", problem: streamBreak.message, rateLimits, secrets })
  }
}

/**
 * Reads events until the first content delta. A break before it fails with
 * the typed error it stands for; the rest is left to pull, in `scope`, and
 * breaks (as a `Cut`) when nothing arrives for `idleTimeout`: a stream that
 * stalls after content has reached the caller must not hang it.
 *
 * @internal
 */
export const open = (
  response: HttpClientResponse.HttpClientResponse,
  rateLimits: RateLimitHeaders.RateLimitSnapshot,
  secrets: ReadonlyArray<Redacted.Redacted<string>>,
  idleTimeout: Duration.Duration
): Effect.Effect<Opened, ClaudeError.ClaudeError, Scope.Scope> =>
  Effect.gen(function*() {
    const pull = yield* Stream.toPull(events(response, rateLimits, secrets))
    const buffered: Array<ParsedEvent> = []
    for (;;) {
      const chunk = yield* Effect.either(pull)
      if (Either.isLeft(chunk)) {
        // the end of the stream, or a break before any content reached the caller
        if (Option.isNone(chunk.left)) return { buffered, rest: Stream.empty }
        return yield* Effect.fail(breakToError(chunk.left.value, response.status, rateLimits, secrets))
      }
      for (const event of chunk.right) buffered.push(event)
      if (Chunk.some(chunk.right, (parsed) => isContent(parsed.event))) {
        const stalled = Option.some<StreamBreak>({
          _tag: "Cut",
          message: `nothing arrived for ${Duration.format(idleTimeout)}: the stream stalled`
        })
        const next = Effect.timeoutFail(pull, { duration: idleTimeout, onTimeout: () => stalled })
        return { buffered, rest: Stream.repeatEffectChunkOption(next) }
      }
    }
  })
