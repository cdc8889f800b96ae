/**
 * The three ways the CLI runs a workload through `ClaudeClient`:
 * - `simulator`: against the simulated API served on 127.0.0.1, in real time;
 * - `forecast`: against the in-memory simulator, in virtual time;
 * - `live`: against the real API (needs `ANTHROPIC_API_KEY`).
 *
 * Each builds the client from its parts (`layerWithoutDependencies`), with
 * the `HttpClient` and `RateLimitState` decorated by a `Monitor`.
 *
 * @since 0.1.0
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as Config from "effect/Config"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as CircuitBreaker from "../../CircuitBreaker.js"
import * as ClaudeClient from "../../ClaudeClient.js"
import * as RateLimitState from "../../RateLimitState.js"
import type * as RetryPolicy from "../../RetryPolicy.js"
import * as VirtualTime from "../../testing/VirtualTime.js"
import * as Simulator from "../api/Simulator.js"
import type * as SimulatorConfig from "../api/SimulatorConfig.js"
import * as Monitor from "./Monitor.js"
import * as Report from "./Report.js"
import * as Workload from "./Workload.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly workload: Workload.Workload
  readonly simulator: SimulatorConfig.Options
  readonly retry: RetryPolicy.Options
  readonly rateLimitState: RateLimitState.Options
  /** circuit breaker options, or `false` for none; default: a breaker with default options */
  readonly circuitBreaker?: CircuitBreaker.Options | false | undefined
  /**
   * Watches the run while it goes (the CLI's progress line): forked in the
   * run's scope with the monitor and the process-wide retry count at the
   * start. Not used by forecasts.
   */
  readonly watch?:
    | ((monitor: Monitor.Monitor, retriesBefore: number) => Effect.Effect<void, never, Scope.Scope>)
    | undefined
}

/**
 * `--live` without `ANTHROPIC_API_KEY`.
 *
 * @since 0.1.0
 * @category errors
 */
export class MissingApiKeyError extends Data.TaggedError("MissingApiKeyError")<{}> {
  override get message(): string {
    return "ANTHROPIC_API_KEY is not set: --live sends real requests to the Claude API and needs a key "
      + "(drop --live to run against the embedded simulator)"
  }
}

const clientLayer = (
  monitor: Monitor.Monitor,
  options: Options,
  client: { readonly apiKey: Redacted.Redacted<string>; readonly baseUrl?: string | undefined }
): Layer.Layer<ClaudeClient.ClaudeClient | RateLimitState.RateLimitState, never, HttpClient.HttpClient> =>
  ClaudeClient.layerWithoutDependencies({ ...client, retry: options.retry }).pipe(
    Layer.provideMerge(
      Layer.effect(
        RateLimitState.RateLimitState,
        Effect.map(RateLimitState.make(options.rateLimitState), monitor.rateLimitState)
      )
    ),
    Layer.provide(
      options.circuitBreaker === false ? CircuitBreaker.layerDisabled : CircuitBreaker.layer(options.circuitBreaker)
    ),
    Layer.provide(Layer.effect(HttpClient.HttpClient, Effect.map(HttpClient.HttpClient, monitor.httpClient)))
  )

const execute = (
  mode: Report.Report["mode"],
  options: Options,
  monitor: Monitor.Monitor
): Effect.Effect<Report.Report, never, ClaudeClient.ClaudeClient | RateLimitState.RateLimitState> =>
  Effect.scoped(Effect.gen(function*() {
    // the client's jitter is seeded too, so a run (and above all a forecast) replays from its seed
    yield* Effect.withRandomScoped(Random.make(options.workload.seed))
    const before = yield* Report.retryTotals
    if (options.watch !== undefined) yield* options.watch(monitor, before.retries)
    const result = yield* Workload.run(options.workload, monitor)
    const after = yield* Report.retryTotals
    const state = yield* RateLimitState.RateLimitState
    const snapshot = yield* state.get(options.workload.model)
    const simulator = yield* Effect.serviceOption(Simulator.Simulator)
    return Report.make({
      mode,
      workload: options.workload,
      result,
      progress: yield* monitor.progress,
      retries: {
        retries: after.retries - before.retries,
        waitSecondsAfter429: after.waitSecondsAfter429 - before.waitSecondsAfter429,
        waitSecondsAfterOther: after.waitSecondsAfterOther - before.waitSecondsAfterOther
      },
      limits: Option.match(snapshot, { onNone: () => null, onSome: Report.limitsOf }),
      simulator: Option.isSome(simulator) ? yield* simulator.value.stats : null
    })
  }))

const simulatedKey = Redacted.make("sk-ant-simulated")

/**
 * Runs the workload against the simulator served on loopback, in real time.
 *
 * @since 0.1.0
 * @category running
 */
export const simulated = (options: Options): Effect.Effect<Report.Report> =>
  Effect.gen(function*() {
    const server = yield* Simulator.SimulatorServer
    const monitor = yield* Monitor.make(options.workload.requests)
    return yield* execute("simulator", options, monitor).pipe(
      Effect.provide(clientLayer(monitor, options, { apiKey: simulatedKey, baseUrl: server.url })),
      Effect.provide(NodeHttpClient.layerUndici)
    )
  }).pipe(Effect.provide(Simulator.layerServer(options.simulator)), Effect.orDie)

/**
 * Runs the workload against the in-memory simulator in virtual time: the
 * same numbers as a real run, without the waiting.
 *
 * @since 0.1.0
 * @category running
 */
export const forecast = (options: Options): Effect.Effect<Report.Report> =>
  Effect.flatMap(
    VirtualTime.run(Effect.gen(function*() {
      const monitor = yield* Monitor.make(options.workload.requests)
      return yield* execute("forecast", { ...options, watch: undefined }, monitor).pipe(
        Effect.provide(clientLayer(monitor, options, { apiKey: simulatedKey })),
        Effect.provide(Simulator.layer(options.simulator))
      )
    })),
    (result) => Exit.isSuccess(result.exit) ? Effect.succeed(result.exit.value) : Effect.die(result.exit.cause)
  )

/**
 * Runs the workload against the real Claude API: `ANTHROPIC_API_KEY`
 * (required) and `ANTHROPIC_BASE_URL` come from the environment.
 *
 * @since 0.1.0
 * @category running
 */
export const live = (options: Options): Effect.Effect<Report.Report, MissingApiKeyError> =>
  Effect.gen(function*() {
    const apiKey = yield* Config.redacted("ANTHROPIC_API_KEY").pipe(
      Config.validate({ message: "empty", validation: (key) => Redacted.value(key).trim() !== "" }),
      Effect.mapError(() => new MissingApiKeyError())
    )
    const baseUrl = yield* Config.option(Config.string("ANTHROPIC_BASE_URL")).pipe(Effect.orElseSucceed(Option.none))
    const monitor = yield* Monitor.make(options.workload.requests)
    return yield* execute("live", options, monitor).pipe(
      Effect.provide(clientLayer(monitor, options, { apiKey, baseUrl: Option.getOrUndefined(baseUrl) })),
      Effect.provide(NodeHttpClient.layerUndici)
    )
  })
