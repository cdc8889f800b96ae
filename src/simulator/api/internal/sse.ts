/**
 * Streamed answers (`stream: true`) as the API sends them: `text/event-stream`
 * with `message_start`, `content_block_start`, `ping`, `content_block_delta`s,
 * `content_block_stop`, `message_delta` (cumulative `usage`) and
 * `message_stop`. Deltas are paced by the latency model (time per output
 * token) and their output tokens are charged against OTPM as each is
 * produced. Seeded faults end a stream with `event: error` (before the first
 * delta, or after N) or cut its connection.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type * as Engine from "./engine.js"
import * as Wire from "./wire.js"

/** The connection of a stream is cut (the adapters drop the socket). @internal */
export class StreamCut extends Data.TaggedError("StreamCut")<{ readonly requestId: string }> {}

const encoder = new TextEncoder()

/** One server-sent event. @internal */
export const event = (type: string, data: unknown): Uint8Array =>
  encoder.encode(`event: ${type}\ndata: ${JSON.stringify(data)}\n\n`)

/** @internal */
export const contentType = "text/event-stream; charset=utf-8"

/** The events of an admitted streamed request, after its headers. @internal */
export const events = (engine: Engine.Engine, admitted: Engine.Admitted): Stream.Stream<Uint8Array, StreamCut> => {
  const { config } = engine
  const messageId = `msg_sim_${admitted.id.slice(8)}`
  const text = Wire.generatedText(admitted.outputTokens, Number(admitted.id.slice(8)), config.charactersPerToken)
  const chunkTokens = config.streamChunkTokens
  const chunks = Math.max(1, Math.ceil(admitted.outputTokens / chunkTokens))
  const faults = config.faults.stream
  const usage = (outputTokens: number) => ({
    input_tokens: admitted.inputTokens,
    cache_creation_input_tokens: admitted.cacheCreation,
    cache_read_input_tokens: admitted.cacheRead,
    output_tokens: outputTokens
  })
  const now = Clock.currentTimeMillis

  const head = Stream.make(
    event("message_start", {
      type: "message_start",
      message: {
        id: messageId,
        type: "message",
        role: "assistant",
        model: admitted.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { ...usage(1), service_tier: "standard" }
      }
    }),
    event("content_block_start", { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }),
    event("ping", { type: "ping" })
  )

  const errorEvent = Stream.fromEffect(Effect.flatMap(now, (at) =>
    Effect.sync(() => {
      engine.recorder.counters.streamErrors++
      engine.settle(admitted, at, false)
      const type = faults.errorType
      return event("error", {
        type: "error",
        error: { type, message: type === "overloaded_error" ? "Overloaded" : "Internal server error" },
        request_id: admitted.id
      })
    })))

  const delta = (index: number) =>
    Effect.gen(function*() {
      const tokens = Math.min(chunkTokens, admitted.outputTokens - index * chunkTokens)
      yield* Effect.sleep(Math.max(0, tokens) * admitted.perTokenMillis + (index === 0 ? admitted.slowMillis : 0))
      engine.chargeOutput(admitted, tokens, yield* now)
      const from = Math.floor((text.length * index) / chunks)
      const to = Math.floor((text.length * (index + 1)) / chunks)
      return event("content_block_delta", {
        type: "content_block_delta",
        index: 0,
        delta: { type: "text_delta", text: text.slice(from, to) }
      })
    })
  const deltas = (count: number) => Stream.mapEffect(Stream.range(0, count - 1), delta)

  const tail = Stream.fromEffect(Effect.flatMap(now, (at) =>
    Effect.sync(() => {
      engine.chargeOutput(admitted, admitted.outputTokens, at)
      engine.settle(admitted, at, true)
      return [
        event("content_block_stop", { type: "content_block_stop", index: 0 }),
        event("message_delta", {
          type: "message_delta",
          delta: { stop_reason: admitted.stopReason, stop_sequence: null },
          usage: usage(admitted.outputTokens)
        }),
        event("message_stop", { type: "message_stop" })
      ]
    }))).pipe(Stream.flatMap((all) => Stream.fromIterable(all)))

  const cut = Stream.fromEffect(Effect.flatMap(now, (at) =>
    Effect.suspend(() => {
      engine.recorder.counters.streamCuts++
      engine.settle(admitted, at, false)
      return Effect.fail(new StreamCut({ requestId: admitted.id }))
    })))

  const afterDeltas = Math.min(faults.afterDeltas, chunks)
  const body = admitted.streamFault === "errorBeforeContent"
    ? errorEvent
    : admitted.streamFault === "errorMidStream"
    ? Stream.concat(deltas(afterDeltas), errorEvent)
    : admitted.streamFault === "cut"
    ? Stream.concat(deltas(afterDeltas), cut)
    : Stream.concat(deltas(chunks), tail)

  // a client that goes away mid-stream abandons the request: it leaves the concurrency count
  return Stream.concat(head, body).pipe(
    Stream.ensuring(Effect.flatMap(now, (at) => Effect.sync(() => engine.abandon(admitted, at))))
  )
}
