import { describe, expect, it } from "@effect/vitest"
import {
  ConfigProvider,
  DateTime,
  Duration,
  Effect,
  Either,
  Exit,
  Fiber,
  Layer,
  Option,
  Random,
  Ref,
  TestClock
} from "effect"
import * as Admission from "../src/Admission.js"
import * as AdmissionStore from "../src/AdmissionStore.js"
import * as RateLimitHeaders from "../src/RateLimitHeaders.js"
import * as RateLimitState from "../src/RateLimitState.js"
import * as Scripted from "../src/testing/ScriptedHttpClient.js"

const pool = "claude-sonnet-4.x"

const gate = (options: Admission.Options = {}) => Admission.make(options).pipe(Effect.provide(RateLimitState.layer))

const snapshotNow = (headers: (now: DateTime.Utc) => Record<string, string>) =>
  Effect.map(DateTime.now, (now) => RateLimitHeaders.decodeAt(headers(now), now))

const noHeaders = snapshotNow(() => ({}))

/** Admits, then ends the request with `outcome` (default: served, as much as was reserved). */
const send = (
  admission: Admission.Admission,
  cost: AdmissionStore.Cost,
  options: {
    readonly lane?: Admission.Lane
    readonly deadline?: Duration.DurationInput
    readonly outcome?: Effect.Effect<Admission.Outcome>
    readonly hold?: Duration.DurationInput
  } = {}
) =>
  Effect.scoped(Effect.gen(function*() {
    const ticket = yield* admission.admit({ pool, cost, lane: options.lane, deadline: options.deadline })
    const admittedAt = yield* DateTime.now
    if (options.hold !== undefined) yield* Effect.sleep(options.hold)
    const outcome = options.outcome === undefined
      ? Admission.Outcome.Served({
        rateLimits: yield* noHeaders,
        usage: { inputTokens: cost.inputTokens ?? 0, outputTokens: cost.outputTokens ?? 0 },
        streamed: false
      })
      : yield* options.outcome
    yield* ticket.complete(outcome)
    return { admittedAt: DateTime.toEpochMillis(admittedAt), ticket }
  }))

const configured = (limits: Admission.LimitsPerMinute): Admission.Options => ({
  threshold: 0,
  limits: { [pool]: limits },
  sendRate: false
})

const levelOf = (admission: Admission.Admission, bucket: AdmissionStore.BudgetBucket) =>
  Effect.map(admission.status(pool), (status) => status.view.buckets[bucket]?.level)

describe("Admission", () => {
  it.scoped("cold start: one request goes alone, the rest wait for its headers", () =>
    Effect.gen(function*() {
      const admission = yield* gate({ threshold: 0 })
      const served = Admission.Outcome.Served({
        rateLimits: yield* snapshotNow((now) => ({
          ...Scripted.bucketHeaders("requests", { limit: 50, remaining: 49, now, resetIn: "2 seconds" })
        })),
        usage: { inputTokens: 0, outputTokens: 0 },
        streamed: false
      })
      const first = yield* Effect.fork(
        send(admission, { requests: 1 }, { hold: "3 seconds", outcome: Effect.succeed(served) })
      )
      const others = yield* Effect.fork(
        Effect.forEach([1, 2, 3], () => send(admission, { requests: 1 }), { concurrency: "unbounded" })
      )
      yield* TestClock.adjust("1 second")
      expect((yield* admission.status(pool)).waiting.interactive).toBe(3)
      yield* TestClock.adjust("2 seconds")
      const admitted = yield* Fiber.join(others)
      expect((yield* Fiber.join(first)).admittedAt).toBe(0)
      expect(admitted.map((result) => result.admittedAt)).toEqual([3_000, 3_000, 3_000])
      expect(admitted.every((result) => Option.contains(result.ticket.reason, "cold-start"))).toBe(true)
    }))

  it.scoped("configured limits: no cold start; waiters queue behind one another at the refill rate", () =>
    Effect.gen(function*() {
      const admission = yield* gate(configured({ requestsPerMinute: 60 }))
      // the bucket starts full: 60 go at once, then one a second
      const fibers = yield* Effect.fork(
        Effect.forEach(Array.from({ length: 63 }), () => send(admission, { requests: 1 }), { concurrency: "unbounded" })
      )
      yield* TestClock.adjust("10 seconds")
      const admitted = (yield* Fiber.join(fibers)).map((result) => result.admittedAt)
      expect(admitted.slice(0, 60).every((at) => at === 0)).toBe(true)
      expect(admitted.slice(60)).toEqual([1_000, 2_000, 3_000])
    }))

  it.scoped("a request waits only for what it needs: 1,000 tokens of an empty 60,000/min bucket take 1 s", () =>
    Effect.gen(function*() {
      const admission = yield* gate(configured({ inputTokensPerMinute: 60_000 }))
      yield* send(admission, { inputTokens: 60_000 })
      const result = yield* Effect.fork(send(admission, { inputTokens: 1_000 }))
      yield* TestClock.adjust("5 seconds")
      expect((yield* Fiber.join(result)).admittedAt).toBe(1_000)
    }))

  it.scoped("the reset header reveals debt: remaining 0 and a reset 90 s away on a 60,000/min bucket is −30,000", () =>
    Effect.gen(function*() {
      const admission = yield* gate({ threshold: 0, sendRate: false })
      const inDebt = Admission.Outcome.Served({
        rateLimits: yield* snapshotNow((now) =>
          Scripted.bucketHeaders("input-tokens", { limit: 60_000, remaining: 0, now, resetIn: "90 seconds" })
        ),
        usage: { inputTokens: 100, outputTokens: 0 },
        streamed: false
      })
      yield* send(admission, { inputTokens: 100 }, { outcome: Effect.succeed(inDebt) })
      expect(yield* levelOf(admission, "inputTokens")).toBe(-30_000)
      const next = yield* Effect.fork(send(admission, { inputTokens: 1_000 }))
      yield* TestClock.adjust("60 seconds")
      // 31,000 tokens of refill at 1,000 a second
      expect((yield* Fiber.join(next)).admittedAt).toBe(31_000)
    }))

  it.scoped("settlement: what was reserved is given back or charged from the real usage", () =>
    Effect.gen(function*() {
      const admission = yield* gate(configured({ outputTokensPerMinute: 60_000 }))
      const served = (outputTokens: number) =>
        Effect.map(noHeaders, (rateLimits) =>
          Admission.Outcome.Served({ rateLimits, usage: { inputTokens: 0, outputTokens }, streamed: false }))
      yield* send(admission, { outputTokens: 4_000 }, { outcome: served(1_000) })
      expect(yield* levelOf(admission, "outputTokens")).toBe(59_000)
      yield* send(admission, { outputTokens: 1_000 }, { outcome: served(3_000) })
      expect(yield* levelOf(admission, "outputTokens")).toBe(56_000)
    }))

  it.scoped("a 429's retry-after holds back every request of the pool, not only the one that got it", () =>
    Effect.gen(function*() {
      const admission = yield* gate(configured({ requestsPerMinute: 600 }))
      const refused = Effect.map(
        snapshotNow(() => ({ "retry-after": "10" })),
        (rateLimits) => Admission.Outcome.Refused({ rateLimits, signal: "rate-limit" })
      )
      yield* send(admission, { requests: 1 }, { outcome: refused })
      // the refused request was not charged
      expect(yield* levelOf(admission, "requests")).toBe(600)
      const others = yield* Effect.fork(
        Effect.forEach([1, 2, 3], () => send(admission, { requests: 1 }), { concurrency: "unbounded" })
      )
      yield* TestClock.adjust("30 seconds")
      const admitted = yield* Fiber.join(others)
      expect(admitted.map((result) => result.admittedAt)).toEqual([10_000, 10_000, 10_000])
      expect(Option.getOrUndefined(admitted[0]!.ticket.reason)).toBe("embargo")
    }))

  it.scoped("a response must not hand back capacity that requests still in flight have used", () =>
    Effect.gen(function*() {
      const admission = yield* gate(configured({ inputTokensPerMinute: 60_000 }))
      // A is sent, then B; A's (stale) answer says the bucket is full
      const full = Effect.flatMap(
        snapshotNow((now) =>
          Scripted.bucketHeaders("input-tokens", { limit: 60_000, remaining: 60_000, now, resetIn: "0 seconds" })
        ),
        (rateLimits) =>
          Effect.succeed(
            Admission.Outcome.Served({ rateLimits, usage: { inputTokens: 30_000, outputTokens: 0 }, streamed: false })
          )
      )
      const a = yield* Effect.fork(send(admission, { inputTokens: 30_000 }, { hold: "1 second", outcome: full }))
      const b = yield* Effect.fork(send(admission, { inputTokens: 30_000 }, { hold: "10 seconds" }))
      yield* TestClock.adjust("2 seconds")
      yield* Fiber.join(a)
      // 60,000 − 60,000 taken + 2 s of refill; A's answer did not raise it while B is in flight
      expect(yield* levelOf(admission, "inputTokens")).toBe(2_000)
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(b)
    }))

  it.scoped("a response lowers an optimistic level at once (another client spent the budget)", () =>
    Effect.gen(function*() {
      const admission = yield* gate(configured({ requestsPerMinute: 60 }))
      const spent = Effect.flatMap(
        snapshotNow((now) =>
          Scripted.bucketHeaders("requests", { limit: 60, remaining: 5, now, resetIn: "55 seconds" })
        ),
        (rateLimits) =>
          Effect.succeed(
            Admission.Outcome.Served({ rateLimits, usage: { inputTokens: 0, outputTokens: 0 }, streamed: false })
          )
      )
      yield* send(admission, { requests: 1 }, { outcome: spent })
      expect(yield* levelOf(admission, "requests")).toBe(5)
    }))

  it.scoped("lanes: interactive goes first when budget is scarce; FIFO within a lane", () =>
    Effect.gen(function*() {
      const admission = yield* gate({ ...configured({ requestsPerMinute: 60 }), batchHoldBack: 0 })
      yield* send(admission, { requests: 60 })
      const order = yield* Ref.make<Array<string>>([])
      const tagged = (name: string, lane: Admission.Lane) =>
        Effect.tap(send(admission, { requests: 1 }, { lane }), () => Ref.update(order, (names) => [...names, name]))
      const fibers = yield* Effect.fork(Effect.all([
        tagged("batch-1", "batch"),
        tagged("batch-2", "batch"),
        tagged("interactive-1", "interactive"),
        tagged("interactive-2", "interactive")
      ], { concurrency: "unbounded" }))
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(fibers)
      expect(yield* Ref.get(order)).toEqual(["interactive-1", "interactive-2", "batch-1", "batch-2"])
    }))

  it.scoped("batch requests leave the interactive share of each bucket alone", () =>
    Effect.gen(function*() {
      const admission = yield* gate({ ...configured({ requestsPerMinute: 100 }), batchHoldBack: 0.2 })
      const batch = yield* Effect.fork(
        Effect.forEach(Array.from({ length: 81 }), () => send(admission, { requests: 1 }, { lane: "batch" }), {
          concurrency: "unbounded"
        })
      )
      yield* TestClock.adjust("1 millis")
      expect((yield* admission.status(pool)).waiting.batch).toBe(1)
      // interactive requests still find the 20 % kept for them
      const interactive = yield* send(admission, { requests: 20 })
      expect(interactive.admittedAt).toBe(1)
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(batch)
    }))

  it.scoped("a deadline shorter than the predicted wait fails at once with the prediction", () =>
    Effect.gen(function*() {
      const admission = yield* gate(configured({ requestsPerMinute: 60 }))
      yield* send(admission, { requests: 60 })
      yield* Effect.fork(
        Effect.forEach([1, 2, 3], () => send(admission, { requests: 1 }), { concurrency: "unbounded" })
      )
      yield* TestClock.adjust("1 millis")
      const exit = yield* Effect.exit(send(admission, { requests: 1 }, { deadline: "2 seconds" }))
      expect(exit).toEqual(Exit.fail(
        new Admission.BudgetWaitTooLongError({
          pool,
          predictedWait: Duration.millis(3_999),
          maxWait: Duration.seconds(2),
          reason: "requests"
        })
      ))
      expect((yield* admission.status(pool)).waiting.interactive).toBe(3)
    }))

  it.scoped("a request larger than a bucket fails at once; nothing waits behind it", () =>
    Effect.gen(function*() {
      const admission = yield* gate(configured({ inputTokensPerMinute: 40_000 }))
      const giant = yield* Effect.exit(send(admission, { inputTokens: 100_000 }))
      expect(giant).toEqual(Exit.fail(
        new Admission.RequestExceedsLimitError({ pool, bucket: "inputTokens", cost: 100_000, limit: 40_000 })
      ))
      expect((yield* send(admission, { inputTokens: 1_000 })).admittedAt).toBe(0)
      expect(yield* levelOf(admission, "inputTokens")).toBe(39_000)
    }))

  it.scoped("concurrency: the window holds requests back, and a concurrent-requests 429 shrinks it", () =>
    Effect.gen(function*() {
      const admission = yield* gate({ ...configured({ requestsPerMinute: 6_000 }), concurrency: { initial: 4 } })
      const fibers = yield* Effect.fork(
        Effect.forEach(Array.from({ length: 6 }), () => send(admission, { requests: 1 }, { hold: "1 second" }), {
          concurrency: "unbounded"
        })
      )
      yield* TestClock.adjust("1 millis")
      expect((yield* admission.status(pool)).inFlight).toBe(4)
      yield* TestClock.adjust("2 seconds")
      const admitted = (yield* Fiber.join(fibers)).map((result) => result.admittedAt)
      expect(admitted).toEqual([0, 0, 0, 0, 1_000, 1_000])
      // the window grew while it held requests back
      expect((yield* admission.status(pool)).concurrencyWindow).toBeGreaterThan(4)
      const tooMany = Effect.map(
        noHeaders,
        (rateLimits) => Admission.Outcome.Refused({ rateLimits, signal: "concurrency" })
      )
      const held = yield* Effect.fork(
        Effect.forEach([1, 2], () => send(admission, { requests: 1 }, { hold: "5 seconds" }), {
          concurrency: "unbounded"
        })
      )
      yield* TestClock.adjust("1 millis")
      yield* send(admission, { requests: 1 }, { outcome: tooMany })
      // two were in flight when the API refused a third: the window is two
      expect((yield* admission.status(pool)).concurrencyWindow).toBe(2)
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(held)
    }))

  it.scoped("an interrupted waiter takes nothing; an interrupted request keeps its charge and frees its permit", () =>
    Effect.gen(function*() {
      const admission = yield* gate(configured({ requestsPerMinute: 60 }))
      yield* send(admission, { requests: 59 })
      const waiting = yield* Effect.fork(send(admission, { requests: 10 }))
      yield* TestClock.adjust("1 millis")
      yield* Fiber.interrupt(waiting)
      const status = yield* admission.status(pool)
      expect(status.waiting.interactive).toBe(0)
      expect(status.view.buckets.requests?.level).toBeCloseTo(1.001, 6)
      const inFlight = yield* Effect.fork(send(admission, { requests: 1 }, { hold: "10 seconds" }))
      yield* TestClock.adjust("1 second")
      yield* Fiber.interrupt(inFlight)
      const after = yield* admission.status(pool)
      expect(after.inFlight).toBe(0)
      expect(after.view.inFlight).toBe(0)
      // it was sent: its request stays charged (1.001 + 1 s of refill − 1)
      expect(after.view.buckets.requests?.level).toBeCloseTo(1.001, 6)
    }))

  it.scoped("Effect.timeout around a waiting request leaves no reservation or permit behind", () =>
    Effect.gen(function*() {
      const admission = yield* gate(configured({ requestsPerMinute: 60 }))
      yield* send(admission, { requests: 60 })
      const timedOut = yield* Effect.fork(Effect.timeout(send(admission, { requests: 30 }), "2 seconds"))
      yield* TestClock.adjust("3 seconds")
      expect(Exit.isFailure(yield* Fiber.await(timedOut))).toBe(true)
      const status = yield* admission.status(pool)
      expect(status.view.inFlight).toBe(0)
      expect(status.waiting.interactive).toBe(0)
      expect(status.view.buckets.requests?.level).toBe(3)
    }))

  it.scoped("thousands of random interruptions leak no permit and no reservation", () =>
    Effect.gen(function*() {
      const admission = yield* gate({ ...configured({ requestsPerMinute: 120, outputTokensPerMinute: 60_000 }) })
      const served = yield* Ref.make(0)
      const one = (i: number) =>
        Effect.gen(function*() {
          const fiber = yield* Effect.fork(
            Effect.zipRight(
              send(admission, { requests: 1, outputTokens: 500 }, { hold: `${i % 7} seconds` }),
              Ref.update(served, (n) => n + 1)
            )
          )
          const after = yield* Random.nextIntBetween(0, 20_000)
          yield* Effect.sleep(Duration.millis(after))
          yield* Fiber.interrupt(fiber)
        })
      const all = yield* Effect.fork(
        Effect.forEach(Array.from({ length: 2_000 }, (_, i) => i), one, { concurrency: 200 })
      )
      yield* TestClock.adjust("400 seconds")
      yield* Fiber.join(all)
      const status = yield* admission.status(pool)
      expect(status.view.inFlight).toBe(0)
      expect(status.inFlight).toBe(0)
      expect(status.waiting).toEqual({ interactive: 0, batch: 0 })
      // an interrupted caller is not a failure of the API: the retry budget is whole
      expect(status.retryTokens).toEqual(Option.some(10))
      // with nothing in flight for a minute, every bucket is full again: nothing was lost
      yield* TestClock.adjust("2 minutes")
      const rested = yield* admission.status(pool)
      expect(rested.view.buckets.requests?.level).toBe(120)
      expect(rested.view.buckets.outputTokens?.level).toBe(60_000)
      expect(yield* Ref.get(served)).toBeGreaterThan(0)
    }).pipe(Effect.withRandom(Random.make(7))))
})

describe("Admission.modelPool", () => {
  it("pools models by family and version, as Anthropic's limits are", () => {
    expect(Admission.modelPool("claude-sonnet-4-6")).toBe("claude-sonnet-4.x")
    expect(Admission.modelPool("claude-sonnet-4-5-20250929")).toBe("claude-sonnet-4.x")
    expect(Admission.modelPool("claude-haiku-4-5")).toBe("claude-haiku-4.x")
    expect(Admission.modelPool("claude-opus-4-1-20250805")).toBe("claude-opus-4.x")
    expect(Admission.modelPool("claude-3-5-haiku-20241022")).toBe("claude-haiku-3.5")
    expect(Admission.modelPool("claude-3-haiku-20240307")).toBe("claude-haiku-3")
    expect(Admission.modelPool("my-fine-tune")).toBe("my-fine-tune")
  })
})

// keep the layer constructor exercised as users compose it
describe("Admission.layer", () => {
  it.scoped("uses the AdmissionStore in context", () =>
    Effect.gen(function*() {
      const admission = yield* Admission.Admission
      yield* send(admission, { requests: 1 })
      const store = yield* AdmissionStore.AdmissionStore
      expect((yield* store.view(pool)).known).toBe(true)
    }).pipe(
      Effect.provide(
        Admission.layer(configured({ requestsPerMinute: 10 })).pipe(
          Layer.provideMerge(AdmissionStore.layerMemory()),
          Layer.provide(RateLimitState.layer)
        )
      )
    ))
})

describe("Admission.limitsConfig", () => {
  it.effect("reads limits known in advance from CLAUDE_RATE_LIMITS, and names the variable when it does not decode", () =>
    Effect.gen(function*() {
      const read = (value: string | undefined) =>
        Effect.either(Effect.withConfigProvider(
          Admission.limitsConfig,
          ConfigProvider.fromMap(new Map(value === undefined ? [] : [["CLAUDE_RATE_LIMITS", value]]))
        ))
      expect(yield* read(undefined)).toEqual(Either.right({}))
      expect(yield* read(`{"${pool}":{"requestsPerMinute":50,"outputTokensPerMinute":8000}}`)).toEqual(
        Either.right({ [pool]: { requestsPerMinute: 50, outputTokensPerMinute: 8000 } })
      )
      const bad = yield* read(`{"${pool}":{"requestsPerMinute":-1}}`)
      expect(Either.isLeft(bad) && String(bad.left)).toContain("CLAUDE_RATE_LIMITS")
    }))
})

describe("Admission over a store that fails", () => {
  it.scoped("queued waiters are told the store's error instead of polling for ever", () =>
    Effect.gen(function*() {
      const memory = yield* AdmissionStore.makeMemory()
      yield* memory.configure(pool, { requests: 60 })
      let down = false
      const store: AdmissionStore.AdmissionStore = {
        ...memory,
        unsafe: undefined,
        reserve: (p, request) =>
          down
            ? Effect.fail(new AdmissionStore.AdmissionStoreError({ message: "store unreachable", cause: undefined }))
            : memory.reserve(p, request)
      }
      const admission = yield* Admission.make({ threshold: 0, sendRate: false }).pipe(
        Effect.provideService(AdmissionStore.AdmissionStore, store),
        Effect.provide(RateLimitState.layer)
      )
      yield* send(admission, { requests: 60 })
      const waiting = yield* Effect.fork(Effect.exit(send(admission, { requests: 1 })))
      yield* TestClock.adjust("1 millis")
      down = true
      yield* TestClock.adjust("5 seconds")
      const exit = yield* Fiber.join(waiting)
      expect(Exit.isFailure(exit) && exit.cause._tag === "Fail" && exit.cause.error._tag).toBe("AdmissionStoreError")
      expect((yield* admission.status(pool)).waiting.interactive).toBe(0)
    }))
})
