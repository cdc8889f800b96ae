/**
 * How a request's end becomes a settlement of its lease: what the server
 * charged, what its headers say about the pool's buckets (as bounds on their
 * levels), and whether the pool must wait (an embargo).
 *
 * @internal
 */
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import type { Outcome, Signal } from "../Admission.js"
import type * as AdmissionStore from "../AdmissionStore.js"
import * as RateLimitHeaders from "../RateLimitHeaders.js"
import * as Budget from "./budget.js"

/** @internal */
export interface SettlementOptions {
  readonly windowMillis: number
  /** longer embargoes are cut to this; resets further away are not trusted */
  readonly maxServerWaitMillis: number
}

// Refusals that ask the whole pool to wait; a concurrency 429 is the window's business, and a spend limit or a
// client error is not about time.
const embargoes = (signal: Signal): boolean =>
  signal === "rate-limit" || signal === "acceleration" || signal === "overloaded" || signal === "server-error"

const nothingCharged: AdmissionStore.Cost = { requests: 0, inputTokens: 0, outputTokens: 0, tokens: 0 }

/** What a response's headers say about the pool. @internal */
export const observation = (
  options: SettlementOptions,
  snapshot: RateLimitHeaders.RateLimitSnapshot,
  now: number,
  streamed: boolean,
  embargo: boolean
): AdmissionStore.Observation => {
  const buckets: { [K in AdmissionStore.BudgetBucket]?: Budget.LevelBounds } = {}
  for (const name of Budget.budgetBuckets) {
    const reported = snapshot[name]
    if (Option.isNone(reported.limit)) continue
    const bounds = Budget.levelBounds({
      limit: reported.limit.value,
      remaining: Option.getOrUndefined(reported.remaining),
      resetAt: Option.getOrUndefined(Option.map(reported.reset, (reset) => reset.epochMillis)),
      now,
      windowMillis: options.windowMillis,
      exact: name === "requests",
      maxResetMillis: options.maxServerWaitMillis
    })
    if (bounds !== undefined) buckets[name] = bounds
  }
  // a refusal holds the pool until the server's time: retry-after, else the latest reset of the buckets it
  // says are exhausted (which also covers servers whose buckets do not refill continuously)
  const wait = embargo
    ? RateLimitHeaders.headerWait(snapshot, DateTime.unsafeMake(now)).pipe(Option.map((header) => header.wait))
    : Option.none()
  const embargoUntil = Option.isSome(wait)
    ? now + Math.min(options.maxServerWaitMillis, Math.max(0, Duration.toMillis(wait.value)))
    : undefined
  return { buckets, embargoUntil, includesOwnOutput: !streamed }
}

/**
 * For a refusal that holds the pool, the server's wait when it is longer than `maxServerWaitMillis` (the embargo
 * is cut to that): requests are then refused at once while the cut embargo lasts, not queued for it.
 *
 * @internal
 */
export const waitBeyondCap = (options: SettlementOptions, outcome: Outcome, now: number): number | undefined => {
  if (outcome._tag !== "Refused" || !embargoes(outcome.signal)) return undefined
  const wait = RateLimitHeaders.headerWait(outcome.rateLimits, DateTime.unsafeMake(now))
  if (Option.isNone(wait)) return undefined
  const millis = Duration.toMillis(wait.value.wait)
  return millis > options.maxServerWaitMillis ? millis : undefined
}

/** The settlement of a lease whose request ended with `outcome`. @internal */
export const settlementOf = (options: SettlementOptions, outcome: Outcome, now: number): AdmissionStore.Settlement => {
  switch (outcome._tag) {
    case "Served":
      return {
        // a request is a request: what was taken from the requests bucket is exact
        charged: {
          inputTokens: outcome.usage.inputTokens,
          outputTokens: outcome.usage.outputTokens,
          tokens: outcome.usage.inputTokens + outcome.usage.outputTokens
        },
        observation: observation(options, outcome.rateLimits, now, outcome.streamed, false),
        outputTokens: outcome.usage.outputTokens
      }
    case "Refused":
      return {
        charged: nothingCharged,
        observation: observation(options, outcome.rateLimits, now, false, embargoes(outcome.signal)),
        outputTokens: undefined
      }
    case "Unknown":
    case "Abandoned":
      return { charged: undefined, observation: undefined, outputTokens: undefined }
    case "NotSent":
      return { charged: nothingCharged, observation: undefined, outputTokens: undefined }
  }
}
