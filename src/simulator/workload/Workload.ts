/**
 * Running a scenario's lanes through the `ClaudeClient` in context: each
 * lane releases its waves of requests at their times and keeps at most its
 * concurrency in flight. Sizes are drawn up front from the scenario's seed
 * (each lane from its own stream), prompts are built when sent, so the same
 * scenario sends the same requests in the same order on every run.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import * as ClaudeClient from "../../ClaudeClient.js"
import type * as Messages from "../../Messages.js"
import * as Distribution from "./Distribution.js"
import type * as Monitor from "./Monitor.js"
import * as Scenario from "./Scenario.js"

/**
 * The size of one request of a workload, and when and where it goes.
 *
 * @since 0.1.0
 * @category models
 */
export interface Shape {
  readonly lane: string
  readonly laneKind: Scenario.LaneKind
  readonly model: string
  readonly releaseAtMillis: number
  readonly promptTokens: number
  readonly maxTokens: number
}

/**
 * A one-lane scenario: what the command line's workload options describe.
 *
 * @since 0.2.0
 * @category constructors
 */
export const single = (options: {
  readonly requests: number
  readonly concurrency: number
  readonly model: string
  readonly promptTokens: Distribution.Distribution
  readonly maxTokens: Distribution.Distribution
  readonly seed: number
  readonly simulator?: Scenario.SimulatorSection | undefined
}): Scenario.Scenario => ({
  name: "command line",
  seed: options.seed,
  model: options.model,
  simulator: options.simulator ?? {},
  lanes: [{
    name: "main",
    lane: "interactive",
    concurrency: options.concurrency,
    promptTokens: options.promptTokens,
    maxTokens: options.maxTokens,
    requests: options.requests
  }]
})

/**
 * What `npm start` runs: enough traffic to run into a low tier's limits in
 * well under a minute.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultScenario: Scenario.Scenario = single({
  requests: 60,
  concurrency: 8,
  model: "claude-sonnet-4-6",
  promptTokens: Distribution.uniform(200, 800),
  maxTokens: 256,
  seed: 1
})

/**
 * The shapes of a scenario's requests, lane by lane, wave by wave; the same
 * for the same seed.
 *
 * @since 0.1.0
 * @category constructors
 */
export const shapes = (scenario: Scenario.Scenario): Effect.Effect<ReadonlyArray<Shape>> =>
  Effect.forEach(scenario.lanes, (lane, index) => {
    const rng = Random.make(scenario.seed * 1_000_003 + index)
    const waves = Scenario.wavesOf(lane)
    return Effect.forEach(
      waves.flatMap((wave) => Array.from({ length: wave.requests }, () => wave.atSeconds)),
      (atSeconds) =>
        Effect.map(
          Effect.all([Distribution.draw(rng, lane.promptTokens), Distribution.draw(rng, lane.maxTokens)]),
          ([promptTokens, maxTokens]): Shape => ({
            lane: lane.name,
            laneKind: lane.lane,
            model: lane.model ?? scenario.model,
            releaseAtMillis: Math.round(atSeconds * 1000),
            promptTokens,
            maxTokens
          })
        )
    )
  }).pipe(Effect.map((lanes) => lanes.flat()))

const phrase = "Summarise the rate-limit headers of this response in one sentence. "

/**
 * The Messages request of one shape: a prompt of `promptTokens` tokens at
 * `charactersPerToken` (the simulated API's count; 3.5 by default).
 *
 * @since 0.1.0
 * @category constructors
 */
export const params = (shape: Shape, charactersPerToken = 3.5): Messages.CreateMessageParams => {
  const characters = Math.floor(shape.promptTokens * charactersPerToken)
  return {
    model: shape.model,
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
  readonly lane: string
  readonly laneKind: Scenario.LaneKind
  /** `"ok"`, or the tag of the error it failed with */
  readonly result: string
  /** from the start of the run to the end of the request, waits included */
  readonly finishedAtMillis: number
  /** from its release to its end, waits included */
  readonly latencyMillis: number
  /** from its release to its first attempt on the wire (all of it when it never got there) */
  readonly waitBeforeSendingMillis: number
  readonly waitAfter429Millis: number
  readonly waitAfterOtherMillis: number
  readonly attempts: number
  /** what the request counted against input-token budget (input + cache writes) */
  readonly inputTokens: number
  readonly outputTokens: number
}

/**
 * Outcomes recorded so far: filled as requests end, so an interrupted run
 * can still report what it did.
 *
 * @since 0.2.0
 * @category models
 */
export interface Recorder {
  readonly outcomes: Array<Outcome>
  startedAt: number | undefined
}

/**
 * @since 0.2.0
 * @category constructors
 */
export const recorder = (): Recorder => ({ outcomes: [], startedAt: undefined })

/**
 * Runs the scenario through the `ClaudeClient` in context. Never fails: each
 * request's failure is recorded by its tag in `record`.
 *
 * @since 0.1.0
 * @category running
 */
export const run = (
  scenario: Scenario.Scenario,
  monitor: Monitor.Monitor,
  record: Recorder,
  charactersPerToken = 3.5
): Effect.Effect<void, never, ClaudeClient.ClaudeClient> =>
  Effect.gen(function*() {
    const client = yield* ClaudeClient.ClaudeClient
    const all = yield* shapes(scenario)
    const start = yield* Clock.currentTimeMillis
    record.startedAt = start
    const send = (shape: Shape) =>
      Effect.gen(function*() {
        const [exit, trace] = yield* monitor.track(
          Effect.either(client.createMessage(params(shape, charactersPerToken), { lane: shape.laneKind }))
        )
        const ended = yield* Clock.currentTimeMillis
        yield* monitor.requestDone(exit._tag === "Right")
        const usage = exit._tag === "Right" ? exit.right.usage : undefined
        record.outcomes.push({
          lane: shape.lane,
          laneKind: shape.laneKind,
          result: exit._tag === "Right" ? "ok" : exit.left._tag,
          finishedAtMillis: ended - start,
          latencyMillis: ended - trace.startedAt,
          waitBeforeSendingMillis: (trace.firstSentAt ?? ended) - trace.startedAt,
          waitAfter429Millis: trace.waitAfter429Millis,
          waitAfterOtherMillis: trace.waitAfterOtherMillis,
          attempts: trace.attempts,
          inputTokens: usage ? usage.input_tokens + (usage.cache_creation_input_tokens ?? 0) : 0,
          outputTokens: usage?.output_tokens ?? 0
        })
      })
    // in release order, at most `concurrency` at a time: a slot waits for its request's wave
    yield* Effect.forEach(scenario.lanes, (lane) =>
      Effect.forEach(
        all.filter((shape) => shape.lane === lane.name).sort((a, b) => a.releaseAtMillis - b.releaseAtMillis),
        (shape) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) =>
            start + shape.releaseAtMillis > now
              ? Effect.zipRight(Effect.sleep(start + shape.releaseAtMillis - now), send(shape))
              : send(shape)),
        { concurrency: lane.concurrency, discard: true }
      ), { concurrency: "unbounded", discard: true })
  })
