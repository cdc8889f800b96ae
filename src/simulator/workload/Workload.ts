/**
 * A workload: `requests` Messages requests of a given shape, sent with at
 * most `concurrency` in flight. The shape is deterministic for a seed, so
 * the same workload can be run for real, forecast, and compared.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import * as ClaudeClient from "../../ClaudeClient.js"
import type * as Messages from "../../Messages.js"
import type * as Monitor from "./Monitor.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Range {
  readonly min: number
  readonly max: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Workload {
  readonly requests: number
  readonly concurrency: number
  readonly model: string
  /** Prompt size in (estimated) input tokens, uniform in `[min, max]`. */
  readonly promptTokens: Range
  /** `max_tokens` of each request, uniform in `[min, max]`. */
  readonly maxTokens: Range
  readonly seed: number
}

/**
 * What `npm start` runs: enough traffic to run into a low tier's limits in
 * well under a minute.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultWorkload: Workload = {
  requests: 60,
  concurrency: 8,
  model: "claude-sonnet-4-6",
  promptTokens: { min: 200, max: 800 },
  maxTokens: { min: 256, max: 256 },
  seed: 1
}

const phrase = "Summarise the rate-limit headers of this response in one sentence. "

/**
 * The size of one request of a workload.
 *
 * @since 0.1.0
 * @category models
 */
export interface Shape {
  readonly promptTokens: number
  readonly maxTokens: number
}

/**
 * The shapes of a workload's requests, in order; the same for the same seed.
 * Only the sizes are drawn up front: a prompt is built when its request is
 * sent, so a 10,000-request forecast does not hold 10,000 prompts at once.
 *
 * @since 0.1.0
 * @category constructors
 */
export const shapes = (workload: Workload): Effect.Effect<ReadonlyArray<Shape>> => {
  const rng = Random.make(workload.seed)
  const draw = (range: Range) => rng.nextIntBetween(range.min, range.max + 1)
  return Effect.forEach(
    Array.from({ length: workload.requests }),
    () =>
      Effect.map(
        Effect.all([draw(workload.promptTokens), draw(workload.maxTokens)]),
        ([promptTokens, maxTokens]) => ({ promptTokens, maxTokens })
      )
  )
}

/**
 * The Messages request of one shape: a prompt of `promptTokens × 4` characters.
 *
 * @since 0.1.0
 * @category constructors
 */
export const params = (model: string, shape: Shape): Messages.CreateMessageParams => {
  const characters = shape.promptTokens * 4
  return {
    model,
    max_tokens: shape.maxTokens,
    messages: [{ role: "user", content: phrase.repeat(Math.ceil(characters / phrase.length)).slice(0, characters) }]
  }
}

/**
 * How one request ended.
 *
 * @since 0.1.0
 * @category models
 */
export interface Outcome {
  /** `"ok"`, or the tag of the error it failed with */
  readonly result: string
  /** from the start of the run to the end of the request, waits included */
  readonly finishedAtMillis: number
  readonly latencyMillis: number
  /** what the request counted against input-token budget (input + cache writes) */
  readonly inputTokens: number
  readonly outputTokens: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Result {
  readonly outcomes: ReadonlyArray<Outcome>
  readonly wallMillis: number
}

/**
 * Runs the workload through the `ClaudeClient` in context. Never fails: each
 * request's failure is recorded by its tag.
 *
 * @since 0.1.0
 * @category running
 */
export const run = (
  workload: Workload,
  monitor: Monitor.Monitor
): Effect.Effect<Result, never, ClaudeClient.ClaudeClient> =>
  Effect.gen(function*() {
    const client = yield* ClaudeClient.ClaudeClient
    const all = yield* shapes(workload)
    const start = yield* Clock.currentTimeMillis
    const outcomes = yield* Effect.forEach(all, (shape) =>
      Effect.gen(function*() {
        const began = yield* Clock.currentTimeMillis
        const exit = yield* Effect.either(client.createMessage(params(workload.model, shape)))
        const ended = yield* Clock.currentTimeMillis
        yield* monitor.requestDone(exit._tag === "Right")
        const usage = exit._tag === "Right" ? exit.right.usage : undefined
        return {
          result: exit._tag === "Right" ? "ok" : exit.left._tag,
          finishedAtMillis: ended - start,
          latencyMillis: ended - began,
          inputTokens: usage ? usage.input_tokens + (usage.cache_creation_input_tokens ?? 0) : 0,
          outputTokens: usage?.output_tokens ?? 0
        }
      }), { concurrency: Math.max(1, workload.concurrency) })
    const end = yield* Clock.currentTimeMillis
    return { outcomes, wallMillis: end - start }
  })
