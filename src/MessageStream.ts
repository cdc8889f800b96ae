/**
 * The events of a streamed Messages API answer (`stream: true`), decoded with
 * Schema, and what to do with them: accumulate the final `Message`, or, when
 * a stream broke after content reached the caller, say exactly what was
 * received ({@link StreamInterruptedError}) and build the request that
 * continues it.
 *
 * The event set is open: an unknown event type or content block type passes
 * through as given rather than failing the stream.
 *
 * @since 0.2.0
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as internal from "./internal/partialMessage.js"
import * as Messages from "./Messages.js"

const Open = Schema.Record({ key: Schema.String, value: Schema.Unknown })

/**
 * Usage reported while streaming: `message_start` carries the input side,
 * `message_delta` the output so far (cumulative).
 *
 * @since 0.2.0
 * @category schemas
 */
export const StreamUsage = Schema.Struct({
  input_tokens: Schema.optional(Schema.NullOr(Schema.NonNegativeInt)),
  output_tokens: Schema.optional(Schema.NullOr(Schema.NonNegativeInt)),
  cache_creation_input_tokens: Schema.optional(Schema.NullOr(Schema.NonNegativeInt)),
  cache_read_input_tokens: Schema.optional(Schema.NullOr(Schema.NonNegativeInt))
}, Open)

/**
 * @since 0.2.0
 * @category schemas
 */
export const MessageStartEvent = Schema.Struct({
  type: Schema.Literal("message_start"),
  message: Schema.Struct({
    id: Schema.String,
    model: Schema.String,
    content: Schema.Array(Messages.ContentBlock),
    stop_reason: Schema.optional(Schema.NullOr(Schema.String)),
    stop_sequence: Schema.optional(Schema.NullOr(Schema.String)),
    usage: StreamUsage
  }, Open)
})

/**
 * @since 0.2.0
 * @category schemas
 */
export const ContentBlockStartEvent = Schema.Struct({
  type: Schema.Literal("content_block_start"),
  index: Schema.NonNegativeInt,
  content_block: Messages.ContentBlock
})

/**
 * A piece of a content block: `text_delta`, `input_json_delta` (a tool call's
 * input, as JSON text), `thinking_delta`, `signature_delta`,
 * `citations_delta`, or a type not known yet.
 *
 * @since 0.2.0
 * @category schemas
 */
export const Delta = Schema.Struct({ type: Schema.String }, Open)

/**
 * @since 0.2.0
 * @category models
 */
export type Delta = typeof Delta.Type

/**
 * @since 0.2.0
 * @category schemas
 */
export const ContentBlockDeltaEvent = Schema.Struct({
  type: Schema.Literal("content_block_delta"),
  index: Schema.NonNegativeInt,
  delta: Delta
})

/**
 * @since 0.2.0
 * @category schemas
 */
export const ContentBlockStopEvent = Schema.Struct({
  type: Schema.Literal("content_block_stop"),
  index: Schema.NonNegativeInt
})

/**
 * @since 0.2.0
 * @category schemas
 */
export const MessageDeltaEvent = Schema.Struct({
  type: Schema.Literal("message_delta"),
  delta: Schema.Struct({
    stop_reason: Schema.optional(Schema.NullOr(Schema.String)),
    stop_sequence: Schema.optional(Schema.NullOr(Schema.String))
  }, Open),
  usage: StreamUsage
})

/**
 * @since 0.2.0
 * @category schemas
 */
export const MessageStopEvent = Schema.Struct({ type: Schema.Literal("message_stop") })

/**
 * @since 0.2.0
 * @category schemas
 */
export const PingEvent = Schema.Struct({ type: Schema.Literal("ping") })

/**
 * An error reported inside a stream that began with a 200, e.g.
 * `overloaded_error` (what a 529 would have been).
 *
 * @since 0.2.0
 * @category schemas
 */
export const ErrorEvent = Schema.Struct({
  type: Schema.Literal("error"),
  error: Schema.Struct({ type: Schema.String, message: Schema.optional(Schema.String) }, Open)
})

/**
 * An event type this library does not know yet, kept as given.
 *
 * @since 0.2.0
 * @category schemas
 */
export const UnknownEvent = Schema.Struct({ type: Schema.String }, Open)

/**
 * @since 0.2.0
 * @category schemas
 */
export const StreamEvent = Schema.Union(
  MessageStartEvent,
  ContentBlockStartEvent,
  ContentBlockDeltaEvent,
  ContentBlockStopEvent,
  MessageDeltaEvent,
  MessageStopEvent,
  PingEvent,
  ErrorEvent,
  UnknownEvent
)

/**
 * @since 0.2.0
 * @category models
 */
export type StreamEvent = typeof StreamEvent.Type

/**
 * The events a caller sees: everything but `error`, which ends the stream
 * as a typed failure instead.
 *
 * @since 0.2.0
 * @category models
 */
export type MessageStreamEvent = Exclude<StreamEvent, typeof ErrorEvent.Type>

const decodeEvent = Schema.decodeUnknownEither(StreamEvent)

/**
 * Decodes the JSON `data` of one server-sent event. `Left` holds the problem
 * when it is not a decodable event (not JSON, a known type with the wrong
 * shape).
 *
 * @since 0.2.0
 * @category decoding
 */
export const decodeData = (data: string): Either.Either<StreamEvent, string> => {
  let json: unknown
  try {
    json = JSON.parse(data)
  } catch {
    return Either.left(`an event whose data is not JSON: ${data.slice(0, 120)}`)
  }
  return Either.mapLeft(decodeEvent(json), () => `an event that does not match the API schema: ${data.slice(0, 120)}`)
}

/**
 * A message as far as a stream got: the blocks and usage received so far.
 * `stop_reason` is `null` until `message_delta` says why generation stopped.
 *
 * @since 0.2.0
 * @category models
 */
export interface PartialMessage {
  readonly id: string
  readonly model: string
  readonly content: ReadonlyArray<Messages.ContentBlock>
  readonly stop_reason: string | null
  readonly stop_sequence: string | null
  readonly usage: Messages.Usage
  /** Whether `message_stop` was received. */
  readonly complete: boolean
}

/**
 * An empty partial message, before `message_start`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const empty: PartialMessage = {
  id: "",
  model: "",
  content: [],
  stop_reason: null,
  stop_sequence: null,
  usage: { input_tokens: 0, output_tokens: 0 },
  complete: false
}

/**
 * Folds one event into the message received so far.
 *
 * @since 0.2.0
 * @category accumulating
 */
export const accumulate: (message: PartialMessage, event: StreamEvent) => PartialMessage = internal.accumulate

/**
 * The `Message` a complete stream amounts to.
 *
 * @since 0.2.0
 * @category accumulating
 */
export const toMessage: (partial: PartialMessage) => Messages.Message = internal.toMessage

/**
 * Runs a stream of events to its end and returns the final `Message`.
 *
 * @since 0.2.0
 * @category accumulating
 */
export const finalMessage = <E, R>(
  events: Stream.Stream<MessageStreamEvent, E, R>
): Effect.Effect<Messages.Message, E, R> => Effect.map(Stream.runFold(events, empty, accumulate), toMessage)

/**
 * The text received so far, across text blocks.
 *
 * @since 0.2.0
 * @category getters
 */
export const partialText = (partial: PartialMessage): string =>
  partial.content.flatMap((block) => block.type === "text" && "text" in block ? [String(block.text)] : []).join("")

/**
 * A stream failed after content had reached the caller, so it could not be
 * retried without repeating it. Carries what was received: the partial
 * message (text, blocks, usage so far) and why it broke (`errorType` from an
 * `event: error`, e.g. `overloaded_error`, or `connection_error` when the
 * connection was cut, `malformed_event` for an event that could not be read).
 *
 * @since 0.2.0
 * @category errors
 */
export class StreamInterruptedError extends Data.TaggedError("StreamInterruptedError")<{
  readonly partial: PartialMessage
  readonly errorType: string
  readonly reason: string
  readonly requestId: Option.Option<string>
}> {
  override get message(): string {
    return `The stream broke after content was received (${this.errorType}: ${this.reason}); `
      + `${partialText(this.partial).length} characters of text and ${this.partial.usage.output_tokens} output `
      + `tokens were received`
  }
}

/**
 * The parameters of a new request that continues an interrupted text answer,
 * the way Anthropic documents it for current models: the partial answer as an
 * assistant turn, then a user turn asking to continue from where it stopped.
 * It is a new request (billed, rate-limited, answered afresh), not a resume
 * of the old one; join its text to the partial text yourself.
 *
 * @since 0.2.0
 * @category recovery
 */
export const continuation = (
  params: Messages.CreateMessageParams,
  interrupted: StreamInterruptedError
): Messages.CreateMessageParams => {
  const text = partialText(interrupted.partial)
  return {
    ...params,
    messages: [
      ...params.messages,
      { role: "assistant", content: text.trimEnd() === "" ? "…" : text.trimEnd() },
      {
        role: "user",
        content: "Your previous response was interrupted. Continue exactly where it left off, "
          + "without repeating anything already written."
      }
    ]
  }
}
