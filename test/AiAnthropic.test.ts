import { LanguageModel } from "@effect/ai"
import { AnthropicClient, AnthropicLanguageModel } from "@effect/ai-anthropic"
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, Layer, Redacted, Stream } from "effect"
import { AnthropicWithLimits, program } from "../examples/ai-anthropic.js"
import { ClaudeHttpClient } from "../src/index.js"
import { Simulator, type SimulatorConfig } from "../src/testing/index.js"

// @effect/ai-anthropic against the simulator served on 127.0.0.1, in real time, with and without the transform.
// Loads are bounded in count; assertions are about outcomes, never durations.

const apiKey = Redacted.make("sk-ant-api03-ai-anthropic-loopback-0123456789")

const model = AnthropicLanguageModel.model("claude-sonnet-4-6", { max_tokens: 48 })

// Few requests a minute, so 429s come, and one answer in six overloaded (529).
const pushingBack: SimulatorConfig.Options = {
  seed: 11,
  limits: { requestsPerMinute: 12, inputTokensPerMinute: 10_000_000, outputTokensPerMinute: 10_000_000 },
  faults: { overloadedRate: 0.15 }
}

const rateLimited = (stats: Simulator.Stats) => Object.values(stats.rateLimited).reduce((sum, n) => sum + n, 0)

// Ten answers generated and four streamed, all at once.
const load = Effect.all(
  [
    ...Array.from(
      { length: 10 },
      (_, i) => Effect.map(LanguageModel.generateText({ prompt: `Question ${i}` }), (response) => response.text)
    ),
    ...Array.from({ length: 4 }, (_, i) =>
      LanguageModel.streamText({ prompt: `Story ${i}` }).pipe(
        Stream.runFold("", (text, part) => part.type === "text-delta" ? text + part.delta : text)
      ))
  ].map(Effect.either),
  { concurrency: "unbounded" }
)

const withSimulator = <A, E>(
  options: SimulatorConfig.Options,
  use: (server: Simulator.SimulatorServer, simulator: Simulator.Simulator) => Effect.Effect<A, E>
) =>
  Effect.gen(function*() {
    return yield* use(yield* Simulator.SimulatorServer, yield* Simulator.Simulator)
  }).pipe(Effect.provide(Simulator.layerServer(options)))

describe("@effect/ai-anthropic with ClaudeHttpClient.transform, against the loopback simulator", () => {
  it.live(
    "generating and streaming text at a low RPM limit with 529s: every call succeeds",
    () =>
      withSimulator(pushingBack, (server, simulator) =>
        Effect.gen(function*() {
          const results = yield* load.pipe(
            Effect.provide(model),
            Effect.provide(AnthropicWithLimits({ apiKey, apiUrl: server.url })),
            Effect.provide(NodeHttpClient.layerUndici)
          )
          expect(results.filter(Either.isLeft).map((left) => String(left.left))).toEqual([])
          for (const text of results) expect(Either.getOrThrow(text).length).toBeGreaterThan(0)
          const stats = yield* simulator.stats
          // the API did push back, and the transform absorbed it
          expect(stats.overloaded).toBeGreaterThan(0)
          expect(stats.succeeded).toBe(14)
        })),
    { timeout: 120_000 }
  )

  it.live(
    "the same calls without the transform fail on the API's 429s and 529s",
    () =>
      withSimulator(pushingBack, (server, simulator) =>
        Effect.gen(function*() {
          const results = yield* load.pipe(
            Effect.provide(model),
            Effect.provide(AnthropicClient.layer({ apiKey, apiUrl: server.url })),
            Effect.provide(NodeHttpClient.layerUndici)
          )
          const failures = results.filter(Either.isLeft)
          expect(failures.length).toBeGreaterThan(0)
          for (const failure of failures) expect(failure.left._tag).toBe("HttpResponseError")
          const stats = yield* simulator.stats
          expect(stats.overloaded + rateLimited(stats)).toBeGreaterThanOrEqual(failures.length)
        })),
    { timeout: 120_000 }
  )

  it.live(
    "a stream that fails before content is retried unseen; after content, the API's error is an error part",
    () =>
      Effect.gen(function*() {
        const streamParts = (options: SimulatorConfig.Options) =>
          withSimulator(options, (server, simulator) =>
            Effect.gen(function*() {
              const parts = yield* Effect.forEach(
                Array.from({ length: 6 }, (_, i) => i),
                (i) => Stream.runCollect(LanguageModel.streamText({ prompt: `Story ${i}` })),
                { concurrency: "unbounded" }
              ).pipe(
                Effect.provide(model),
                Effect.provide(AnthropicWithLimits({ apiKey, apiUrl: server.url })),
                Effect.provide(NodeHttpClient.layerUndici)
              )
              return { parts: parts.map(Chunk.toReadonlyArray), stats: yield* simulator.stats }
            }))

        const early = yield* streamParts({ seed: 3, faults: { stream: { errorBeforeContentRate: 0.3 } } })
        expect(early.stats.streamErrors).toBeGreaterThan(0)
        for (const parts of early.parts) {
          expect(parts.map((part) => part.type)).not.toContain("error")
          expect(parts.map((part) => part.type)).toContain("finish")
        }

        const late = yield* streamParts({ seed: 4, faults: { stream: { errorMidStreamRate: 1, afterDeltas: 2 } } })
        for (const parts of late.parts) {
          const types = parts.map((part) => part.type)
          expect(types).toContain("text-delta")
          const error = parts.find((part) => part.type === "error")
          expect(error).toMatchObject({ type: "error", error: { type: "overloaded_error" } })
        }
        // nothing was retried once content had reached the caller
        expect(late.stats.streams).toBe(6)
      }),
    { timeout: 120_000 }
  )

  // AnthropicClient adds its base URL inside the client it hands to the transform: the transform must not read the
  // request's URL before that client has (it once did, and every request failed with InvalidUrl).
  it.live(
    "the transform given as documented, apiUrl on AnthropicClient: the request reaches the API",
    () =>
      withSimulator({ seed: 2 }, (server, simulator) =>
        Effect.gen(function*() {
          const documented = Layer.unwrapEffect(
            Effect.map(
              ClaudeHttpClient.transform(),
              (transformClient) => AnthropicClient.layer({ apiKey, apiUrl: server.url, transformClient })
            )
          ).pipe(Layer.provide(ClaudeHttpClient.layerServices()))
          const answer = yield* LanguageModel.generateText({ prompt: "Hello" }).pipe(
            Effect.provide(model),
            Effect.provide(documented),
            Effect.provide(NodeHttpClient.layerUndici)
          )
          expect(answer.text.length).toBeGreaterThan(0)
          expect((yield* simulator.stats).succeeded).toBe(1)
        })),
    { timeout: 60_000 }
  )

  it.live(
    "the example's program runs through the transform",
    () =>
      withSimulator({ seed: 2 }, (server) =>
        Effect.gen(function*() {
          const { answer, haiku } = yield* program.pipe(
            Effect.provide(model),
            Effect.provide(AnthropicWithLimits({ apiKey, apiUrl: server.url })),
            Effect.provide(NodeHttpClient.layerUndici)
          )
          expect(answer.length).toBeGreaterThan(0)
          expect(haiku.length).toBeGreaterThan(0)
        })),
    { timeout: 60_000 }
  )
})
