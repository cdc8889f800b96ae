/**
 * Property-based bad input, error bodies: whatever body comes with whatever status (not JSON, empty, 1 MB,
 * nested 200,000 levels deep, unknown error types, fields of the wrong types), `ClaudeError.fromResponse` gives a
 * typed error of the table with bounded, secret-free text; a 2xx body that is not a Message is a
 * `MalformedResponseError` through the client, never a defect.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { DateTime, Effect, Exit, Layer, ManagedRuntime, Option, Redacted } from "effect"
import fc from "fast-check"
import * as ClaudeClient from "../../src/ClaudeClient.js"
import * as ClaudeError from "../../src/ClaudeError.js"
import * as RateLimitHeaders from "../../src/RateLimitHeaders.js"
import * as Scripted from "../../src/testing/ScriptedHttpClient.js"
import { errorBody, errorStatus, smallErrorBody } from "../support/arbitraries.js"
import { breathe } from "../support/eventLoop.js"

const runs = 10_000
const secret = "test-key-0123456789-abcdef"
const secrets = [Redacted.make(secret)]
const snapshot = RateLimitHeaders.RateLimitSnapshot.empty(DateTime.unsafeMake(0))

// what a proxy's page may echo back: the request's own headers, the key among them
const withEchoedKey = (body: string, echo: number): string =>
  echo === 0 ? body : echo === 1 ? `${body} x-api-key: ${secret}` : `{"error":{"message":"${secret}"}}${body}`

describe("error bodies always give a typed error with a bounded message", () => {
  it.prop(
    "fromResponse: a class of the table, bounded single-line text, no key, never a throw",
    [errorBody, errorStatus, fc.nat({ max: 2 })],
    ([raw, status, echo]) => {
      const body = withEchoedKey(raw, echo)
      const error = ClaudeError.fromResponse({ status, body, rateLimits: snapshot, secrets })
      expect(ClaudeError.isResponseError(error)).toBe(true)
      expect(Object.hasOwn(ClaudeError.classification, error._tag)).toBe(true)
      expect(error.status).toBe(status)
      expect(error.message.length).toBeLessThanOrEqual(1_001 + 20)
      expect(error.message).not.toMatch(/[\r\n]/)
      expect(error.errorType.length).toBeLessThanOrEqual(101)
      expect(Option.getOrElse(error.errorCode, () => "").length).toBeLessThanOrEqual(101)
      expect(Option.getOrElse(error.requestId, () => "").length).toBeLessThanOrEqual(201)
      for (const text of [error.message, error.errorType, Option.getOrElse(error.errorCode, () => "")]) {
        expect(text.includes(secret)).toBe(false)
      }
      // the predicates are total on it
      expect(typeof ClaudeError.isRetryable(error)).toBe("boolean")
      expect(typeof ClaudeError.isServiceFailure(error)).toBe("boolean")
    },
    { timeout: 300_000, fastCheck: { numRuns: runs } }
  )

  it.prop(
    "malformedResponse: bounded problem and body excerpt, no key",
    [errorBody, fc.string({ maxLength: 5_000 }), fc.nat({ max: 2 })],
    ([raw, problem, echo]) => {
      const body = withEchoedKey(raw, echo)
      const error = ClaudeError.malformedResponse({
        status: 200,
        body,
        problem: `${problem}${secret}`,
        rateLimits: snapshot,
        secrets
      })
      expect(error._tag).toBe("MalformedResponseError")
      expect(error.message.length).toBeLessThanOrEqual(700)
      expect(error.body.length).toBeLessThanOrEqual(301)
      expect(error.message.includes(secret) || error.body.includes(secret)).toBe(false)
    },
    { timeout: 300_000, fastCheck: { numRuns: runs } }
  )

  // One client for every case: its script answers each request with the case's body.
  let current: Scripted.ScriptedResponse = { status: 200, body: "" }
  const script: ReadonlyArray<Scripted.Step> = Array.from({ length: runs * 2 }, () => () => current)
  const runtime = ManagedRuntime.make(
    ClaudeClient.layer({
      apiKey: Redacted.make(secret),
      retry: false,
      circuitBreaker: false,
      admission: { enabled: false }
    }).pipe(Layer.provide(Scripted.layer(script)))
  )
  afterAll(() => runtime.dispose())

  it.live.prop(
    "through the client: any answer of any status is a Message or a typed error, never a defect",
    // (the largest bodies are fromResponse's business above: here they would only time the web Response)
    [smallErrorBody, errorStatus.filter((status) => status >= 200 && status <= 599), fc.nat({ max: 2 })],
    ([raw, status, echo]) =>
      Effect.gen(function*() {
        yield* breathe
        current = { status, body: withEchoedKey(raw, echo), headers: { "content-type": "application/json" } }
        const client = yield* ClaudeClient.ClaudeClient
        const exit = yield* Effect.exit(client.createMessage({
          model: "claude-sonnet-4-6",
          max_tokens: 16,
          messages: [{ role: "user", content: "hi" }]
        }))
        if (Exit.isSuccess(exit)) {
          expect(status >= 200 && status < 300).toBe(true)
          return
        }
        expect(exit.cause._tag).toBe("Fail")
        const error = exit.cause._tag === "Fail" ? exit.cause.error : undefined
        expect(ClaudeError.isClaudeError(error)).toBe(true)
        if (status >= 200 && status < 300) expect(error?._tag).toBe("MalformedResponseError")
        expect(String(error?.message).length).toBeLessThanOrEqual(1_100)
        expect(String(error?.message).includes(secret)).toBe(false)
      }).pipe(Effect.provide(runtime)),
    { timeout: 300_000, fastCheck: { numRuns: runs } }
  )
})
