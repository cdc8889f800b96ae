/**
 * What decoding rate-limit headers costs: every response goes through it.
 * CPU time (`process.cpuUsage`) per decode over 20,000 decodes, repeated 7
 * times; min and median. The headers are a platform `Headers` value, as a
 * response carries them.
 *
 * Run: npm run bench -- headers
 */
import * as Headers from "@effect/platform/Headers"
import { DateTime } from "effect"
import * as RateLimitHeaders from "../src/RateLimitHeaders.js"
import { cpuPerOp, printTable, writeJson } from "./table.js"

const now = DateTime.unsafeMake("2026-11-22T10:00:00Z")

const full = {
  "anthropic-ratelimit-requests-limit": "50",
  "anthropic-ratelimit-requests-remaining": "49",
  "anthropic-ratelimit-requests-reset": "2026-11-22T10:00:01Z",
  "anthropic-ratelimit-tokens-limit": "38000",
  "anthropic-ratelimit-tokens-remaining": "37000",
  "anthropic-ratelimit-tokens-reset": "2026-11-22T10:00:02Z",
  "anthropic-ratelimit-input-tokens-limit": "30000",
  "anthropic-ratelimit-input-tokens-remaining": "30000",
  "anthropic-ratelimit-input-tokens-reset": "2026-11-22T10:00:00Z",
  "anthropic-ratelimit-output-tokens-limit": "8000",
  "anthropic-ratelimit-output-tokens-remaining": "7000",
  "anthropic-ratelimit-output-tokens-reset": "2026-11-22T10:00:03Z",
  "request-id": "req_011CSHoEeqs5C35K2UUqR7Fy"
}
const rateLimited = { ...full, "anthropic-ratelimit-requests-remaining": "0", "retry-after": "12" }
const httpDate = { ...full, "retry-after": "Sun, 22 Nov 2026 10:00:45 GMT" }
const malformed = { ...full, "anthropic-ratelimit-requests-remaining": "NaN", "retry-after": "soon" }
const none = { "content-type": "application/json" }

export const run = () => {
  const rows = [
    ["full set, success", full],
    ["429 with retry-after seconds", rateLimited],
    ["retry-after as HTTP-date", httpDate],
    ["two malformed values", malformed],
    ["no rate-limit headers", none]
  ].map(([name, record]) => {
    const headers = Headers.fromInput(record as Record<string, string>)
    const result = cpuPerOp(() => RateLimitHeaders.decodeAt(headers, now), { operations: 20_000, repeats: 7 })
    return { headers: name as string, ...result }
  })
  printTable(
    "RateLimitHeaders.decodeAt: CPU µs per decode",
    ["headers", "min µs", "median µs"],
    rows.map((row) => [row.headers, row.min.toFixed(1), row.median.toFixed(1)])
  )
  writeJson("headers", rows)
}

if (import.meta.url === `file://${process.argv[1]}`) run()
