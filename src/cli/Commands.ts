/**
 * The command line:
 * - `claude-rate-limiter [options]`: a workload through `ClaudeClient` against
 *   the embedded simulator on loopback (or, with `--live`, the real API),
 *   with a live progress line and a summary table;
 * - `claude-rate-limiter forecast [options]`: the same in virtual time;
 * - `claude-rate-limiter simulate --port N [options]`: serves the simulator
 *   on 127.0.0.1 until stopped, for clients in any language.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Console from "effect/Console"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Simulator from "../simulator/api/Simulator.js"
import * as SimulatorConfig from "../simulator/api/SimulatorConfig.js"
import * as Report from "../simulator/workload/Report.js"
import * as Run from "../simulator/workload/Runner.js"
import * as Workload from "../simulator/workload/Workload.js"
import * as Progress from "./Progress.js"

/**
 * @since 0.1.0
 */
export const version = "0.1.0"

const invalid = (message: string) => ValidationError.invalidValue(HelpDoc.p(message))

const range = (name: string, description: string, fallback: Workload.Range) =>
  Options.text(name).pipe(
    Options.withDescription(`${description}: N or MIN-MAX (uniform)`),
    Options.withDefault(fallback.min === fallback.max ? `${fallback.min}` : `${fallback.min}-${fallback.max}`),
    Options.mapEffect((text) => {
      const match = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(text)
      const min = Number(match?.[1])
      const max = Number(match?.[2] ?? match?.[1])
      return match && min >= 1 && max >= min
        ? Effect.succeed({ min, max })
        : Effect.fail(invalid(`--${name}: expected N or MIN-MAX, got "${text}"`))
    })
  )

const showRange = (range: Workload.Range) => range.min === range.max ? `${range.min}` : `${range.min}-${range.max}`

const outage = Options.text("outage").pipe(
  Options.withDescription("an outage, in seconds from the start: FROM-TO[:STATUS] (status 529 by default); repeatable"),
  Options.repeated,
  Options.mapEffect((texts) =>
    Effect.forEach(texts, (text) => {
      const match = /^\s*(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)\s*(?::\s*(\d{3}))?\s*$/.exec(text)
      return match && Number(match[2]) > Number(match[1])
        ? Effect.succeed({
          from: Duration.seconds(Number(match[1])),
          to: Duration.seconds(Number(match[2])),
          status: Number(match[3] ?? 529)
        })
        : Effect.fail(invalid(`--outage: expected FROM-TO[:STATUS] in seconds, got "${text}"`))
    })
  )
)

const positiveInteger = (name: string, description: string, fallback: number) =>
  Options.integer(name).pipe(
    Options.withDescription(description),
    Options.withDefault(fallback),
    Options.mapEffect((n) => n >= 1 ? Effect.succeed(n) : Effect.fail(invalid(`--${name} must be at least 1`)))
  )

const optionalPositive = (name: string, description: string) =>
  Options.integer(name).pipe(Options.withDescription(description), Options.optional)

const share = (name: string, description: string, fallback: number) =>
  Options.float(name).pipe(
    Options.withDescription(description),
    Options.withDefault(fallback),
    Options.mapEffect((n) =>
      n >= 0 && n <= 1 ? Effect.succeed(n) : Effect.fail(invalid(`--${name} must be between 0 and 1`))
    )
  )

const workloadOptions = {
  requests: positiveInteger("requests", "how many requests to send", Workload.defaultWorkload.requests),
  concurrency: positiveInteger("concurrency", "requests in flight at most", Workload.defaultWorkload.concurrency),
  model: Options.text("model").pipe(Options.withDefault(Workload.defaultWorkload.model)),
  promptTokens: range("prompt-tokens", "prompt size in input tokens", Workload.defaultWorkload.promptTokens),
  maxTokens: range("max-tokens", "max_tokens of each request", Workload.defaultWorkload.maxTokens),
  seed: Options.integer("seed").pipe(
    Options.withDescription("seed of the workload and the simulator"),
    Options.withDefault(1)
  ),
  maxRetries: Options.integer("max-retries").pipe(
    Options.withDescription("retries per request (default 5)"),
    Options.optional
  ),
  threshold: Options.float("threshold").pipe(
    Options.withDescription("share of each bucket kept in reserve before sending (default 0.1)"),
    Options.optional
  ),
  waitForCircuit: Options.boolean("wait-for-circuit").pipe(
    Options.withDescription("wait out an open circuit instead of failing requests (RetryPolicy retryOnOpenCircuit)")
  ),
  json: Options.boolean("json").pipe(Options.withDescription("print the summary as JSON")),
  verbose: Options.boolean("verbose").pipe(Options.withDescription("log every retry"))
}

const simulatorOptions = {
  rpm: optionalPositive(
    "rpm",
    `simulated requests per minute (default ${SimulatorConfig.lowTierLimits.requestsPerMinute})`
  ),
  itpm: optionalPositive(
    "itpm",
    `simulated input tokens per minute (default ${SimulatorConfig.lowTierLimits.inputTokensPerMinute})`
  ),
  otpm: optionalPositive(
    "otpm",
    `simulated output tokens per minute (default ${SimulatorConfig.lowTierLimits.outputTokensPerMinute})`
  ),
  maxConcurrent: optionalPositive("max-concurrent", "simulated cap on requests in flight (default 20)"),
  latency: Options.integer("latency").pipe(Options.withDescription("base latency in ms"), Options.withDefault(600)),
  overloadedRate: share("overloaded-rate", "share of requests answered 529", 0.02),
  apiErrorRate: share("api-error-rate", "share of requests answered 500", 0),
  resetRate: share("reset-rate", "share of connections dropped", 0),
  slowRate: share("slow-rate", "share of answers delayed by 2 minutes", 0),
  outages: outage
}

type WorkloadArgs = Command.Command.ParseConfig<typeof workloadOptions>
type SimulatorArgs = Command.Command.ParseConfig<typeof simulatorOptions>

const simulatorConfig = (args: SimulatorArgs, seed: number): SimulatorConfig.Options => {
  const limits = {
    ...Option.match(args.rpm, { onNone: () => ({}), onSome: (requestsPerMinute) => ({ requestsPerMinute }) }),
    ...Option.match(args.itpm, { onNone: () => ({}), onSome: (inputTokensPerMinute) => ({ inputTokensPerMinute }) }),
    ...Option.match(args.otpm, { onNone: () => ({}), onSome: (outputTokensPerMinute) => ({ outputTokensPerMinute }) })
  }
  return {
    seed,
    ...(Object.keys(limits).length > 0 ? { limits } : {}),
    maxConcurrentRequests: Option.getOrUndefined(args.maxConcurrent),
    latency: { base: `${args.latency} millis`, perOutputToken: "2 millis", jitter: 0.2 },
    faults: {
      overloadedRate: args.overloadedRate,
      apiErrorRate: args.apiErrorRate,
      connectionResetRate: args.resetRate,
      slowRate: args.slowRate,
      outages: args.outages
    }
  }
}

const runOptions = (args: WorkloadArgs & SimulatorArgs, progress: boolean): Run.Options => ({
  workload: {
    requests: args.requests,
    concurrency: args.concurrency,
    model: args.model,
    promptTokens: args.promptTokens,
    maxTokens: args.maxTokens,
    seed: args.seed
  },
  simulator: simulatorConfig(args, args.seed),
  retry: { maxRetries: Option.getOrUndefined(args.maxRetries), retryOnOpenCircuit: args.waitForCircuit },
  rateLimitState: { threshold: Option.getOrUndefined(args.threshold) },
  watch: progress && !args.json ? (monitor, retriesBefore) => Progress.show(monitor, retriesBefore) : undefined
})

// Logs go to stderr, so stdout stays the table or the JSON.
const logging = (verbose: boolean) =>
  Layer.merge(
    Logger.replace(Logger.defaultLogger, Logger.prettyLogger({ stderr: true, colors: "auto" })),
    Logger.minimumLogLevel(verbose ? LogLevel.Info : LogLevel.Warning)
  )

const describeLimits = (config: SimulatorConfig.Config, model: string): string => {
  const { limits, pool } = SimulatorConfig.limitsFor(config, model)
  return `${limits.requestsPerMinute.toLocaleString("en-US")} RPM / ${
    limits.inputTokensPerMinute.toLocaleString("en-US")
  } ITPM / ${limits.outputTokensPerMinute.toLocaleString("en-US")} OTPM (pool "${pool}")`
}

const print = (report: Report.Report, json: boolean) =>
  json ? Console.log(JSON.stringify(report, null, 2)) : Console.log(Report.table(report))

const announce = (args: WorkloadArgs & SimulatorArgs, target: string) =>
  args.json ? Effect.void : Console.log(
    `claude-rate-limiter ${version}: ${args.requests} requests of ${
      showRange(args.promptTokens)
    } input tokens, max_tokens ${showRange(args.maxTokens)}, ${target}`
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
      const options = runOptions(args, false)
      const config = SimulatorConfig.resolve(options.simulator)
      yield* announce(args, `in virtual time against ${describeLimits(config, args.model)}`)
      yield* print(yield* Run.forecast(options), args.json)
    }).pipe(Effect.provide(logging(args.verbose)))
).pipe(
  Command.withDescription("Runs the workload in virtual time: how long will it take at these limits?")
)

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
  port: Options.integer("port").pipe(
    Options.withDescription("port on 127.0.0.1 (0: any free port)"),
    Options.withDefault(8787)
  ),
  seed: Options.integer("seed").pipe(Options.withDefault(1)),
  verbose: workloadOptions.verbose,
  ...simulatorOptions
}, (args) =>
  Effect.gen(function*() {
    const server = yield* Simulator.SimulatorServer
    const simulator = yield* Simulator.Simulator
    yield* Console.log(`Simulated Anthropic API listening on ${server.url}`)
    yield* Console.log(`Limits: ${describeLimits(simulator.config, "claude-sonnet-4-6")}`)
    yield* Console.log(`Point any client at it: ANTHROPIC_BASE_URL=${server.url} ANTHROPIC_API_KEY=any-key`)
    yield* Console.log("Press Ctrl-C to stop.")
    yield* Effect.never.pipe(
      Effect.onInterrupt(() =>
        Effect.flatMap(simulator.stats, (stats) =>
          Console.log(
            `\nServed ${stats.requests} requests: ${stats.succeeded} succeeded, ${
              Object.values(stats.rateLimited).reduce((a, b) => a + b, 0)
            } rate limited, ${stats.overloaded} overloaded, ${stats.apiErrors} API errors.`
          ))
      )
    )
  }).pipe(
    Effect.provide(Simulator.layerServer({ ...simulatorConfig(args, args.seed), port: args.port })),
    Effect.catchTag("ServeError", (error) =>
      Effect.fail(new PortUnavailableError({ port: args.port, cause: error.cause }))),
    Effect.provide(logging(args.verbose))
  )).pipe(Command.withDescription("Serves the simulated API on 127.0.0.1 until stopped."))

/**
 * The default command: the main job.
 *
 * @since 0.1.0
 * @category commands
 */
export const root = Command.make("claude-rate-limiter", {
  ...workloadOptions,
  ...simulatorOptions,
  live: Options.boolean("live").pipe(Options.withDescription("send the workload to the real API (ANTHROPIC_API_KEY)"))
}, (args) =>
  Effect.gen(function*() {
    const options = runOptions(args, true)
    if (args.live) {
      yield* announce(args, "against the real Claude API")
      const report = yield* Run.live(options)
      return yield* print(report, args.json)
    }
    const config = SimulatorConfig.resolve(options.simulator)
    yield* announce(args, `against the embedded simulator (${describeLimits(config, args.model)})`)
    yield* print(yield* Run.simulated(options), args.json)
  }).pipe(Effect.provide(logging(args.verbose)))).pipe(
    Command.withDescription("Runs a workload through ClaudeClient against the embedded simulated Anthropic API."),
    Command.withSubcommands([forecast, simulate])
  )

/**
 * @since 0.1.0
 * @category running
 */
export const cli = Command.run(root, { name: "claude-rate-limiter", version })
