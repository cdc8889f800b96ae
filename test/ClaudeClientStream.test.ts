import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Exit, Fiber, Layer, Option, Redacted, Stream, TestClock } from "effect"
import * as Admission from "../src/Admission.js"
import * as ClaudeClient from "../src/ClaudeClient.js"
import type * as Messages from "../src/Messages.js"
import * as MessageStream from "../src/MessageStream.js"
import { Simulator } from "../src/testing/index.js"
import * as Scripted from "../src/testing/ScriptedHttpClient.js"

const pool = "claude-sonnet-4.x"

const params: Messages.CreateMessageParams = {
  model: "claude-sonnet-4-6",
  max_tokens: 256,
  messages: [{ role: "user", content: "Say hello" }]
}

const scripted = (script: ReadonlyArray<Scripted.Step>, options: Partial<ClaudeClient.LayerOptions> = {}) =>
  ClaudeClient.layer({
    apiKey: Redacted.make("sk-ant-stream-test"),
    admission: { limits: { [pool]: { requestsPerMinute: 600, outputTokensPerMinute: 60_000 } } },
    ...options
  }).pipe(Layer.provideMerge(Scripted.layer(script)))

const stream = (events: ReturnType<typeof Scripted.streamEvents>, cutAfterEvents?: number): Scripted.Step => ({
  events,
  ...(cutAfterEvents === undefined ? {} : { cutAfterEvents })
})

const collect = <A, E>(self: Stream.Stream<A, E>) => Effect.map(Stream.runCollect(self), Chunk.toReadonlyArray)

const textOf = (events: ReadonlyArray<MessageStream.MessageStreamEvent>) =>
  events.flatMap((event) =>
    event.type === "content_block_delta" && (event as any).delta.type === "text_delta"
      ? [(event as any).delta.text]
      : []
  ).join("")

describe("ClaudeClient.streamMessage", () => {
  it.effect("decodes the events; finalMessage folds them into the Message; the lease settles with the usage", () =>
    Effect.gen(function*() {
      const client = yield* ClaudeClient.ClaudeClient
      const events = yield* collect(client.streamMessage(params))
      expect(events.map((event) => event.type)).toEqual([
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop"
      ])
      expect(textOf(events)).toBe("Hello, world!")
      const message = yield* MessageStream.finalMessage(Stream.fromIterable(events))
      expect(message.content).toEqual([{ type: "text", text: "Hello, world!" }])
      expect(message.usage).toMatchObject({ input_tokens: 12, output_tokens: 7 })
      expect(message.stop_reason).toBe("end_turn")
      const status = yield* (yield* Admission.Admission).status(pool)
      expect(status.inFlight).toBe(0)
      // 256 reserved, 7 produced: the rest was given back
      expect(status.view.buckets.outputTokens?.level).toBe(60_000 - 7)
      const [request] = yield* (yield* Scripted.ScriptedHttpClient).requests
      expect(request?.body).toMatchObject({ stream: true })
    }).pipe(Effect.provide(scripted([stream(Scripted.streamEvents())]))))

  it.effect("an event: error before any content is retried transparently: the caller sees one clean stream", () =>
    Effect.gen(function*() {
      const client = yield* ClaudeClient.ClaudeClient
      const fiber = yield* Effect.fork(collect(client.streamMessage(params)))
      yield* TestClock.adjust("1 minute")
      const events = yield* Fiber.join(fiber)
      expect(textOf(events)).toBe("Hello, world!")
      expect(events.filter((event) => event.type === "message_start")).toHaveLength(1)
      expect((yield* (yield* Scripted.ScriptedHttpClient).requests).length).toBe(2)
    }).pipe(
      Effect.provide(scripted([
        stream(Scripted.streamEvents({ errorAfter: 0, errorType: "overloaded_error" })),
        stream(Scripted.streamEvents())
      ])),
      Effect.withRandomFixed([0.5])
    ))

  it.effect("a connection cut before any content is retried too", () =>
    Effect.gen(function*() {
      const client = yield* ClaudeClient.ClaudeClient
      const fiber = yield* Effect.fork(collect(client.streamMessage(params)))
      yield* TestClock.adjust("1 minute")
      expect(textOf(yield* Fiber.join(fiber))).toBe("Hello, world!")
    }).pipe(
      Effect.provide(scripted([stream(Scripted.streamEvents(), 2), stream(Scripted.streamEvents())])),
      Effect.withRandomFixed([0.5])
    ))

  it.effect("an error after content reached the caller: StreamInterruptedError with the partial message", () =>
    Effect.gen(function*() {
      const client = yield* ClaudeClient.ClaudeClient
      const received: Array<MessageStream.MessageStreamEvent> = []
      const exit = yield* Effect.exit(Stream.runForEach(client.streamMessage(params), (event) =>
        Effect.sync(() => {
          received.push(event)
        })))
      expect(textOf(received)).toBe("Hello, ")
      expect(Exit.isFailure(exit)).toBe(true)
      const error = Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error : undefined
      expect(error?._tag).toBe("StreamInterruptedError")
      const interrupted = error as MessageStream.StreamInterruptedError
      expect(interrupted.errorType).toBe("api_error")
      expect(MessageStream.partialText(interrupted.partial)).toBe("Hello, ")
      expect(interrupted.partial.usage.input_tokens).toBe(12)
      // never retried after content: one request
      expect((yield* (yield* Scripted.ScriptedHttpClient).requests).length).toBe(1)
      const status = yield* (yield* Admission.Admission).status(pool)
      expect(status.inFlight).toBe(0)
    }).pipe(
      Effect.provide(scripted([stream(Scripted.streamEvents({ errorAfter: 2, errorType: "api_error" }))]))
    ))

  // The outcome follows the events the server sent, not how the network grouped them: content and the error in
  // one read still reach the caller as content, then StreamInterruptedError (once dropped and retried).
  it.effect("content and the error in one network read: the same StreamInterruptedError, not a retry", () =>
    Effect.gen(function*() {
      const client = yield* ClaudeClient.ClaudeClient
      const received: Array<MessageStream.MessageStreamEvent> = []
      const error = yield* Effect.flip(Stream.runForEach(client.streamMessage(params), (event) =>
        Effect.sync(() => {
          received.push(event)
        })))
      expect(error).toMatchObject({ _tag: "StreamInterruptedError", errorType: "api_error" })
      expect(textOf(received)).toBe("Hello, ")
      expect(MessageStream.partialText((error as MessageStream.StreamInterruptedError).partial)).toBe("Hello, ")
      expect((yield* (yield* Scripted.ScriptedHttpClient).requests).length).toBe(1)
    }).pipe(
      Effect.provide(scripted([
        { events: Scripted.streamEvents({ errorAfter: 2, errorType: "api_error" }), chunkBytes: 1_000_000 },
        stream(Scripted.streamEvents())
      ]))
    ))

  it.effect("a cut after content: StreamInterruptedError naming the connection, never a silent truncation", () =>
    Effect.gen(function*() {
      const client = yield* ClaudeClient.ClaudeClient
      const error = yield* Effect.flip(collect(client.streamMessage(params)))
      expect(error).toMatchObject({ _tag: "StreamInterruptedError", errorType: "connection_error" })
      expect(MessageStream.partialText((error as MessageStream.StreamInterruptedError).partial)).toBe("Hello")
    }).pipe(Effect.provide(scripted([stream(Scripted.streamEvents(), 4)]))))

  it.effect("a stream that ends without message_stop is a break, not a complete answer", () =>
    Effect.gen(function*() {
      const client = yield* ClaudeClient.ClaudeClient
      const truncated = Scripted.streamEvents().filter((event) => event.event !== "message_stop")
      const error = yield* Effect.flip(collect(client.streamMessage(params)))
      expect(error).toMatchObject({ _tag: "StreamInterruptedError", errorType: "connection_error" })
      expect(truncated.length).toBeGreaterThan(0)
    }).pipe(
      Effect.provide(scripted([stream(Scripted.streamEvents().filter((event) => event.event !== "message_stop"))]))
    ))

  it.effect("a 429 before the stream starts goes through admission and the retry policy as for createMessage", () =>
    Effect.gen(function*() {
      const client = yield* ClaudeClient.ClaudeClient
      const fiber = yield* Effect.fork(collect(client.streamMessage(params)))
      yield* TestClock.adjust("10 seconds")
      expect(textOf(yield* Fiber.join(fiber))).toBe("Hello, world!")
      expect(yield* (yield* Scripted.ScriptedHttpClient).sendTimes).toEqual([0, 3_000])
    }).pipe(Effect.provide(scripted([
      Scripted.error(429, "rate_limit_error", { headers: { "retry-after": "3" } }),
      stream(Scripted.streamEvents())
    ]))))

  it.effect("the caller stopping early closes the lease: nothing stays in flight", () =>
    Effect.gen(function*() {
      const client = yield* ClaudeClient.ClaudeClient
      const first = yield* collect(Stream.take(client.streamMessage(params), 4))
      expect(first).toHaveLength(4)
      const status = yield* (yield* Admission.Admission).status(pool)
      expect(status.inFlight).toBe(0)
      expect(status.view.inFlight).toBe(0)
    }).pipe(Effect.provide(scripted([stream(Scripted.streamEvents())]))))

  it.effect("continuation: a new request with the partial answer and a request to continue", () =>
    Effect.sync(() => {
      const partial = MessageStream.accumulate(
        MessageStream.accumulate(MessageStream.empty, {
          type: "content_block_start",
          index: 0,
          content_block: { type: "text", text: "" }
        }),
        { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Once upon a time " } }
      )
      const error = new MessageStream.StreamInterruptedError({
        partial,
        errorType: "overloaded_error",
        reason: "Overloaded",
        requestId: Option.none()
      })
      const next = MessageStream.continuation(params, error)
      expect(next.messages.slice(-2)).toEqual([
        { role: "assistant", content: "Once upon a time" },
        expect.objectContaining({ role: "user" })
      ])
    }))
})

describe("ClaudeClient.streamMessage against the simulated API (in memory)", () => {
  it.effect("streams a whole answer, with output charged as produced", () =>
    Effect.gen(function*() {
      const client = yield* ClaudeClient.ClaudeClient
      const fiber = yield* Effect.fork(MessageStream.finalMessage(client.streamMessage(params)))
      yield* TestClock.adjust("1 minute")
      const message = yield* Fiber.join(fiber)
      expect(message.usage.output_tokens).toBeGreaterThan(0)
      const stats = yield* (yield* Simulator.Simulator).stats
      expect(stats.streams).toBe(1)
      expect(stats.outputTokens).toBe(message.usage.output_tokens)
    }).pipe(
      Effect.provide(
        ClaudeClient.layer({ apiKey: Redacted.make("sk-ant-sim") }).pipe(
          Layer.provideMerge(Simulator.layer({ seed: 3 }))
        )
      )
    ))
})
