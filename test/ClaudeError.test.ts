import { describe, expect, it } from "@effect/vitest"
import { DateTime, Duration, Effect, Either, Option, Redacted, Schema } from "effect"
import * as ClaudeError from "../src/ClaudeError.js"
import * as Messages from "../src/Messages.js"
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

  it.each(["enforced_spend_limit_reached", "contract_spend_limit_reached", "workspace_spend_limit_exhausted"])(
    "a 429 with error_code %s is SpendLimitReachedError carrying the code, never retried, not an outage",
    (code) => {
      const error = classify(
        429,
        apiBody("rate_limit_error", "spend limit", { details: { error_code: code } }),
        { "x-should-retry": "true" }
      )
      expect(error._tag).toBe("SpendLimitReachedError")
      expect(error.errorCode).toEqual(Option.some(code))
      expect(ClaudeError.isRetryable(error)).toBe(false)
      expect(ClaudeError.isServiceFailure(error)).toBe(false)
    }
  )

  it("every response error carries error.details.error_code (none when absent or not a string)", () => {
    const ramp = classify(429, apiBody("rate_limit_error", "ramp", { details: { error_code: "ramp_limit_exceeded" } }))
    expect(ramp._tag).toBe("RateLimitError")
    expect(ramp.errorCode).toEqual(Option.some("ramp_limit_exceeded"))
    expect(ClaudeError.isRetryable(ramp)).toBe(true)
    expect(classify(529, apiBody("overloaded_error")).errorCode).toEqual(Option.none())
    // a spend-limit code on another status is that status's error
    const budget400 = classify(400, apiBody("invalid_request_error", "x", { details: { error_code: "spend_limit" } }))
    expect(budget400).toMatchObject({ _tag: "InvalidRequestError", errorCode: Option.some("spend_limit") })
    // odd details do not cost the type and message
    const odd = classify(429, apiBody("rate_limit_error", "kept", { details: { error_code: 5 } }))
    expect(odd).toMatchObject({ _tag: "RateLimitError", message: "kept", errorCode: Option.none() })
    expect(classify(429, apiBody("rate_limit_error", "kept", { details: "nope" })).message).toBe("kept")
    // constructed by hand, errorCode may be left out
    const byHand = new ClaudeError.RateLimitError({
      status: 429,
      errorType: "rate_limit_error",
      message: "m",
      requestId: Option.none(),
      rateLimits: RateLimitHeaders.decodeAt({}, now)
    })
    expect(byHand.errorCode).toEqual(Option.none())
  })

  it("messages are bounded: a 1 MB message or body gives a short message", () => {
    const huge = "x".repeat(1_000_000)
    expect(classify(400, apiBody("invalid_request_error", huge)).message.length).toBeLessThanOrEqual(1_001)
    expect(classify(502, huge).message.length).toBeLessThan(400)
    expect(classify(400, { type: "error", error: { type: huge, message: "m" } }).errorType.length)
      .toBeLessThanOrEqual(101)
  })

  it("the API key is scrubbed from messages: the client's own key and anything shaped like one", () => {
    const key = "proxy-key-0123456789"
    const page =
      `<html><pre>POST /v1/messages\nx-api-key: ${key}\nauthorization: Bearer sk-ant-api03-Abc_def-123</pre></html>`
    const error = ClaudeError.fromResponse({
      status: 502,
      body: page,
      rateLimits: RateLimitHeaders.decodeAt({}, now),
      secrets: [Redacted.make(key)]
    })
    expect(error.message).toContain("x-api-key: [redacted]")
    expect(error.message).not.toContain(key)
    expect(error.message).not.toContain("Abc_def")
    const inJson = ClaudeError.fromResponse({
      status: 400,
      body: JSON.stringify(apiBody("invalid_request_error", `bad header x-api-key: ${key}`)),
      rateLimits: RateLimitHeaders.decodeAt({}, now),
      secrets: [Redacted.make(key)]
    })
    expect(inJson.message).toBe("bad header x-api-key: [redacted]")
  })

  it("a deeply nested body is not a defect: it is classified by status", () => {
    const deep = `{"error":${"[".repeat(100_000)}${"]".repeat(100_000)}}`
    const error = classify(529, deep)
    expect(error._tag).toBe("OverloadedError")
    expect(error.message.length).toBeLessThan(400)
  })
})

describe("ClaudeError classification", () => {
  it("one row per error: every Claude error has the type id and its literal tag, look-alikes do not count", () => {
    const rateLimits = RateLimitHeaders.decodeAt({}, now)
    const fields = { status: 500, errorType: "e", message: "m", requestId: Option.none(), rateLimits }
    for (const [tag, row] of Object.entries(ClaudeError.classification)) {
      if (!row.response) continue
      const error = row.make(fields)
      expect(error._tag).toBe(tag)
      expect(error[ClaudeError.TypeId]).toBe(ClaudeError.TypeId)
      expect(ClaudeError.isClaudeError(error)).toBe(true)
      expect(ClaudeError.isResponseError(error)).toBe(true)
      expect(error).toBeInstanceOf(Error)
    }
    const validation = ClaudeError.requestValidationError({ reason: new TypeError("cycle") })
    expect(ClaudeError.isClaudeError(validation)).toBe(true)
    expect(ClaudeError.isResponseError(validation)).toBe(false)
    expect(ClaudeError.classify(validation)).toEqual(Option.some({ response: false, retry: "never", outage: "never" }))
    expect(ClaudeError.isClaudeError({ _tag: "ApiError", status: 500 })).toBe(false)
    expect(ClaudeError.isClaudeError(new ClaudeError.InvalidBaseUrlError({ baseUrl: "x", reason: "r" }))).toBe(false)
  })

  it("catchTag narrows on the literal tags", () =>
    Effect.gen(function*() {
      const failing: Effect.Effect<string, ClaudeError.ClaudeError> = Effect.fail(
        classify(429, apiBody("rate_limit_error"))
      )
      const caught = yield* failing.pipe(
        Effect.catchTag("RateLimitError", (error) => Effect.succeed(`${error.status} ${error.errorType}`)),
        Effect.catchTags({
          SpendLimitReachedError: (error) => Effect.succeed(Option.getOrElse(error.errorCode, () => ""))
        }),
        Effect.orElseSucceed(() => "other")
      )
      expect(caught).toBe("429 rate_limit_error")
    }).pipe(Effect.runPromise))
})

describe("ClaudeError.requestValidationError", () => {
  const encode = Schema.encodeUnknownEither(Messages.CreateMessageParams, Messages.encodeOptions)
  const validationOf = (params: unknown) => {
    const result = encode(params)
    if (Either.isRight(result)) throw new Error("expected a failure")
    return ClaudeError.requestValidationError(result.left)
  }

  it("one short line: the path and the problem", () => {
    const error = validationOf({ model: "claude-sonnet-4-6", max_tokens: -1, messages: [] })
    expect(error.message).toBe(
      "Invalid request parameters (nothing was sent): max_tokens: Expected a positive number, actual -1"
    )
    expect(error.issues).toEqual([{ path: "max_tokens", message: "Expected a positive number, actual -1" }])
    const role = validationOf({ model: "m", max_tokens: 1, messages: [{ role: "system", content: "x" }] })
    expect(role.issues).toEqual([{
      path: "messages[0].role",
      message: `Expected "user" | "assistant", actual "system"`
    }])
  })

  it("several problems, a huge value and a missing field stay bounded", () => {
    const error = validationOf({
      max_tokens: 0,
      temperature: "hot".repeat(100_000),
      top_k: 1.5,
      messages: [{ role: "user", content: 5 }]
    })
    expect(error.message.length).toBeLessThan(700)
    expect(error.message).toContain("(and ")
    expect(error.issues.map((issue) => issue.path)).toEqual(
      expect.arrayContaining(["model", "max_tokens", "temperature", "top_k", "messages[0].content"])
    )
    expect(error.issues.find((issue) => issue.path === "model")?.message).toBe("is missing")
    expect(error.issues.every((issue) => issue.message.length < 250)).toBe(true)
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
    // a look-alike without the type id is not a Claude error
    expect(ClaudeError.isRetryable({ _tag: "RateLimitError" })).toBe(false)
    expect(ClaudeError.isRetryable("RateLimitError")).toBe(false)
  })

  it("isServiceFailure counts outages, not rate limits (the API is up and pacing us) or client errors", () => {
    expect(ClaudeError.isServiceFailure(classify(429, apiBody("rate_limit_error")))).toBe(false)
    expect(ClaudeError.isServiceFailure(classify(429, "Too Many Requests"))).toBe(false)
    expect(ClaudeError.isServiceFailure(classify(408, ""))).toBe(true)
    expect(ClaudeError.isServiceFailure(classify(529, ""))).toBe(true)
    expect(ClaudeError.isServiceFailure(classify(503, ""))).toBe(true)
    expect(ClaudeError.isServiceFailure(classify(400, ""))).toBe(false)
    expect(ClaudeError.isServiceFailure(classify(409, ""))).toBe(false)
    expect(ClaudeError.isServiceFailure(new ClaudeError.ConnectionError({ message: "reset", cause: undefined })))
      .toBe(true)
  })
})
