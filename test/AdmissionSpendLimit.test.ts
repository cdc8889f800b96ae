import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Layer, Redacted, TestClock } from "effect"
import type * as Admission from "../src/Admission.js"
import * as ClaudeClient from "../src/ClaudeClient.js"
import type * as Messages from "../src/Messages.js"
import * as Scripted from "../src/testing/ScriptedHttpClient.js"

// After the organisation's spend limit: every request fails at once, unsent, for the hold; then one finds out.

const params: Messages.CreateMessageParams = {
  model: "claude-sonnet-4-6",
  max_tokens: 256,
  messages: [{ role: "user", content: "Say hello" }]
}
const haiku: Messages.CreateMessageParams = { ...params, model: "claude-haiku-4-5" }

const spendLimit = (latency?: Duration.DurationInput): Scripted.ScriptedResponse => ({
  ...Scripted.error(429, "rate_limit_error", {
    message: "You have reached your specified API usage limits",
    details: { error_code: "enforced_spend_limit_reached" }
  }),
  ...(latency === undefined ? {} : { latency })
})
const slowMessage = (latency: Duration.DurationInput): Scripted.ScriptedResponse => ({ ...Scripted.message(), latency })

const limits: Admission.Options["limits"] = {
  "claude-sonnet-4.x": { requestsPerMinute: 600 },
  "claude-haiku-4.x": { requestsPerMinute: 600 }
}

const layer = (script: ReadonlyArray<Scripted.Step>, admission: Admission.Options = {}) =>
  ClaudeClient.layer({ apiKey: Redacted.make("sk-ant-spend-test"), admission: { limits, ...admission } }).pipe(
    Layer.provideMerge(Scripted.layer(script))
  )

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E | undefined =>
  Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error : undefined

const sendTimes = Effect.flatMap(Scripted.ScriptedHttpClient, (recorder) => recorder.sendTimes)

describe("Admission after a spend-limit answer", () => {
  it.effect("every request of every pool fails at once with SpendLimitHoldError for the hold, and none is sent", () =>
    Effect.gen(function*() {
      const client = yield* ClaudeClient.ClaudeClient
      const first = failureOf(yield* Effect.exit(client.createMessage(params)))
      expect(first?._tag).toBe("SpendLimitReachedError")
      yield* TestClock.adjust("10 seconds")
      const same = failureOf(yield* Effect.exit(client.createMessage(params)))
      const other = failureOf(yield* Effect.exit(client.createMessage(haiku)))
      expect(same).toMatchObject({ _tag: "SpendLimitHoldError", pool: "claude-sonnet-4.x" })
      expect(other?._tag).toBe("SpendLimitHoldError")
      if (same?._tag === "SpendLimitHoldError") {
        expect(Duration.toMillis(same.remaining)).toBe(50_000)
        expect(same.message).toContain("nothing was sent")
      }
      expect(yield* sendTimes).toEqual([0])
    }).pipe(Effect.provide(layer([spendLimit()]))))

  it.effect("after the hold one request finds out (the others fail at once meanwhile); a success ends the hold", () =>
    Effect.gen(function*() {
      const client = yield* ClaudeClient.ClaudeClient
      yield* Effect.exit(client.createMessage(params))
      yield* TestClock.adjust("60 seconds")
      const probe = yield* Effect.fork(client.createMessage(params))
      yield* TestClock.adjust("100 millis")
      const meanwhile = failureOf(yield* Effect.exit(client.createMessage(params)))
      expect(meanwhile).toMatchObject({ _tag: "SpendLimitHoldError" })
      if (meanwhile?._tag === "SpendLimitHoldError") expect(Duration.toMillis(meanwhile.remaining)).toBe(0)
      yield* TestClock.adjust("1 second")
      expect(Exit.isSuccess(yield* Fiber.await(probe))).toBe(true)
      // lifted: requests go again
      yield* client.createMessage(params)
      expect(yield* sendTimes).toEqual([0, 60_000, 61_100])
    }).pipe(Effect.provide(layer([spendLimit(), slowMessage("1 second"), Scripted.message()]))))

  it.effect("a probe answered with the spend limit again renews the hold", () =>
    Effect.gen(function*() {
      const client = yield* ClaudeClient.ClaudeClient
      yield* Effect.exit(client.createMessage(params))
      yield* TestClock.adjust("60 seconds")
      expect(failureOf(yield* Effect.exit(client.createMessage(params)))?._tag).toBe("SpendLimitReachedError")
      yield* TestClock.adjust("30 seconds")
      expect(failureOf(yield* Effect.exit(client.createMessage(params)))?._tag).toBe("SpendLimitHoldError")
      yield* TestClock.adjust("30 seconds")
      yield* client.createMessage(params)
      expect(yield* sendTimes).toEqual([0, 60_000, 120_000])
    }).pipe(Effect.provide(layer([spendLimit(), spendLimit(), Scripted.message()]))))

  it.effect("requests waiting at the gate when the limit is reached are refused, not sent into it", () =>
    Effect.gen(function*() {
      const client = yield* ClaudeClient.ClaudeClient
      // a window of one: the second request waits for the first
      const first = yield* Effect.fork(client.createMessage(params))
      const second = yield* Effect.fork(client.createMessage(params))
      yield* TestClock.adjust("1 second")
      expect(failureOf(yield* Fiber.await(first))?._tag).toBe("SpendLimitReachedError")
      expect(failureOf(yield* Fiber.await(second))?._tag).toBe("SpendLimitHoldError")
      expect(yield* sendTimes).toEqual([0])
    }).pipe(Effect.provide(layer([spendLimit("500 millis")], { concurrency: { initial: 1, max: 1 } }))))

  it.effect("a probe that gets no answer leaves the question to the next request", () =>
    Effect.gen(function*() {
      const client = yield* ClaudeClient.ClaudeClient
      yield* Effect.exit(client.createMessage(params))
      yield* TestClock.adjust("60 seconds")
      const probe = yield* Effect.fork(client.createMessage(params))
      yield* TestClock.adjust("100 millis")
      yield* Fiber.interrupt(probe)
      yield* client.createMessage(params)
      expect(yield* sendTimes).toEqual([0, 60_000, 60_100])
    }).pipe(Effect.provide(layer([spendLimit(), slowMessage("10 seconds"), Scripted.message()]))))

  it.effect("spendLimitHold: false sends every request anyway", () =>
    Effect.gen(function*() {
      const client = yield* ClaudeClient.ClaudeClient
      yield* Effect.exit(client.createMessage(params))
      expect(failureOf(yield* Effect.exit(client.createMessage(params)))?._tag).toBe("SpendLimitReachedError")
      expect(yield* sendTimes).toEqual([0, 0])
    }).pipe(Effect.provide(layer([spendLimit(), spendLimit()], { spendLimitHold: false }))))
})
