/**
 * One decision of the retry policy, for one failed attempt: the wait the
 * other side asked for (the API's headers, or an open circuit's time left),
 * whether the retry budget allows another try, and the retries counted so
 * far (only of attempts that were sent).
 *
 * @internal
 */
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as ScheduleInterval from "effect/ScheduleInterval"
import type * as CircuitBreaker from "../CircuitBreaker.js"
import * as ClaudeError from "../ClaudeError.js"
import * as RateLimitHeaders from "../RateLimitHeaders.js"
import type { ResolvedOptions, RetryStep, ServerWait } from "../RetryPolicy.js"
import * as Backoff from "./backoff.js"

/** @internal */
export const isCircuitOpen = (error: unknown): error is CircuitBreaker.CircuitOpenError =>
  Predicate.isTagged(error, "CircuitOpenError")

/** @internal */
export const serverWait = (options: ResolvedOptions, error: unknown): Effect.Effect<Option.Option<ServerWait>> => {
  if (ClaudeError.isResponseError(error)) {
    return Effect.map(DateTime.now, (now) => RateLimitHeaders.headerWait(error.rateLimits, now))
  }
  // a half-open rejection has no time left to wait: it falls back to backoff
  if (options.retryOnOpenCircuit && isCircuitOpen(error) && error.state === "Open") {
    return Effect.succeed(Option.some({ wait: error.remaining, rule: "circuit-open", buckets: [] }))
  }
  return Effect.succeed(Option.none())
}

const millis = Duration.toMillis

/**
 * Counts retries of attempts that were sent: a request the open circuit refused was not, so waiting out an
 * outage (retryOnOpenCircuit) does not use up the retries of the attempts around it.
 *
 * @internal
 */
export const sentRetries = (max: number): Schedule.Schedule<number, unknown> =>
  Schedule.makeWithState(0, (now, input: unknown, count: number) => {
    const next = isCircuitOpen(input) ? count : count + 1
    return Effect.succeed(
      next > max
        ? [next, next, ScheduleDecision.done] as const
        : [next, next, ScheduleDecision.continueWith(ScheduleInterval.after(now))] as const
    )
  })

/** @internal */
export const planStep = (
  options: ResolvedOptions,
  error: unknown,
  attempt: number,
  backoffDelay: Duration.Duration
): Effect.Effect<RetryStep> =>
  Effect.all([serverWait(options, error), options.allowRetry(error)]).pipe(
    Effect.flatMap(([header, allowed]) =>
      Option.match(header, {
        onNone: () =>
          Effect.succeed<RetryStep>({
            attempt,
            error,
            rule: "backoff",
            delay: backoffDelay,
            headerWait: header,
            withinLimit: true,
            allowed
          }),
        onSome: ({ rule, wait }) => {
          const withinLimit = Duration.lessThanOrEqualTo(wait, options.maxHeaderWait)
          // the gate in front of every attempt holds the retry until the server's time has come
          if (options.headerWaits === "gate" && rule !== "circuit-open") {
            return Effect.succeed<RetryStep>({
              attempt,
              error,
              rule,
              delay: Duration.zero,
              headerWait: header,
              withinLimit,
              allowed
            })
          }
          return Effect.map(Backoff.randomBetween(0, millis(options.headerJitter)), (spread): RetryStep => ({
            attempt,
            error,
            rule,
            delay: Duration.sum(wait, spread),
            headerWait: header,
            withinLimit,
            allowed
          }))
        }
      })
    )
  )
