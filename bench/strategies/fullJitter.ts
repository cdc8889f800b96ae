/**
 * Exponential backoff with full jitter and no headers, as tenacity's and
 * p-retry's documented "exponential full jitter" recipes are set up in
 * practice: base 1 s, cap 60 s, 6 attempts in all. The wait before retry n
 * is uniform in [0, min(60 s, 1 s × 2^(n−1))). Like those libraries'
 * defaults it retries whatever failed, without looking at the status, the
 * body or a header (`retry-after` included).
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Strategy from "./strategy.js"

export const attempts = 6
export const base = "1 second"
export const cap = "60 seconds"

export const policy: Strategy.Policy = {
  name: "full jitter",
  retryDelay: (_failure, retry) =>
    retry < attempts ? Effect.map(Strategy.fullJitter(retry, { base, cap }), Option.some) : Effect.succeedNone
}
