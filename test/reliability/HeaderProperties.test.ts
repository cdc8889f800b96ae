/**
 * Property-based bad input, header maps: whatever a server or a proxy sends, decoding never fails and every wait
 * derived from the headers is non-negative, never grows as time passes (or as the clock jumps back), is finite
 * unless the headers are flagged as asking for too long a wait, and stays within the caps of whoever uses it: the
 * retry policy (`maxHeaderWait`) and admission (its embargo cap, its buckets' levels).
 *
 * Each property runs 10,000 generated cases. They run synchronously on a stopped clock (`test/support/clock.ts`):
 * a `TestClock` per case would cost milliseconds each.
 */
import type * as Headers from "@effect/platform/Headers"
import { describe, expect, it } from "@effect/vitest"
import {
  DateTime,
  Duration,
  Effect,
  Exit,
  Layer,
  Logger,
  LogLevel,
  Option,
  ScheduleDecision,
  ScheduleIntervals
} from "effect"
import fc from "fast-check"
import * as Admission from "../../src/Admission.js"
import * as ClaudeError from "../../src/ClaudeError.js"
import * as RateLimitHeaders from "../../src/RateLimitHeaders.js"
import * as RateLimitState from "../../src/RateLimitState.js"
import * as RetryPolicy from "../../src/RetryPolicy.js"
import { headerInput, instant } from "../support/arbitraries.js"
import { stoppedAt } from "../support/clock.js"
import { breathe } from "../support/eventLoop.js"

const runs = 10_000
const reference = Date.UTC(2026, 10, 23, 10, 0, 0)
const headers = headerInput(reference)

// the properties are about values, not log lines (the logging of bad values is tested on its own)
const quietly = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.locally(effect, RateLimitHeaders.currentWarnedHeaders, new Set<string>()).pipe(
    Logger.withMinimumLogLevel(LogLevel.None)
  )

const at = (millis: number) => <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.withClock(effect, stoppedAt(millis))

const millisOf = (wait: Duration.Duration): number => Duration.toMillis(wait)

const rateLimitError = (snapshot: RateLimitHeaders.RateLimitSnapshot) =>
  new ClaudeError.RateLimitError({
    status: 429,
    errorType: "rate_limit_error",
    message: "rate limited",
    requestId: Option.none(),
    rateLimits: snapshot
  })

describe("header maps never fail decoding, and every wait from them is bounded", () => {
  it.prop(
    "decode and decodeAt never fail, throw or die, whatever the input",
    [headers, instant(reference)],
    ([input, now]) => {
      const exit = Effect.runSyncExit(RateLimitHeaders.decode(input as Headers.Input).pipe(at(now), quietly))
      expect(Exit.isSuccess(exit)).toBe(true)
      const snapshot = RateLimitHeaders.decodeAt(input as Headers.Input, DateTime.unsafeMake(now))
      for (const name of RateLimitHeaders.bucketNames) {
        for (const value of [snapshot[name].limit, snapshot[name].remaining]) {
          if (Option.isSome(value)) expect(Number.isSafeInteger(value.value) && value.value >= 0).toBe(true)
        }
        if (Option.isSome(snapshot[name].reset)) {
          expect(Number.isFinite(DateTime.toEpochMillis(snapshot[name].reset.value))).toBe(true)
        }
      }
      for (const wait of [snapshot.retryAfter, snapshot.retryAfterMs]) {
        if (Option.isSome(wait)) expect(millisOf(wait.value)).toBeGreaterThanOrEqual(0)
      }
    },
    { timeout: 300_000, fastCheck: { numRuns: runs } }
  )

  it.prop(
    "retryDelay is non-negative, finite unless flagged too long, and never grows later or when the clock jumps back",
    [headers, instant(reference), instant(reference)],
    ([input, receivedAt, later]) => {
      const snapshot = RateLimitHeaders.decodeAt(input as Headers.Input, DateTime.unsafeMake(receivedAt))
      const atReceipt = RateLimitHeaders.retryDelay(snapshot, DateTime.unsafeMake(receivedAt))
      const then = RateLimitHeaders.retryDelay(snapshot, DateTime.unsafeMake(later))
      for (const wait of [atReceipt, then]) {
        if (Option.isNone(wait)) continue
        const millis = millisOf(wait.value)
        expect(millis).toBeGreaterThanOrEqual(0)
        if (!Number.isFinite(millis) || millis > millisOf(RateLimitHeaders.maxPlausibleWait)) {
          // a wait beyond the plausible is said so, never passed on silently
          expect(snapshot.tooLong.length).toBeGreaterThan(0)
        }
      }
      // the same headers cannot ask for a longer wait later on, nor because the clock went back
      expect(Option.isSome(then)).toBe(Option.isSome(atReceipt))
      if (Option.isSome(then) && Option.isSome(atReceipt)) {
        expect(millisOf(then.value)).toBeLessThanOrEqual(millisOf(atReceipt.value))
      }
    },
    { timeout: 300_000, fastCheck: { numRuns: runs } }
  )

  const maxHeaderWait = Duration.minutes(5)
  const headerJitter = Duration.millis(500)
  const maxDelay = Duration.seconds(60)

  it.prop(
    "the retry policy never waits longer than maxHeaderWait (plus its jitter) on a header: it retries within it or stops",
    [headers, instant(reference), instant(reference), fc.constantFrom("sleep" as const, "gate" as const)],
    ([input, receivedAt, now, headerWaits]) => {
      const policy = RetryPolicy.make({ maxRetries: 3, maxHeaderWait, headerJitter, maxDelay, headerWaits })
      const [, step, decision] = Effect.runSync(
        Effect.gen(function*() {
          const snapshot = yield* RateLimitHeaders.decode(input as Headers.Input).pipe(at(receivedAt))
          return yield* policy.step(now, rateLimitError(snapshot), policy.initial).pipe(at(now))
        }).pipe(quietly)
      )
      const wait = Option.map(step.headerWait, (header) => millisOf(header.wait))
      if (ScheduleDecision.isDone(decision)) {
        // it stops only when the server asked for too long a wait, or x-should-retry: false said not to retry
        expect(Option.exists(wait, (w) => w > millisOf(maxHeaderWait)) || !ClaudeError.isRetryable(step.error)).toBe(
          true
        )
        return
      }
      const delay = ScheduleIntervals.start(decision.intervals) - now
      expect(delay).toBeGreaterThanOrEqual(0)
      expect(Option.exists(wait, (w) => w > millisOf(maxHeaderWait))).toBe(false)
      const cap = Option.isSome(wait)
        ? headerWaits === "gate" ? 0 : millisOf(maxHeaderWait) + millisOf(headerJitter)
        : millisOf(maxDelay)
      expect(delay).toBeLessThanOrEqual(cap)
    },
    { timeout: 300_000, fastCheck: { numRuns: runs } }
  )

  const maxServerWait = Duration.minutes(5)
  const window = Duration.minutes(1)
  const cost = { requests: 1, inputTokens: 10, outputTokens: 10, tokens: 20 }

  it.live.prop(
    "admission folds any headers into finite levels within capacity, an embargo within its cap, and finite waits",
    [headers, instant(reference), instant(reference), fc.boolean()],
    ([input, receivedAt, now, refused]) =>
      Effect.gen(function*() {
        yield* breathe
        const admission = yield* Admission.make({ maxServerWait, window })
        const snapshot = yield* RateLimitHeaders.decode(input as Headers.Input).pipe(at(receivedAt))
        // the pool's first request goes alone (its limits are unknown); its answer carries the headers
        const first = yield* admission.admit({ pool: "p", cost }).pipe(at(receivedAt))
        yield* first.complete(
          refused
            ? Admission.Outcome.Refused({ rateLimits: snapshot, signal: "rate-limit" })
            : Admission.Outcome.Served({
              rateLimits: snapshot,
              usage: { inputTokens: 8, outputTokens: 12 },
              streamed: false
            })
        ).pipe(at(receivedAt))
        // read later, or after the clock went back
        const status = yield* admission.status("p").pipe(at(now))
        expect(status.inFlight).toBe(0)
        expect(status.view.inFlight).toBe(0)
        for (const bucket of Object.values(status.view.buckets)) {
          expect(Number.isFinite(bucket.capacity) && bucket.capacity > 0).toBe(true)
          expect(Number.isFinite(bucket.level)).toBe(true)
          expect(bucket.level).toBeLessThanOrEqual(bucket.capacity)
          expect(Number.isFinite(bucket.rate) && bucket.rate > 0).toBe(true)
        }
        expect(Number.isFinite(status.view.embargoUntil)).toBe(true)
        expect(status.view.embargoUntil - now).toBeLessThanOrEqual(millisOf(maxServerWait))
        // asked not to wait at all, the next request goes, or is refused with a finite prediction within the caps
        const asked = yield* Effect.exit(admission.admit({ pool: "p", cost, deadline: Duration.zero })).pipe(at(now))
        if (Exit.isFailure(asked)) {
          const failure = asked.cause._tag === "Fail" ? asked.cause.error : undefined
          expect(failure?._tag === "BudgetWaitTooLongError" || failure?._tag === "RequestExceedsLimitError").toBe(true)
          if (failure?._tag === "BudgetWaitTooLongError") {
            const predicted = millisOf(failure.predictedWait)
            expect(predicted).toBeGreaterThanOrEqual(0)
            const serverWait = RateLimitHeaders.retryDelay(snapshot, DateTime.unsafeMake(receivedAt))
            if (failure.reason === "embargo" && millisOf(failure.maxWait) === millisOf(maxServerWait)) {
              // refused at once because the server asked for longer than the cap: it did
              expect(refused).toBe(true)
              expect(Option.exists(serverWait, (wait) => millisOf(wait) > millisOf(maxServerWait))).toBe(true)
            } else {
              // the longest: an embargo, or a bucket reset up to maxServerWait away (five windows of debt) refilling
              expect(Number.isFinite(predicted)).toBe(true)
              expect(predicted).toBeLessThanOrEqual(millisOf(maxServerWait) + millisOf(window) + 1_000)
            }
          }
        }
      }).pipe(Effect.scoped, Effect.provide(Layer.fresh(RateLimitState.layer)), quietly),
    { timeout: 300_000, fastCheck: { numRuns: runs } }
  )
})
