/**
 * Typed errors for everything the Claude API (or the network on the way to
 * it) can answer, classified from the status code, the JSON error body
 * `{"type":"error","error":{"type","message"}}` and the headers.
 *
 * Every error that came with a response carries its status, the error type
 * and message from the body, the `request-id`, and the decoded rate-limit
 * snapshot, so a caller can log, retry or page with the facts at hand.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import type * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import type { RateLimitSnapshot } from "./RateLimitHeaders.js"

/**
 * What every error that came with an HTTP response carries.
 *
 * @since 0.1.0
 * @category models
 */
export interface ResponseErrorFields {
  /** The HTTP status (200 for errors reported inside a stream). */
  readonly status: number
  /** `error.type` from the body, or the documented type for the status when the body is not JSON. */
  readonly errorType: string
  /** `error.message` from the body, or a bounded excerpt of a body that is not JSON. */
  readonly message: string
  /** `request-id` header, else `request_id` from the body. */
  readonly requestId: Option.Option<string>
  /** The rate-limit headers of the response that carried this error. */
  readonly rateLimits: RateLimitSnapshot
}

const ResponseError = <const Tag extends string>(tag: Tag) => Data.TaggedError(tag)<ResponseErrorFields>

/**
 * 429 `rate_limit_error`: a rate limit was hit. Retryable; the snapshot says
 * how long to wait.
 *
 * @since 0.1.0
 * @category errors
 */
export class RateLimitError extends ResponseError("RateLimitError") {}

/**
 * 429 whose body says `error.details.error_code: "enforced_spend_limit_reached"`.
 * It carries no `retry-after` and will not succeed until the spend limit
 * resets, so it is never retried.
 *
 * @since 0.1.0
 * @category errors
 */
export class SpendLimitReachedError extends ResponseError("SpendLimitReachedError") {}

/**
 * 529 `overloaded_error`: the API is overloaded for everyone. Retryable.
 *
 * @since 0.1.0
 * @category errors
 */
export class OverloadedError extends ResponseError("OverloadedError") {}

/**
 * 500 `api_error` and any other 5xx without a class of its own. Retryable.
 *
 * @since 0.1.0
 * @category errors
 */
export class ApiError extends ResponseError("ApiError") {}

/**
 * 504 `timeout_error`: the API timed out processing the request. Retryable.
 *
 * @since 0.1.0
 * @category errors
 */
export class GatewayTimeoutError extends ResponseError("GatewayTimeoutError") {}

/**
 * 400 `invalid_request_error`. Never retried.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidRequestError extends ResponseError("InvalidRequestError") {}

/**
 * 401 `authentication_error`. Never retried.
 *
 * @since 0.1.0
 * @category errors
 */
export class AuthenticationError extends ResponseError("AuthenticationError") {}

/**
 * 402 `billing_error`. Never retried.
 *
 * @since 0.1.0
 * @category errors
 */
export class BillingError extends ResponseError("BillingError") {}

/**
 * 403 `permission_error`. Never retried.
 *
 * @since 0.1.0
 * @category errors
 */
export class PermissionError extends ResponseError("PermissionError") {}

/**
 * 404 `not_found_error`. Never retried.
 *
 * @since 0.1.0
 * @category errors
 */
export class NotFoundError extends ResponseError("NotFoundError") {}

/**
 * 409 `conflict_error`. Retryable (as the official SDKs do).
 *
 * @since 0.1.0
 * @category errors
 */
export class ConflictError extends ResponseError("ConflictError") {}

/**
 * 413 `request_too_large`, often sent by the edge with a body that is not
 * JSON. Never retried: the same request will be just as large.
 *
 * @since 0.1.0
 * @category errors
 */
export class RequestTooLargeError extends ResponseError("RequestTooLargeError") {}

/**
 * Any status or error type this library does not know yet (the API adds types
 * over time). Retryable when the status is 408, 409, 429 or 5xx, or when
 * `x-should-retry: true` says so.
 *
 * @since 0.1.0
 * @category errors
 */
export class UnknownApiError extends ResponseError("UnknownApiError") {}

/**
 * A 2xx response whose body is not the JSON the endpoint documents. Not
 * retried: the request was served, sending it again may be billed again.
 *
 * @since 0.1.0
 * @category errors
 */
export class MalformedResponseError extends Data.TaggedError("MalformedResponseError")<{
  readonly status: number
  readonly message: string
  readonly requestId: Option.Option<string>
  readonly rateLimits: RateLimitSnapshot
  /** A bounded excerpt of the body that failed to decode. */
  readonly body: string
}> {}

/**
 * The attempt took longer than the client's per-attempt timeout. Retryable.
 *
 * @since 0.1.0
 * @category errors
 */
export class TimeoutError extends Data.TaggedError("TimeoutError")<{
  readonly timeout: Duration.Duration
  readonly message: string
}> {}

/**
 * The request never got a response: DNS, refused or reset connection, TLS.
 * Retryable.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConnectionError extends Data.TaggedError("ConnectionError")<{
  readonly message: string
  readonly cause: unknown
}> {}

/**
 * Every error that came with an HTTP response.
 *
 * @since 0.1.0
 * @category models
 */
export type ResponseError =
  | RateLimitError
  | SpendLimitReachedError
  | OverloadedError
  | ApiError
  | GatewayTimeoutError
  | InvalidRequestError
  | AuthenticationError
  | BillingError
  | PermissionError
  | NotFoundError
  | ConflictError
  | RequestTooLargeError
  | UnknownApiError

/**
 * Every way a call to the Claude API can fail.
 *
 * @since 0.1.0
 * @category models
 */
export type ClaudeError = ResponseError | MalformedResponseError | TimeoutError | ConnectionError

type ResponseErrorClass = new(fields: ResponseErrorFields) => ResponseError

const byStatus: ReadonlyMap<number, readonly [ResponseErrorClass, string]> = new Map([
  [400, [InvalidRequestError, "invalid_request_error"]],
  [401, [AuthenticationError, "authentication_error"]],
  [402, [BillingError, "billing_error"]],
  [403, [PermissionError, "permission_error"]],
  [404, [NotFoundError, "not_found_error"]],
  [409, [ConflictError, "conflict_error"]],
  [413, [RequestTooLargeError, "request_too_large"]],
  [429, [RateLimitError, "rate_limit_error"]],
  [500, [ApiError, "api_error"]],
  [504, [GatewayTimeoutError, "timeout_error"]],
  [529, [OverloadedError, "overloaded_error"]]
])

// Errors reported without a telling status (inside a 200 stream, or with an
// unlisted status) are classified by their body type instead.
const byErrorType: ReadonlyMap<string, ResponseErrorClass> = new Map(
  Array.from(byStatus.values(), ([errorClass, type]) => [type, errorClass] as const)
)

const ErrorBody = Schema.Struct({
  error: Schema.Struct({
    type: Schema.String,
    message: Schema.optional(Schema.String),
    details: Schema.optional(Schema.NullOr(Schema.Struct({ error_code: Schema.optional(Schema.String) })))
  }),
  request_id: Schema.optional(Schema.String)
})

const decodeErrorBody = Schema.decodeUnknownEither(Schema.parseJson(ErrorBody))

const excerptLength = 300

/**
 * A bounded, single-line excerpt of a response body, for messages and logs.
 *
 * @since 0.1.0
 * @category utils
 */
export const excerpt = (body: string): string => {
  const oneLine = body.replace(/\s+/g, " ").trim()
  return oneLine.length > excerptLength ? `${oneLine.slice(0, excerptLength)}…` : oneLine
}

const spendLimitCode = "enforced_spend_limit_reached"

/**
 * Classifies an error response. The status decides the class; a status
 * without a class of its own is classified by the body's error type, else
 * {@link UnknownApiError} (any other 5xx is an {@link ApiError}). A body that
 * is not JSON still yields the right class, with an excerpt as message.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromResponse = (options: {
  readonly status: number
  readonly body: string
  readonly rateLimits: RateLimitSnapshot
}): ResponseError => {
  const { body, rateLimits, status } = options
  const parsed = Either.getRight(decodeErrorBody(body))
  const known = byStatus.get(status)
  const bodyType = Option.map(parsed, (decoded) => decoded.error.type)
  const errorType = Option.getOrElse(bodyType, () => known?.[1] ?? (status >= 500 ? "api_error" : "unknown_error"))
  const message = Option.match(Option.flatMapNullable(parsed, (decoded) => decoded.error.message), {
    onNone: () => body.trim() === "" ? `HTTP ${status} with an empty body` : `HTTP ${status}: ${excerpt(body)}`,
    onSome: (text) => text
  })
  const requestId = Option.orElse(
    rateLimits.requestId,
    () => Option.flatMapNullable(parsed, (decoded) => decoded.request_id)
  )
  const fields: ResponseErrorFields = { status, errorType, message, requestId, rateLimits }
  const isSpendLimit = Option.exists(parsed, (decoded) => decoded.error.details?.error_code === spendLimitCode)
  if (status === 429 && isSpendLimit) {
    return new SpendLimitReachedError(fields)
  }
  const errorClass = known?.[0] ?? byErrorType.get(errorType) ?? (status >= 500 ? ApiError : UnknownApiError)
  return new errorClass(fields)
}

const tags = new Set<string>([
  "RateLimitError",
  "SpendLimitReachedError",
  "OverloadedError",
  "ApiError",
  "GatewayTimeoutError",
  "InvalidRequestError",
  "AuthenticationError",
  "BillingError",
  "PermissionError",
  "NotFoundError",
  "ConflictError",
  "RequestTooLargeError",
  "UnknownApiError",
  "MalformedResponseError",
  "TimeoutError",
  "ConnectionError"
])

/**
 * @since 0.1.0
 * @category refinements
 */
export const isClaudeError = (u: unknown): u is ClaudeError =>
  Predicate.hasProperty(u, "_tag") && typeof u._tag === "string" && tags.has(u._tag)

/**
 * @since 0.1.0
 * @category refinements
 */
export const isResponseError = (u: unknown): u is ResponseError =>
  isClaudeError(u) && "errorType" in u && "rateLimits" in u

const neverRetried = new Set<string>([
  "InvalidRequestError",
  "AuthenticationError",
  "BillingError",
  "PermissionError",
  "NotFoundError",
  "RequestTooLargeError",
  "SpendLimitReachedError",
  "MalformedResponseError"
])

const retryableStatus = (status: number): boolean => status === 408 || status === 409 || status === 429 || status >= 500

/**
 * Whether sending the same request again can succeed.
 *
 * Retryable: 408, 409, 429, 5xx (529 included), timeouts, connection errors.
 * `x-should-retry` overrides the status when present, except that 400, 401,
 * 402, 403, 404, 413, the spend-limit 429 and a malformed 2xx body are never
 * retried whatever a header says: the same request cannot succeed.
 * Anything that is not a {@link ClaudeError} is not retryable.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isRetryable = (error: unknown): boolean => {
  if (!isClaudeError(error) || neverRetried.has(error._tag)) {
    return false
  }
  if (!isResponseError(error)) {
    return true
  }
  return Option.getOrElse(error.rateLimits.shouldRetry, () => retryableStatus(error.status))
}

/**
 * Whether the error is a sign the service is struggling (rate limits,
 * overloads, 5xx, timeouts, lost connections), the failures a circuit
 * breaker counts. Client errors (4xx other than 408/429) are not.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isServiceFailure = (error: unknown): boolean => {
  if (!isClaudeError(error)) {
    return false
  }
  switch (error._tag) {
    case "RateLimitError":
    case "OverloadedError":
    case "ApiError":
    case "GatewayTimeoutError":
    case "TimeoutError":
    case "ConnectionError":
      return true
    case "UnknownApiError":
      return isResponseError(error) && (error.status === 408 || error.status === 429 || error.status >= 500)
    default:
      return false
  }
}
