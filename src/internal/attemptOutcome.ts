/**
 * What an attempt tells admission: a refusal of the API as a signal (a rate
 * limit, an acceleration limit, the concurrency cap, a spend limit, an
 * overload, a server or client error), a failed attempt as an outcome
 * (refused, never sent, unknown), and an answer's `usage` as what it counts
 * against the buckets.
 *
 * @internal
 */
import * as Option from "effect/Option"
import * as Admission from "../Admission.js"
import * as ClaudeError from "../ClaudeError.js"
import type * as Messages from "../Messages.js"
import type { AttemptError } from "./pipeline.js"

// A concurrent-requests 429 says so only in its message (the real API's wording)
const concurrencyMessage = /concurrent (connections|requests)/i
// and sometimes its limit: "… has exceeded your rate limit of 20"
const concurrencyLimit = /limit of (\d+)/i

/** What the API's refusal tells admission. @internal */
export const signalOf = (error: ClaudeError.ResponseError): Admission.Signal => {
  switch (error._tag) {
    case "SpendLimitReachedError":
      return "spend-limit"
    case "OverloadedError":
      return "overloaded"
    case "RateLimitError":
      return Option.contains(error.errorCode, "ramp_limit_exceeded")
        ? "acceleration"
        : concurrencyMessage.test(error.message)
        ? "concurrency"
        : "rate-limit"
    default:
      return error.status === 429 ? "rate-limit" : error.status >= 500 ? "server-error" : "client-error"
  }
}

/** How a failed attempt ended, as admission needs to know it. @internal */
export const outcomeOf = (error: AttemptError): Admission.Outcome => {
  if (ClaudeError.isResponseError(error)) {
    const signal = signalOf(error)
    const limit = signal === "concurrency"
      ? Number(concurrencyLimit.exec(error.message)?.[1] ?? Number.NaN)
      : Number.NaN
    return Admission.Outcome.Refused({
      rateLimits: error.rateLimits,
      signal,
      ...(Number.isSafeInteger(limit) && limit > 0 ? { limit } : {})
    })
  }
  return error._tag === "CircuitOpenError" ? Admission.Outcome.NotSent() : Admission.Outcome.Unknown()
}

/** What an answer's `usage` counts against the buckets. @internal */
export const usageOf = (usage: Messages.Usage | undefined): Admission.Usage =>
  usage === undefined
    ? { inputTokens: 0, outputTokens: 0 }
    : { inputTokens: usage.input_tokens + (usage.cache_creation_input_tokens ?? 0), outputTokens: usage.output_tokens }
