import { describe, expect, it } from "@effect/vitest"
import * as Adaptive from "../src/internal/adaptive.js"
import * as Budget from "../src/internal/budget.js"
import * as Ledger from "../src/internal/ledger.js"

const minute = 60_000

describe("levelBounds: what a response's headers say about a server bucket", () => {
  const cases: ReadonlyArray<{
    readonly name: string
    readonly limit: number
    readonly remaining: number | undefined
    readonly resetIn: number | undefined
    readonly exact: boolean
    readonly expected: { readonly low: number; readonly high: number } | undefined
  }> = [
    {
      name: "requests: remaining is exact, the reset (whole seconds) narrows it",
      limit: 60,
      remaining: 30,
      resetIn: 30_000,
      exact: true,
      expected: { low: 30, high: 31 }
    },
    {
      name: "tokens rounded to the thousand: ±500, narrowed by the reset to one second of refill",
      limit: 60_000,
      remaining: 30_000,
      resetIn: 30_200,
      exact: false,
      expected: { low: 29_800, high: 30_500 }
    },
    {
      name: "a token remaining that is not a multiple of 1,000 was not rounded",
      limit: 8_000,
      remaining: 1_234,
      resetIn: undefined,
      exact: false,
      expected: { low: 1_234, high: 1_235 }
    },
    {
      name: "remaining 0 and a far reset: debt, told by the reset",
      limit: 60_000,
      remaining: 0,
      resetIn: 90_000,
      exact: false,
      expected: { low: -30_000, high: -29_000 }
    },
    {
      name: "remaining 0 and no reset: empty, debt unknown",
      limit: 50,
      remaining: 0,
      resetIn: undefined,
      exact: true,
      expected: { low: 0, high: 1 }
    },
    {
      name: "clocks disagree (remaining 0, reset says nearly full): remaining wins",
      limit: 50,
      remaining: 0,
      resetIn: 3_000,
      exact: true,
      expected: { low: 1, high: 1 }
    },
    {
      name: "a reset beyond the trusted horizon is ignored",
      limit: 60_000,
      remaining: 2_000,
      resetIn: 86_400_000,
      exact: false,
      expected: { low: 1_500, high: 2_500 }
    },
    { name: "no limit: nothing to say", limit: 0, remaining: 5, resetIn: 1_000, exact: true, expected: undefined }
  ]
  for (const { exact, expected, limit, name, remaining, resetIn } of cases) {
    it(name, () => {
      const now = 1_000_000
      const bounds = Budget.levelBounds({
        limit,
        remaining,
        resetAt: resetIn === undefined ? undefined : now + resetIn,
        now,
        windowMillis: minute,
        exact,
        maxResetMillis: 5 * minute
      })
      expect(bounds === undefined ? undefined : { low: bounds.low, high: bounds.high }).toEqual(expected)
    })
  }
})

const options: Ledger.LedgerOptions = {
  windowMillis: minute,
  outputSamples: 10,
  outputMinSamples: 3,
  outputPercentile: 0.9,
  headerlessAfter: 3
}

const grant = (ledger: Ledger.PoolLedger, cost: Budget.Cost, now: number, id: string) => {
  const result = ledger.reserve({ cost, holdBack: 0, maxInFlight: 100 }, now, id)
  if (result._tag !== "Granted") throw new Error(`expected a grant, got ${result._tag}`)
  return result.lease
}

describe("PoolLedger", () => {
  it("charges the combined tokens bucket only when the input and output buckets are unknown", () => {
    const both = new Ledger.PoolLedger("p", options)
    both.configure({ inputTokens: 30_000, outputTokens: 8_000, tokens: 8_000 }, 0)
    grant(both, { inputTokens: 5_000, outputTokens: 100, tokens: 5_100 }, 0, "a")
    expect(both.view(0).buckets.tokens?.level).toBe(8_000)
    const combined = new Ledger.PoolLedger("p", options)
    combined.configure({ tokens: 60_000 }, 0)
    grant(combined, { inputTokens: 5_000, outputTokens: 100, tokens: 5_100 }, 0, "a")
    expect(combined.view(0).buckets.tokens?.level).toBe(54_900)
  })

  it("output still in flight is not in the server's levels: calibration leaves room for it", () => {
    const ledger = new Ledger.PoolLedger("p", options)
    ledger.configure({ outputTokens: 8_000 }, 0)
    grant(ledger, { outputTokens: 1_000 }, 0, "a")
    const b = grant(ledger, { outputTokens: 1_000 }, 0, "b")
    // b's answer: the server charged b's 200 output tokens, not a's (still producing)
    ledger.release(b, {
      charged: { outputTokens: 200 },
      observation: {
        buckets: { outputTokens: { limit: 8_000, low: 7_800, high: 7_800 } },
        embargoUntil: undefined,
        includesOwnOutput: true
      },
      outputTokens: 200
    }, 0)
    // 7,800 at the server, minus a's 1,000 not produced yet
    expect(ledger.view(0).buckets.outputTokens?.level).toBe(6_800)
  })

  it("learns the output size: a high percentile of what answers used, once enough were seen", () => {
    const ledger = new Ledger.PoolLedger("p", options)
    ledger.configure({ requests: 1_000 }, 0)
    const served = (tokens: number, id: string) =>
      ledger.release(grant(ledger, { requests: 1 }, 0, id), {
        charged: {},
        observation: undefined,
        outputTokens: tokens
      }, 0)
    served(100, "a")
    served(300, "b")
    expect(ledger.outputEstimate()).toBeUndefined()
    for (let i = 0; i < 8; i++) served(200 + i, `c${i}`)
    // 10 samples: 100, 200..207, 300; the 90th percentile is the 9th smallest
    expect(ledger.outputEstimate()).toBe(207)
  })

  it("a pool whose answers carry no rate-limit headers stops probing one at a time after three", () => {
    const ledger = new Ledger.PoolLedger("p", options)
    const noHeaders = { charged: {}, observation: { buckets: {}, embargoUntil: undefined, includesOwnOutput: true } }
    for (let i = 0; i < 3; i++) {
      expect(ledger.reserve({ cost: { requests: 1 }, holdBack: 0, maxInFlight: 10 }, 0, "x")._tag).toBe("Granted")
      const blocked = ledger.reserve({ cost: { requests: 1 }, holdBack: 0, maxInFlight: 10 }, 0, "y")
      expect(blocked._tag === "Blocked" && blocked.reason).toBe("cold-start")
      ledger.release(ledger.leases.get("x")!, { ...noHeaders, outputTokens: 1 }, 0)
    }
    expect(ledger.known).toBe(true)
    grant(ledger, { requests: 1 }, 0, "z1")
    grant(ledger, { requests: 1 }, 0, "z2")
  })
})

describe("the adaptive parts", () => {
  it("the concurrency window doubles each round trip up to slowStartUntil, then grows by one a round trip", () => {
    const window = new Adaptive.ConcurrencyWindow({ initial: 4, max: 256, slowStartUntil: 8, probeAfterMillis: 60_000 })
    const roundTrip = () => {
      const completions = window.size
      for (let i = 0; i < completions; i++) {
        window.bound = true
        window.served(0)
      }
    }
    const sizes = [window.size]
    for (let i = 0; i < 5; i++) {
      roundTrip()
      sizes.push(window.size)
    }
    expect(sizes).toEqual([4, 8, 9, 10, 11, 12])
  })

  it("a concurrent-requests 429 sets the ceiling; it is probed one higher only after a quiet while", () => {
    const window = new Adaptive.ConcurrencyWindow({
      initial: 30,
      max: 256,
      slowStartUntil: 64,
      probeAfterMillis: 60_000
    })
    window.refused(20, 1_000)
    expect([window.size, window.ceiling]).toEqual([20, 20])
    window.bound = true
    window.served(2_000)
    expect(window.size).toBe(20)
    // after a quiet minute the ceiling is probed one higher, and the window grows into it over a round trip
    for (let i = 0; i < 20; i++) {
      window.bound = true
      window.served(61_000 + i)
    }
    expect([window.size, window.ceiling]).toEqual([21, 21])
    window.refused(0, 62_000, 18)
    expect([window.size, window.ceiling]).toEqual([18, 18])
  })

  it("the send rate is cut on overload and grows back along the cubic curve", () => {
    const rate = new Adaptive.SendRate({ beta: 0.7, scale: 0.4, minRate: 0.5 })
    expect(rate.waitMillis(0)).toBe(0)
    for (let t = 0; t < 10_000; t += 100) rate.sent(t)
    rate.throttled(10_000)
    const cut = rate.fillRate
    expect(cut).toBeCloseTo(7, 0)
    rate.succeeded(10_500)
    expect(rate.fillRate).toBeLessThan(10)
    for (let t = 10_000; t < 30_000; t += 100) rate.sent(t)
    rate.succeeded(30_000)
    expect(rate.fillRate).toBeGreaterThan(cut)
  })

  it("the retry budget allows retries while more than half full; successes earn a tenth back", () => {
    const budget = new Adaptive.RetryBudget({ maxTokens: 10, tokenRatio: 0.1 })
    for (let i = 0; i < 4; i++) budget.failed()
    expect(budget.allowsRetry).toBe(true)
    budget.failed()
    expect(budget.allowsRetry).toBe(false)
    for (let i = 0; i < 11; i++) budget.succeeded()
    expect(budget.allowsRetry).toBe(true)
  })
})
