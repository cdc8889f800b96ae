/**
 * The three ways to run a scenario through `ClaudeClient`:
 * - `simulated`: against the simulated API served on 127.0.0.1, in real time;
 * - `forecast`: against the in-memory simulator, in virtual time;
 * - `live`: against the real API (needs `ANTHROPIC_API_KEY`).
 *
 * The client is built the way users build it, `ClaudeClient.layer(options)`
 * (it brings its own state and breaker), over an `HttpClient` the monitor
 * observes. Only the library's public modules are used.
 *
 * @since 0.1.0
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type * as AdmissionStore from "../../AdmissionStore.js"
import * as ClaudeClient from "../../ClaudeClient.js"
import type * as ClaudeError from "../../ClaudeError.js"
import * as VirtualTime from "../../testing/VirtualTime.js"
import * as Simulator from "../api/Simulator.js"
import * as SimulatorConfig from "../api/SimulatorConfig.js"
import * as Monitor from "./Monitor.js"
import * as Report from "./Report.js"
import * as Scenario from "./Scenario.js"
import * as Workload from "./Workload.js"

/**
 * The client's options, less where it connects (the runner decides that).
 *
 * @since 0.2.0
 * @category models
 */
export type ClientOptions = Omit<ClaudeClient.LayerOptions, "apiKey" | "baseUrl">

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly scenario: Scenario.Scenario
  /** The simulated API. Default: the scenario's `simulator` section and seed. */
  readonly simulator?: SimulatorConfig.Options | undefined
  readonly client: ClientOptions
  /**
   * Another client in place of `ClaudeClient.layer(client)`, over the run's
   * `HttpClient` (which it must use: the run watches requests there), e.g. a
   * strategy to compare with. It is given where to connect.
   */
  readonly clientLayer?:
    | ((connection: Connection) => Layer.Layer<ClaudeClient.ClaudeClient, never, HttpClient.HttpClient>)
    | undefined
  /**
   * Watches the run while it goes (the CLI's progress line), in the run's
   * scope. Not used by forecasts.
   */
  readonly watch?: ((monitor: Monitor.Monitor) => Effect.Effect<void, never, Scope.Scope>) | undefined
  /** Called with the report so far when the run is interrupted (Ctrl-C). */
  readonly onInterrupted?: ((report: Report.Report) => Effect.Effect<void>) | undefined
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

/**
 * The simulator options a run uses.
 *
 * @since 0.2.0
 * @category getters
 */
export const simulatorOptions = (options: Options): SimulatorConfig.Options =>
  options.simulator ?? Scenario.simulatorOptions(options.scenario.simulator, options.scenario.seed)

/**
 * What the run should be told before it starts: a workload that keeps more
 * requests in flight than the simulated API allows will meet 429s naming
 * concurrent connections, whatever the client does.
 *
 * @since 0.2.0
 * @category getters
 */
export const warnings = (options: Options, config: SimulatorConfig.Config | undefined): ReadonlyArray<string> => {
  const concurrency = Scenario.concurrencyOf(options.scenario)
  return config !== undefined && concurrency > config.maxConcurrentRequests
    ? [
      `the workload keeps up to ${concurrency} requests in flight but the simulated API allows ${config.maxConcurrentRequests} at once (--max-concurrent): expect 429s for concurrent connections`
    ]
    : []
}

/**
 * Where a run's client connects.
 *
 * @since 0.2.0
 * @category models
 */
export interface Connection {
  readonly apiKey: Redacted.Redacted<string>
  readonly baseUrl?: string | undefined
}

const clientLayer = (
  monitor: Monitor.Monitor,
  options: Options,
  connection: Connection
): Layer.Layer<
  ClaudeClient.ClaudeClient,
  ClaudeError.InvalidBaseUrlError | AdmissionStore.AdmissionStoreError,
  HttpClient.HttpClient
> =>
  (options.clientLayer === undefined
    ? ClaudeClient.layer({ ...options.client, ...connection })
    : options.clientLayer(connection)).pipe(
      Layer.provide(Layer.effect(HttpClient.HttpClient, Effect.map(HttpClient.HttpClient, monitor.httpClient)))
    )

const execute = (
  mode: Report.Report["mode"],
  options: Options,
  monitor: Monitor.Monitor,
  config: SimulatorConfig.Config | undefined
): Effect.Effect<Report.Report, never, ClaudeClient.ClaudeClient> =>
  Effect.scoped(Effect.gen(function*() {
    const { scenario } = options
    // the client's jitter is seeded too, so a run (and above all a forecast) replays from its seed
    yield* Effect.withRandomScoped(Random.make(scenario.seed))
    const record = Workload.recorder()
    const start = yield* Clock.currentTimeMillis
    const simulator = yield* Effect.serviceOption(Simulator.Simulator)
    const report = (interrupted: boolean) =>
      Effect.gen(function*() {
        const end = yield* Clock.currentTimeMillis
        return Report.make({
          mode,
          scenario: { name: scenario.name, model: scenario.model, requests: Scenario.requestsOf(scenario) },
          lanes: scenario.lanes.map((lane) => ({ name: lane.name, lane: lane.lane })),
          concurrency: Scenario.concurrencyOf(scenario),
          outcomes: [...record.outcomes],
          wallMillis: end - (record.startedAt ?? start),
          interrupted,
          progress: yield* monitor.progress,
          limits: Option.getOrNull(yield* monitor.limits),
          warnings: warnings(options, config),
          simulator: Option.isSome(simulator) ? yield* simulator.value.stats : null
        })
      })
    if (options.watch !== undefined) yield* options.watch(monitor)
    const onInterrupted = options.onInterrupted
    yield* Workload.run(scenario, monitor, record, config?.charactersPerToken).pipe(
      Effect.onInterrupt(() => onInterrupted === undefined ? Effect.void : Effect.flatMap(report(true), onInterrupted))
    )
    return yield* report(false)
  }))

const simulatedKey = Redacted.make("sk-ant-simulated")

/**
 * Runs the scenario against the simulator served on loopback, in real time.
 *
 * @since 0.1.0
 * @category running
 */
export const simulated = (options: Options): Effect.Effect<Report.Report> =>
  Effect.gen(function*() {
    const server = yield* Simulator.SimulatorServer
    const simulator = yield* Simulator.Simulator
    const monitor = yield* Monitor.make(Scenario.requestsOf(options.scenario))
    return yield* execute("simulator", options, monitor, simulator.config).pipe(
      Effect.provide(clientLayer(monitor, options, { apiKey: simulatedKey, baseUrl: server.url })),
      Effect.provide(NodeHttpClient.layerUndici)
    )
  }).pipe(Effect.provide(Simulator.layerServer(simulatorOptions(options))), Effect.orDie)

/**
 * The virtual instant every forecast starts at. A fixed start makes a
 * forecast replay exactly: reset headers are whole seconds, so the
 * sub-second offset of a real start time would change what the client sees.
 *
 * @since 0.2.0
 * @category constants
 */
export const forecastEpoch: number = Date.UTC(2026, 0, 1)

/**
 * Runs the scenario against the in-memory simulator in virtual time: the
 * same numbers as a real run, without the waiting.
 *
 * @since 0.1.0
 * @category running
 */
export const forecast = (options: Options): Effect.Effect<Report.Report> =>
  Effect.flatMap(
    VirtualTime.run(
      Effect.gen(function*() {
        const simulator = yield* Simulator.Simulator
        const monitor = yield* Monitor.make(Scenario.requestsOf(options.scenario))
        return yield* execute("forecast", { ...options, watch: undefined }, monitor, simulator.config).pipe(
          Effect.provide(Layer.orDie(clientLayer(monitor, options, { apiKey: simulatedKey })))
        )
      }).pipe(Effect.provide(Simulator.layer(simulatorOptions(options)))),
      { start: forecastEpoch }
    ),
    (result) => Exit.isSuccess(result.exit) ? Effect.succeed(result.exit.value) : Effect.die(result.exit.cause)
  )

/**
 * Runs the scenario against the real Claude API: `ANTHROPIC_API_KEY`
 * (required) and `ANTHROPIC_BASE_URL` come from the environment.
 *
 * @since 0.1.0
 * @category running
 */
export const live = (
  options: Options
): Effect.Effect<
  Report.Report,
  MissingApiKeyError | ClaudeError.InvalidBaseUrlError | AdmissionStore.AdmissionStoreError
> =>
  Effect.gen(function*() {
    const apiKey = yield* Config.redacted("ANTHROPIC_API_KEY").pipe(
      Config.validate({ message: "empty", validation: (key) => Redacted.value(key).trim() !== "" }),
      Effect.mapError(() => new MissingApiKeyError())
    )
    // blank means unset, as for the official SDK
    const baseUrl = yield* Config.option(Config.string("ANTHROPIC_BASE_URL")).pipe(
      Effect.orElseSucceed(() => Option.none<string>()),
      Effect.map(Option.filter((url: string) => url.trim() !== ""))
    )
    const monitor = yield* Monitor.make(Scenario.requestsOf(options.scenario))
    return yield* execute("live", options, monitor, undefined).pipe(
      Effect.provide(clientLayer(monitor, options, { apiKey, baseUrl: Option.getOrUndefined(baseUrl) })),
      Effect.provide(NodeHttpClient.layerUndici)
    )
  })

/**
 * The simulator's config for a run's options (for announcing its limits).
 *
 * @since 0.2.0
 * @category getters
 */
export const resolvedSimulator = (options: Options): SimulatorConfig.Config =>
  SimulatorConfig.resolve(simulatorOptions(options))
