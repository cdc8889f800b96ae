/**
 * The work behind the Claude errors: the base every error class extends
 * (a literal `_tag`, the `TypeId`), reading an error response's body into
 * the fields an error carries, and the status rules of the classification.
 *
 * @internal
 */
import type * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import type * as Redacted from "effect/Redacted"
import type * as ClaudeError from "../ClaudeError.js"
import type { RateLimitSnapshot } from "../RateLimitHeaders.js"
import * as ErrorText from "./errorText.js"

/** @internal */
export const TypeId: ClaudeError.TypeId = Symbol.for("claude-rate-limiter/ClaudeError") as ClaudeError.TypeId

/** The base of an error class: its literal `_tag`, and the `TypeId` and its tag as `name` on its prototype. @internal */
export const ClaudeErrorBase = <const Tag extends string>(tag: Tag): new<A extends Record<string, any>>(
  args: A
) => Cause.YieldableError & { readonly _tag: Tag; readonly [TypeId]: ClaudeError.TypeId } & Readonly<A> => {
  class Base extends Data.Error<{}> {
    readonly _tag = tag
  }
  ;(Base.prototype as any)[TypeId] = TypeId
  ;(Base.prototype as any).name = tag
  return Base as any
}

/** The base of an error that came with a response: `errorCode` may be left out (none). @internal */
export const ResponseErrorBase = <const Tag extends string>(tag: Tag): new(
  args: ClaudeError.ResponseErrorInput
) =>
  & Cause.YieldableError
  & { readonly _tag: Tag; readonly [TypeId]: ClaudeError.TypeId }
  & Readonly<ClaudeError.ResponseErrorFields> =>
{
  const Base = ClaudeErrorBase(tag)<ClaudeError.ResponseErrorFields>
  return class extends Base {
    constructor(args: ClaudeError.ResponseErrorInput) {
      super({ ...args, errorCode: args.errorCode ?? Option.none() })
    }
  }
}

const maxIssues = 20

const describeThrown = (thrown: unknown): string => {
  const text = thrown instanceof Error ? thrown.message : typeof thrown === "string" ? thrown : "an error"
  return ErrorText.excerpt(text, 200)
}

/** The fields of a `RequestValidationError`: a one-line message and at most 20 issues. @internal */
export const validationFields = (
  failure: ParseResult.ParseError | { readonly reason: unknown }
): { readonly message: string; readonly issues: ReadonlyArray<ClaudeError.ValidationIssue> } => {
  const issues = "reason" in failure
    ? [{ path: "", message: `cannot be sent as JSON: ${describeThrown(failure.reason)}` }]
    : ErrorText.describeParseError(failure)
  return {
    message: `Invalid request parameters (nothing was sent): ${ErrorText.formatIssues(issues)}`,
    issues: issues.slice(0, maxIssues)
  }
}

interface ErrorBody {
  readonly type: Option.Option<string>
  readonly message: Option.Option<string>
  readonly errorCode: Option.Option<string>
  readonly requestId: Option.Option<string>
}

const stringAt = (value: unknown, key: string): Option.Option<string> =>
  Predicate.hasProperty(value, key) && typeof value[key] === "string" ? Option.some(value[key]) : Option.none()

// Each field is read on its own: a body with an odd `details` still yields its type and message.
const parseErrorBody = (body: string): Option.Option<ErrorBody> => {
  let json: unknown
  try {
    json = JSON.parse(body)
  } catch {
    return Option.none()
  }
  if (!Predicate.hasProperty(json, "error") || !Predicate.isObject(json.error)) return Option.none()
  const error = json.error
  return Option.some({
    type: stringAt(error, "type"),
    message: stringAt(error, "message"),
    errorCode: Predicate.hasProperty(error, "details") ? stringAt(error.details, "error_code") : Option.none(),
    requestId: stringAt(json, "request_id")
  })
}

/** What an error response is read from. @internal */
export interface ResponseOptions {
  readonly status: number
  readonly body: string
  readonly rateLimits: RateLimitSnapshot
  readonly secrets?: ReadonlyArray<Redacted.Redacted<string>> | undefined
}

/**
 * The fields of an error response: from the body when it is the API's JSON
 * error, else `documentedType` (the type of the status's own class) and an
 * excerpt; bounded and scrubbed of `secrets` and of anything shaped like an
 * Anthropic key.
 *
 * @internal
 */
export const responseFields = (
  options: ResponseOptions,
  documentedType: string | undefined
): ClaudeError.ResponseErrorInput & { readonly errorCode: Option.Option<string> } => {
  const { rateLimits, status } = options
  const clean = (text: string, maxLength: number) =>
    ErrorText.excerpt(ErrorText.scrub(text, options.secrets), maxLength)
  const parsed = parseErrorBody(options.body)
  const bodyType = Option.flatMap(parsed, (body) => body.type)
  const errorType = Option.match(bodyType, {
    onNone: () => documentedType ?? (status >= 500 ? "api_error" : "unknown_error"),
    onSome: (type) => clean(type, 100)
  })
  const message = Option.match(Option.flatMap(parsed, (body) => body.message), {
    onNone: () =>
      options.body.trim() === "" ? `HTTP ${status} with an empty body` : `HTTP ${status}: ${clean(options.body, 300)}`,
    onSome: (text) => clean(text, ErrorText.maxMessageLength)
  })
  const errorCode = Option.map(Option.flatMap(parsed, (body) => body.errorCode), (code) => clean(code, 100))
  const requestId = Option.orElse(
    rateLimits.requestId,
    () => Option.map(Option.flatMap(parsed, (body) => body.requestId), (id) => clean(id, 200))
  )
  return { status, errorType, message, errorCode, requestId, rateLimits }
}

/** The fields of a `MalformedResponseError` for a 2xx body that did not decode. @internal */
export const malformedFields = (options: ResponseOptions & { readonly problem: string }) => ({
  status: options.status,
  message: `Response body does not match the API schema: ${
    ErrorText.excerpt(ErrorText.scrub(options.problem, options.secrets), 600)
  }`,
  requestId: options.rateLimits.requestId,
  rateLimits: options.rateLimits,
  body: ErrorText.excerpt(ErrorText.scrub(options.body, options.secrets))
})

const retryableStatus = (status: number): boolean => status === 408 || status === 409 || status === 429 || status >= 500

// A 429 means the API is up and pacing us: admission handles it, it is not an outage.
const outageStatus = (status: number): boolean => status === 408 || status >= 500

const byRule = (
  rule: ClaudeError.Rule,
  response: ClaudeError.ResponseError | undefined,
  status: (status: number) => boolean,
  header: boolean
): boolean => {
  if (rule !== "by-status") return rule === "always"
  if (response === undefined) return false
  const fromStatus = status(response.status)
  return header ? Option.getOrElse(response.rateLimits.shouldRetry, () => fromStatus) : fromStatus
}

/** The `retry` column of a row applied to an error: `x-should-retry`, else the status. @internal */
export const retryHolds = (
  rule: ClaudeError.Rule,
  response: ClaudeError.ResponseError | undefined
): boolean => byRule(rule, response, retryableStatus, true)

/** The `outage` column of a row applied to an error: the status alone. @internal */
export const outageHolds = (
  rule: ClaudeError.Rule,
  response: ClaudeError.ResponseError | undefined
): boolean => byRule(rule, response, outageStatus, false)
