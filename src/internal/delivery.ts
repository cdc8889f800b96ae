/**
 * Handing a stream that has started over to its reader, as typed events or
 * as the bytes of server-sent events, while settling its admission lease:
 * as `message_delta`'s usage arrives, and however the stream stops (ended,
 * broken, or abandoned by the reader) with what was produced.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as Admission from "../Admission.js"
import * as MessageStream from "../MessageStream.js"
import type * as RateLimitHeaders from "../RateLimitHeaders.js"
import type * as Streaming from "./streaming.js"

// Output produced so far when no message_delta has said: about four characters a token of what arrived.
const outputSoFar = (partial: MessageStream.PartialMessage): number =>
  Math.max(
    partial.usage.output_tokens,
    Math.ceil(partial.content.reduce((sum, block) => sum + JSON.stringify(block).length, 0) / 4)
  )

const usageOf = (partial: MessageStream.PartialMessage, outputTokens: number): Admission.Usage => ({
  inputTokens: partial.usage.input_tokens + (partial.usage.cache_creation_input_tokens ?? 0),
  outputTokens
})

/**
 * The opened stream's events with the lease settled along the way. `onBreak`
 * turns a break after content into what the reader sees.
 */
const settling = <E>(
  opened: Streaming.Opened,
  rateLimits: RateLimitHeaders.RateLimitSnapshot,
  ticket: Admission.Ticket,
  onSettled: (usage: Admission.Usage) => Effect.Effect<void>,
  onBreak: (
    streamBreak: Streaming.StreamBreak,
    partial: MessageStream.PartialMessage
  ) => Stream.Stream<Streaming.ParsedEvent, E>
): Stream.Stream<Streaming.ParsedEvent, E> =>
  Stream.suspend(() => {
    let partial = MessageStream.empty
    let settled = false
    const settle = (outputTokens: number) =>
      Effect.suspend(() => {
        if (settled) return Effect.void
        settled = true
        const usage = usageOf(partial, outputTokens)
        return Effect.zipRight(
          ticket.complete(Admission.Outcome.Served({ rateLimits, usage, streamed: true })),
          onSettled(usage)
        )
      })
    return Stream.concat(Stream.fromIterable(opened.buffered), opened.rest).pipe(
      Stream.tap(({ event }) => {
        partial = MessageStream.accumulate(partial, event)
        // output tokens settle as message_delta's cumulative usage arrives
        return event.type === "message_delta" ? settle(partial.usage.output_tokens) : Effect.void
      }),
      Stream.catchAll((streamBreak) =>
        Stream.concat(Stream.fromEffect(settle(outputSoFar(partial))).pipe(Stream.drain), onBreak(streamBreak, partial))
      ),
      // ended, failed, or abandoned by the reader: the lease is settled with what was produced
      Stream.ensuring(Effect.suspend(() => settle(outputSoFar(partial))))
    )
  })

/** Typed events; a break after content is a `StreamInterruptedError` carrying what was received. @internal */
export const events = (
  opened: Streaming.Opened,
  rateLimits: RateLimitHeaders.RateLimitSnapshot,
  ticket: Admission.Ticket,
  onSettled: (usage: Admission.Usage) => Effect.Effect<void>
): Stream.Stream<MessageStream.MessageStreamEvent, MessageStream.StreamInterruptedError> =>
  settling(opened, rateLimits, ticket, onSettled, (streamBreak, partial) =>
    Stream.fail(
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
    )).pipe(Stream.map(({ event }) => event as MessageStream.MessageStreamEvent))

/** A cut or unreadable stream, for readers of bytes: their stream fails with it. @internal */
export class StreamBrokenError extends Error {}

const encoder = new TextEncoder()

const frame = (name: string, data: string) => encoder.encode(`event: ${name}\ndata: ${data}\n\n`)

/**
 * The bytes of server-sent events, as the API sent them (an SDK parses them
 * itself). A break after content is passed on as the API's `event: error`
 * when it was one, else the byte stream fails: never a silent truncation.
 *
 * @internal
 */
export const bytes = (
  opened: Streaming.Opened,
  rateLimits: RateLimitHeaders.RateLimitSnapshot,
  ticket: Admission.Ticket,
  onSettled: (usage: Admission.Usage) => Effect.Effect<void>
): Stream.Stream<Uint8Array, StreamBrokenError> =>
  settling<StreamBrokenError>(opened, rateLimits, ticket, onSettled, (streamBreak) =>
    streamBreak._tag === "ErrorEvent"
      ? Stream.make({
        name: "error",
        data: JSON.stringify({
          type: "error",
          error: { type: streamBreak.error.errorType, message: streamBreak.error.message }
        }),
        event: { type: "error" }
      })
      : Stream.fail(new StreamBrokenError(streamBreak.message))).pipe(Stream.map(({ data, name }) => frame(name, data)))
