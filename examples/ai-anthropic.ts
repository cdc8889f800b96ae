/**
 * @effect/ai-anthropic with the rate-limit pipeline on every request it
 * sends, streams included: `ClaudeHttpClient.transform` given to
 * `AnthropicClient.layer` as `transformClient` (the layer-level option
 * reaches both the generated client and the streaming path).
 *
 * Against the API:       ANTHROPIC_API_KEY=sk-ant-… npx tsx examples/ai-anthropic.ts
 * Against the simulator: npm start -- simulate --port 4000, then
 *                        ANTHROPIC_BASE_URL=http://127.0.0.1:4000 ANTHROPIC_API_KEY=test npx tsx examples/ai-anthropic.ts
 */
import { LanguageModel } from "@effect/ai"
import { AnthropicClient, AnthropicLanguageModel } from "@effect/ai-anthropic"
import { NodeHttpClient, NodeRuntime } from "@effect/platform-node"
import { Config, Data, Effect, Layer, Option, type Redacted, Stream } from "effect"
import { pathToFileURL } from "node:url"
import { ClaudeHttpClient } from "../src/index.js"

/**
 * `AnthropicClient` with admission, the circuit breaker and the retry policy
 * around every request. It needs an `HttpClient`.
 */
export const AnthropicWithLimits = (options: {
  readonly apiKey: Redacted.Redacted
  readonly apiUrl?: string | undefined
}) =>
  Layer.unwrapEffect(
    Effect.map(ClaudeHttpClient.transform(), (transformClient) =>
      AnthropicClient.layer({
        apiKey: options.apiKey,
        ...(options.apiUrl === undefined ? {} : { apiUrl: options.apiUrl }),
        transformClient
      }))
  ).pipe(Layer.provide(ClaudeHttpClient.layerServices()))

/** A stream that failed after some of it had arrived: the API's `event: error`, as a stream part. */
export class StreamPartError extends Data.TaggedError("StreamPartError")<{ readonly error: unknown }> {}

/** One answer generated, one streamed. */
export const program = Effect.gen(function*() {
  const answer = yield* LanguageModel.generateText({ prompt: "Name three prime numbers." })
  const haiku = yield* LanguageModel.streamText({ prompt: "Write a haiku about rate limits." }).pipe(
    // after content has arrived, an error of the API is a part of the stream, not a failure: make it one
    Stream.mapEffect((part) =>
      part.type === "error" ? Effect.fail(new StreamPartError({ error: part.error })) : Effect.succeed(part)
    ),
    Stream.runFold("", (text, part) => part.type === "text-delta" ? text + part.delta : text)
  )
  return { answer: answer.text, haiku }
})

const main = Effect.gen(function*() {
  const { answer, haiku } = yield* program
  yield* Effect.log(answer)
  yield* Effect.log(haiku)
}).pipe(
  Effect.provide(AnthropicLanguageModel.model("claude-sonnet-4-6", { max_tokens: 512 })),
  Effect.provide(Layer.unwrapEffect(Effect.map(
    Config.all({
      apiKey: Config.redacted("ANTHROPIC_API_KEY"),
      apiUrl: Config.option(Config.string("ANTHROPIC_BASE_URL"))
    }),
    ({ apiKey, apiUrl }) => AnthropicWithLimits({ apiKey, apiUrl: Option.getOrUndefined(apiUrl) })
  ))),
  Effect.provide(NodeHttpClient.layerUndici)
)

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  NodeRuntime.runMain(main)
}
