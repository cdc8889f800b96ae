/**
 * The soak: N requests from C callers through `ClaudeClient` to the simulated API on loopback, with faults on
 * (529s, 500s, dropped connections, streams that fail or are cut) and callers interrupted at random. It checks
 * that nothing is lost:
 *
 * - every request ends exactly once, as a success, a typed failure or an interruption, and the counts add up;
 * - afterwards nothing is left: no fiber (a supervisor tracks every fiber the run forks), no admission permit,
 *   lease or waiter (`Admission.status`), no attempt on the wire, no request in flight at the server, no socket,
 *   server or timer (`process.getActiveResourcesInfo()`); the retry budget is a counter (failures spend, successes
 *   earn), not something a request holds, so its level is reported, within its bounds;
 * - the heap after a full GC is within 10 % of what it was before the run (run with `--expose-gc`; a short
 *   warm-up run first, so that what the first requests load and compile is not counted).
 *
 * `npm run soak` (20,000 requests, 200 callers; also `npm run bench -- soak`); `npm run soak -- --requests 2000`
 * for the reduced run CI does (`test/reliability/Soak.test.ts`); `--json` prints the report as JSON. The report is
 * also written to bench/results/soak.json.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import {
  Duration,
  Effect,
  Exit,
  Fiber,
  Layer,
  Logger,
  LogLevel,
  Random,
  Redacted,
  Schedule,
  Scope,
  Stream,
  Supervisor
} from "effect"
import { execFileSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import * as Admission from "../src/Admission.js"
import * as CircuitBreaker from "../src/CircuitBreaker.js"
import * as ClaudeClient from "../src/ClaudeClient.js"
import * as Simulator from "../src/simulator/api/Simulator.js"
import type * as SimulatorConfig from "../src/simulator/api/SimulatorConfig.js"
import { printTable, writeJson } from "./table.js"

export interface Options {
  readonly requests: number
  readonly callers: number
  /** share of requests whose caller interrupts them after a random delay */
  readonly interruptRate: number
  /** share of requests that are streams */
  readonly streamRate: number
  readonly seed: number
}

export const defaults: Options = { requests: 20_000, callers: 200, interruptRate: 0.05, streamRate: 0.3, seed: 1 }

const model = "claude-sonnet-4-6"
const pool = Admission.modelPool(model)
const params = { model, max_tokens: 64, messages: [{ role: "user" as const, content: "Say something short" }] }

const simulator: SimulatorConfig.Options = {
  limits: { requestsPerMinute: 1_000_000, inputTokensPerMinute: 1_000_000_000, outputTokensPerMinute: 1_000_000_000 },
  maxConcurrentRequests: 64,
  latency: { base: "2 millis", perOutputToken: "0 millis", jitter: 0.5 },
  output: { min: 0.2, max: 1 },
  streamChunkTokens: 8,
  // (529s are few: each one cuts admission's adaptive send rate, which would pace the run to a crawl)
  faults: {
    overloadedRate: 0.005,
    apiErrorRate: 0.03,
    connectionResetRate: 0.02,
    stream: {
      errorBeforeContentRate: 0.03,
      errorMidStreamRate: 0.02,
      cutRate: 0.02,
      afterDeltas: 1,
      errorType: "api_error"
    }
  }
}

const client: Omit<ClaudeClient.LayerOptions, "apiKey" | "baseUrl"> = {
  timeout: "10 seconds",
  retry: { maxRetries: 3, baseDelay: "5 millis", maxDelay: "100 millis", headerJitter: "20 millis" },
  circuitBreaker: { failureThreshold: 30, cooldown: "200 millis" },
  admission: { maxServerWait: "30 seconds" }
}

export interface Report {
  readonly options: Options
  readonly seconds: number
  /** how each request ended: "success", the typed error's tag, "interrupted"; defects counted apart */
  readonly outcomes: Record<string, number>
  readonly ended: number
  readonly endedTwice: number
  readonly defects: number
  readonly attempts: { readonly started: number; readonly ended: number }
  readonly server: {
    readonly requests: number
    readonly succeeded: number
    readonly inFlight: number
    /** faults the simulator sent: 529s, 500s, dropped connections, stream errors and cuts */
    readonly faults: number
  }
  readonly leftOver: {
    readonly peakFibers: number
    readonly fibersAfterRun: number
    readonly fibersAfterClose: number
    readonly admissionInFlight: number
    readonly leasesInFlight: number
    readonly waiting: number
    readonly retryTokens: number | null
    readonly retryTokensMax: number
    readonly circuit: string
    readonly resources: Record<string, number>
  }
  readonly heap: { readonly before: number; readonly after: number; readonly ratio: number } | null
  readonly checks: ReadonlyArray<{ readonly check: string; readonly ok: boolean; readonly detail: string }>
}

const gc = (): boolean => {
  const collect = (globalThis as { gc?: () => void }).gc
  if (collect === undefined) return false
  for (let i = 0; i < 4; i++) collect()
  return true
}

const resourceCounts = (): Record<string, number> => {
  const counts: Record<string, number> = {}
  for (const name of process.getActiveResourcesInfo()) counts[name] = (counts[name] ?? 0) + 1
  return counts
}

// Resources still there that were not there before (sockets, timers, servers…).
const extraResources = (before: Record<string, number>, after: Record<string, number>): Record<string, number> => {
  const extra: Record<string, number> = {}
  for (const [name, count] of Object.entries(after)) {
    if (count > (before[name] ?? 0)) extra[name] = count - (before[name] ?? 0)
  }
  return extra
}

// Sockets and timers close a moment after their owners are done: look again for a while (bounded) before judging.
const settledResources = (before: Record<string, number>) =>
  Effect.gen(function*() {
    let extra = extraResources(before, resourceCounts())
    for (let i = 0; i < 40 && Object.keys(extra).length > 0; i++) {
      yield* Effect.sleep("50 millis")
      extra = extraResources(before, resourceCounts())
    }
    return extra
  })

/** The load: callers take the next request until all are sent; some are interrupted after a random delay. */
const load = (options: Options, record: (id: number, outcome: string) => void) =>
  Effect.gen(function*() {
    const claude = yield* ClaudeClient.ClaudeClient
    let next = 0
    const one = (id: number) =>
      Effect.gen(function*() {
        const streamed = (yield* Random.next) < options.streamRate
        const request = streamed
          ? Stream.runDrain(claude.streamMessage(params))
          : Effect.asVoid(claude.createMessage(params))
        const fiber = yield* Effect.fork(request)
        if ((yield* Random.next) < options.interruptRate) {
          yield* Effect.sleep(Duration.millis(yield* Random.nextIntBetween(0, 30)))
          yield* Fiber.interrupt(fiber)
        }
        const exit = yield* Fiber.await(fiber)
        record(
          id,
          Exit.isSuccess(exit)
            ? "success"
            : Exit.isInterrupted(exit)
            ? "interrupted"
            : exit.cause._tag === "Fail"
            ? (exit.cause.error as { readonly _tag: string })._tag
            : "defect"
        )
      })
    const caller = Effect.gen(function*() {
      for (;;) {
        const id = next++
        if (id >= options.requests) return
        yield* one(id)
      }
    })
    yield* Effect.all(Array.from({ length: options.callers }, () => caller), { concurrency: "unbounded" })
  })

/** One run, measured. */
export const measure = (options: Options): Effect.Effect<Report> =>
  Effect.gen(function*() {
    const resourcesBefore = resourceCounts()
    const outcomes = new Map<number, string>()
    let endedTwice = 0
    const record = (id: number, outcome: string) => {
      if (outcomes.has(id)) endedTwice++
      outcomes.set(id, outcome)
    }
    const attempts = { started: 0, ended: 0 }
    const counting = Layer.effect(
      HttpClient.HttpClient,
      Effect.map(HttpClient.HttpClient, (http) =>
        HttpClient.transform(http, (effect) =>
          Effect.suspend(() => {
            attempts.started++
            return Effect.ensuring(
              effect,
              Effect.sync(() => {
                attempts.ended++
              })
            )
          })))
    ).pipe(Layer.provide(NodeHttpClient.layerUndici))

    const supervisor = yield* Supervisor.track
    let peakFibers = 0
    const scope = yield* Scope.make()
    const started = Date.now()
    const body = Effect.gen(function*() {
      const server = yield* Simulator.SimulatorServer
      const sim = yield* Simulator.Simulator
      const context = yield* Layer.buildWithScope(
        ClaudeClient.layer({ apiKey: Redacted.make("sk-ant-soak"), baseUrl: server.url, ...client }).pipe(
          Layer.provide(counting)
        ),
        scope
      )
      // the supervisor sees every fiber the run forks: sampled while it runs, to show it does
      const sampler = yield* Effect.forkDaemon(
        Effect.repeat(
          Effect.flatMap(supervisor.value, (fibers) =>
            Effect.sync(() => {
              peakFibers = Math.max(peakFibers, fibers.length)
            })),
          Schedule.spaced("100 millis")
        )
      )
      yield* load(options, record).pipe(Effect.provide(context))
      yield* Fiber.interrupt(sampler)
      const admission = yield* Effect.provide(Admission.Admission, context)
      const breaker = yield* Effect.provide(CircuitBreaker.CircuitBreaker, context)
      const status = yield* admission.status(pool).pipe(Effect.orDie)
      // what the server saw, once the last connections have ended
      let stats = yield* sim.stats
      for (let i = 0; i < 40 && stats.inFlight > 0; i++) {
        yield* Effect.sleep("50 millis")
        stats = yield* sim.stats
      }
      return { status, breaker, stats }
    }).pipe(Effect.provide(Simulator.layerServer(simulator)), Effect.orDie)
    const heapBefore = gc() ? process.memoryUsage().heapUsed : undefined
    const { breaker, stats, status } = yield* body.pipe(
      Effect.supervised(supervisor),
      Effect.withRandom(Random.make(options.seed))
    )
    const seconds = (Date.now() - started) / 1000
    const circuit = (yield* breaker.state)._tag
    const fibersAfterRun = (yield* supervisor.value).filter((fiber) => fiber.unsafePoll() === null).length
    yield* Scope.close(scope, Exit.void)
    const fibersAfterClose = (yield* supervisor.value).filter((fiber) => fiber.unsafePoll() === null).length
    const resources = yield* settledResources(resourcesBefore)

    const counts: Record<string, number> = {}
    for (const outcome of outcomes.values()) counts[outcome] = (counts[outcome] ?? 0) + 1
    const ended = outcomes.size
    // the run's own record of outcomes (one entry a request) is not the library's heap
    outcomes.clear()
    const heapAfter = heapBefore !== undefined && gc() ? process.memoryUsage().heapUsed : undefined
    const defects = counts["defect"] ?? 0
    const typed = Object.entries(counts).filter(([outcome]) => outcome !== "defect")
      .reduce((sum, [, count]) => sum + count, 0)
    const heap = heapBefore !== undefined && heapAfter !== undefined
      ? { before: heapBefore, after: heapAfter, ratio: heapAfter / heapBefore }
      : null
    const waiting = status.waiting.interactive + status.waiting.batch
    const retryTokens = status.retryTokens._tag === "Some" ? status.retryTokens.value : null
    const checks = [
      {
        check: "every request ended exactly once",
        ok: ended === options.requests && endedTwice === 0,
        detail: `${ended} of ${options.requests} ended, ${endedTwice} twice`
      },
      {
        check: "as a success, a typed failure or an interruption (no defect)",
        ok: defects === 0 && typed === options.requests,
        detail: `${typed} typed, ${defects} defects`
      },
      {
        check: "no attempt left on the wire, none in flight at the server",
        ok: attempts.started === attempts.ended && stats.inFlight === 0,
        detail: `${attempts.started} started, ${attempts.ended} ended; ${stats.inFlight} in flight at the server`
      },
      {
        check: "no admission permit, lease or waiter left",
        ok: status.inFlight === 0 && status.view.inFlight === 0 && waiting === 0,
        detail: `inFlight ${status.inFlight}, leases ${status.view.inFlight}, waiting ${waiting}`
      },
      {
        check: "the retry budget within its bounds",
        ok: retryTokens !== null && retryTokens >= 0 && retryTokens <= 10,
        detail: `${retryTokens?.toFixed(1)} of 10 tokens`
      },
      {
        check: "no fiber left once the client is closed",
        ok: fibersAfterClose === 0,
        detail: `${peakFibers} at the peak, ${fibersAfterRun} after the run (client open), ${fibersAfterClose} closed`
      },
      {
        check: "no socket, server or timer left",
        ok: Object.keys(resources).length === 0,
        detail: Object.keys(resources).length === 0 ? "none" : JSON.stringify(resources)
      },
      {
        check: "heap within 10 % of the start after GC",
        ok: heap === null ? true : heap.ratio <= 1.1,
        detail: heap === null ? "not measured (run with --expose-gc)" : `${(heap.ratio * 100).toFixed(1)} %`
      }
    ]
    return {
      options,
      seconds,
      outcomes: counts,
      ended,
      endedTwice,
      defects,
      attempts,
      server: {
        requests: stats.requests,
        succeeded: stats.succeeded,
        inFlight: stats.inFlight,
        faults: stats.overloaded + stats.apiErrors + stats.connectionResets + stats.streamErrors + stats.streamCuts
      },
      leftOver: {
        peakFibers,
        fibersAfterRun,
        fibersAfterClose,
        admissionInFlight: status.inFlight,
        leasesInFlight: status.view.inFlight,
        waiting,
        retryTokens,
        retryTokensMax: 10,
        circuit,
        resources
      },
      heap,
      checks
    }
  }).pipe(Logger.withMinimumLogLevel(LogLevel.None))

/** A warm-up run (500 requests, or as many as the run if fewer), then the measured one. */
export const run = (options: Options): Effect.Effect<Report> =>
  Effect.zipRight(
    measure({ ...options, requests: Math.min(500, options.requests), seed: options.seed + 1 }),
    measure(options)
  )

const parse = (argv: ReadonlyArray<string>): Options & { readonly json: boolean } => {
  const value = (name: string) => {
    const at = argv.indexOf(`--${name}`)
    return at === -1 ? undefined : Number(argv[at + 1])
  }
  return {
    requests: value("requests") ?? defaults.requests,
    callers: value("callers") ?? defaults.callers,
    interruptRate: value("interrupt-rate") ?? defaults.interruptRate,
    streamRate: value("stream-rate") ?? defaults.streamRate,
    seed: value("seed") ?? defaults.seed,
    json: argv.includes("--json")
  }
}

const print = (report: Report) => {
  printTable(
    `Soak: ${
      report.options.requests.toLocaleString("en-US")
    } requests from ${report.options.callers} callers on loopback, faults on, ${
      (report.options.interruptRate * 100).toFixed(0)
    } % interrupted (${report.seconds.toFixed(1)} s)`,
    ["outcome", "requests"],
    Object.entries(report.outcomes).sort(([, a], [, b]) => b - a).map(([outcome, count]) => [outcome, String(count)])
  )
  console.log(
    `\n${report.attempts.started.toLocaleString("en-US")} attempts sent; the simulated API saw ${
      report.server.requests.toLocaleString("en-US")
    } requests and sent ${report.server.faults.toLocaleString("en-US")} faults`
  )
  printTable(
    "Nothing lost, nothing left",
    ["check", "ok", "detail"],
    report.checks.map((check) => [check.check, check.ok ? "yes" : "NO", check.detail])
  )
}

/**
 * For `npm run bench -- soak [--quick]`: the soak in a child process started with `--expose-gc` (its heap and its
 * sockets its own); `--quick` runs 2,000 requests.
 */
export const bench = () => {
  const requests = process.argv.includes("--quick") ? 2_000 : defaults.requests
  try {
    execFileSync(
      process.execPath,
      ["--expose-gc", "--import", "tsx", fileURLToPath(import.meta.url), "--requests", String(requests)],
      { stdio: "inherit" }
    )
  } catch {
    // the child printed its tables, the failed checks marked NO
    process.exitCode = 1
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { json, ...options } = parse(process.argv.slice(2))
  const report = await Effect.runPromise(run(options))
  if (json) console.log(JSON.stringify(report))
  else print(report)
  writeJson("soak", report)
  process.exit(report.checks.every((check) => check.ok) ? 0 : 1)
}
