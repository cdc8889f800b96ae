import { describe, expect, it, layer } from "@effect/vitest"
import { Deferred, Duration, Effect, Fiber, Layer, Metric, Option, Redacted, Ref, Schedule, TestClock } from "effect"
import { Redis } from "ioredis"
import * as AdmissionStore from "../src/AdmissionStore.js"
import * as AdmissionStoreRedis from "../src/AdmissionStoreRedis.js"
import * as ClaudeClient from "../src/ClaudeClient.js"
import * as Fallback from "../src/internal/storeFallback.js"
import { Simulator } from "../src/testing/index.js"
import { captureLogs } from "./support/logs.js"
import { redisServer, skipReason, TestRedis } from "./support/redisServer.js"

let namespaces = 0
const freshNamespace = () => `fallback-${process.pid}-${++namespaces}`

const pool = "claude-sonnet-4.x"

const params = {
  model: "claude-sonnet-4-6",
  max_tokens: 32,
  messages: [{ role: "user" as const, content: "Hello through a shared budget" }]
}

/** Fast answers and limits well above what these tests send: only Redis going away is under test. */
const simulator = Simulator.layer({
  latency: { base: "5 millis", perOutputToken: 0, jitter: 0 },
  limits: { requestsPerMinute: 60_000, inputTokensPerMinute: 10_000_000, outputTokensPerMinute: 10_000_000 },
  maxConcurrentRequests: 1_000
})

const clientWith = (store: AdmissionStore.AdmissionStore) =>
  ClaudeClient.layer({ apiKey: Redacted.make("sk-ant-fallback-test"), admission: { pollInterval: "20 millis" } }).pipe(
    Layer.provide(Layer.merge(simulator, Layer.succeed(AdmissionStore.AdmissionStore, store)))
  )

/** Polls `condition` every 10 ms, at most `seconds` long, then fails with `what`. */
const waitUntil = <E, R>(condition: Effect.Effect<boolean, E, R>, what: string, seconds = 20) =>
  condition.pipe(
    Effect.filterOrFail((ok) => ok, () => new Error(`timed out waiting until ${what}`)),
    Effect.retry({ schedule: Schedule.spaced("10 millis"), times: seconds * 100 })
  )

const fallbacksSoFar = Effect.map(Metric.value(AdmissionStoreRedis.metrics.fallbacks), (state) => state.count)

const warningsAbout = (logs: ReadonlyArray<{ level: string; message: string }>, text: string) =>
  logs.filter((line) => line.level === "WARN" && line.message.includes(text))

describe("the local stand-in", () => {
  const view: AdmissionStore.PoolView = { at: 0, known: true, buckets: {}, embargoUntil: 0, inFlight: 0 }
  const unreachable = new AdmissionStore.AdmissionStoreError({ message: "unreachable", cause: undefined })

  it.scopedLive("the warning names the Redis host, never the password in its URL", () =>
    Effect.gen(function*() {
      const [store, logs] = yield* captureLogs(AdmissionStoreRedis.make({
        url: Redacted.make("redis://:s3cret-PASSWORD@127.0.0.1:1/0"),
        timeout: "50 millis",
        retryInterval: "1 hour"
      }))
      expect(yield* store.mode).toBe("local")
      const warnings = logs.filter((line) => line.level === "WARN")
      expect(warnings).toHaveLength(1)
      expect(warnings[0]!.message).toContain("redis://127.0.0.1:1 cannot be reached")
      expect(JSON.stringify(logs)).not.toContain("s3cret")
    }))

  // a shared store that fails on demand, in virtual time
  it.scoped("a call made before Redis came back that fails afterwards does not switch to the stand-in again", () =>
    Effect.gen(function*() {
      let up = true
      const slowCallSent = yield* Deferred.make<void>()
      const slowCall = yield* Deferred.make<void>()
      let granted = 0
      const shared: Fallback.SharedStore = {
        [AdmissionStore.TypeId]: AdmissionStore.TypeId,
        shared: true,
        leaseRenewal: Option.none(),
        configure: () => Effect.void,
        // the first reservation hangs until released, then fails (its connection was lost meanwhile)
        reserve: (pool) =>
          granted++ === 0
            ? Deferred.succeed(slowCallSent, void 0).pipe(
              Effect.zipRight(Deferred.await(slowCall)),
              Effect.zipRight(Effect.fail(unreachable))
            )
            : up
            ? Effect.succeed({
              _tag: "Granted",
              lease: { id: `shared-${granted}`, pool, taken: {}, output: 0, sequence: granted, grantedAt: 0 }
            })
            : Effect.fail(unreachable),
        release: () => (up ? Effect.succeed(view) : Effect.fail(unreachable)),
        renew: () => Effect.void,
        view: () => (up ? Effect.succeed(view) : Effect.fail(unreachable)),
        outputEstimate: () => Effect.succeed(Option.none()),
        ping: Effect.suspend(() => (up ? Effect.void : Effect.fail(unreachable))),
        configured: new Map()
      }
      const fallbacks = Metric.counter(`test_store_fallbacks_${freshNamespace()}`, { incremental: true })
      const store = yield* Fallback.make({
        shared,
        local: yield* AdmissionStore.makeMemory({ scale: 0.5 }),
        sharedScale: 1,
        retryEvery: Duration.seconds(1),
        initialMode: "shared",
        describeFallback: () => "falls back",
        describeRecovery: "back",
        metrics: { fallbacks, mode: Metric.gauge(`test_store_mode_${freshNamespace()}`) }
      })
      const request = { cost: { requests: 1 }, holdBack: 0, maxInFlight: 10 }
      const slow = yield* Effect.fork(store.reserve(pool, request))
      yield* Deferred.await(slowCallSent)
      up = false
      yield* store.view(pool)
      expect(yield* store.mode).toBe("local")
      up = true
      yield* TestClock.adjust("1 second")
      expect(yield* store.mode).toBe("shared")
      yield* Deferred.succeed(slowCall, void 0)
      // answered by the stand-in (a local lease), without a second switch
      const late = yield* Fiber.join(slow)
      expect(late._tag).toBe("Granted")
      expect(yield* store.mode).toBe("shared")
      expect((yield* Metric.value(fallbacks)).count).toBe(1)
      // that local lease is released locally; new reservations go to the shared store
      if (late._tag === "Granted") {
        yield* store.release(late.lease, { charged: {}, observation: undefined, outputTokens: undefined })
      }
      const next = yield* store.reserve(pool, request)
      expect(next._tag === "Granted" && next.lease.id).toBe("shared-2")
    }))
})

describe.skipIf(skipReason !== undefined)(
  skipReason === undefined ? "AdmissionStoreRedis fallback" : `AdmissionStoreRedis fallback (skipped: ${skipReason})`,
  () => {
    layer(TestRedis.layer, { excludeTestServices: true, timeout: "30 seconds" })((it) => {
      it.scoped(
        "Redis killed mid-run and restarted: no request lost, the local budget takes over and says so once, Redis is back",
        () =>
          Effect.gen(function*() {
            const server = yield* TestRedis
            const before = yield* fallbacksSoFar
            const [outcome, logs] = yield* captureLogs(Effect.scoped(Effect.gen(function*() {
              const store = yield* AdmissionStoreRedis.make({
                url: server.url,
                namespace: freshNamespace(),
                timeout: "200 millis",
                retryInterval: "100 millis",
                expectedProcesses: 1
              })
              expect(yield* store.mode).toBe("redis")
              const done = yield* Ref.make(0)
              const send = (count: number) =>
                Effect.gen(function*() {
                  const client = yield* ClaudeClient.ClaudeClient
                  return yield* Effect.forEach(
                    Array.from({ length: count }),
                    () => Effect.zipLeft(client.createMessage(params), Ref.update(done, (n) => n + 1)),
                    { concurrency: 8 }
                  )
                }).pipe(Effect.provide(clientWith(store)))
              const run = yield* Effect.fork(send(300))
              yield* waitUntil(Effect.map(Ref.get(done), (n) => n >= 80), "80 requests are done")
              yield* server.kill
              yield* waitUntil(Effect.map(store.mode, (mode) => mode === "local"), "the store falls back")
              yield* waitUntil(Effect.map(Ref.get(done), (n) => n >= 160), "160 requests are done")
              yield* server.restart
              const answers = yield* Fiber.join(run)
              yield* waitUntil(Effect.map(store.mode, (mode) => mode === "redis"), "the store is back on Redis")
              // back on Redis: new requests spend the shared budget again
              const more = yield* send(20)
              const raw = new Redis(server.url)
              const stateExists = yield* Effect.promise(() => raw.exists(`${store.keyPrefix}:{${pool}}:state`))
              yield* Effect.promise(() => raw.quit())
              return { answers: answers.length + more.length, stateExists, view: yield* store.view(pool) }
            })))
            expect(outcome.answers).toBe(320)
            expect(outcome.stateExists).toBe(1)
            expect(outcome.view.known).toBe(true)
            expect(warningsAbout(logs, "cannot be reached")).toHaveLength(1)
            expect(warningsAbout(logs, "cannot be reached")[0]!.message).toContain("local budget of 1/1 of each limit")
            expect(logs.filter((line) => line.level === "INFO" && line.message.includes("answers again"))).toHaveLength(
              1
            )
            expect(logs.filter((line) => line.level === "WARN" || line.level === "ERROR")).toHaveLength(1)
            expect((yield* fallbacksSoFar) - before).toBe(1)
          }),
        60_000
      )

      it.scoped("a lease Redis granted is forgotten safely when its release cannot reach Redis", () =>
        Effect.gen(function*() {
          const server = yield* redisServer
          const store = yield* AdmissionStoreRedis.make({
            url: server.url,
            namespace: freshNamespace(),
            timeout: "200 millis",
            retryInterval: "50 millis",
            expectedProcesses: 2
          })
          yield* store.configure(pool, { requests: 100 })
          const granted = yield* store.reserve(pool, { cost: { requests: 1 }, holdBack: 0, maxInFlight: 4 })
          if (granted._tag !== "Granted") return expect.fail(`expected a grant, got ${granted._tag}`)
          yield* server.kill
          const [view] = yield* captureLogs(
            store.release(granted.lease, { charged: undefined, observation: undefined, outputTokens: undefined })
          )
          expect(yield* store.mode).toBe("local")
          // the local stand-in's view: half of the configured limit, nothing in flight
          expect(view.buckets.requests?.capacity).toBe(50)
          expect(view.inFlight).toBe(0)
          // renewing a forgotten lease is harmless
          yield* store.renew(granted.lease)
          // a local lease is released locally, even once Redis is back
          const local = yield* store.reserve(pool, { cost: { requests: 1 }, holdBack: 0, maxInFlight: 4 })
          if (local._tag !== "Granted") return expect.fail(`expected a local grant, got ${local._tag}`)
          expect((yield* store.view(pool)).inFlight).toBe(1)
          yield* server.restart
          yield* waitUntil(Effect.map(store.mode, (mode) => mode === "redis"), "the store is back on Redis")
          yield* store.release(local.lease, { charged: undefined, observation: undefined, outputTokens: undefined })
          // Redis restarted empty: the configured limits come back with the first reservation, but the levels the
          // server holds are unknown, so that first request goes alone and its answer tells them
          const probe = yield* store.reserve(pool, { cost: { requests: 1 }, holdBack: 0, maxInFlight: 4 })
          if (probe._tag !== "Granted") return expect.fail(`expected the probe to be granted, got ${probe._tag}`)
          const cold = yield* store.reserve(pool, { cost: { requests: 1 }, holdBack: 0, maxInFlight: 4 })
          expect(cold._tag === "Blocked" && cold.reason).toBe("cold-start")
          expect(cold._tag === "Blocked" && cold.view.buckets.requests?.capacity).toBe(100)
          const calibrated = yield* store.release(probe.lease, {
            charged: { requests: 1 },
            observation: {
              buckets: { requests: { limit: 100, low: 30, high: 31 } },
              embargoUntil: undefined,
              includesOwnOutput: true
            },
            outputTokens: 5
          })
          expect(calibrated.known).toBe(true)
          expect(calibrated.buckets.requests!.level).toBeLessThan(31)
          expect((yield* store.reserve(pool, { cost: { requests: 1 }, holdBack: 0, maxInFlight: 4 }))._tag).toBe(
            "Granted"
          )
        }))

      it.scoped("the local share starts from the shared level and embargo, not from a full bucket", () =>
        Effect.gen(function*() {
          const server = yield* redisServer
          const store = yield* AdmissionStoreRedis.make({
            url: server.url,
            namespace: freshNamespace(),
            timeout: "200 millis",
            retryInterval: "1 hour",
            expectedProcesses: 2,
            window: "100 minutes"
          })
          yield* store.configure(pool, { requests: 100 })
          for (let i = 0; i < 60; i++) {
            const result = yield* store.reserve(pool, { cost: { requests: 1 }, holdBack: 0, maxInFlight: 100 })
            expect(result._tag).toBe("Granted")
          }
          const shared = yield* store.view(pool)
          expect(shared.buckets.requests!.level).toBeLessThan(40.01)
          yield* server.kill
          const [result] = yield* captureLogs(
            store.reserve(pool, { cost: { requests: 1 }, holdBack: 0, maxInFlight: 100 })
          )
          expect(result._tag).toBe("Granted")
          expect(yield* store.mode).toBe("local")
          const local = yield* store.view(pool)
          // half of the 40 left in the shared bucket, minus the one just taken
          expect(local.buckets.requests!.capacity).toBe(50)
          expect(local.buckets.requests!.level).toBeGreaterThanOrEqual(19)
          expect(local.buckets.requests!.level).toBeLessThan(19.01)
        }))

      it.scoped("Redis down at start: the local budget stands in from the first request, and Redis takes over when up", () =>
        Effect.gen(function*() {
          const server = yield* redisServer
          yield* server.kill
          const [store, logs] = yield* captureLogs(AdmissionStoreRedis.make({
            url: server.url,
            namespace: freshNamespace(),
            timeout: "100 millis",
            retryInterval: "50 millis"
          }))
          expect(yield* store.mode).toBe("local")
          expect(warningsAbout(logs, "cannot be reached")).toHaveLength(1)
          const answers = yield* Effect.gen(function*() {
            const client = yield* ClaudeClient.ClaudeClient
            return yield* Effect.forEach(Array.from({ length: 10 }), () => client.createMessage(params), {
              concurrency: 4
            })
          }).pipe(Effect.provide(clientWith(store)))
          expect(answers).toHaveLength(10)
          yield* server.restart
          yield* waitUntil(Effect.map(store.mode, (mode) => mode === "redis"), "the store is on Redis")
        }))

      it.scoped("whenUnavailable \"fail\": a request fails at once with AdmissionStoreError while Redis is down", () =>
        Effect.gen(function*() {
          const server = yield* redisServer
          const store = yield* AdmissionStoreRedis.make({
            url: server.url,
            namespace: freshNamespace(),
            timeout: "200 millis",
            whenUnavailable: "fail"
          })
          yield* server.kill
          const error = yield* Effect.gen(function*() {
            const client = yield* ClaudeClient.ClaudeClient
            return yield* Effect.flip(client.createMessage(params))
          }).pipe(Effect.provide(clientWith(store)))
          expect(error._tag).toBe("AdmissionStoreError")
        }))
    })
  }
)
