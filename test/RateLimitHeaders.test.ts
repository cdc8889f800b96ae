import * as Headers from "@effect/platform/Headers"
import { describe, expect, it } from "@effect/vitest"
import { DateTime, Duration, Effect, FastCheck, Option } from "effect"
import * as RateLimitHeaders from "../src/RateLimitHeaders.js"
import { captureLogs } from "./support/logs.js"

const now = DateTime.unsafeMake("2026-11-22T10:00:00Z")
const at = (iso: string) => Option.some(DateTime.unsafeMake(iso))

const fullSet = {
  "anthropic-ratelimit-requests-limit": "50",
  "anthropic-ratelimit-requests-remaining": "49",
  "anthropic-ratelimit-requests-reset": "2026-11-22T10:00:01Z",
  "anthropic-ratelimit-tokens-limit": "38000",
  "anthropic-ratelimit-tokens-remaining": "37000",
  "anthropic-ratelimit-tokens-reset": "2026-11-22T10:00:02.500Z",
  "anthropic-ratelimit-input-tokens-limit": "30000",
  "anthropic-ratelimit-input-tokens-remaining": "30000",
  "anthropic-ratelimit-input-tokens-reset": "2026-11-22T10:00:00Z",
  "anthropic-ratelimit-output-tokens-limit": "8000",
  "anthropic-ratelimit-output-tokens-remaining": "7000",
  "anthropic-ratelimit-output-tokens-reset": "2026-11-22T11:00:03+01:00",
  "anthropic-priority-input-tokens-limit": "100000",
  "anthropic-priority-input-tokens-remaining": "90000",
  "anthropic-priority-input-tokens-reset": "2026-11-22T10:00:30Z",
  "retry-after": "7",
  "retry-after-ms": "6500",
  "x-should-retry": "true",
  "request-id": "req_011CSHoEeqs5C35K2UUqR7Fy"
}

describe("RateLimitHeaders.decode", () => {
  it.effect("decodes the full header set into typed fields", () =>
    Effect.gen(function*() {
      const snapshot = yield* RateLimitHeaders.decode(fullSet)
      expect(snapshot.requests.limit).toEqual(Option.some(50))
      expect(snapshot.requests.remaining).toEqual(Option.some(49))
      expect(snapshot.requests.reset).toEqual(at("2026-11-22T10:00:01Z"))
      expect(snapshot.tokens.reset).toEqual(at("2026-11-22T10:00:02.500Z"))
      expect(snapshot.outputTokens.reset).toEqual(at("2026-11-22T10:00:03Z"))
      expect(snapshot.inputTokens.remaining).toEqual(Option.some(30000))
      expect(snapshot.priorityInputTokens.limit).toEqual(Option.some(100000))
      expect(snapshot.priorityOutputTokens).toEqual(RateLimitHeaders.BucketSnapshot.empty)
      expect(snapshot.retryAfter).toEqual(Option.some(Duration.seconds(7)))
      expect(snapshot.retryAfterMs).toEqual(Option.some(Duration.millis(6500)))
      expect(snapshot.shouldRetry).toEqual(Option.some(true))
      expect(snapshot.requestId).toEqual(Option.some("req_011CSHoEeqs5C35K2UUqR7Fy"))
      expect(snapshot.malformed).toEqual([])
    }))

  it("reads header names in any case, from a record, a platform Headers or a web Headers", () => {
    const mixed = { "Anthropic-RateLimit-Requests-Remaining": "3", "RETRY-AFTER": "2", "X-Should-Retry": "FALSE" }
    for (
      const input of [
        mixed,
        Headers.fromInput(mixed),
        new globalThis.Headers(mixed),
        { "anthropic-ratelimit-requests-remaining": ["3"], "retry-after": "2", "x-should-retry": "false" }
      ]
    ) {
      const snapshot = RateLimitHeaders.decodeAt(input, now)
      expect(snapshot.requests.remaining).toEqual(Option.some(3))
      expect(snapshot.retryAfter).toEqual(Option.some(Duration.seconds(2)))
      expect(snapshot.shouldRetry).toEqual(Option.some(false))
    }
  })

  it("retry-after: integer and fractional seconds, HTTP-date (past = no wait)", () => {
    const seconds = (value: string) => RateLimitHeaders.decodeAt({ "retry-after": value }, now).retryAfter
    expect(seconds("30")).toEqual(Option.some(Duration.seconds(30)))
    expect(seconds("1.5")).toEqual(Option.some(Duration.seconds(1.5)))
    expect(seconds("Sun, 22 Nov 2026 10:00:45 GMT")).toEqual(Option.some(Duration.seconds(45)))
    expect(seconds("Wed, 21 Oct 2015 07:28:00 GMT")).toEqual(Option.some(Duration.zero))
  })

  it("malformed values decode as absent and are listed: negative, NaN, garbage dates, absurdly large", () => {
    const snapshot = RateLimitHeaders.decodeAt({
      "anthropic-ratelimit-requests-limit": "-50",
      "anthropic-ratelimit-requests-remaining": "NaN",
      "anthropic-ratelimit-requests-reset": "tomorrow-ish",
      "anthropic-ratelimit-tokens-limit": "1e400",
      "anthropic-ratelimit-tokens-remaining": "99999999999999999999",
      "anthropic-ratelimit-tokens-reset": "2026-13-45T99:00:00Z",
      "anthropic-ratelimit-input-tokens-remaining": "",
      "retry-after": "-3",
      "retry-after-ms": "Infinity",
      "x-should-retry": "yes",
      "request-id": "   "
    }, now)
    expect(snapshot.requests).toEqual(RateLimitHeaders.BucketSnapshot.empty)
    expect(snapshot.tokens).toEqual(RateLimitHeaders.BucketSnapshot.empty)
    expect(snapshot.inputTokens).toEqual(RateLimitHeaders.BucketSnapshot.empty)
    expect(snapshot.retryAfter).toEqual(Option.none())
    expect(snapshot.retryAfterMs).toEqual(Option.none())
    expect(snapshot.shouldRetry).toEqual(Option.none())
    expect(snapshot.requestId).toEqual(Option.none())
    expect([...snapshot.malformed].sort()).toEqual([
      "anthropic-ratelimit-input-tokens-remaining",
      "anthropic-ratelimit-requests-limit",
      "anthropic-ratelimit-requests-remaining",
      "anthropic-ratelimit-requests-reset",
      "anthropic-ratelimit-tokens-limit",
      "anthropic-ratelimit-tokens-remaining",
      "anthropic-ratelimit-tokens-reset",
      "request-id",
      "retry-after",
      "retry-after-ms",
      "x-should-retry"
    ])
  })

  it("a wait beyond a day is too long, not absent: kept as given and listed in tooLong", () => {
    const seconds = RateLimitHeaders.decodeAt({ "retry-after": "999999" }, now)
    expect(seconds.retryAfter).toEqual(Option.some(Duration.seconds(999_999)))
    expect(seconds.tooLong).toEqual(["retry-after"])
    expect(seconds.malformed).toEqual([])
    expect(RateLimitHeaders.retryDelay(seconds, now)).toEqual(Option.some(Duration.seconds(999_999)))
    const date = RateLimitHeaders.decodeAt({ "retry-after": "Tue, 24 Nov 2026 10:00:00 GMT" }, now)
    expect(date.retryAfter).toEqual(Option.some(Duration.days(2)))
    expect(date.tooLong).toEqual(["retry-after"])
    // so many digits that the number overflows: an infinite wait, still too long rather than absent
    const overflow = RateLimitHeaders.decodeAt({ "retry-after-ms": "9".repeat(400) }, now)
    expect(overflow.retryAfterMs).toEqual(Option.some(Duration.infinity))
    expect(overflow.tooLong).toEqual(["retry-after-ms"])
    expect(RateLimitHeaders.retryDelay(overflow, DateTime.add(now, { seconds: 5 }))).toEqual(
      Option.some(Duration.infinity)
    )
    // exactly a day is still plausible
    expect(RateLimitHeaders.decodeAt({ "retry-after": "86400" }, now).tooLong).toEqual([])
  })

  it("a bucket reset more than a day ahead is flagged the same way, and is the wait if the bucket is exhausted", () => {
    const snapshot = RateLimitHeaders.decodeAt({
      "anthropic-ratelimit-input-tokens-remaining": "0",
      "anthropic-ratelimit-input-tokens-reset": "2026-12-22T10:00:00Z",
      "anthropic-ratelimit-requests-reset": "2026-11-22T10:00:30Z"
    }, now)
    expect(snapshot.tooLong).toEqual(["anthropic-ratelimit-input-tokens-reset"])
    expect(snapshot.inputTokens.reset).toEqual(at("2026-12-22T10:00:00Z"))
    expect(RateLimitHeaders.retryDelay(snapshot, now)).toEqual(Option.some(Duration.days(30)))
  })

  it.effect("a too-long wait is logged as a warning naming the header the first time, then at debug level", () =>
    Effect.gen(function*() {
      const [, logs] = yield* captureLogs(Effect.gen(function*() {
        yield* RateLimitHeaders.decode({ "retry-after": "999999", "request-id": "req_9" })
        yield* RateLimitHeaders.decode({ "retry-after": "888888" })
      }))
      const lines = logs.filter((line) => line.message.includes("longer than"))
      expect(lines.map((line) => line.level)).toEqual(["WARN", "DEBUG"])
      expect(lines[0]?.message).toBe("Rate-limit header retry-after asks for a wait longer than 1d")
      expect(lines[0]?.annotations).toMatchObject({ header: "retry-after", value: "999999", requestId: "req_9" })
    }).pipe(Effect.locally(RateLimitHeaders.currentWarnedHeaders, new Set())))

  it.effect("values that are not strings (a plain record from JavaScript) are malformed, never a defect", () =>
    Effect.gen(function*() {
      const hostile = {
        "retry-after": 5,
        "anthropic-ratelimit-requests-remaining": { value: "3" },
        "anthropic-ratelimit-requests-limit": "50",
        "x-should-retry": true,
        "request-id": Symbol("id")
      } as unknown as Record<string, string>
      const [snapshot, logs] = yield* captureLogs(RateLimitHeaders.decode(hostile))
      expect(snapshot.retryAfter).toEqual(Option.none())
      expect(snapshot.requests.limit).toEqual(Option.some(50))
      expect([...snapshot.malformed].sort()).toEqual([
        "anthropic-ratelimit-requests-remaining",
        "request-id",
        "retry-after",
        "x-should-retry"
      ])
      expect(logs.find((line) => line.annotations["header"] === "retry-after")?.annotations["value"]).toBe(
        "(not a string: number)"
      )
      for (const nothing of [null, undefined, 42] as unknown as Array<Record<string, string>>) {
        expect((yield* RateLimitHeaders.decode(nothing)).malformed).toEqual([])
      }
    }).pipe(Effect.locally(RateLimitHeaders.currentWarnedHeaders, new Set())))

  it.effect("a logged header value is bounded and scrubbed of anything shaped like an API key", () =>
    Effect.gen(function*() {
      const [, logs] = yield* captureLogs(
        RateLimitHeaders.decode({ "retry-after": `echo x-api-key: sk-ant-api03-LEAKED ${"z".repeat(500)}` })
      )
      const value = String(logs[0]?.annotations["value"])
      expect(value).not.toContain("LEAKED")
      expect(value.length).toBeLessThanOrEqual(81)
    }).pipe(Effect.locally(RateLimitHeaders.currentWarnedHeaders, new Set())))

  it.effect("a malformed header is logged as a warning naming it the first time, then at debug level", () =>
    Effect.gen(function*() {
      const [, logs] = yield* captureLogs(Effect.gen(function*() {
        yield* RateLimitHeaders.decode({ "retry-after": "soon", "request-id": "req_1" })
        yield* RateLimitHeaders.decode({ "retry-after": "later" })
      }))
      const lines = logs.filter((line) => line.message.includes("malformed"))
      expect(lines.map((line) => line.level)).toEqual(["WARN", "DEBUG"])
      expect(lines[0]?.message).toContain("retry-after")
      expect(lines[0]?.annotations).toMatchObject({ header: "retry-after", value: "soon", requestId: "req_1" })
    }).pipe(Effect.locally(RateLimitHeaders.currentWarnedHeaders, new Set())))

  it.effect.prop(
    "never fails, whatever the header values",
    [FastCheck.dictionary(
      FastCheck.constantFrom(...Object.keys(fullSet)),
      FastCheck.oneof(FastCheck.string(), FastCheck.double().map(String), FastCheck.date().map((d) => d.toString()))
    )],
    ([headers]) =>
      Effect.gen(function*() {
        const snapshot = yield* RateLimitHeaders.decode(headers)
        expect(snapshot.malformed.length + snapshot.tooLong.length).toBeLessThanOrEqual(Object.keys(headers).length)
        // waits from headers are finite-or-infinity, never negative or NaN
        for (const when of [now, DateTime.add(now, { minutes: 5 })]) {
          const wait = RateLimitHeaders.retryDelay(snapshot, when)
          if (Option.isSome(wait)) expect(Duration.toMillis(wait.value) >= 0).toBe(true)
        }
        for (const name of RateLimitHeaders.bucketNames) {
          for (const value of [snapshot[name].limit, snapshot[name].remaining]) {
            if (Option.isSome(value)) expect(Number.isSafeInteger(value.value) && value.value >= 0).toBe(true)
          }
        }
      }).pipe(Effect.locally(RateLimitHeaders.currentWarnedHeaders, new Set(Object.keys(fullSet))))
  )
})

describe("RateLimitHeaders.retryDelay", () => {
  const delay = (headers: Record<string, string>, when = now) =>
    RateLimitHeaders.retryDelay(RateLimitHeaders.decodeAt(headers, now), when)

  it("retry-after-ms wins over retry-after, which wins over bucket resets", () => {
    expect(delay(fullSet)).toEqual(Option.some(Duration.millis(6500)))
    const { ["retry-after-ms"]: _, ...withoutMs } = fullSet
    expect(delay(withoutMs)).toEqual(Option.some(Duration.seconds(7)))
  })

  it("without retry-after: the latest reset among exhausted buckets, ignoring buckets that are not exhausted", () => {
    expect(delay({
      "anthropic-ratelimit-requests-remaining": "0",
      "anthropic-ratelimit-requests-reset": "2026-11-22T10:00:03Z",
      "anthropic-ratelimit-input-tokens-remaining": "0",
      "anthropic-ratelimit-input-tokens-reset": "2026-11-22T10:00:12Z",
      "anthropic-ratelimit-output-tokens-remaining": "5000",
      "anthropic-ratelimit-output-tokens-reset": "2026-11-22T10:00:50Z"
    })).toEqual(Option.some(Duration.seconds(12)))
  })

  it("a reset in the past means no wait; nothing exhausted means no header wait at all", () => {
    expect(delay({
      "anthropic-ratelimit-requests-remaining": "0",
      "anthropic-ratelimit-requests-reset": "2026-11-22T09:59:00Z"
    })).toEqual(Option.some(Duration.zero))
    expect(delay({
      "anthropic-ratelimit-requests-remaining": "1",
      "anthropic-ratelimit-requests-reset": "2026-11-22T10:00:30Z"
    })).toEqual(Option.none())
    expect(delay({})).toEqual(Option.none())
  })

  it("a retry-after is measured from when the response arrived", () => {
    const later = DateTime.add(now, { seconds: 3 })
    expect(delay({ "retry-after": "10" }, later)).toEqual(Option.some(Duration.seconds(7)))
    expect(delay({ "retry-after": "2" }, later)).toEqual(Option.some(Duration.zero))
  })

  it("headerWait names the rule and the exhausted buckets", () => {
    const wait = RateLimitHeaders.headerWait(
      RateLimitHeaders.decodeAt({
        "anthropic-ratelimit-tokens-remaining": "0",
        "anthropic-ratelimit-tokens-reset": "2026-11-22T10:00:05Z"
      }, now),
      now
    )
    expect(wait).toEqual(Option.some({ wait: Duration.seconds(5), rule: "bucket-reset", buckets: ["tokens"] }))
  })
})
