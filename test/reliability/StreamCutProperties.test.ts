/**
 * Property-based bad input, streams: an SSE answer cut at any byte offset (inside a field name, a JSON value, a
 * multi-byte character, between the two newlines that end an event), delivered in chunks of any size, ended by a
 * reset or by a clean close, gives the caller either the complete message or a typed error. Never a defect, never
 * a truncated answer passed off as complete, and what reached the caller before a failure is a prefix of the
 * answer. Driven through `ClaudeClient.streamMessage` over `ScriptedHttpClient` (its `cutAfterBytes`).
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer, ManagedRuntime, Redacted, Stream } from "effect"
import fc from "fast-check"
import * as Admission from "../../src/Admission.js"
import * as ClaudeClient from "../../src/ClaudeClient.js"
import * as ClaudeError from "../../src/ClaudeError.js"
import type * as MessageStream from "../../src/MessageStream.js"
import * as Scripted from "../../src/testing/ScriptedHttpClient.js"
import { breathe } from "../support/eventLoop.js"

const runs = 10_000
const pool = "claude-sonnet-4.x"
const params = { model: "claude-sonnet-4-6", max_tokens: 64, messages: [{ role: "user" as const, content: "hi" }] }

let current: Scripted.ScriptedResponse = { events: [] }
const script: ReadonlyArray<Scripted.Step> = Array.from({ length: runs * 2 }, () => () => current)
// no retries, no breaker and no adaptive send rate (its pacing after overloads would only slow the run down):
// each case sees what one attempt makes of its body
const runtime = ManagedRuntime.make(
  ClaudeClient.layer({
    apiKey: Redacted.make("sk-ant-stream-cuts"),
    retry: false,
    circuitBreaker: false,
    admission: {
      sendRate: false,
      limits: { [pool]: { requestsPerMinute: 1e9, inputTokensPerMinute: 1e12, outputTokensPerMinute: 1e12 } }
    }
  }).pipe(Layer.provide(Scripted.layer(script)))
)
afterAll(() => runtime.dispose())

const text = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: "grapheme", maxLength: 6 }),
  fc.string({ unit: "binary", maxLength: 6 }),
  fc.constantFrom("é", "日本語", "👩‍👩‍👧", "\n\n", "data: x\n\n", "\r\n", "\"}", "\\")
)

const answer = fc.record({
  chunks: fc.array(text, { maxLength: 6 }),
  inputTokens: fc.nat({ max: 10_000 }),
  outputTokens: fc.nat({ max: 10_000 }),
  // an `event: error` after this many deltas, instead of the end
  errorAfter: fc.option(fc.nat({ max: 6 }), { freq: 4 })
})

const chunkSize = fc.oneof(
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 7 }) },
  { weight: 3, arbitrary: fc.integer({ min: 8, max: 512 }) },
  { weight: 4, arbitrary: fc.constant(1 << 20) }
)

const textOf = (events: ReadonlyArray<MessageStream.MessageStreamEvent>): string =>
  events.flatMap((event) =>
    event.type === "content_block_delta" && (event as any).delta.type === "text_delta"
      ? [(event as any).delta.text]
      : []
  ).join("")

const expectedTags = new Set([
  "ConnectionError",
  "MalformedResponseError",
  "StreamInterruptedError",
  // an event: error before any content: the error it carries
  "OverloadedError",
  "ApiError"
])

describe("an SSE stream cut at any byte offset", () => {
  it.live.prop(
    "gives the complete message or a typed error, never a defect or a silent truncation",
    // chunks of a few bytes now and then (a cut inside a character), mostly larger ones (each chunk costs)
    [answer, fc.oneof(fc.nat(), fc.constant(-1)), chunkSize, fc.boolean()],
    ([{ chunks, errorAfter, inputTokens, outputTokens }, where, chunkBytes, reset]) =>
      Effect.gen(function*() {
        yield* breathe
        const events = Scripted.streamEvents({
          chunks,
          inputTokens,
          outputTokens,
          ...(errorAfter === null ? {} : { errorAfter: Math.min(errorAfter, chunks.length) })
        })
        const length = Scripted.sseText(events).length
        // anywhere in the body, or right at its end (-1)
        const cut = where === -1 ? length : where % (length + 1)
        current = { events, chunkBytes, cutAfterBytes: cut, cutWith: reset ? "reset" : "end" }
        const client = yield* ClaudeClient.ClaudeClient
        const received: Array<MessageStream.MessageStreamEvent> = []
        const exit = yield* Effect.exit(
          Stream.runForEach(client.streamMessage(params), (event) => Effect.sync(() => received.push(event)))
        ).pipe(
          // a hang is a failure with its counterexample, not a timed-out run
          Effect.timeout("60 seconds"),
          Effect.orDie
        )
        const full = chunks.join("")
        // what reached the caller is always the start of the answer
        expect(full.startsWith(textOf(received))).toBe(true)
        // every byte of a whole answer arrived: the caller has it, whatever the connection does afterwards
        if (cut === length && errorAfter === null) expect(Exit.isSuccess(exit)).toBe(true)
        if (Exit.isSuccess(exit)) {
          // complete: every byte arrived, the answer ended with message_stop, and nothing is missing
          expect(errorAfter).toBe(null)
          expect(cut).toBe(length)
          expect(received.at(-1)?.type).toBe("message_stop")
          expect(textOf(received)).toBe(full)
        } else {
          expect(exit.cause._tag).toBe("Fail")
          const error = exit.cause._tag === "Fail" ? exit.cause.error : undefined
          expect(expectedTags.has(String(error?._tag))).toBe(true)
          if (error?._tag === "StreamInterruptedError") {
            expect(received.length).toBeGreaterThan(0)
            expect(full.startsWith(textOf(received))).toBe(true)
          } else {
            // failed before anything reached the caller: a retryable typed error, the attempt never half-delivered
            expect(received).toEqual([])
            expect(ClaudeError.isClaudeError(error)).toBe(true)
          }
        }
        // however it ended, its admission lease was released
        const status = yield* (yield* Admission.Admission).status(pool)
        expect(status.inFlight).toBe(0)
        expect(status.view.inFlight).toBe(0)
      }).pipe(Effect.provide(runtime)),
    { timeout: 300_000, fastCheck: { numRuns: runs } }
  )

  it.live(
    "every byte offset of one answer with multi-byte text, in 3-byte chunks and in one chunk",
    () =>
      Effect.gen(function*() {
        const events = Scripted.streamEvents({ chunks: ["Grüße, ", "日本", "👩‍👩‍👧", "!"] })
        const length = Scripted.sseText(events).length
        const client = yield* ClaudeClient.ClaudeClient
        const outcomes = new Map<string, number>()
        for (let cut = 0; cut <= length; cut++) {
          for (const chunkBytes of [3, length]) {
            for (const cutWith of ["reset", "end"] as const) {
              yield* breathe
              current = { events, chunkBytes, cutAfterBytes: cut, cutWith }
              const received: Array<MessageStream.MessageStreamEvent> = []
              const exit = yield* Effect.exit(
                Stream.runForEach(client.streamMessage(params), (event) => Effect.sync(() => received.push(event)))
              )
              const tag = Exit.isSuccess(exit)
                ? "complete"
                : exit.cause._tag === "Fail"
                ? exit.cause.error._tag
                : "defect"
              outcomes.set(tag, (outcomes.get(tag) ?? 0) + 1)
              if (tag === "complete") {
                expect(cut).toBe(length)
                expect(textOf(received)).toBe("Grüße, 日本👩‍👩‍👧!")
              } else {
                expect(tag === "ConnectionError" || tag === "StreamInterruptedError").toBe(true)
              }
            }
          }
        }
        // the whole body, closed cleanly, is the one complete answer (in both chunkings)
        expect(outcomes.get("complete")).toBeGreaterThanOrEqual(2)
        expect(outcomes.get("defect")).toBeUndefined()
      }).pipe(Effect.provide(runtime)),
    { timeout: 120_000 }
  )
})
