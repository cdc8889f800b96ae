import { describe, expect, it } from "@effect/vitest"
import * as Bucket from "../../../src/simulator/api/internal/bucket.js"
import * as Requests from "../../../src/simulator/api/internal/requests.js"
import * as TokenCount from "../../../src/simulator/api/internal/tokenCount.js"
import * as Wire from "../../../src/simulator/api/internal/wire.js"

// Documented cases of Anthropic's rate-limit and token-counting rules, checked against the simulator's own models.
const t0 = Date.UTC(2026, 10, 22, 10, 0, 0)

describe("bucket model: continuous refill at limit / 60 s, reset = when full again", () => {
  const cases: ReadonlyArray<{
    readonly doc: string
    readonly capacity: number
    readonly take: number
    readonly after: number
    readonly level: number
    readonly waitForOne: number
    readonly resetIn: number
  }> = [
    {
      doc: "60 RPM may be enforced as 1 request per second",
      capacity: 60,
      take: 60,
      after: 1_000,
      level: 1,
      waitForOne: 0,
      resetIn: 59_000
    },
    {
      doc: "50 RPM refills one request every 1.2 s, not 50 at the minute",
      capacity: 50,
      take: 50,
      after: 600,
      level: 0.5,
      waitForOne: 600,
      resetIn: 59_400
    },
    {
      doc: "30,000 ITPM: a 1,234-token request is refilled in 2.468 s",
      capacity: 30_000,
      take: 1_234,
      after: 0,
      level: 28_766,
      waitForOne: 0,
      resetIn: 2_468
    },
    {
      doc: "a bucket never refills above its limit",
      capacity: 8_000,
      take: 100,
      after: 600_000,
      level: 8_000,
      waitForOne: 0,
      resetIn: 0
    }
  ]
  for (const c of cases) {
    it(c.doc, () => {
      const bucket = Bucket.take(Bucket.full(c.capacity, t0), t0, c.take)
      const now = t0 + c.after
      expect(Bucket.level(bucket, now)).toBeCloseTo(c.level, 6)
      expect(Bucket.waitFor(bucket, now, 1)).toBe(c.waitForOne)
      expect(Bucket.resetAt(bucket, now) - now).toBe(c.resetIn)
    })
  }

  it("debt: a bucket taken below zero is full again only after the debt and the whole limit refill", () => {
    const bucket = Bucket.take(Bucket.take(Bucket.full(60, t0), t0, 60), t0, 30)
    expect(Bucket.level(bucket, t0)).toBe(-30)
    expect(Bucket.waitFor(bucket, t0, 1)).toBe(31_000)
    expect(Bucket.resetAt(bucket, t0) - t0).toBe(90_000)
    expect(Bucket.level(Bucket.give(bucket, t0, 1_000), t0)).toBe(60)
  })

  it("a request larger than the limit can never fit", () => {
    expect(Bucket.canEverFit(Bucket.full(30_000, t0), 30_000)).toBe(true)
    expect(Bucket.canEverFit(Bucket.full(30_000, t0), 30_001)).toBe(false)
  })
})

describe("rate-limit headers as the API sends them", () => {
  const pool = (input: number, output: number) => ({
    requests: Bucket.take(Bucket.full(50, t0), t0, 1),
    input: Bucket.take(Bucket.full(30_000, t0), t0, input),
    output: Bucket.take(Bucket.full(8_000, t0), t0, output)
  })
  const cases: ReadonlyArray<readonly [string, number, number, Record<string, string>]> = [
    ["token remaining rounded to the nearest thousand (28,766 → 29,000)", 1_234, 0, {
      "anthropic-ratelimit-input-tokens-remaining": "29000",
      "anthropic-ratelimit-output-tokens-remaining": "8000"
    }],
    ["and down below the half (28,499 → 28,000)", 1_501, 0, {
      "anthropic-ratelimit-input-tokens-remaining": "28000"
    }],
    ["requests remaining is not rounded", 0, 0, { "anthropic-ratelimit-requests-remaining": "49" }],
    ["reset is RFC 3339, the moment the bucket is full again (whole seconds, rounded up)", 1_234, 0, {
      "anthropic-ratelimit-input-tokens-reset": "2026-11-22T10:00:03Z",
      "anthropic-ratelimit-requests-reset": "2026-11-22T10:00:02Z"
    }],
    ["tokens-* shows the most restrictive token limit: output at 20 % left beats input at 90 %", 3_000, 6_400, {
      "anthropic-ratelimit-tokens-limit": "8000",
      "anthropic-ratelimit-tokens-remaining": "2000"
    }],
    ["tokens-* shows input when input is the tighter", 27_000, 0, {
      "anthropic-ratelimit-tokens-limit": "30000",
      "anthropic-ratelimit-tokens-remaining": "3000"
    }]
  ]
  for (const [doc, input, output, expected] of cases) {
    it(doc, () => {
      expect(Wire.rateLimitHeaders(pool(input, output), t0, true)).toMatchObject(expected)
    })
  }
})

describe("token counting: about 3.5 characters a token; ITPM = input + cache writes", () => {
  const count = (body: unknown) => {
    const read = Requests.read(JSON.stringify(body), false)
    if (read._tag !== "Ok") throw new Error(read.message)
    const { overhead, segments } = read.request
    return TokenCount.make().prefix(
      segments.reduce((sum, s) => sum + s.characters, 0),
      segments.reduce((sum, s) => sum + s.fixedTokens, 0),
      overhead
    )
  }
  const text = (content: unknown, extra: Record<string, unknown> = {}) => ({
    model: "claude-sonnet-4-6",
    messages: [{ role: "user", content }],
    ...extra
  })
  const image = { type: "image", source: { type: "base64", media_type: "image/png", data: "iVBORw0KGgo=" } }
  const cases: ReadonlyArray<readonly [string, unknown, number]> = [
    ["350 characters are 100 tokens", text("x".repeat(350)), 100],
    ["a started token counts (351 characters: 101)", text("x".repeat(351)), 101],
    ["system text counts too", text("x".repeat(175), { system: "y".repeat(175) }), 100],
    ["an image counts about 1,600 tokens (~1.15 megapixels / 750)", text([image]), 1_600],
    [
      "tools add the tool-use system prompt: 346 tokens with tool_choice auto",
      text("", { tools: [{ name: "t", input_schema: {} }] }),
      346 + Math.ceil(JSON.stringify({ name: "t", input_schema: {} }).length / 3.5)
    ],
    [
      "and 313 with tool_choice any",
      text("", { tools: [{ name: "t", input_schema: {} }], tool_choice: { type: "any" } }),
      313 + Math.ceil(JSON.stringify({ name: "t", input_schema: {} }).length / 3.5)
    ]
  ]
  for (const [doc, body, tokens] of cases) it(doc, () => expect(count(body)).toBe(tokens))

  it("cache reads are free against ITPM, except on models that count them (Haiku 3.5)", () => {
    const usage = { input: 100, cacheCreation: 50, cacheRead: 1_000 }
    expect(TokenCount.chargedInput(usage, false)).toBe(150)
    expect(TokenCount.chargedInput(usage, true)).toBe(1_150)
  })
})
