import { describe, expect, it, layer } from "@effect/vitest"
import { Clock, ConfigProvider, Effect, Option, Redacted, Schedule, TestClock, TestContext } from "effect"
import { Redis } from "ioredis"
import { createHash } from "node:crypto"
import * as AdmissionStore from "../src/AdmissionStore.js"
import * as AdmissionStoreRedis from "../src/AdmissionStoreRedis.js"
import { skipReason, TestRedis } from "./support/redisServer.js"
import { cases, granted, pool } from "./support/storeConformance.js"

let namespaces = 0
/** A budget of its own for each store a test makes. */
const freshNamespace = () => `test-${process.pid}-${++namespaces}`

const rawClient = (url: string) =>
  Effect.acquireRelease(
    Effect.sync(() => new Redis(url, { lazyConnect: false })),
    (client) => Effect.promise(() => client.quit())
  )

describe("AdmissionStore conformance: memory", () => {
  for (const { name, run } of cases) {
    it.scopedLive(name, () => run((options) => AdmissionStore.makeMemory(options)))
  }
})

describe.skipIf(skipReason !== undefined)(
  skipReason === undefined ? "AdmissionStoreRedis" : `AdmissionStoreRedis (skipped: ${skipReason})`,
  () => {
    layer(TestRedis.layer, { excludeTestServices: true, timeout: "30 seconds" })((it) => {
      const makeRedis = (url: string) => (options: AdmissionStore.Options = {}) =>
        AdmissionStoreRedis.make({ ...options, url, namespace: freshNamespace(), whenUnavailable: "fail" })

      describe("conformance: the ledger's rules as Lua scripts", () => {
        for (const { name, run } of cases) {
          it.scoped(name, () => Effect.flatMap(TestRedis, (server) => run(makeRedis(server.url))))
        }
      })

      it.scoped("keys: <prefix>:<hash of the API key>:{<pool>}:<part>, never the key, and every one expires", () =>
        Effect.gen(function*() {
          const server = yield* TestRedis
          const apiKey = "sk-ant-api03-SECRET-do-not-store"
          const store = yield* AdmissionStoreRedis.make({
            url: server.url,
            apiKey: Redacted.make(apiKey),
            idleExpiry: "10 minutes",
            whenUnavailable: "fail"
          })
          expect(store.keyPrefix).toMatch(/^claude-rate-limiter:[0-9a-f]{16}$/)
          expect(store.keyPrefix).toBe(yield* AdmissionStoreRedis.keyPrefix({ apiKey: Redacted.make(apiKey) }))
          expect(store.keyPrefix).not.toBe(
            yield* AdmissionStoreRedis.keyPrefix({ apiKey: Redacted.make(`${apiKey}x`) })
          )
          const lease = granted(yield* store.reserve(pool, { cost: { requests: 1 }, holdBack: 0, maxInFlight: 4 }))
          yield* store.release(lease, {
            charged: { requests: 1 },
            observation: {
              buckets: { requests: { limit: 50, low: 40, high: 41 } },
              embargoUntil: undefined,
              includesOwnOutput: true
            },
            outputTokens: 12
          })
          yield* store.reserve(pool, { cost: { requests: 1 }, holdBack: 0, maxInFlight: 4 })
          const raw = yield* rawClient(server.url)
          const keys = (yield* Effect.promise(() => raw.keys(`${store.keyPrefix}:*`))).sort()
          expect(keys).toEqual(
            ["lease-data", "leases", "output-sizes", "outputs", "state"].map((part) =>
              `${store.keyPrefix}:{${pool}}:${part}`
            )
          )
          const everything = yield* Effect.promise(() => raw.keys("*"))
          for (const key of everything) {
            expect(key).not.toContain("SECRET")
            const dump = yield* Effect.promise(() => raw.dump(key))
            expect(String(dump)).not.toContain("SECRET")
          }
          for (const key of keys) {
            const ttl = yield* Effect.promise(() => raw.pttl(key))
            expect(ttl, key).toBeGreaterThan(0)
            expect(ttl, key).toBeLessThanOrEqual(10 * 60_000)
          }
          expect(yield* AdmissionStoreRedis.keyPrefix({ namespace: "acme", prefix: "crl" })).toBe("crl:acme")
          expect(yield* AdmissionStoreRedis.keyPrefix({ namespace: "a{b}c" })).toBe("claude-rate-limiter:a_b_c")
          // a SHA-256, not something reversible: the known digest of this input
          expect(yield* AdmissionStoreRedis.keyPrefix({ apiKey: Redacted.make("k") })).toBe(
            `claude-rate-limiter:${createHash("sha256").update("claude-rate-limiter:k").digest("hex").slice(0, 16)}`
          )
        }))

      it.scoped("two processes share one budget: grants, leases, a 429's embargo and the output estimate", () =>
        Effect.gen(function*() {
          const server = yield* TestRedis
          const namespace = freshNamespace()
          const options = { url: server.url, namespace, whenUnavailable: "fail", window: "100 minutes" } as const
          const first = yield* AdmissionStoreRedis.make({ ...options, outputMinSamples: 2 })
          const second = yield* AdmissionStoreRedis.make({ ...options, outputMinSamples: 2 })
          yield* first.configure(pool, { requests: 3 })
          const a = granted(yield* first.reserve(pool, { cost: { requests: 1 }, holdBack: 0, maxInFlight: 2 }))
          granted(yield* second.reserve(pool, { cost: { requests: 1 }, holdBack: 0, maxInFlight: 2 }))
          const full = yield* second.reserve(pool, { cost: { requests: 1 }, holdBack: 0, maxInFlight: 2 })
          expect(full._tag === "Blocked" && [full.reason, full.view.inFlight]).toEqual(["concurrency", 2])
          const now = yield* Clock.currentTimeMillis
          yield* first.release(a, {
            charged: { requests: 0, inputTokens: 0, outputTokens: 0, tokens: 0 },
            observation: { buckets: {}, embargoUntil: now + 20_000, includesOwnOutput: false },
            outputTokens: undefined
          })
          const held = yield* second.reserve(pool, { cost: { requests: 1 }, holdBack: 0, maxInFlight: 2 })
          expect(held._tag === "Blocked" && held.reason).toBe("embargo")
          expect(held._tag === "Blocked" && held.waitMillis).toBeGreaterThan(15_000)

          const other = "claude-haiku-4.x"
          yield* second.configure(other, { requests: 100 })
          for (const tokens of [40, 60]) {
            const lease = granted(yield* second.reserve(other, { cost: { requests: 1 }, holdBack: 0, maxInFlight: 9 }))
            yield* second.release(lease, { charged: {}, observation: undefined, outputTokens: tokens })
          }
          expect(yield* first.outputEstimate(other)).toEqual(Option.some(60))
        }))

      it.scoped("lease recovery: a lease its process stopped renewing is reclaimed after its TTL; what it took stays taken", () =>
        Effect.gen(function*() {
          const server = yield* TestRedis
          const options = {
            url: server.url,
            namespace: freshNamespace(),
            whenUnavailable: "fail",
            leaseTtl: "300 millis",
            window: "100 minutes"
          } as const
          const crashed = yield* AdmissionStoreRedis.make(options)
          const alive = yield* AdmissionStoreRedis.make(options)
          yield* alive.configure(pool, { requests: 10 })
          const lease = granted(yield* crashed.reserve(pool, { cost: { requests: 1 }, holdBack: 0, maxInFlight: 1 }))
          const raw = yield* rawClient(server.url)
          const leasesKey = `${crashed.keyPrefix}:{${pool}}:leases`
          // renewing pushes the lease's expiry on
          const before = Number(yield* Effect.promise(() => raw.zscore(leasesKey, lease.id)))
          yield* Effect.sleep("20 millis")
          yield* crashed.renew(lease)
          expect(Number(yield* Effect.promise(() => raw.zscore(leasesKey, lease.id)))).toBeGreaterThan(before)
          // then its process "dies": no more renewals. Waiters poll until the permit comes back.
          const first = yield* alive.reserve(pool, { cost: { requests: 1 }, holdBack: 0, maxInFlight: 1 })
          expect(first._tag === "Blocked" && first.reason).toBe("concurrency")
          const recovered = yield* alive.reserve(pool, { cost: { requests: 1 }, holdBack: 0, maxInFlight: 1 }).pipe(
            Effect.filterOrFail((result) => result._tag === "Granted", () => "still blocked"),
            Effect.retry({ schedule: Schedule.spaced("50 millis"), times: 200 })
          )
          const view = yield* alive.view(pool)
          expect(view.inFlight).toBe(1)
          // 10 − the dead lease's request − the recovered one
          expect(view.buckets.requests!.level).toBeLessThan(8.01)
          expect(view.buckets.requests!.level).toBeGreaterThanOrEqual(8)
          // the dead process's late release changes nothing
          const after = yield* crashed.release(lease, {
            charged: { requests: 0 },
            observation: undefined,
            outputTokens: undefined
          })
          expect(after.inFlight).toBe(1)
          expect(after.buckets.requests!.level).toBeLessThan(8.01)
          yield* alive.release(granted(recovered), {
            charged: undefined,
            observation: undefined,
            outputTokens: undefined
          })
        }))

      it.scoped("1,000 fibers racing over 4 connections for one bucket of 100 never overspend it", () =>
        Effect.gen(function*() {
          const server = yield* TestRedis
          const options = {
            url: server.url,
            namespace: freshNamespace(),
            whenUnavailable: "fail",
            window: "100 minutes"
          } as const
          const stores = yield* Effect.all(Array.from({ length: 4 }, () => AdmissionStoreRedis.make(options)))
          yield* stores[0]!.configure(pool, { requests: 100, inputTokens: 10_000 })
          const results = yield* Effect.forEach(
            Array.from({ length: 1_000 }, (_, i) => i),
            (i) =>
              stores[i % 4]!.reserve(pool, {
                cost: { requests: 1, inputTokens: 100 },
                holdBack: 0,
                maxInFlight: 10_000
              }),
            { concurrency: "unbounded" }
          )
          const grants = results.filter((result) => result._tag === "Granted")
          expect(grants.length).toBe(100)
          expect(new Set(grants.map((result) => result._tag === "Granted" && result.lease.id)).size).toBe(100)
          const view = yield* stores[0]!.view(pool)
          expect(view.inFlight).toBe(100)
          expect(view.buckets.requests!.level).toBeGreaterThanOrEqual(0)
          expect(view.buckets.inputTokens!.level).toBeGreaterThanOrEqual(0)
          expect(view.buckets.requests!.level).toBeLessThan(1)
        }))

      it.scoped("scripts missing from Redis (SCRIPT FLUSH, a restart) are loaded again", () =>
        Effect.gen(function*() {
          const server = yield* TestRedis
          const store = yield* makeRedis(server.url)({ window: "100 minutes" })
          yield* store.configure(pool, { requests: 5 })
          const raw = yield* rawClient(server.url)
          yield* Effect.promise(() => raw.script("FLUSH"))
          granted(yield* store.reserve(pool, { cost: { requests: 1 }, holdBack: 0, maxInFlight: 4 }))
          expect((yield* store.view(pool)).buckets.requests?.capacity).toBe(5)
        }))

      it.scoped("times come back on this process's clock, whatever the skew to the Redis server's", () =>
        Effect.gen(function*() {
          const server = yield* TestRedis
          const store = yield* makeRedis(server.url)({ window: "100 minutes" })
          yield* Effect.gen(function*() {
            // this process believes it is 1970
            yield* TestClock.setTime(1_000)
            yield* store.configure(pool, { requests: 5 })
            const lease = granted(yield* store.reserve(pool, { cost: { requests: 1 }, holdBack: 0, maxInFlight: 4 }))
            expect(lease.grantedAt).toBe(1_000)
            yield* store.release(lease, {
              charged: { requests: 0 },
              observation: { buckets: {}, embargoUntil: 1_000 + 30_000, includesOwnOutput: true },
              outputTokens: undefined
            })
            const view = yield* store.view(pool)
            expect(view.at).toBe(1_000)
            // the embargo went in as a 30 s delay on the server's clock and comes back on ours
            expect(view.embargoUntil).toBeGreaterThan(1_000 + 29_000)
            expect(view.embargoUntil).toBeLessThanOrEqual(1_000 + 30_000)
          }).pipe(Effect.provide(TestContext.TestContext))
        }))

      it.scoped("a store with whenUnavailable \"fail\" fails with AdmissionStoreError while Redis is down", () =>
        Effect.gen(function*() {
          const store = yield* AdmissionStoreRedis.make({
            url: "redis://127.0.0.1:1",
            whenUnavailable: "fail",
            timeout: "100 millis"
          })
          expect(yield* store.mode).toBe("redis")
          const error = yield* Effect.flip(store.reserve(pool, { cost: { requests: 1 }, holdBack: 0, maxInFlight: 4 }))
          expect(error._tag).toBe("AdmissionStoreError")
          expect(error.message).toMatch(/^Redis reserve: /)
        }))

      it.scoped("a client of your own that never answers: each call is bounded by the timeout", () =>
        Effect.gen(function*() {
          const silent = { call: () => new Promise<unknown>(() => {}) }
          const store = yield* AdmissionStoreRedis.make({
            client: silent,
            timeout: "100 millis",
            whenUnavailable: "fail"
          })
          const error = yield* Effect.flip(store.reserve(pool, { cost: { requests: 1 }, holdBack: 0, maxInFlight: 4 }))
          expect(error.message).toBe("Redis reserve: no answer within 100 ms")
        }))

      it.scoped("a store made without a url or client fails with a clear AdmissionStoreError", () =>
        Effect.gen(function*() {
          const error = yield* Effect.flip(AdmissionStoreRedis.make({}))
          expect(error.message).toBe("AdmissionStoreRedis needs a `url` or a `client`")
        }))

      it.scoped("layerConfig: REDIS_URL, and the API key's hash (or CLAUDE_RATE_LIMITER_NAMESPACE) names the keys", () =>
        Effect.gen(function*() {
          const server = yield* TestRedis
          const apiKey = `sk-ant-config-${freshNamespace()}`
          const reserveWith = (env: Record<string, string>) =>
            Effect.gen(function*() {
              const store = yield* AdmissionStore.AdmissionStore
              expect(store.shared).toBe(true)
              return yield* store.reserve(pool, { cost: { requests: 1 }, holdBack: 0, maxInFlight: 4 })
            }).pipe(
              Effect.provide(AdmissionStoreRedis.layerConfig),
              Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
            )
          yield* reserveWith({ REDIS_URL: server.url, ANTHROPIC_API_KEY: apiKey })
          const hashed = yield* AdmissionStoreRedis.keyPrefix({ apiKey: Redacted.make(apiKey) })
          const raw = yield* rawClient(server.url)
          expect(yield* Effect.promise(() => raw.exists(`${hashed}:{${pool}}:state`))).toBe(1)
          const namespace = freshNamespace()
          yield* reserveWith({
            REDIS_URL: server.url,
            ANTHROPIC_API_KEY: apiKey,
            CLAUDE_RATE_LIMITER_NAMESPACE: namespace
          })
          expect(yield* Effect.promise(() => raw.exists(`claude-rate-limiter:${namespace}:{${pool}}:state`))).toBe(1)
          const missing = yield* Effect.flip(reserveWith({}))
          expect(missing._tag).toBe("ConfigError")
          expect(String(missing)).toContain("REDIS_URL")
        }))

      it.scoped("a client of your own is used and not closed", () =>
        Effect.gen(function*() {
          const server = yield* TestRedis
          const client = yield* rawClient(server.url)
          yield* Effect.scoped(Effect.gen(function*() {
            const store = yield* AdmissionStoreRedis.make({ client, namespace: freshNamespace() })
            yield* store.configure(pool, { requests: 5 })
            expect((yield* store.view(pool)).buckets.requests?.capacity).toBe(5)
          }))
          expect(yield* Effect.promise(() => client.ping())).toBe("PONG")
        }))
    })
  }
)
