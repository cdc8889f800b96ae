/**
 * The command line, a thin shell over the simulator wing:
 * - `claude-rate-limiter [options]`: a workload (or `--scenario FILE`)
 *   through `ClaudeClient` against the embedded simulator on loopback (or,
 *   with `--live`, the real API), with a live progress line and a summary;
 * - `claude-rate-limiter forecast [options]`: the same in virtual time;
 * - `claude-rate-limiter simulate [--port N] [options]`: serves the simulator
 *   on 127.0.0.1 until stopped, for clients in any language.
 *
 * Exit codes: 0 every request succeeded; 1 bad options or the run could not
 * start; 2 the run finished with failed requests; 130 interrupted (Ctrl-C,
 * after printing the summary so far).
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Terminal from "@effect/platform/Terminal"
import * as Console from "effect/Console"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Simulator from "../simulator/api/Simulator.js"
import * as SimulatorConfig from "../simulator/api/SimulatorConfig.js"
import * as Distribution from "../simulator/workload/Distribution.js"
import * as Report from "../simulator/workload/Report.js"
import * as Runner from "../simulator/workload/Runner.js"
import * as Scenario from "../simulator/workload/Scenario.js"
import * as Workload from "../simulator/workload/Workload.js"
import { clientOptions } from "./ClientOptions.js"
import * as Flags from "./Flags.js"
import * as Progress from "./Progress.js"

/**
 * @since 0.1.0
 */
export const version = "0.1.0"

const defaults = Workload.defaultScenario.lanes[0]

const workloadOptions = {
  scenario: Flags.optionalText(
    "scenario",
    "a scenario file (JSON, see scenarios/): its lanes replace the workload options"
  ),
  requests: Flags.optionalIntegerAtLeast("requests", 1, `how many requests to send (default ${defaults.requests})`),
  concurrency: Flags.optionalIntegerAtLeast(
    "concurrency",
    1,
    `requests in flight at most (default ${defaults.concurrency})`
  ),
  model: Flags.optionalText("model", `model of every request (default ${Workload.defaultScenario.model})`),
  promptTokens: Flags.distribution("prompt-tokens", "prompt size in input tokens (default 200-800)"),
  maxTokens: Flags.distribution("max-tokens", "max_tokens of each request (default 256)"),
  seed: Flags.optionalIntegerAtLeast(
    "seed",
    0,
    "seed of the workload, the simulator and the client's jitter (default 1)"
  ),
  maxRetries: Flags.optionalIntegerAtLeast("max-retries", 0, "client retries per request (default 5)"),
  threshold: Flags.optionalShare("threshold", "share of each bucket the client keeps in reserve (default 0.05)"),
  waitForCircuit: Flags.flag("wait-for-circuit", "wait out an open circuit instead of failing requests"),
  json: Flags.flag("json", "print the summary as JSON on stdout (logs go to stderr)"),
  verbose: Flags.flag("verbose", "log every retry (on stderr)")
}

const simulatorOptions = {
  rpm: Flags.optionalIntegerAtLeast("rpm", 1, "simulated requests per minute (default 50)"),
  itpm: Flags.optionalIntegerAtLeast("itpm", 1, "simulated input tokens per minute (default 30,000)"),
  otpm: Flags.optionalIntegerAtLeast("otpm", 1, "simulated output tokens per minute (default 8,000)"),
  maxConcurrent: Flags.optionalIntegerAtLeast("max-concurrent", 1, "simulated cap on requests in flight (default 20)"),
  latency: Flags.optionalIntegerAtLeast("latency", 0, "simulated time to the first token in ms (default 600)"),
  overloadedRate: Flags.optionalShare("overloaded-rate", "share of requests answered 529 (default 0.02)"),
  apiErrorRate: Flags.optionalShare("api-error-rate", "share of requests answered 500 (default 0)"),
  resetRate: Flags.optionalShare("reset-rate", "share of connections dropped (default 0)"),
  slowRate: Flags.optionalShare("slow-rate", "share of answers delayed by 2 minutes (default 0)"),
  streamErrorRate: Flags.optionalShare("stream-error-rate", "share of streams ending in event: error (default 0)"),
  streamCutRate: Flags.optionalShare("stream-cut-rate", "share of streams whose connection is cut (default 0)"),
  outages: Flags.outages,
  outputTokens: Flags.outputTokens,
  rampLimit: Flags.flag("ramp-limit", "acceleration limits: 429 ramp_limit_exceeded on sharp ramps from idle"),
  spendLimitAfter: Flags.optionalIntegerAtLeast(
    "spend-limit-after",
    0,
    "spend-limit mode: after N requests every request gets a 429 enforced_spend_limit_reached"
  )
}

type WorkloadArgs = Command.Command.ParseConfig<typeof workloadOptions>
type SimulatorArgs = Command.Command.ParseConfig<typeof simulatorOptions>

const get = Option.getOrUndefined

/** What the CLI's simulator runs with when neither a scenario nor a flag says otherwise. */
const cliSimulatorDefaults: Scenario.SimulatorSection = {
  latency: { baseMillis: 600, perOutputTokenMillis: 2, jitter: 0.2 },
  faults: { overloadedRate: 0.02 }
}

const withFlags = (base: Scenario.SimulatorSection, args: SimulatorArgs): Scenario.SimulatorSection => {
  const defined = <A extends object>(a: A): { [K in keyof A]?: Exclude<A[K], undefined> } =>
    Object.fromEntries(Object.entries(a).filter(([, v]) => v !== undefined)) as {
      [K in keyof A]?: Exclude<A[K], undefined>
    }
  return {
    ...base,
    limits: {
      ...base.limits,
      ...defined({
        requestsPerMinute: get(args.rpm),
        inputTokensPerMinute: get(args.itpm),
        outputTokensPerMinute: get(args.otpm)
      })
    },
    ...defined({ maxConcurrentRequests: get(args.maxConcurrent), output: get(args.outputTokens) }),
    latency: { ...base.latency, ...defined({ baseMillis: get(args.latency) }) },
    faults: {
      ...base.faults,
      ...defined({
        overloadedRate: get(args.overloadedRate),
        apiErrorRate: get(args.apiErrorRate),
        connectionResetRate: get(args.resetRate),
        slowRate: get(args.slowRate)
      }),
      ...(args.outages.length > 0 ? { outages: args.outages } : {}),
      stream: {
        ...base.faults?.stream,
        ...defined({ errorMidStreamRate: get(args.streamErrorRate), cutRate: get(args.streamCutRate) })
      }
    },
    ...(args.rampLimit ? { acceleration: base.acceleration ?? {} } : {}),
    ...(Option.isSome(args.spendLimitAfter) ? { spendLimit: { afterRequests: args.spendLimitAfter.value } } : {})
  }
}

/**
 * `--scenario` with workload options that it replaces.
 *
 * @since 0.2.0
 * @category errors
 */
export class ConflictingOptionsError extends Data.TaggedError("ConflictingOptionsError")<{
  readonly options: ReadonlyArray<string>
}> {
  override get message(): string {
    return `--scenario describes the workload itself: drop ${this.options.join(", ")}`
  }
}

/**
 * The run finished and some requests failed (exit code 2).
 *
 * @since 0.2.0
 * @category errors
 */
export class RequestsFailedError extends Data.TaggedError("RequestsFailedError")<{
  readonly failed: number
  readonly requests: number
}> {
  override get message(): string {
    return `${this.failed} of ${this.requests} requests failed`
  }
}

const scenarioOf = (args: WorkloadArgs & SimulatorArgs) =>
  Effect.gen(function*() {
    if (Option.isNone(args.scenario)) {
      return Workload.single({
        requests: get(args.requests) ?? defaults.requests!,
        concurrency: get(args.concurrency) ?? defaults.concurrency,
        model: get(args.model) ?? Workload.defaultScenario.model,
        promptTokens: get(args.promptTokens) ?? defaults.promptTokens,
        maxTokens: get(args.maxTokens) ?? defaults.maxTokens,
        seed: get(args.seed) ?? 1,
        simulator: withFlags(cliSimulatorDefaults, args)
      })
    }
    const given: ReadonlyArray<readonly [string, boolean]> = [
      ["--requests", Option.isSome(args.requests)],
      ["--concurrency", Option.isSome(args.concurrency)],
      ["--model", Option.isSome(args.model)],
      ["--prompt-tokens", Option.isSome(args.promptTokens)],
      ["--max-tokens", Option.isSome(args.maxTokens)]
    ]
    const replaced = given.filter(([, isGiven]) => isGiven).map(([name]) => name)
    if (replaced.length > 0) return yield* Effect.fail(new ConflictingOptionsError({ options: replaced }))
    const path = args.scenario.value
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(path).pipe(
      Effect.mapError((error) => new Scenario.ScenarioError({ source: path, reason: error.message }))
    )
    const scenario = yield* Scenario.fromJson(text, path)
    return {
      ...scenario,
      seed: get(args.seed) ?? scenario.seed,
      simulator: withFlags(scenario.simulator, args)
    }
  })

const runOptions = (scenario: Scenario.Scenario, args: WorkloadArgs): Runner.Options => ({
  scenario,
  client: clientOptions({
    maxRetries: get(args.maxRetries),
    threshold: get(args.threshold),
    waitForCircuit: args.waitForCircuit
  })
})

// One logger, on stderr, so stdout is only the table or the JSON (runMain adds none: see main.ts).
const logging = (verbose: boolean) =>
  Layer.merge(
    Logger.replace(Logger.defaultLogger, Logger.prettyLogger({ stderr: true, colors: "auto" })),
    Logger.minimumLogLevel(verbose ? LogLevel.Info : LogLevel.Warning)
  )

const describeLimits = (config: SimulatorConfig.Config, model: string): string => {
  const { limits, pool } = SimulatorConfig.limitsFor(config, model)
  const n = (value: number) => value.toLocaleString("en-US")
  return `${n(limits.requestsPerMinute)} RPM / ${n(limits.inputTokensPerMinute)} ITPM / ${
    n(limits.outputTokensPerMinute)
  } OTPM (pool "${pool}")`
}

const print = (report: Report.Report, json: boolean) =>
  json ? Console.log(JSON.stringify(report, null, 2)) : Console.log(Report.table(report))

const describeScenario = (scenario: Scenario.Scenario): string => {
  const requests = Scenario.requestsOf(scenario)
  if (scenario.name === "command line") {
    const lane = scenario.lanes[0]
    return `${requests} requests of ${Distribution.describe(lane.promptTokens)} input tokens, max_tokens ${
      Distribution.describe(lane.maxTokens)
    }`
  }
  return `scenario "${scenario.name}": ${requests} requests in ${scenario.lanes.length} lane(s)`
}

const announce = (options: Runner.Options, json: boolean, target: string, config: SimulatorConfig.Config | undefined) =>
  Effect.gen(function*() {
    if (!json) yield* Console.log(`claude-rate-limiter ${version}: ${describeScenario(options.scenario)}, ${target}`)
    for (const warning of Runner.warnings(options, config)) yield* Console.error(`note: ${warning}`)
  })

const finish = (report: Report.Report, json: boolean) =>
  Effect.zipRight(
    print(report, json),
    report.failed > 0
      ? Effect.fail(new RequestsFailedError({ failed: report.failed, requests: report.completed }))
      : Effect.void
  )

/**
 * @since 0.1.0
 * @category commands
 */
export const forecast = Command.make(
  "forecast",
  { ...workloadOptions, ...simulatorOptions },
  (args) =>
    Effect.gen(function*() {
      const options = runOptions(yield* scenarioOf(args), args)
      const config = Runner.resolvedSimulator(options)
      yield* announce(
        options,
        args.json,
        `in virtual time against ${describeLimits(config, options.scenario.model)}`,
        config
      )
      yield* finish(yield* Runner.forecast(options), args.json)
    }).pipe(Effect.provide(logging(args.verbose)))
).pipe(Command.withDescription("Runs the workload in virtual time: how long will it take at these limits?"))

/**
 * `simulate --port N` could not listen on 127.0.0.1:N.
 *
 * @since 0.1.0
 * @category errors
 */
export class PortUnavailableError extends Data.TaggedError("PortUnavailableError")<{
  readonly port: number
  readonly cause: unknown
}> {
  override get message(): string {
    const reason = this.cause instanceof Error ? this.cause.message : String(this.cause)
    return `cannot listen on 127.0.0.1:${this.port}: ${reason} (choose another --port, or 0 for any free port)`
  }
}

/**
 * @since 0.1.0
 * @category commands
 */
export const simulate = Command.make("simulate", {
  port: Flags.optionalPort,
  seed: workloadOptions.seed,
  scenario: Flags.optionalText("scenario", "take the simulated API's settings from a scenario file"),
  verbose: workloadOptions.verbose,
  ...simulatorOptions
}, (args) =>
  Effect.gen(function*() {
    const port = get(args.port) ?? 8787
    let section = cliSimulatorDefaults
    let seed = get(args.seed) ?? 1
    if (Option.isSome(args.scenario)) {
      const fs = yield* FileSystem.FileSystem
      const text = yield* fs.readFileString(args.scenario.value).pipe(
        Effect.mapError((error) =>
          new Scenario.ScenarioError({ source: args.scenario.pipe(Option.getOrElse(() => "")), reason: error.message })
        )
      )
      const scenario = yield* Scenario.fromJson(text, args.scenario.value)
      section = scenario.simulator
      seed = get(args.seed) ?? scenario.seed
    }
    const options = { ...Scenario.simulatorOptions(withFlags(section, args), seed), port }
    yield* Effect.gen(function*() {
      const server = yield* Simulator.SimulatorServer
      const simulator = yield* Simulator.Simulator
      yield* Console.log(`Simulated Anthropic API listening on ${server.url}`)
      yield* Console.log(`Limits: ${describeLimits(simulator.config, "claude-sonnet-4-6")}`)
      yield* Console.log(`Stats (JSON): ${server.statsUrl}`)
      yield* Console.log(`Point any client at it: ANTHROPIC_BASE_URL=${server.url} ANTHROPIC_API_KEY=any-key`)
      yield* Console.log("Press Ctrl-C to stop.")
      yield* Effect.never.pipe(
        Effect.onInterrupt(() =>
          Effect.flatMap(simulator.stats, (stats) =>
            Console.log(
              `\nServed ${stats.requests} requests: ${stats.succeeded} succeeded, ${
                Object.values(stats.rateLimited).reduce((a, b) => a + b, 0)
                + Object.values(stats.rateLimitedByErrorCode).reduce((a, b) => a + b, 0)
              } rate limited, ${stats.overloaded} overloaded, ${stats.apiErrors} API errors.`
            ))
        )
      )
    }).pipe(
      Effect.provide(Simulator.layerServer(options)),
      Effect.catchTag("ServeError", (error) => Effect.fail(new PortUnavailableError({ port, cause: error.cause })))
    )
  }).pipe(Effect.provide(logging(args.verbose)))).pipe(
    Command.withDescription("Serves the simulated API on 127.0.0.1 until stopped.")
  )

/**
 * The default command: the main job.
 *
 * @since 0.1.0
 * @category commands
 */
export const root = Command.make("claude-rate-limiter", {
  ...workloadOptions,
  ...simulatorOptions,
  live: Flags.flag("live", "send the workload to the real API (ANTHROPIC_API_KEY)")
}, (args) =>
  Effect.gen(function*() {
    const terminal = yield* Terminal.Terminal
    const base = runOptions(yield* scenarioOf(args), args)
    const options: Runner.Options = {
      ...base,
      watch: args.json
        ? undefined
        : (monitor) => Effect.provideService(Progress.show(monitor), Terminal.Terminal, terminal),
      onInterrupted: (report) => print(report, args.json)
    }
    if (args.live) {
      yield* announce(options, args.json, "against the real Claude API", undefined)
      return yield* finish(yield* Runner.live(options), args.json)
    }
    const config = Runner.resolvedSimulator(options)
    yield* announce(
      options,
      args.json,
      `against the embedded simulator (${describeLimits(config, options.scenario.model)})`,
      config
    )
    yield* finish(yield* Runner.simulated(options), args.json)
  }).pipe(Effect.provide(logging(args.verbose)))).pipe(
    Command.withDescription("Runs a workload through ClaudeClient against the embedded simulated Anthropic API."),
    Command.withSubcommands([forecast, simulate])
  )

/**
 * @since 0.1.0
 * @category running
 */
export const cli = Command.run(root, { name: "claude-rate-limiter", version })
