/**
 * The official TypeScript SDK's published default retry policy
 * (`@anthropic-ai/sdk` 1.x, `client.js`: `shouldRetry`, `retryRequest`,
 * `calculateDefaultRetryTimeoutMillis`), imitated step for step:
 *
 * - 2 retries; a 10-minute timeout per attempt;
 * - retried: `x-should-retry: true`; else (and never with
 *   `x-should-retry: false`) 408, 409, 429, >= 500; connection errors and
 *   timeouts;
 * - the wait: `retry-after-ms`, else `retry-after` (seconds, else an
 *   HTTP-date), used when it is above 0 and fits one timer (2^31 − 1 ms,
 *   ~24.8 days: no upper bound of its own); else
 *   min(0.5 s × 2^(n−1), 8 s) × (1 − U(0, 0.25)) before retry n;
 * - no `anthropic-ratelimit-*` header is read, and nothing is held back
 *   before sending.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import type * as Strategy from "./strategy.js"

export const maxRetries = 2

/** the longest wait one `setTimeout` can represent: the SDK falls back to backoff beyond it */
const maxTimerMillis = 2 ** 31 - 1

export const shouldRetry = (failure: Strategy.Failure): boolean => {
  if (failure.status === 0) return true
  const header = failure.headers["x-should-retry"]
  if (header === "true") return true
  if (header === "false") return false
  return failure.status === 408 || failure.status === 409 || failure.status === 429 || failure.status >= 500
}

/** The server's wait in milliseconds, read the way the SDK reads it (possibly NaN or out of range). */
export const serverWaitMillis = (headers: Readonly<Record<string, string>>, now: number): number | undefined => {
  let millis: number | undefined
  const retryAfterMs = headers["retry-after-ms"]
  if (retryAfterMs) {
    const value = parseFloat(retryAfterMs)
    if (!Number.isNaN(value)) millis = value
  }
  const retryAfter = headers["retry-after"]
  // `!millis`, as the SDK writes it: a `retry-after-ms` of 0 falls through to `retry-after`
  if (retryAfter && !millis) {
    const seconds = parseFloat(retryAfter)
    millis = Number.isNaN(seconds) ? Date.parse(retryAfter) - now : seconds * 1000
  }
  return millis
}

export const backoffMillis = (retry: number): Effect.Effect<number> =>
  Effect.map(Random.next, (u) => Math.min(0.5 * Math.pow(2, retry - 1), 8) * (1 - u * 0.25) * 1000)

export const policy: Strategy.Policy = {
  name: "official SDK policy",
  timeout: "10 minutes",
  retryDelay: (failure, retry) =>
    retry > maxRetries || !shouldRetry(failure)
      ? Effect.succeedNone
      : Effect.gen(function*() {
        const server = serverWaitMillis(failure.headers, yield* Clock.currentTimeMillis)
        const millis = server !== undefined && server > 0 && server <= maxTimerMillis
          ? server
          : yield* backoffMillis(retry)
        return Option.some(Duration.millis(millis))
      })
}
