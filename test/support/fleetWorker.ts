/**
 * One process of a fleet (./fleet.ts): a `ClaudeClient` over a loopback
 * simulator, with its admission budget in Redis (shared with the other
 * processes) or in memory (its own). It builds everything, prints `READY`,
 * waits for `GO` on stdin, sends its requests, waits (at most 30 s) for its
 * store to be back on Redis if it fell back, and prints `REPORT <json>`.
 *
 * Run: node --import tsx test/support/fleetWorker.ts '<WorkerConfig as JSON>'
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Clock, Effect, Layer, Metric, Redacted, Schedule } from "effect"
import { createInterface } from "node:readline"
import type * as Admission from "../../src/Admission.js"
import * as AdmissionStore from "../../src/AdmissionStore.js"
import * as AdmissionStoreRedis from "../../src/AdmissionStoreRedis.js"
import * as ClaudeClient from "../../src/ClaudeClient.js"

export interface WorkerConfig {
  readonly id: number
  readonly baseUrl: string
  /** `undefined`: a budget of this process's own, in memory. */
  readonly redisUrl: string | undefined
  readonly namespace: string
  readonly requests: number
  readonly concurrency: number
  readonly expectedProcesses: number
  readonly maxTokens: number
  /** The pool's limits, configured up front (no cold start), or learned from the first answer. */
  readonly limits: Admission.LimitsPerMinute | undefined
  /** Admission's reserve (`threshold`): the share of each bucket kept for what this process cannot see. */
  readonly threshold: number | undefined
}

export interface WorkerReport {
  readonly id: number
  readonly succeeded: number
  readonly failed: Readonly<Record<string, number>>
  /** each successful request: epoch millis at which it completed, and its output tokens */
  readonly completions: ReadonlyArray<readonly [at: number, outputTokens: number]>
  /** milliseconds of each store round trip (reserve, release) */
  readonly storeMillis: ReadonlyArray<number>
  readonly fallbacks: number
  readonly mode: AdmissionStoreRedis.Mode | "memory"
}

/** The store with each reserve and release timed: the round trip Redis adds to admission. */
const timed = (store: AdmissionStore.AdmissionStore, samples: Array<number>): AdmissionStore.AdmissionStore => {
  const measure = <A, E>(effect: Effect.Effect<A, E>) =>
    Effect.gen(function*() {
      const start = yield* Clock.currentTimeNanos
      const result = yield* effect
      samples.push(Number((yield* Clock.currentTimeNanos) - start) / 1e6)
      return result
    })
  return {
    ...store,
    reserve: (pool, request) => measure(store.reserve(pool, request)),
    release: (lease, settlement) => measure(store.release(lease, settlement))
  }
}

const waitForGo = Effect.async<void>((resume) => {
  const lines = createInterface({ input: process.stdin })
  lines.on("line", (line) => {
    if (line.trim() === "GO") {
      lines.close()
      resume(Effect.void)
    }
  })
})

const main = (config: WorkerConfig) =>
  Effect.gen(function*() {
    const samples: Array<number> = []
    const redis = config.redisUrl === undefined ? undefined : yield* AdmissionStoreRedis.make({
      url: config.redisUrl,
      namespace: config.namespace,
      expectedProcesses: config.expectedProcesses,
      retryInterval: "200 millis",
      timeout: "500 millis"
    })
    const store = redis ?? (yield* AdmissionStore.makeMemory())
    const clientLayer = ClaudeClient.layer({
      apiKey: Redacted.make("sk-ant-fleet"),
      baseUrl: config.baseUrl,
      admission: {
        threshold: config.threshold,
        limits: config.limits === undefined ? undefined : { "claude-sonnet-4.x": config.limits }
      }
    }).pipe(
      Layer.provide(
        Layer.merge(NodeHttpClient.layerUndici, Layer.succeed(AdmissionStore.AdmissionStore, timed(store, samples)))
      )
    )
    return yield* Effect.gen(function*() {
      const client = yield* ClaudeClient.ClaudeClient
      process.stdout.write("READY\n")
      yield* waitForGo
      const params = {
        model: "claude-sonnet-4-6",
        max_tokens: config.maxTokens,
        messages: [{ role: "user" as const, content: "Hello from one of several processes" }]
      }
      const completions: Array<readonly [number, number]> = []
      const failed: Record<string, number> = {}
      yield* Effect.forEach(
        Array.from({ length: config.requests }),
        () =>
          client.createMessage(params).pipe(
            Effect.flatMap((message) =>
              Effect.flatMap(
                Clock.currentTimeMillis,
                (now) => Effect.sync(() => completions.push([now, message.usage.output_tokens]))
              )
            ),
            Effect.catchAll((error) =>
              Effect.sync(() => {
                failed[error._tag] = (failed[error._tag] ?? 0) + 1
              })
            )
          ),
        { concurrency: config.concurrency, discard: true }
      )
      // a process that finished during an outage waits (bounded) for its store to find Redis again
      if (redis !== undefined) {
        yield* redis.mode.pipe(
          Effect.repeat({ schedule: Schedule.spaced("50 millis"), until: (mode) => mode === "redis" }),
          Effect.timeout("30 seconds"),
          Effect.ignore
        )
      }
      const report: WorkerReport = {
        id: config.id,
        succeeded: completions.length,
        failed,
        completions,
        storeMillis: samples,
        fallbacks: (yield* Metric.value(AdmissionStoreRedis.metrics.fallbacks)).count,
        mode: redis === undefined ? "memory" : yield* redis.mode
      }
      process.stdout.write(`REPORT ${JSON.stringify(report)}\n`)
    }).pipe(Effect.provide(clientLayer))
  })

const config = JSON.parse(process.argv[2] ?? "{}") as WorkerConfig
Effect.runPromise(Effect.scoped(main(config))).then(
  () => process.exit(0),
  (error) => {
    console.error(error)
    process.exit(1)
  }
)
