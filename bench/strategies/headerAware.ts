/**
 * The classic header-aware handler, as blog posts and cookbooks write it for
 * rate-limited APIs:
 *
 * - before each attempt, if the last response seen (by any caller of the
 *   client) left a bucket at `remaining <= 2`, sleep until that bucket's
 *   `reset` (the latest such reset when several are low);
 * - after a failed attempt (429, >= 500, no answer), retry at most 5 times,
 *   waiting `retry-after` (seconds) if given, else until the earliest
 *   `anthropic-ratelimit-*-reset` of the answer still ahead, else
 *   exponential backoff with full jitter (1 s base, 60 s cap);
 * - a consecutive-failure circuit breaker shared by all callers: 5 failed
 *   attempts in a row (429s included) open it for 60 s, during which calls
 *   fail at once with `CircuitOpenError`; then the next result decides
 *   (a failure reopens it for 60 s, a success closes it).
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as CircuitBreaker from "../../src/CircuitBreaker.js"
import * as Strategy from "./strategy.js"

export const maxRetries = 5
export const lowRemaining = 2
export const failureThreshold = 5
export const cooldownMillis = 60_000
export const backoff = { base: "1 second", cap: "60 seconds" } as const

const buckets = ["requests", "tokens", "input-tokens", "output-tokens"] as const

interface Bucket {
  readonly remaining: number
  readonly resetAt: number
}

/** The buckets an answer reports; a bucket with a value that does not parse is left out. */
export const bucketsOf = (headers: Readonly<Record<string, string>>): ReadonlyArray<Bucket> =>
  buckets.flatMap((name) => {
    const remaining = Number(headers[`anthropic-ratelimit-${name}-remaining`] ?? Number.NaN)
    const resetAt = Date.parse(headers[`anthropic-ratelimit-${name}-reset`] ?? "")
    return Number.isFinite(remaining) && Number.isFinite(resetAt) ? [{ remaining, resetAt }] : []
  })

const retryable = (failure: Strategy.Failure): boolean =>
  failure.status === 0 || failure.status === 429 || failure.status >= 500

/** A fresh handler: its state (last buckets seen, the breaker) is shared by every call of one client. */
export const make: Effect.Effect<Strategy.Policy> = Effect.sync(() => {
  let lastSeen: ReadonlyArray<Bucket> = []
  let consecutiveFailures = 0
  let openUntil: number | undefined

  const beforeAttempt = Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const low = lastSeen.filter((bucket) => bucket.remaining <= lowRemaining && bucket.resetAt > now)
    if (low.length > 0) yield* Effect.sleep(Math.max(...low.map((bucket) => bucket.resetAt)) - now)
    const at = yield* Clock.currentTimeMillis
    if (openUntil !== undefined && at < openUntil) {
      return yield* Effect.fail(
        new CircuitBreaker.CircuitOpenError({
          name: "header-aware",
          state: "Open",
          remaining: Duration.millis(openUntil - at)
        })
      )
    }
  })

  const onResult = (result: Either.Either<Strategy.Success, Strategy.Failure>) =>
    Effect.map(Clock.currentTimeMillis, (now) => {
      const headers = Either.isRight(result) ? result.right.headers : result.left.headers
      const seen = bucketsOf(headers)
      // an answer without rate-limit headers (a 529) does not erase what earlier ones said
      if (seen.length > 0) lastSeen = seen
      if (Either.isRight(result)) {
        consecutiveFailures = 0
        if (openUntil !== undefined && now >= openUntil) openUntil = undefined
      } else if (openUntil !== undefined) {
        // half-open: the trial failed; while still open, late failures change nothing
        if (now >= openUntil) openUntil = now + cooldownMillis
      } else if (++consecutiveFailures >= failureThreshold) {
        openUntil = now + cooldownMillis
        consecutiveFailures = 0
      }
    })

  const retryDelay = (failure: Strategy.Failure, retry: number) =>
    retry > maxRetries || !retryable(failure)
      ? Effect.succeedNone
      : Effect.gen(function*() {
        const retryAfter = parseFloat(failure.headers["retry-after"] ?? "")
        if (Number.isFinite(retryAfter) && retryAfter >= 0) return Option.some(Duration.seconds(retryAfter))
        const now = yield* Clock.currentTimeMillis
        const ahead = bucketsOf(failure.headers).map((bucket) => bucket.resetAt - now).filter((wait) => wait > 0)
        if (ahead.length > 0) return Option.some(Duration.millis(Math.min(...ahead)))
        return Option.some(yield* Strategy.fullJitter(retry, backoff))
      })

  return { name: "header-aware", beforeAttempt, onResult, retryDelay }
})
