/**
 * One budget across processes: 1, 2, 4 and 8 Node processes send the same
 * total workload to one loopback simulator, with their admission budget in one
 * Redis or each in its own memory; and the round trip a Redis store adds to
 * admission.
 *
 * Real processes in real time: these are wall-clock figures on this machine.
 * The fleet is in steady overload (its demand exceeds the request limit's
 * bucket, so most of the run is paced by its refill); every process is told
 * the limits up front (no cold start).
 *
 * Run: npm run bench -- redis        (needs redis-server; a few minutes)
 *      npm run bench -- redis --quick  (4 processes only)
 */
import { Clock, Effect } from "effect"
import * as AdmissionStore from "../src/AdmissionStore.js"
import * as AdmissionStoreRedis from "../src/AdmissionStoreRedis.js"
import type { FleetOptions, FleetResult } from "../test/support/fleet.js"
import { percentiles, runFleet } from "../test/support/fleet.js"
import { redisServer, redisServerPath } from "../test/support/redisServer.js"
import { printTable } from "./table.js"

const limitPerMinute = 360
const totalRequests = 440

const fleet = (
  processes: number,
  redis: FleetOptions["redis"],
  threshold: number | undefined,
  namespace: string
): FleetOptions => ({
  processes,
  requestsPerProcess: totalRequests / processes,
  concurrency: 16,
  maxTokens: 16,
  binding: "requests",
  configureLimits: true,
  threshold,
  redis,
  namespace,
  simulator: {
    limits: { requestsPerMinute: limitPerMinute, inputTokensPerMinute: 10_000_000, outputTokensPerMinute: 10_000_000 },
    latency: { base: "20 millis", perOutputToken: 0, jitter: 0.2 },
    maxConcurrentRequests: 1_000
  },
  timeLimit: "3 minutes"
})

const percent = (n: number) => `${(n * 100).toFixed(1)} %`
const millis = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : "-")

const row = (processes: number, budget: string, result: FleetResult) => {
  const store = percentiles(result.storeMillis)
  return [
    `${processes}`,
    budget,
    `${result.succeeded}/${result.requests}`,
    `${result.rateLimited}`,
    result.rateLimitedPerThousand.toFixed(1),
    percent(result.share),
    percent(result.steadyShare),
    result.wallSeconds.toFixed(1),
    millis(store.p50),
    millis(store.p99)
  ]
}

/** Sequential reserve + release pairs, one process, nothing else running: the round trip itself. */
const roundTrips = (store: AdmissionStore.AdmissionStore, pairs: number) =>
  Effect.gen(function*() {
    const pool = "bench"
    yield* store.configure(pool, { requests: 1e12, inputTokens: 1e12, outputTokens: 1e12 })
    const samples: Array<number> = []
    for (let i = 0; i < pairs; i++) {
      const start = yield* Clock.currentTimeNanos
      const result = yield* store.reserve(pool, {
        cost: { requests: 1, inputTokens: 500, outputTokens: 100 },
        holdBack: 0.05,
        maxInFlight: 1_000
      })
      const reserved = yield* Clock.currentTimeNanos
      if (result._tag !== "Granted") return yield* Effect.dieMessage(`not granted: ${result._tag}`)
      yield* store.release(result.lease, {
        charged: { inputTokens: 480, outputTokens: 90 },
        observation: {
          buckets: { requests: { limit: 1e12, low: 1e12 - 10, high: 1e12 } },
          embargoUntil: undefined,
          includesOwnOutput: true
        },
        outputTokens: 90 + (i % 20)
      })
      const released = yield* Clock.currentTimeNanos
      samples.push(Number(reserved - start) / 1e6, Number(released - reserved) / 1e6)
    }
    // the first tenth warms up the connection, the script cache and the JIT
    return percentiles(samples.slice(Math.floor(samples.length / 10)))
  })

const minMedian = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  return `${millis(sorted[0]!)} / ${millis(sorted[Math.floor((sorted.length - 1) / 2)]!)}`
}

export const run = async () => {
  if (redisServerPath === undefined) {
    console.log("\nredis: skipped, redis-server is not installed (apt-get install -y redis-server)")
    return
  }
  const quick = process.argv.includes("--quick")
  const processCounts = quick ? [4] : [1, 2, 4, 8]
  let namespaces = 0
  await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const redis = yield* redisServer
    for (const [title, threshold] of [["default reserve (5 %)", undefined], ["reserve 0", 0]] as const) {
      const rows: Array<Array<string>> = []
      for (const processes of processCounts) {
        for (const [budget, server] of [["one in Redis", redis], ["one each", undefined]] as const) {
          const result = yield* runFleet(fleet(processes, server, threshold, `bench-${++namespaces}`))
          rows.push(row(processes, budget, result))
        }
      }
      printTable(
        `${totalRequests} requests against ${limitPerMinute} RPM from N processes, ${title}: `
          + `budget in one Redis vs one budget per process`,
        [
          "processes",
          "budget",
          "ok",
          "429s",
          "429s / 1,000",
          "limit used",
          "steady",
          "wall s",
          "store p50 ms",
          "store p99 ms"
        ],
        rows
      )
    }

    const repeats = 5
    const pairs = 2_000
    const results: Record<string, Array<{ p50: number; p99: number }>> = { redis: [], memory: [] }
    for (let i = 0; i < repeats; i++) {
      const store = yield* AdmissionStoreRedis.make({ url: redis.url, namespace: `rtt-${i}`, whenUnavailable: "fail" })
      results.redis!.push(yield* roundTrips(store, pairs))
      results.memory!.push(yield* roundTrips(yield* AdmissionStore.makeMemory(), pairs))
    }
    printTable(
      `Store round trip added to admission: ${pairs} reserve + release pairs, one process alone, `
        + `${repeats} repeats (min / median of each repeat's percentile)`,
      ["store", "p50 ms", "p99 ms"],
      Object.entries(results).map(([name, runs]) => [
        name,
        minMedian(runs.map((r) => r.p50)),
        minMedian(runs.map((r) => r.p99))
      ])
    )
  })))
  console.log(
    "\nlimit used: requests served over what the limit allowed from start to the last answer (the full bucket plus "
      + "its refill); steady: the rate of answers in the second half of the run over the limit's rate. Store "
      + "round trips in the fleet table are as each process measured them, so they include waiting for its event "
      + "loop while every process, the simulator and Redis share this machine's cores."
  )
}

if (import.meta.url === `file://${process.argv[1]}`) await run()
