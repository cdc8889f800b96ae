import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Stream, TestClock } from "effect"
import type * as SimulatorConfig from "../../../src/simulator/api/SimulatorConfig.js"
import { defaultHeaders, message, send, sseEvents, stats, withSimulator } from "../support/send.js"

// 100 ms to the first token, then 10 ms a token in deltas of 4 tokens; every answer is max_tokens long
const paced: SimulatorConfig.Options = {
  latency: { base: "100 millis", perOutputToken: "10 millis", jitter: 0 },
  output: { min: 1, max: 1 }
}

const streamed = (maxTokens = 20) => message("Hi", { stream: true, max_tokens: maxTokens })

const names = (text: string) => sseEvents(text).map((event) => event.event)

describe("Simulator streaming (in memory, TestClock)", () => {
  it.effect("stream: true answers text/event-stream with the documented events and cumulative usage", () =>
    withSimulator(
      paced,
      Effect.gen(function*() {
        const fiber = yield* Effect.fork(send(streamed()))
        yield* TestClock.adjust("1 second")
        const answer = yield* Fiber.join(fiber)
        expect(answer.status).toBe(200)
        expect(answer.headers["content-type"]).toContain("text/event-stream")
        expect(answer.headers["anthropic-ratelimit-requests-remaining"]).toBe("49")
        expect(names(answer.body)).toEqual([
          "message_start",
          "content_block_start",
          "ping",
          ...Array.from({ length: 5 }, () => "content_block_delta"),
          "content_block_stop",
          "message_delta",
          "message_stop"
        ])
        const events = sseEvents(answer.body)
        expect(events[0]!.data.message).toMatchObject({ role: "assistant", model: "claude-sonnet-4-6", content: [] })
        const text = events.filter((e) => e.event === "content_block_delta").map((e) => e.data.delta.text).join("")
        expect(text.length).toBe(70) // 20 tokens at 3.5 characters
        const delta = events.find((e) => e.event === "message_delta")!.data
        expect(delta.delta.stop_reason).toBe("max_tokens")
        expect(delta.usage).toMatchObject({ input_tokens: 1, output_tokens: 20 })
        expect(yield* stats).toMatchObject({ succeeded: 1, streams: 1, outputTokens: 20, inFlight: 0 })
      })
    ))

  it.effect("deltas come at the pace of the latency model, and output tokens are charged as produced", () =>
    withSimulator(
      paced,
      Effect.gen(function*() {
        const client = yield* HttpClient.HttpClient
        const request = HttpClientRequest.post("http://simulator/v1/messages").pipe(
          HttpClientRequest.setHeaders(defaultHeaders),
          HttpClientRequest.bodyUnsafeJson(streamed())
        )
        const fiber = yield* Effect.fork(
          Effect.flatMap(client.execute(request), (response) => Stream.runCollect(response.stream))
        )
        yield* TestClock.adjust("100 millis")
        expect((yield* stats).outputTokens).toBe(0)
        yield* TestClock.adjust("80 millis") // two deltas of 4 tokens, 40 ms each
        expect((yield* stats).outputTokens).toBe(8)
        expect((yield* stats).inFlight).toBe(1)
        yield* TestClock.adjust("120 millis")
        yield* Fiber.join(fiber)
        expect((yield* stats).outputTokens).toBe(20)
      })
    ))

  it.effect("a stream fault before the first delta: event: error with overloaded_error inside the 200", () =>
    withSimulator(
      { ...paced, faults: { stream: { errorBeforeContentRate: 1 } } },
      Effect.gen(function*() {
        const fiber = yield* Effect.fork(send(streamed()))
        yield* TestClock.adjust("1 second")
        const answer = yield* Fiber.join(fiber)
        expect(answer.status).toBe(200)
        expect(names(answer.body)).toEqual(["message_start", "content_block_start", "ping", "error"])
        expect(sseEvents(answer.body).at(-1)!.data.error).toEqual({ type: "overloaded_error", message: "Overloaded" })
        expect(yield* stats).toMatchObject({ succeeded: 0, streamErrors: 1, inFlight: 0 })
      })
    ))

  it.effect("a stream fault after N deltas: event: error (api_error here) after the N deltas", () =>
    withSimulator(
      { ...paced, faults: { stream: { errorMidStreamRate: 1, afterDeltas: 2, errorType: "api_error" } } },
      Effect.gen(function*() {
        const fiber = yield* Effect.fork(send(streamed()))
        yield* TestClock.adjust("1 second")
        const answer = yield* Fiber.join(fiber)
        expect(names(answer.body).slice(3)).toEqual(["content_block_delta", "content_block_delta", "error"])
        expect(sseEvents(answer.body).at(-1)!.data.error.type).toBe("api_error")
        expect((yield* stats).outputTokens).toBe(8)
      })
    ))

  it.effect("a connection cut mid-stream fails the body; the request leaves the in-flight count", () =>
    withSimulator(
      { ...paced, faults: { stream: { cutRate: 1, afterDeltas: 1 } } },
      Effect.gen(function*() {
        const fiber = yield* Effect.fork(Effect.flip(send(streamed())))
        yield* TestClock.adjust("1 second")
        const error = yield* Fiber.join(fiber)
        expect(error).toMatchObject({ _tag: "ResponseError" })
        expect(yield* stats).toMatchObject({ streamCuts: 1, succeeded: 0, inFlight: 0, outputTokens: 4 })
      })
    ))

  it.effect("stream faults are drawn from the seed: the same streams fail for the same seed", () =>
    Effect.gen(function*() {
      const outcomes = (seed: number) =>
        withSimulator(
          {
            seed,
            limits: { requestsPerMinute: 1_000 },
            faults: { stream: { errorBeforeContentRate: 0.2, errorMidStreamRate: 0.2, cutRate: 0.1 } }
          },
          Effect.forEach(Array.from({ length: 40 }), () =>
            send(message("Hi", { stream: true, max_tokens: 8 })).pipe(
              Effect.map((answer) => names(answer.body).includes("error") ? "error" : "ok"),
              Effect.orElseSucceed(() => "cut")
            ))
        )
      const first = yield* outcomes(5)
      expect(yield* outcomes(5)).toEqual(first)
      expect(new Set(first)).toEqual(new Set(["ok", "error", "cut"]))
    }))
})
