/**
 * The admission ledger's rules, as tests any `AdmissionStore` must pass: the
 * in-memory store and the Redis store run the same cases.
 *
 * They run in real time (the Redis store's clock is the server's), so no case
 * depends on how long anything takes: refill is made negligible with a long
 * window, and where a level or a wait depends on time passing, the bound is
 * derived from the time measured around the operations.
 */
import { expect } from "@effect/vitest"
import { Clock, Effect, Option } from "effect"
import type { Scope } from "effect"
import type * as AdmissionStore from "../../src/AdmissionStore.js"

export type MakeStore = (
  options?: AdmissionStore.Options
) => Effect.Effect<AdmissionStore.AdmissionStore, AdmissionStore.AdmissionStoreError, Scope.Scope>

export interface Case {
  readonly name: string
  readonly run: (make: MakeStore) => Effect.Effect<void, unknown, Scope.Scope>
}

export const pool = "claude-sonnet-4.x"

/** Refill so slow that nothing measurable refills during a test. */
const long = { window: "100 minutes" } as const
const longMillis = 100 * 60_000

const request = (cost: AdmissionStore.Cost, maxInFlight = 1_000, holdBack = 0): AdmissionStore.ReserveRequest => ({
  cost,
  holdBack,
  maxInFlight
})

export const granted = (result: AdmissionStore.ReserveResult): AdmissionStore.Lease => {
  if (result._tag !== "Granted") {
    throw new Error(`expected a grant, got ${JSON.stringify(result, (_, v) => v === Infinity ? "Infinity" : v)}`)
  }
  return result.lease
}

const served = (
  buckets: AdmissionStore.Observation["buckets"],
  charged: AdmissionStore.Cost | undefined = {},
  outputTokens?: number
): AdmissionStore.Settlement => ({
  charged,
  observation: { buckets, embargoUntil: undefined, includesOwnOutput: true },
  outputTokens
})

const notSent: AdmissionStore.Settlement = {
  charged: { requests: 0, inputTokens: 0, outputTokens: 0, tokens: 0 },
  observation: undefined,
  outputTokens: undefined
}

/**
 * A level read from `view`: `expected`, plus whatever refilled since `since`
 * (a time before the bucket was last set or first drawn on), at most the time
 * measured since then plus a little for the two clocks.
 */
const expectLevel = (
  view: AdmissionStore.PoolView,
  bucket: AdmissionStore.BudgetBucket,
  expected: number,
  since: number
) =>
  Effect.map(Clock.currentTimeMillis, (now) => {
    const b = view.buckets[bucket]
    expect(b, `bucket ${bucket}`).toBeDefined()
    const refill = b!.rate * (now - since + 5)
    expect(b!.level, `${bucket} level`).toBeGreaterThanOrEqual(expected - 1e-6)
    expect(b!.level, `${bucket} level`).toBeLessThanOrEqual(Math.min(b!.capacity, expected + refill) + 1e-6)
  })

const blocked = (result: AdmissionStore.ReserveResult) => {
  if (result._tag !== "Blocked") throw new Error(`expected a block, got ${result._tag}`)
  return result
}

export const cases: ReadonlyArray<Case> = [
  {
    name: "cold start: one request goes alone, the rest wait for its headers",
    run: (make) =>
      Effect.gen(function*() {
        const store = yield* make(long)
        const probe = granted(yield* store.reserve(pool, request({ requests: 1 })))
        const second = blocked(yield* store.reserve(pool, request({ requests: 1 })))
        expect([second.reason, second.waitMillis, second.view.known, second.view.inFlight]).toEqual([
          "cold-start",
          Infinity,
          false,
          1
        ])
        const since = yield* Clock.currentTimeMillis
        const view = yield* store.release(probe, served({ requests: { limit: 50, low: 40, high: 41 } }))
        expect(view.known).toBe(true)
        expect(view.buckets.requests?.capacity).toBe(50)
        yield* expectLevel(view, "requests", 40, since)
        granted(yield* store.reserve(pool, request({ requests: 1 })))
        granted(yield* store.reserve(pool, request({ requests: 1 })))
      })
  },
  {
    name: "configured limits: no cold start; an empty bucket makes the next request wait exactly for its refill",
    run: (make) =>
      Effect.gen(function*() {
        const store = yield* make(long)
        const since = yield* Clock.currentTimeMillis
        yield* store.configure(pool, { requests: 10 })
        for (let i = 0; i < 10; i++) granted(yield* store.reserve(pool, request({ requests: 1 })))
        const wait = blocked(yield* store.reserve(pool, request({ requests: 1 })))
        const elapsed = (yield* Clock.currentTimeMillis) - since
        // one request refills in a tenth of the window, minus what refilled since the bucket was first drawn on
        const full = longMillis / 10
        expect(wait.reason).toBe("requests")
        expect(wait.waitMillis).toBeLessThanOrEqual(full + 1)
        expect(wait.waitMillis).toBeGreaterThanOrEqual(full - elapsed - 5)
        yield* expectLevel(wait.view, "requests", 0, since)
      })
  },
  {
    name: "hold-back: a request leaves the held-back share of the bucket, but a full bucket always admits one",
    run: (make) =>
      Effect.gen(function*() {
        const store = yield* make(long)
        yield* store.configure(pool, { inputTokens: 1_000 })
        granted(yield* store.reserve(pool, request({ inputTokens: 700 }, 1_000, 0.2)))
        // 300 left: 200 of them held back, so 150 may not go, 100 may
        const refused = blocked(yield* store.reserve(pool, request({ inputTokens: 150 }, 1_000, 0.2)))
        expect(refused.reason).toBe("inputTokens")
        granted(yield* store.reserve(pool, request({ inputTokens: 100 }, 1_000, 0.2)))
        const other = yield* make(long)
        yield* other.configure(pool, { inputTokens: 1_000 })
        granted(yield* other.reserve(pool, request({ inputTokens: 1_000 }, 1_000, 0.5)))
      })
  },
  {
    name: "settlement: the difference is given back or charged; a bucket left out, or an unknown outcome, keeps it",
    run: (make) =>
      Effect.gen(function*() {
        const store = yield* make(long)
        yield* store.configure(pool, { requests: 100, inputTokens: 10_000, outputTokens: 5_000 })
        const since = yield* Clock.currentTimeMillis
        const a = granted(yield* store.reserve(pool, request({ requests: 1, inputTokens: 1_000, outputTokens: 500 })))
        expect(a.taken).toEqual({ requests: 1, inputTokens: 1_000, outputTokens: 500 })
        // charged 400 input; output left out: keeps the 500 taken
        let view = yield* store.release(a, {
          charged: { inputTokens: 400 },
          observation: undefined,
          outputTokens: undefined
        })
        yield* expectLevel(view, "inputTokens", 9_600, since)
        yield* expectLevel(view, "outputTokens", 4_500, since)
        const b = granted(yield* store.reserve(pool, request({ requests: 1, inputTokens: 1_000, outputTokens: 500 })))
        view = yield* store.release(b, { charged: undefined, observation: undefined, outputTokens: undefined })
        yield* expectLevel(view, "inputTokens", 8_600, since)
        yield* expectLevel(view, "outputTokens", 4_000, since)
        const c = granted(yield* store.reserve(pool, request({ requests: 1, inputTokens: 1_000, outputTokens: 500 })))
        // charged more than was taken: the rest is charged now
        view = yield* store.release(c, {
          charged: { inputTokens: 1_500, outputTokens: 900 },
          observation: undefined,
          outputTokens: undefined
        })
        yield* expectLevel(view, "inputTokens", 7_100, since)
        yield* expectLevel(view, "outputTokens", 3_100, since)
        yield* expectLevel(view, "requests", 97, since)
        // a lease released twice settles once
        view = yield* store.release(c, {
          charged: { inputTokens: 0, outputTokens: 0 },
          observation: undefined,
          outputTokens: undefined
        })
        yield* expectLevel(view, "inputTokens", 7_100, since)
      })
  },
  {
    name: "embargo: the server's wait holds back every request of the pool until then",
    run: (make) =>
      Effect.gen(function*() {
        const store = yield* make(long)
        yield* store.configure(pool, { requests: 100 })
        const lease = granted(yield* store.reserve(pool, request({ requests: 1 })))
        const start = yield* Clock.currentTimeMillis
        yield* store.release(lease, {
          charged: { requests: 0, inputTokens: 0, outputTokens: 0, tokens: 0 },
          observation: { buckets: {}, embargoUntil: start + 30_000, includesOwnOutput: true },
          outputTokens: undefined
        })
        const result = blocked(yield* store.reserve(pool, request({ requests: 1 })))
        const elapsed = (yield* Clock.currentTimeMillis) - start
        expect(result.reason).toBe("embargo")
        expect(result.waitMillis).toBeLessThanOrEqual(30_000 + 5)
        expect(result.waitMillis).toBeGreaterThanOrEqual(30_000 - elapsed - 5)
        expect(result.view.embargoUntil).toBeGreaterThanOrEqual(start + 30_000 - 5)
        expect(result.view.embargoUntil).toBeLessThanOrEqual(start + elapsed + 30_000 + 5)
      })
  },
  {
    name: "stale responses do not raise the level; lower levels always apply; a quiescent latest answer raises it",
    run: (make) =>
      Effect.gen(function*() {
        const store = yield* make(long)
        yield* store.configure(pool, { requests: 100 })
        const since = yield* Clock.currentTimeMillis
        const a = granted(yield* store.reserve(pool, request({ requests: 1 })))
        const b = granted(yield* store.reserve(pool, request({ requests: 1 })))
        // a's answer says 99 left, but b is in flight: the level stays at 98
        let view = yield* store.release(a, served({ requests: { limit: 100, low: 99, high: 100 } }, { requests: 1 }))
        yield* expectLevel(view, "requests", 98, since)
        // b's answer says 80: lowering is always safe
        view = yield* store.release(b, served({ requests: { limit: 100, low: 80, high: 81 } }, { requests: 1 }))
        yield* expectLevel(view, "requests", 80, since)
        // nothing in flight and nothing granted since c: its answer raises the level
        const c = granted(yield* store.reserve(pool, request({ requests: 1 })))
        const raisedAt = yield* Clock.currentTimeMillis
        view = yield* store.release(c, served({ requests: { limit: 100, low: 90, high: 91 } }, { requests: 1 }))
        yield* expectLevel(view, "requests", 90, raisedAt)
        // d answers last, but e was granted after it: d's answer is stale even with nothing in flight
        const d = granted(yield* store.reserve(pool, request({ requests: 1 })))
        const e = granted(yield* store.reserve(pool, request({ requests: 1 })))
        yield* store.release(e, served({ requests: { limit: 100, low: 88, high: 89 } }, { requests: 1 }))
        view = yield* store.release(d, served({ requests: { limit: 100, low: 99, high: 100 } }, { requests: 1 }))
        yield* expectLevel(view, "requests", 88, raisedAt)
      })
  },
  {
    name: "concurrency: at most maxInFlight leases; a release frees a permit",
    run: (make) =>
      Effect.gen(function*() {
        const store = yield* make(long)
        yield* store.configure(pool, { requests: 100 })
        const since = yield* Clock.currentTimeMillis
        const a = granted(yield* store.reserve(pool, request({ requests: 1 }, 2)))
        granted(yield* store.reserve(pool, request({ requests: 1 }, 2)))
        const third = blocked(yield* store.reserve(pool, request({ requests: 1 }, 2)))
        expect([third.reason, third.waitMillis, third.view.inFlight]).toEqual(["concurrency", Infinity, 2])
        const view = yield* store.release(a, notSent)
        expect(view.inFlight).toBe(1)
        // never sent: everything is given back
        yield* expectLevel(view, "requests", 99, since)
        granted(yield* store.reserve(pool, request({ requests: 1 }, 2)))
      })
  },
  {
    name: "never fits: a request larger than a bucket's limit is refused, naming the bucket, its cost and the limit",
    run: (make) =>
      Effect.gen(function*() {
        const store = yield* make(long)
        yield* store.configure(pool, { requests: 50, inputTokens: 30_000 })
        expect(yield* store.reserve(pool, request({ requests: 1, inputTokens: 40_000 }))).toEqual({
          _tag: "NeverFits",
          bucket: "inputTokens",
          cost: 40_000,
          limit: 30_000
        })
        expect((yield* store.view(pool)).inFlight).toBe(0)
        granted(yield* store.reserve(pool, request({ requests: 1, inputTokens: 30_000 })))
      })
  },
  {
    name: "output estimate: a high percentile of what answers used, once enough were seen",
    run: (make) =>
      Effect.gen(function*() {
        const store = yield* make({ ...long, outputSamples: 10, outputMinSamples: 3, outputPercentile: 0.9 })
        yield* store.configure(pool, { requests: 1_000 })
        const answer = (tokens: number) =>
          Effect.flatMap(
            store.reserve(pool, request({ requests: 1 })),
            (result) => store.release(granted(result), { charged: {}, observation: undefined, outputTokens: tokens })
          )
        yield* answer(100)
        yield* answer(300)
        expect(yield* store.outputEstimate(pool)).toEqual(Option.none())
        for (let i = 0; i < 8; i++) yield* answer(200 + i)
        // 10 samples: 100, 200..207, 300; the 90th percentile is the 9th smallest
        expect(yield* store.outputEstimate(pool)).toEqual(Option.some(207))
        // the ring keeps the last 10: ten answers of 50 replace them all
        for (let i = 0; i < 10; i++) yield* answer(50)
        expect(yield* store.outputEstimate(pool)).toEqual(Option.some(50))
      })
  },
  {
    name: "output in flight is not in the server's levels yet: calibration leaves room for it",
    run: (make) =>
      Effect.gen(function*() {
        const store = yield* make(long)
        yield* store.configure(pool, { outputTokens: 8_000 })
        const since = yield* Clock.currentTimeMillis
        granted(yield* store.reserve(pool, request({ outputTokens: 1_000 })))
        const b = granted(yield* store.reserve(pool, request({ outputTokens: 1_000 })))
        const view = yield* store.release(
          b,
          served({ outputTokens: { limit: 8_000, low: 7_800, high: 7_800 } }, { outputTokens: 200 }, 200)
        )
        // 7,800 at the server, minus a's 1,000 not produced yet
        yield* expectLevel(view, "outputTokens", 6_800, since)
      })
  },
  {
    name: "the combined tokens bucket is charged only when input and output buckets are unknown",
    run: (make) =>
      Effect.gen(function*() {
        const both = yield* make(long)
        yield* both.configure(pool, { inputTokens: 30_000, outputTokens: 8_000, tokens: 8_000 })
        const since = yield* Clock.currentTimeMillis
        granted(yield* both.reserve(pool, request({ inputTokens: 5_000, outputTokens: 100, tokens: 5_100 })))
        yield* expectLevel(yield* both.view(pool), "tokens", 8_000, since)
        const combined = yield* make(long)
        yield* combined.configure(pool, { tokens: 60_000 })
        granted(yield* combined.reserve(pool, request({ inputTokens: 5_000, outputTokens: 100, tokens: 5_100 })))
        yield* expectLevel(yield* combined.view(pool), "tokens", 54_900, since)
      })
  },
  {
    name: "a pool whose answers carry no rate-limit headers stops probing one at a time after three",
    run: (make) =>
      Effect.gen(function*() {
        const store = yield* make(long)
        for (let i = 0; i < 3; i++) {
          const probe = granted(yield* store.reserve(pool, request({ requests: 1 })))
          expect(blocked(yield* store.reserve(pool, request({ requests: 1 }))).reason).toBe("cold-start")
          yield* store.release(probe, served({}, {}, 1))
        }
        expect((yield* store.view(pool)).known).toBe(true)
        granted(yield* store.reserve(pool, request({ requests: 1 })))
        granted(yield* store.reserve(pool, request({ requests: 1 })))
      })
  },
  {
    name: "scale: the store spends its share of each limit and of each level the server reports",
    run: (make) =>
      Effect.gen(function*() {
        const store = yield* make({ ...long, scale: 0.25 })
        yield* store.configure(pool, { requests: 100 })
        expect((yield* store.view(pool)).buckets.requests?.capacity).toBe(25)
        const since = yield* Clock.currentTimeMillis
        const lease = granted(yield* store.reserve(pool, request({ requests: 1, outputTokens: 10 })))
        const view = yield* store.release(
          lease,
          served({
            requests: { limit: 100, low: 40, high: 41 },
            outputTokens: { limit: 8_000, low: 4_000, high: 4_000 }
          }, {
            requests: 1,
            outputTokens: 10
          })
        )
        yield* expectLevel(view, "requests", 10, since)
        expect(view.buckets.outputTokens?.capacity).toBe(2_000)
        yield* expectLevel(view, "outputTokens", 1_000, since)
        expect(yield* store.reserve(pool, request({ outputTokens: 8_001 }))).toMatchObject({
          _tag: "NeverFits",
          limit: 8_000
        })
      })
  },
  {
    name: "pools are independent",
    run: (make) =>
      Effect.gen(function*() {
        const store = yield* make(long)
        yield* store.configure(pool, { requests: 1 })
        granted(yield* store.reserve(pool, request({ requests: 1 })))
        expect(blocked(yield* store.reserve(pool, request({ requests: 1 }))).reason).toBe("requests")
        yield* store.configure("claude-haiku-4.x", { requests: 1 })
        granted(yield* store.reserve("claude-haiku-4.x", request({ requests: 1 })))
      })
  }
]
