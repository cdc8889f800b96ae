/**
 * A scenario: one or more lanes of traffic on one API key (an interactive
 * application and a batch job, say), each with its model, its sizes, how
 * many requests it keeps in flight and when its waves of requests arrive
 * (bursts and quiet periods), plus how the simulated API behaves (limits,
 * latency, faults, outages). Written as JSON and decoded with Schema;
 * examples in `scenarios/`.
 *
 * @since 0.2.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type * as SimulatorConfig from "../api/SimulatorConfig.js"
import * as Distribution from "./Distribution.js"

const Positive = Schema.Int.pipe(Schema.positive())
const NonNegative = Schema.Number.pipe(Schema.nonNegative())
const Share = Schema.Number.pipe(Schema.between(0, 1))

/**
 * @since 0.2.0
 * @category schemas
 */
export const LaneKind = Schema.Literal("interactive", "batch")

/**
 * @since 0.2.0
 * @category models
 */
export type LaneKind = typeof LaneKind.Type

/**
 * A wave: `requests` released at `atSeconds` from the start.
 *
 * @since 0.2.0
 * @category schemas
 */
export const Wave = Schema.Struct({ atSeconds: NonNegative, requests: Positive })

/**
 * @since 0.2.0
 * @category schemas
 */
export const Lane = Schema.Struct({
  name: Schema.NonEmptyTrimmedString,
  /** the lane the client will be told (once it takes call options); default interactive */
  lane: Schema.optionalWith(LaneKind, { default: () => "interactive" as const }),
  model: Schema.optional(Schema.NonEmptyTrimmedString),
  /** requests of this lane in flight at most */
  concurrency: Positive,
  promptTokens: Distribution.Distribution,
  maxTokens: Distribution.Distribution,
  /** all released at `startAtSeconds` (default 0)… */
  requests: Schema.optional(Positive),
  startAtSeconds: Schema.optional(NonNegative),
  /** …or in waves */
  waves: Schema.optional(Schema.NonEmptyArray(Wave))
}).pipe(
  Schema.filter((lane) =>
    (lane.requests === undefined) !== (lane.waves === undefined) || "a lane has either requests or waves"
  )
)

/**
 * @since 0.2.0
 * @category models
 */
export type Lane = typeof Lane.Type

const LimitsFields = Schema.Struct({
  requestsPerMinute: Schema.optional(Positive),
  inputTokensPerMinute: Schema.optional(Positive),
  outputTokensPerMinute: Schema.optional(Positive)
})

/**
 * How the simulated API behaves, in JSON-friendly units (seconds,
 * milliseconds). Everything optional: the simulator's defaults fill in.
 *
 * @since 0.2.0
 * @category schemas
 */
export const SimulatorSection = Schema.Struct({
  limits: Schema.optional(LimitsFields),
  modelLimits: Schema.optional(Schema.Record({ key: Schema.String, value: LimitsFields })),
  maxConcurrentRequests: Schema.optional(Positive),
  latency: Schema.optional(Schema.Struct({
    baseMillis: Schema.optional(NonNegative),
    perOutputTokenMillis: Schema.optional(NonNegative),
    jitter: Schema.optional(Share)
  })),
  output: Schema.optional(Schema.Union(
    Schema.Struct({ shape: Schema.Literal("share"), min: Schema.optional(Share), max: Schema.optional(Share) }),
    Schema.Struct({
      shape: Schema.Literal("lognormal"),
      median: Schema.Number.pipe(Schema.positive()),
      sigma: Schema.optional(NonNegative)
    })
  )),
  faults: Schema.optional(Schema.Struct({
    overloadedRate: Schema.optional(Share),
    apiErrorRate: Schema.optional(Share),
    connectionResetRate: Schema.optional(Share),
    slowRate: Schema.optional(Share),
    slowSeconds: Schema.optional(NonNegative),
    outages: Schema.optional(Schema.Array(
      Schema.Struct({
        fromSeconds: NonNegative,
        toSeconds: NonNegative,
        status: Schema.optional(Schema.Literal(500, 502, 503, 504, 529))
      }).pipe(Schema.filter((o) => o.toSeconds > o.fromSeconds || "an outage ends after it starts"))
    )),
    stream: Schema.optional(Schema.Struct({
      errorBeforeContentRate: Schema.optional(Share),
      errorMidStreamRate: Schema.optional(Share),
      cutRate: Schema.optional(Share),
      afterDeltas: Schema.optional(Schema.Int.pipe(Schema.nonNegative())),
      errorType: Schema.optional(Schema.Literal("overloaded_error", "api_error"))
    }))
  })),
  acceleration: Schema.optional(Schema.Struct({
    windowSeconds: Schema.optional(Schema.Number.pipe(Schema.positive())),
    growth: Schema.optional(Schema.Number.pipe(Schema.greaterThanOrEqualTo(1))),
    floor: Schema.optional(Positive)
  })),
  spendLimit: Schema.optional(Schema.Struct({
    afterRequests: Schema.Int.pipe(Schema.nonNegative()),
    errorCode: Schema.optional(Schema.Literal("enforced_spend_limit_reached", "contract_spend_limit_reached"))
  }))
})

/**
 * @since 0.2.0
 * @category models
 */
export type SimulatorSection = typeof SimulatorSection.Type

/**
 * @since 0.2.0
 * @category schemas
 */
export const Scenario = Schema.Struct({
  name: Schema.NonEmptyTrimmedString,
  description: Schema.optional(Schema.String),
  /** seeds the workload, the simulator and the client's jitter; default 1 */
  seed: Schema.optionalWith(Schema.Int, { default: () => 1 }),
  /** the model of lanes that name none; default claude-sonnet-4-6 */
  model: Schema.optionalWith(Schema.NonEmptyTrimmedString, { default: () => "claude-sonnet-4-6" }),
  simulator: Schema.optionalWith(SimulatorSection, { default: () => ({}) }),
  lanes: Schema.NonEmptyArray(Lane)
})

/**
 * @since 0.2.0
 * @category models
 */
export type Scenario = typeof Scenario.Type

/**
 * A scenario file could not be read or does not match the format.
 *
 * @since 0.2.0
 * @category errors
 */
export class ScenarioError extends Schema.TaggedError<ScenarioError>()("ScenarioError", {
  source: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `scenario ${this.source}: ${this.reason}`
  }
}

const decodeJson = Schema.decodeUnknown(Schema.parseJson(Scenario))

/**
 * Decodes a scenario from JSON text; `source` names it in errors.
 *
 * @since 0.2.0
 * @category decoding
 */
export const fromJson = (text: string, source = "(inline)"): Effect.Effect<Scenario, ScenarioError> =>
  decodeJson(text).pipe(
    Effect.mapError((error) => {
      const [first] = ParseResult.ArrayFormatter.formatErrorSync(error)
      const where = first === undefined || first.path.length === 0 ? "" : `${first.path.join(".")}: `
      return new ScenarioError({ source, reason: `${where}${first?.message ?? "invalid"}` })
    })
  )

/**
 * The requests of a lane, as waves.
 *
 * @since 0.2.0
 * @category getters
 */
export const wavesOf = (lane: Lane): ReadonlyArray<typeof Wave.Type> =>
  lane.waves ?? [{ atSeconds: lane.startAtSeconds ?? 0, requests: lane.requests ?? 0 }]

/**
 * @since 0.2.0
 * @category getters
 */
export const requestsOf = (scenario: Scenario): number =>
  scenario.lanes.reduce((sum, lane) => sum + wavesOf(lane).reduce((n, wave) => n + wave.requests, 0), 0)

/**
 * @since 0.2.0
 * @category getters
 */
export const concurrencyOf = (scenario: Scenario): number =>
  scenario.lanes.reduce((sum, lane) => sum + lane.concurrency, 0)

/**
 * The simulator's options from a scenario's section (and its seed).
 *
 * @since 0.2.0
 * @category conversions
 */
export const simulatorOptions = (section: SimulatorSection, seed: number): SimulatorConfig.Options => ({
  seed,
  limits: section.limits,
  modelLimits: section.modelLimits,
  maxConcurrentRequests: section.maxConcurrentRequests,
  latency: section.latency === undefined ? undefined : {
    base: section.latency.baseMillis === undefined ? undefined : Duration.millis(section.latency.baseMillis),
    perOutputToken: section.latency.perOutputTokenMillis === undefined
      ? undefined
      : Duration.millis(section.latency.perOutputTokenMillis),
    jitter: section.latency.jitter
  },
  output: section.output,
  faults: section.faults === undefined ? undefined : {
    overloadedRate: section.faults.overloadedRate,
    apiErrorRate: section.faults.apiErrorRate,
    connectionResetRate: section.faults.connectionResetRate,
    slowRate: section.faults.slowRate,
    slowLatency: section.faults.slowSeconds === undefined ? undefined : Duration.seconds(section.faults.slowSeconds),
    outages: section.faults.outages?.map((outage) => ({
      from: Duration.seconds(outage.fromSeconds),
      to: Duration.seconds(outage.toSeconds),
      status: outage.status
    })),
    stream: section.faults.stream
  },
  acceleration: section.acceleration === undefined ? undefined : {
    window: section.acceleration.windowSeconds === undefined
      ? undefined
      : Duration.seconds(section.acceleration.windowSeconds),
    growth: section.acceleration.growth,
    floor: section.acceleration.floor
  },
  spendLimit: section.spendLimit
})
