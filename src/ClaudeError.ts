/**
 * Typed errors for everything the Claude API (or the network on the way to
 * it) can answer, classified from the status code, the JSON error body
 * `{"type":"error","error":{"type","message","details":{"error_code"}}}` and
 * the headers, plus the request that was refused before it was sent.
 *
 * Every error that came with a response carries its status, the error type,
 * message and `error_code` from the body, the `request-id`, and the decoded
 * rate-limit snapshot, so a caller can log, retry or page with the facts at
 * hand. Every class has a literal `_tag` (for `Effect.catchTag`) and the
 * {@link TypeId}; one table, {@link classification}, says how each is
 * treated.
 *
 * @since 0.1.0
 */
import type * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import type * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import type * as Redacted from "effect/Redacted"
import * as internal from "./internal/claudeError.js"
import * as ErrorText from "./internal/errorText.js"
import type { RateLimitSnapshot } from "./RateLimitHeaders.js"

/**
 * Carried by every {@link ClaudeError}: `isClaudeError` tests for it.
 *
 * @since 0.2.0
 * @category type ids
 */
export const TypeId: unique symbol = internal.TypeId

/**
 * @since 0.2.0
 * @category type ids
 */
export type TypeId = typeof TypeId

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
  /**
   * `error.message` from the body, or an excerpt of a body that is not JSON; bounded, and scrubbed of the
   * API key (a proxy's error page may echo the request headers).
   */
  readonly message: string
  /** `error.details.error_code` from the body, e.g. `ramp_limit_exceeded`, `enforced_spend_limit_reached`. */
  readonly errorCode: Option.Option<string>
  /** `request-id` header, else `request_id` from the body. */
  readonly requestId: Option.Option<string>
  /** The rate-limit headers of the response that carried this error. */
  readonly rateLimits: RateLimitSnapshot
}

/**
 * The fields a response error is constructed from: `errorCode` may be left
 * out (none).
 *
 * @since 0.2.0
 * @category models
 */
export interface ResponseErrorInput extends Omit<ResponseErrorFields, "errorCode"> {
  readonly errorCode?: Option.Option<string> | undefined
}

// Typed here, so the emitted declarations say `_tag: "RateLimitError"` and `[TypeId]`, not `_tag: Tag`.
const ClaudeErrorBase: <const Tag extends string>(tag: Tag) => new<A extends Record<string, any>>(
  args: A
) => Cause.YieldableError & { readonly _tag: Tag; readonly [TypeId]: TypeId } & Readonly<A> = internal.ClaudeErrorBase

const ResponseErrorBase: <const Tag extends string>(tag: Tag) => new(
  args: ResponseErrorInput
) => Cause.YieldableError & { readonly _tag: Tag; readonly [TypeId]: TypeId } & Readonly<ResponseErrorFields> =
  internal.ResponseErrorBase

/**
 * 429 `rate_limit_error`: a rate limit was hit. Retryable; the snapshot says
 * how long to wait.
 *
 * @since 0.1.0
 * @category errors
 */
export class RateLimitError extends ResponseErrorBase("RateLimitError") {}

/**
 * A 429 whose `error.details.error_code` names a spend limit
 * (`enforced_spend_limit_reached`, `contract_spend_limit_reached`, any
 * `*spend_limit*` code), carried in `errorCode`. It has no `retry-after`
 * and will not succeed until the spend limit resets, so it is never retried
 * and does not count as an outage.
 *
 * @since 0.1.0
 * @category errors
 */
export class SpendLimitReachedError extends ResponseErrorBase("SpendLimitReachedError") {}

/**
 * 529 `overloaded_error`: the API is overloaded for everyone. Retryable.
 *
 * @since 0.1.0
 * @category errors
 */
export class OverloadedError extends ResponseErrorBase("OverloadedError") {}

/**
 * 500 `api_error` and any other 5xx without a class of its own. Retryable.
 *
 * @since 0.1.0
 * @category errors
 */
export class ApiError extends ResponseErrorBase("ApiError") {}

/**
 * 504 `timeout_error`: the API timed out processing the request. Retryable.
 *
 * @since 0.1.0
 * @category errors
 */
export class GatewayTimeoutError extends ResponseErrorBase("GatewayTimeoutError") {}

/**
 * 400 `invalid_request_error`: the API refused the request. Never retried.
 * (Parameters that fail the client's own validation are a
 * {@link RequestValidationError}: nothing is sent.)
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidRequestError extends ResponseErrorBase("InvalidRequestError") {}

/**
 * 401 `authentication_error`. Never retried.
 *
 * @since 0.1.0
 * @category errors
 */
export class AuthenticationError extends ResponseErrorBase("AuthenticationError") {}

/**
 * 402 `billing_error`. Never retried.
 *
 * @since 0.1.0
 * @category errors
 */
export class BillingError extends ResponseErrorBase("BillingError") {}

/**
 * 403 `permission_error`. Never retried.
 *
 * @since 0.1.0
 * @category errors
 */
export class PermissionError extends ResponseErrorBase("PermissionError") {}

/**
 * 404 `not_found_error`. Never retried.
 *
 * @since 0.1.0
 * @category errors
 */
export class NotFoundError extends ResponseErrorBase("NotFoundError") {}

/**
 * 409 `conflict_error`. Retryable (as the official SDKs do).
 *
 * @since 0.1.0
 * @category errors
 */
export class ConflictError extends ResponseErrorBase("ConflictError") {}

/**
 * 413 `request_too_large`, often sent by the edge with a body that is not
 * JSON. Never retried: the same request will be just as large.
 *
 * @since 0.1.0
 * @category errors
 */
export class RequestTooLargeError extends ResponseErrorBase("RequestTooLargeError") {}

/**
 * Any status or error type this library does not know yet (the API adds types
 * over time). Retryable when the status is 408, 409, 429 or 5xx, or when
 * `x-should-retry: true` says so.
 *
 * @since 0.1.0
 * @category errors
 */
export class UnknownApiError extends ResponseErrorBase("UnknownApiError") {}

/**
 * A 2xx response whose body is not the JSON the endpoint documents (not JSON,
 * another shape, or nested too deeply to decode). Not retried: the request
 * was served, sending it again may be billed again.
 *
 * @since 0.1.0
 * @category errors
 */
export class MalformedResponseError extends ClaudeErrorBase("MalformedResponseError")<{
  readonly status: number
  /** What does not match, bounded (path and problem). */
  readonly message: string
  readonly requestId: Option.Option<string>
  readonly rateLimits: RateLimitSnapshot
  /** A bounded excerpt of the body that failed to decode, scrubbed of the API key. */
  readonly body: string
}> {}

/**
 * The attempt took longer than the client's per-attempt timeout. Retryable.
 *
 * @since 0.1.0
 * @category errors
 */
export class TimeoutError extends ClaudeErrorBase("TimeoutError")<{
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
export class ConnectionError extends ClaudeErrorBase("ConnectionError")<{
  readonly message: string
  readonly cause: unknown
}> {}

/**
 * One problem with request parameters: where (`messages[0].role`, empty for
 * the parameters as a whole) and what, in a line.
 *
 * @since 0.2.0
 * @category models
 */
export interface ValidationIssue {
  readonly path: string
  readonly message: string
}

/**
 * The parameters failed the client's own validation, or cannot be sent as
 * JSON (a `BigInt`, a cycle, nesting too deep): **nothing was sent** and no
 * budget was spent. Never retried. `message` is one short line (the first
 * problems, each with its path); `issues` lists them (at most 20).
 *
 * @since 0.2.0
 * @category errors
 */
export class RequestValidationError extends ClaudeErrorBase("RequestValidationError")<{
  readonly message: string
  readonly issues: ReadonlyArray<ValidationIssue>
}> {}

/**
 * A {@link RequestValidationError} from a schema failure, or from anything
 * else that stopped the parameters from being encoded (the thrown value of
 * `JSON.stringify`, say).
 *
 * @since 0.2.0
 * @category constructors
 */
export const requestValidationError = (
  failure: ParseResult.ParseError | { readonly reason: unknown }
): RequestValidationError => new RequestValidationError(internal.validationFields(failure))

/**
 * The client's `baseUrl` (or `ANTHROPIC_BASE_URL`) is not an absolute
 * `http:`/`https:` URL without query or fragment. Raised when the client's
 * layer is built, before any request; not a {@link ClaudeError} (no call was
 * made).
 *
 * @since 0.2.0
 * @category errors
 */
export class InvalidBaseUrlError extends Data.TaggedError("InvalidBaseUrlError")<{
  /** The value as given (bounded, scrubbed of anything shaped like an API key). */
  readonly baseUrl: string
  readonly reason: string
}> {
  override get message(): string {
    return `Invalid base URL ${JSON.stringify(this.baseUrl)}: ${this.reason}`
  }
}

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
 * Every way a call to the Claude API can fail on its own (before the retry
 * policy and the circuit breaker have their say).
 *
 * @since 0.1.0
 * @category models
 */
export type ClaudeError =
  | ResponseError
  | MalformedResponseError
  | TimeoutError
  | ConnectionError
  | RequestValidationError

/**
 * How an error is treated: `"never"`, `"always"`, or `"by-status"` (the
 * `x-should-retry` header, else the status: 408, 409, 429, 5xx for retries;
 * 408, 429, 5xx for outages).
 *
 * @since 0.2.0
 * @category models
 */
export type Rule = "never" | "always" | "by-status"

/**
 * How errors are treated in {@link classification}.
 *
 * @since 0.2.0
 * @category models
 */
export interface Rules {
  /** Whether sending the same request again can succeed. */
  readonly retry: Rule
  /** Whether it is a sign the service is struggling: what a circuit breaker counts. */
  readonly outage: Rule
}

/**
 * The row of an error that came with a response.
 *
 * @since 0.2.0
 * @category models
 */
export interface ResponseClassification<E extends ResponseError = ResponseError> extends Rules {
  readonly response: true
  readonly make: (fields: ResponseErrorInput) => E
  /** The status this class stands for, when it has one of its own. */
  readonly status?: number
  /** The body's `error.type` this class stands for, when it has one of its own. */
  readonly errorType?: string
}

/**
 * The row of an error that came without a response.
 *
 * @since 0.2.0
 * @category models
 */
export interface OtherClassification extends Rules {
  readonly response: false
}

/**
 * One row of {@link classification}.
 *
 * @since 0.2.0
 * @category models
 */
export type Classification<Tag extends ClaudeError["_tag"] = ClaudeError["_tag"]> = Tag extends ResponseError["_tag"]
  ? ResponseClassification<Extract<ResponseError, { readonly _tag: Tag }>>
  : OtherClassification

const row = <E extends ResponseError>(
  errorClass: new(fields: ResponseErrorInput) => E,
  retry: Rule,
  outage: Rule,
  status?: number,
  errorType?: string
): ResponseClassification<E> => ({
  response: true,
  make: (fields) => new errorClass(fields),
  retry,
  outage,
  ...(status === undefined ? {} : { status }),
  ...(errorType === undefined ? {} : { errorType })
})

/**
 * The one table of Claude errors: for each tag, whether it came with a
 * response, the status and error type it stands for, and whether it is
 * retried and counted as an outage. `isClaudeError`, `isResponseError`,
 * `isRetryable`, `isServiceFailure` and `fromResponse` all read it; the
 * compiler checks it has exactly one row per member of {@link ClaudeError}.
 *
 * @since 0.2.0
 * @category classification
 */
export const classification: { readonly [Tag in ClaudeError["_tag"]]: Classification<Tag> } = {
  InvalidRequestError: row(InvalidRequestError, "never", "never", 400, "invalid_request_error"),
  AuthenticationError: row(AuthenticationError, "never", "never", 401, "authentication_error"),
  BillingError: row(BillingError, "never", "never", 402, "billing_error"),
  PermissionError: row(PermissionError, "never", "never", 403, "permission_error"),
  NotFoundError: row(NotFoundError, "never", "never", 404, "not_found_error"),
  ConflictError: row(ConflictError, "by-status", "never", 409, "conflict_error"),
  RequestTooLargeError: row(RequestTooLargeError, "never", "never", 413, "request_too_large"),
  RateLimitError: row(RateLimitError, "by-status", "never", 429, "rate_limit_error"),
  // a 429 with a spend-limit error_code: see fromResponse
  SpendLimitReachedError: row(SpendLimitReachedError, "never", "never"),
  ApiError: row(ApiError, "by-status", "always", 500, "api_error"),
  GatewayTimeoutError: row(GatewayTimeoutError, "by-status", "always", 504, "timeout_error"),
  OverloadedError: row(OverloadedError, "by-status", "always", 529, "overloaded_error"),
  UnknownApiError: row(UnknownApiError, "by-status", "by-status"),
  MalformedResponseError: { response: false, retry: "never", outage: "never" },
  TimeoutError: { response: false, retry: "always", outage: "always" },
  ConnectionError: { response: false, retry: "always", outage: "always" },
  RequestValidationError: { response: false, retry: "never", outage: "never" }
}

type ResponseRow = ResponseClassification

const responseRows: ReadonlyArray<ResponseRow> = Object.values<ResponseRow | OtherClassification>(classification)
  .filter((row): row is ResponseRow => row.response)

const byStatus: ReadonlyMap<number, ResponseRow> = new Map(
  responseRows.flatMap((row) => row.status === undefined ? [] : [[row.status, row] as const])
)

// Errors reported without a telling status (inside a 200 stream, or with an
// unlisted status) are classified by their body type instead.
const byErrorType: ReadonlyMap<string, ResponseRow> = new Map(
  responseRows.flatMap((row) => row.errorType === undefined ? [] : [[row.errorType, row] as const])
)

/**
 * The {@link classification} row of an error, if it is a Claude error.
 *
 * @since 0.2.0
 * @category classification
 */
export const classify = (u: unknown): Option.Option<Classification> =>
  isClaudeError(u) ? Option.some(classification[u._tag]) : Option.none()

/**
 * @since 0.1.0
 * @category refinements
 */
export const isClaudeError = (u: unknown): u is ClaudeError =>
  Predicate.hasProperty(u, TypeId) && Predicate.hasProperty(u, "_tag") && typeof u._tag === "string"
  && Object.hasOwn(classification, u._tag)

/**
 * @since 0.1.0
 * @category refinements
 */
export const isResponseError = (u: unknown): u is ResponseError => isClaudeError(u) && classification[u._tag].response

/**
 * Whether a `*spend_limit*` error code, e.g. `enforced_spend_limit_reached`
 * or `contract_spend_limit_reached`.
 *
 * @since 0.2.0
 * @category predicates
 */
export const isSpendLimitCode = (code: string): boolean => code.includes("spend_limit")

/**
 * A bounded, single-line excerpt of a response body, for messages and logs.
 *
 * @since 0.1.0
 * @category utils
 */
export const excerpt = (body: string): string => ErrorText.excerpt(body)

/**
 * Classifies an error response. The status decides the class; a status
 * without a class of its own is classified by the body's error type, else
 * {@link UnknownApiError} (any other 5xx is an {@link ApiError}); a 429 with
 * a spend-limit `error_code` is a {@link SpendLimitReachedError}. A body that
 * is not JSON still yields the right class, with an excerpt as message.
 *
 * Text from the body is bounded and scrubbed of `secrets` (pass the API
 * key) and of anything shaped like an Anthropic key.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromResponse = (options: {
  readonly status: number
  readonly body: string
  readonly rateLimits: RateLimitSnapshot
  readonly secrets?: ReadonlyArray<Redacted.Redacted<string>> | undefined
}): ResponseError => {
  const known = byStatus.get(options.status)
  const fields = internal.responseFields(options, known?.errorType)
  if (fields.status === 429 && Option.exists(fields.errorCode, isSpendLimitCode)) {
    return new SpendLimitReachedError(fields)
  }
  const row = known ?? byErrorType.get(fields.errorType)
    ?? classification[fields.status >= 500 ? "ApiError" : "UnknownApiError"]
  return row.make(fields)
}

/**
 * A {@link MalformedResponseError} for a 2xx body that did not decode:
 * `problem` says what (bounded), `body` keeps a bounded excerpt, both
 * scrubbed of `secrets` and of anything shaped like an Anthropic key.
 *
 * @since 0.2.0
 * @category constructors
 */
export const malformedResponse = (options: {
  readonly status: number
  readonly body: string
  readonly problem: string
  readonly rateLimits: RateLimitSnapshot
  readonly secrets?: ReadonlyArray<Redacted.Redacted<string>> | undefined
}): MalformedResponseError => new MalformedResponseError(internal.malformedFields(options))

/**
 * A schema failure as one bounded line (`content[0].type: Expected …,
 * actual …`), for messages. Never throws, however deep the value.
 *
 * @since 0.2.0
 * @category utils
 */
export const describeParseError = (error: ParseResult.ParseError): string =>
  ErrorText.formatIssues(ErrorText.describeParseError(error))

/**
 * Whether sending the same request again can succeed (the `retry` column of
 * {@link classification}).
 *
 * Retryable: 408, 409, 429, 5xx (529 included), timeouts, connection errors.
 * `x-should-retry` overrides the status when present, except that 400, 401,
 * 402, 403, 404, 413, the spend-limit 429, a malformed 2xx body and a request
 * that failed validation are never retried whatever a header says: the same
 * request cannot succeed. Anything that is not a {@link ClaudeError} is not
 * retryable.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isRetryable = (error: unknown): boolean =>
  isClaudeError(error)
  && internal.retryHolds(classification[error._tag].retry, isResponseError(error) ? error : undefined)

/**
 * Whether the error is a sign the service is struggling (overloads, 5xx,
 * timeouts, lost connections), the failures a circuit breaker counts (the
 * `outage` column of {@link classification}). Rate-limit 429s are not: the
 * API is up and pacing us, and admission handles them. Client errors (4xx
 * other than 408) are not either.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isServiceFailure = (error: unknown): boolean =>
  isClaudeError(error)
  && internal.outageHolds(classification[error._tag].outage, isResponseError(error) ? error : undefined)
