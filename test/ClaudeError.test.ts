import { describe, expect, it } from "@effect/vitest"
import { DateTime, Duration, Option } from "effect"
import * as ClaudeError from "../src/ClaudeError.js"
import * as RateLimitHeaders from "../src/RateLimitHeaders.js"

const now = DateTime.unsafeMake("2026-11-22T10:00:00Z")

const classify = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  ClaudeError.fromResponse({
    status,
    body: typeof body === "string" ? body : JSON.stringify(body),
    rateLimits: RateLimitHeaders.decodeAt(headers, now)
  })

const apiBody = (type: string, message = `a ${type}`, extra: Record<string, unknown> = {}) => ({
  type: "error",
  error: { type, message, ...extra },
  request_id: "req_body"
})

describe("ClaudeError.fromResponse", () => {
  it.each([
    [400, "invalid_request_error", "InvalidRequestError", false],
    [401, "authentication_error", "AuthenticationError", false],
    [402, "billing_error", "BillingError", false],
    [403, "permission_error", "PermissionError", false],
    [404, "not_found_error", "NotFoundError", false],
    [409, "conflict_error", "ConflictError", true],
    [413, "request_too_large", "RequestTooLargeError", false],
    [429, "rate_limit_error", "RateLimitError", true],
    [500, "api_error", "ApiError", true],
    [502, "api_error", "ApiError", true],
    [503, "api_error", "ApiError", true],
    [504, "timeout_error", "GatewayTimeoutError", true],
    [529, "overloaded_error", "OverloadedError", true]
  ])("%i %s → %s (retryable: %s)", (status, type, tag, retryable) => {
    const error = classify(status, apiBody(type))
    expect(error._tag).toBe(tag)
    expect(error).toMatchObject({ status, errorType: type, message: `a ${type}` })
    expect(ClaudeError.isRetryable(error)).toBe(retryable)
  })

  it("keeps status, body message and request-id (header first, then body)", () => {
    const fromBody = classify(429, apiBody("rate_limit_error", "Number of request tokens has exceeded your limit"))
    expect(fromBody.requestId).toEqual(Option.some("req_body"))
    expect(fromBody.message).toBe("Number of request tokens has exceeded your limit")
    const fromHeader = classify(429, apiBody("rate_limit_error"), { "request-id": "req_header", "retry-after": "3" })
    expect(fromHeader.requestId).toEqual(Option.some("req_header"))
    expect(fromHeader.rateLimits.retryAfter).toEqual(Option.some(Duration.seconds(3)))
  })

  it("a body that is not JSON still yields the right class, with an excerpt as message", () => {
    const edge413 = classify(413, "<html><head><title>413 Request Entity Too Large</title></head></html>")
    expect(edge413._tag).toBe("RequestTooLargeError")
    expect(edge413.errorType).toBe("request_too_large")
    expect(edge413.message).toContain("413 Request Entity Too Large")
    expect(classify(502, "Bad Gateway")._tag).toBe("ApiError")
    expect(classify(529, "")._tag).toBe("OverloadedError")
    expect(classify(529, "").message).toBe("HTTP 529 with an empty body")
    expect(classify(500, "x".repeat(10_000)).message.length).toBeLessThan(400)
  })

  it("unknown error types and statuses still decode, into UnknownApiError unless the type is known", () => {
    const newType = classify(422, apiBody("quota_shape_error"))
    expect(newType._tag).toBe("UnknownApiError")
    expect(newType.errorType).toBe("quota_shape_error")
    expect(ClaudeError.isRetryable(newType)).toBe(false)
    // a status without a class of its own, classified by a known body type
    expect(classify(418, apiBody("overloaded_error"))._tag).toBe("OverloadedError")
    // a known status with a new type keeps the status's class and reports the type
    expect(classify(400, apiBody("shiny_new_error"))).toMatchObject({
      _tag: "InvalidRequestError",
      errorType: "shiny_new_error"
    })
    expect(ClaudeError.isRetryable(classify(408, "timeout"))).toBe(true)
  })

  it("the spend-limit 429 is its own error and is never retried", () => {
    const error = classify(
      429,
      apiBody("rate_limit_error", "spend limit", { details: { error_code: "enforced_spend_limit_reached" } })
    )
    expect(error._tag).toBe("SpendLimitReachedError")
    expect(ClaudeError.isRetryable(error)).toBe(false)
    expect(ClaudeError.isServiceFailure(error)).toBe(false)
  })
})

describe("ClaudeError.isRetryable", () => {
  it("x-should-retry overrides the status, except for errors that cannot succeed on retry", () => {
    expect(ClaudeError.isRetryable(classify(500, apiBody("api_error"), { "x-should-retry": "false" }))).toBe(false)
    expect(ClaudeError.isRetryable(classify(422, apiBody("odd_error"), { "x-should-retry": "true" }))).toBe(true)
    expect(ClaudeError.isRetryable(classify(400, apiBody("invalid_request_error"), { "x-should-retry": "true" })))
      .toBe(false)
    expect(ClaudeError.isRetryable(classify(413, "too big", { "x-should-retry": "true" }))).toBe(false)
  })

  it("timeouts and connection errors are retryable; anything that is not a ClaudeError is not", () => {
    expect(ClaudeError.isRetryable(new ClaudeError.TimeoutError({ timeout: Duration.seconds(1), message: "slow" })))
      .toBe(true)
    expect(ClaudeError.isRetryable(new ClaudeError.ConnectionError({ message: "reset", cause: undefined }))).toBe(true)
    expect(ClaudeError.isRetryable(new Error("boom"))).toBe(false)
    expect(ClaudeError.isRetryable({ _tag: "RateLimitError" })).toBe(true)
    expect(ClaudeError.isRetryable("RateLimitError")).toBe(false)
  })

  it("isServiceFailure counts outages, not client errors", () => {
    expect(ClaudeError.isServiceFailure(classify(429, apiBody("rate_limit_error")))).toBe(true)
    expect(ClaudeError.isServiceFailure(classify(529, ""))).toBe(true)
    expect(ClaudeError.isServiceFailure(classify(503, ""))).toBe(true)
    expect(ClaudeError.isServiceFailure(classify(400, ""))).toBe(false)
    expect(ClaudeError.isServiceFailure(classify(409, ""))).toBe(false)
    expect(ClaudeError.isServiceFailure(new ClaudeError.ConnectionError({ message: "reset", cause: undefined })))
      .toBe(true)
  })
})
