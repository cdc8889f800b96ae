/**
 * A fleet of Node processes (./fleetWorker.ts) sending requests to one
 * loopback simulator, each with a budget in one Redis (shared) or in memory
 * (its own). Used by the multi-process test and by bench/redis.ts.
 *
 * Bounded: a fixed number of processes and requests, every process killed
 * when the scope closes, and the whole run under a time limit.
 */
import { Clock, Context, Data, Deferred, Duration, Effect, Fiber, Layer, Schedule } from "effect"
import type { Scope } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import type { SimulatorConfig } from "../../src/testing/index.js"
import { Simulator } from "../../src/testing/index.js"
import type { WorkerConfig, WorkerReport } from "./fleetWorker.js"
import type { RedisServer, RedisServerError } from "./redisServer.js"

const root = fileURLToPath(new URL("../..", import.meta.url))
const workerPath = fileURLToPath(new URL("./fleetWorker.ts", import.meta.url))

export class FleetError extends Data.TaggedError("FleetError")<{ readonly message: string }> {}

export interface FleetOptions {
  readonly processes: number
  readonly requestsPerProcess: number
  readonly concurrency: number
  readonly maxTokens: number
  /** The limit the workload is sized to exhaust: throughput is reported as a share of it. */
  readonly binding: "requests" | "outputTokens"
  /** Every process is told the pool's limits up front (no cold start), as a deployment that knows its tier. */
  readonly configureLimits: boolean
  /** Admission's reserve; default its default (5 %). */
  readonly threshold?: number | undefined
  /** `undefined`: every process has a budget of its own, in memory. */
  readonly redis: RedisServer | undefined
  /** Budgets are keyed by it: a fresh one per run. */
  readonly namespace: string
  readonly simulator: SimulatorConfig.Options & { readonly limits: SimulatorConfig.Limits }
  /** Kill Redis once the simulator has seen `killAfter` requests, start it again after `restartAfter`. */
  readonly outage?: { readonly killAfter: number; readonly restartAfter: number } | undefined
  /** The whole run, processes started to reports read. */
  readonly timeLimit: Duration.DurationInput
}

export interface FleetResult {
  readonly reports: ReadonlyArray<WorkerReport>
  readonly stats: Simulator.Stats
  /** requests the processes were asked to send */
  readonly requests: number
  readonly succeeded: number
  readonly failed: number
  /** 429s the simulator sent, of all kinds */
  readonly rateLimited: number
  /** 429s per 1,000 requests the simulator answered */
  readonly rateLimitedPerThousand: number
  /** what was spent of the binding limit over what it allowed from GO to the last answer (full bucket plus refill) */
  readonly share: number
  /** the rate spent in the second half of the run over the limit's rate (the bucket is empty by then) */
  readonly steadyShare: number
  readonly wallSeconds: number
  /** store round trips (reserve, release) of every process, milliseconds */
  readonly storeMillis: ReadonlyArray<number>
  readonly fallbacks: number
}

const exited = (child: ChildProcess): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
    child.once("exit", () => resume(Effect.void))
  })

interface Worker {
  readonly child: ChildProcess
  readonly ready: Deferred.Deferred<void, FleetError>
  readonly report: Deferred.Deferred<WorkerReport, FleetError>
}

const startWorker = (config: WorkerConfig): Effect.Effect<Worker, never, Scope.Scope> =>
  Effect.gen(function*() {
    const ready = yield* Deferred.make<void, FleetError>()
    const report = yield* Deferred.make<WorkerReport, FleetError>()
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn(process.execPath, ["--import", "tsx", workerPath, JSON.stringify(config)], {
          cwd: root,
          stdio: ["pipe", "pipe", "pipe"]
        })
      ),
      // a process that reported exits by itself; one that did not is killed
      (child) =>
        exited(child).pipe(
          Effect.timeout("5 seconds"),
          Effect.ignore,
          Effect.zipRight(
            Effect.sync(() => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL"))
          )
        )
    )
    let errors = ""
    child.stderr!.on("data", (chunk) => {
      errors = (errors + chunk.toString()).slice(-2_000)
    })
    const lines = createInterface({ input: child.stdout! })
    lines.on("line", (line) => {
      if (line === "READY") Deferred.unsafeDone(ready, Effect.void)
      if (line.startsWith("REPORT ")) Deferred.unsafeDone(report, Effect.succeed(JSON.parse(line.slice(7))))
    })
    child.on("exit", (code, signal) => {
      const failure = Effect.fail(
        new FleetError({ message: `process ${config.id} exited (${code ?? signal}) without a report: ${errors}` })
      )
      Deferred.unsafeDone(ready, failure)
      Deferred.unsafeDone(report, failure)
    })
    return { child, ready, report }
  })

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!

/** p50 and p99 of a sample. */
export const percentiles = (samples: ReadonlyArray<number>) => {
  const sorted = [...samples].sort((a, b) => a - b)
  return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99) }
}

/** Runs the fleet once; fails when a process fails or the time limit passes. */
export const runFleet = (
  options: FleetOptions
): Effect.Effect<FleetResult, FleetError | RedisServerError, Scope.Scope> =>
  Effect.gen(function*() {
    const context = yield* Layer.build(Simulator.layerServer(options.simulator)).pipe(
      Effect.mapError((error) => new FleetError({ message: `simulator: ${error.message}` }))
    )
    const simulator = Context.get(context, Simulator.Simulator)
    const server = Context.get(context, Simulator.SimulatorServer)
    const workers = yield* Effect.forEach(
      Array.from({ length: options.processes }, (_, id) => id),
      (id) =>
        startWorker({
          id,
          baseUrl: server.url,
          redisUrl: options.redis?.url,
          namespace: options.namespace,
          requests: options.requestsPerProcess,
          concurrency: options.concurrency,
          expectedProcesses: options.processes,
          maxTokens: options.maxTokens,
          threshold: options.threshold,
          limits: options.configureLimits
            ? {
              requestsPerMinute: options.simulator.limits.requestsPerMinute,
              inputTokensPerMinute: options.simulator.limits.inputTokensPerMinute,
              outputTokensPerMinute: options.simulator.limits.outputTokensPerMinute
            }
            : undefined
        })
    )
    const run = Effect.gen(function*() {
      yield* Effect.forEach(workers, (worker) => Deferred.await(worker.ready), { discard: true })
      const goAt = yield* Clock.currentTimeMillis
      for (const worker of workers) worker.child.stdin!.write("GO\n")
      const outage = options.outage
      const redis = options.redis
      const chaos = outage === undefined || redis === undefined
        ? undefined
        : yield* Effect.fork(Effect.gen(function*() {
          const reached = (count: number) =>
            simulator.stats.pipe(
              Effect.repeat({ schedule: Schedule.spaced("10 millis"), until: (stats) => stats.requests >= count })
            )
          yield* reached(outage.killAfter)
          yield* redis.kill
          yield* reached(outage.restartAfter)
          yield* redis.restart
        }))
      const reports = yield* Effect.forEach(workers, (worker) => Deferred.await(worker.report))
      if (chaos !== undefined) yield* Fiber.join(chaos)
      return { goAt, reports }
    })
    const { goAt, reports } = yield* run.pipe(
      Effect.timeoutFail({
        duration: options.timeLimit,
        onTimeout: () =>
          new FleetError({ message: `the fleet did not finish within ${Duration.format(options.timeLimit)}` })
      })
    )
    const stats = yield* simulator.stats
    const completions = reports.flatMap((report) => report.completions).sort((a, b) => a[0] - b[0])
    const last = completions.at(-1)?.[0] ?? goAt
    const limits = options.simulator.limits
    const limit = options.binding === "requests" ? limits.requestsPerMinute : limits.outputTokensPerMinute
    const ratePerMilli = limit / 60_000
    const spent = (list: ReadonlyArray<readonly [number, number]>) =>
      list.reduce((sum, [, output]) => sum + (options.binding === "requests" ? 1 : output), 0)
    const succeeded = completions.length
    const middle = goAt + (last - goAt) / 2
    const late = completions.filter(([at]) => at > middle)
    // the rate between the first and the last answer of the second half: what came after the first of them
    const steadyRate = late.length > 1 ? spent(late.slice(1)) / Math.max(1, late.at(-1)![0] - late[0]![0]) : 0
    const rateLimited = Object.values(stats.rateLimited).reduce((sum, n) => sum + n, 0)
    const requests = options.processes * options.requestsPerProcess
    return {
      reports,
      stats,
      requests,
      succeeded,
      failed: requests - succeeded,
      rateLimited,
      rateLimitedPerThousand: stats.requests === 0 ? 0 : (1_000 * rateLimited) / stats.requests,
      share: spent(completions) / (limit + ratePerMilli * (last - goAt)),
      steadyShare: steadyRate / ratePerMilli,
      wallSeconds: (last - goAt) / 1_000,
      storeMillis: reports.flatMap((report) => report.storeMillis),
      fallbacks: reports.reduce((sum, report) => sum + report.fallbacks, 0)
    }
  })
