import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as AdmissionStore from "../src/AdmissionStore.js"

const pool = "claude-sonnet-4.x"

describe("AdmissionStore scale: a store that spends its share of the limits", () => {
  it.effect("configured limits become capacities of that share, full", () =>
    Effect.gen(function*() {
      const store = yield* AdmissionStore.makeMemory({ scale: 0.25 })
      yield* store.configure(pool, { requests: 100, inputTokens: 1_000 })
      const view = yield* store.view(pool)
      expect(view.buckets.requests).toEqual({ capacity: 25, level: 25, rate: 25 / 60_000 })
      expect(view.buckets.inputTokens).toEqual({ capacity: 250, level: 250, rate: 250 / 60_000 })
    }))

  it.effect("a request larger than the share but within the limit waits for a full share; beyond the limit it never fits", () =>
    Effect.gen(function*() {
      const store = yield* AdmissionStore.makeMemory({ scale: 0.25 })
      yield* store.configure(pool, { requests: 100, inputTokens: 1_000 })
      const big = yield* store.reserve(pool, { cost: { requests: 1, inputTokens: 600 }, holdBack: 0, maxInFlight: 10 })
      expect(big._tag).toBe("Granted")
      expect((yield* store.view(pool)).buckets.inputTokens?.level).toBe(-350)
      const again = yield* store.reserve(pool, {
        cost: { requests: 1, inputTokens: 600 },
        holdBack: 0,
        maxInFlight: 10
      })
      // from -350 back to the full share of 250: 600 tokens at 250 per minute
      expect(again._tag === "Blocked" && [again.reason, again.waitMillis]).toEqual(["inputTokens", 144_000])
      const tooBig = yield* store.reserve(pool, {
        cost: { requests: 1, inputTokens: 1_001 },
        holdBack: 0,
        maxInFlight: 10
      })
      expect(tooBig).toEqual({ _tag: "NeverFits", bucket: "inputTokens", cost: 1_001, limit: 1_000 })
    }))

  it.effect("levels the server reports are taken at the same share", () =>
    Effect.gen(function*() {
      const store = yield* AdmissionStore.makeMemory({ scale: 0.25 })
      const probe = yield* store.reserve(pool, { cost: { requests: 1 }, holdBack: 0, maxInFlight: 10 })
      if (probe._tag !== "Granted") return expect.fail(`expected the cold-start probe to be granted, got ${probe._tag}`)
      yield* store.release(probe.lease, {
        charged: { requests: 1 },
        observation: {
          buckets: {
            requests: { limit: 100, low: 40, high: 41 },
            outputTokens: { limit: 8_000, low: 4_000, high: 4_000 }
          },
          embargoUntil: undefined,
          includesOwnOutput: true
        },
        outputTokens: 10
      })
      const view = yield* store.view(pool)
      expect(view.known).toBe(true)
      expect(view.buckets.requests).toMatchObject({ capacity: 25, level: 10 })
      expect(view.buckets.outputTokens).toMatchObject({ capacity: 2_000, level: 1_000 })
    }))

  it.effect("scale 1 (the default) and out-of-range values spend the whole limit", () =>
    Effect.gen(function*() {
      for (const scale of [undefined, 1, 0, -2, 7]) {
        const store = yield* AdmissionStore.makeMemory({ scale })
        yield* store.configure(pool, { requests: 100 })
        expect((yield* store.view(pool)).buckets.requests?.capacity).toBe(100)
      }
    }))
})
