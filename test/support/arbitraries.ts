/**
 * Generators of hostile input for the property tests: header maps, error bodies, SSE streams and request
 * parameters, built to hit the edges (huge, negative, NaN, exponents, far dates, odd casing, not strings).
 */
import fc from "fast-check"

const bucketPrefixes = [
  "anthropic-ratelimit-requests",
  "anthropic-ratelimit-tokens",
  "anthropic-ratelimit-input-tokens",
  "anthropic-ratelimit-output-tokens",
  "anthropic-priority-input-tokens",
  "anthropic-priority-output-tokens"
]

/** Every header name the decoder reads. */
export const knownHeaderNames: ReadonlyArray<string> = [
  ...bucketPrefixes.flatMap((prefix) => [`${prefix}-limit`, `${prefix}-remaining`, `${prefix}-reset`]),
  "retry-after",
  "retry-after-ms",
  "x-should-retry",
  "request-id"
]

// A name as a proxy might spell it: any mix of upper and lower case, sometimes padded, sometimes another header.
const headerName: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...knownHeaderNames).chain((name) => fc.mixedCase(fc.constant(name))) },
  { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 30 }) }
)

const farMillis = 8.64e15
const dateArb = fc.date({ min: new Date(-farMillis), max: new Date(farMillis), noInvalidDate: false })

const pad = (value: fc.Arbitrary<string>): fc.Arbitrary<string> =>
  fc.tuple(fc.constantFrom("", " ", "\t", "  ", "\n", "\u00a0"), value, fc.constantFrom("", " ", "\t", "\r\n"))
    .map(([before, text, after]) => `${before}${text}${after}`)

const numberText: fc.Arbitrary<string> = fc.oneof(
  fc.integer().map(String),
  fc.nat({ max: 200 }).map(String),
  fc.bigInt({ min: -(10n ** 400n), max: 10n ** 400n }).map(String),
  fc.double().map(String),
  fc.constantFrom("NaN", "Infinity", "-Infinity", "-0", "+5", "0x10", "1_000", "٣", "1e3", "1E-7", "9e999", ".5", "5."),
  fc.tuple(fc.integer({ min: -999, max: 999 }), fc.integer({ min: -400, max: 400 })).map(([m, e]) => `${m}e${e}`),
  fc.double({ min: 0, max: 1e7, noNaN: true }).map((n) => n.toFixed(3)),
  fc.nat().map((n) => "9".repeat((n % 40) + 1))
)

const dateText: fc.Arbitrary<string> = fc.oneof(
  dateArb.map((date) => (Number.isNaN(date.getTime()) ? "Invalid Date" : date.toISOString())),
  dateArb.map((date) => date.toUTCString()),
  dateArb.map((date) => date.toString()),
  fc.tuple(
    fc.integer({ min: 0, max: 9999 }),
    fc.integer({ min: 0, max: 19 }),
    fc.integer({ min: 0, max: 39 }),
    fc.integer({ min: 0, max: 29 }),
    fc.integer({ min: 0, max: 69 }),
    fc.integer({ min: 0, max: 69 }),
    fc.constantFrom("Z", "z", "+00:00", "-23:59", "+14:00", ".123456789Z", "", "+99:99")
  ).map(([y, mo, d, h, mi, s, zone]) => {
    const two = (n: number) => String(n).padStart(2, "0")
    return `${String(y).padStart(4, "0")}-${two(mo)}-${two(d)}T${two(h)}:${two(mi)}:${two(s)}${zone}`
  })
)

/** A header value as a string: numbers of every shape, dates of every era and format, words, anything. */
export const headerText: fc.Arbitrary<string> = pad(fc.oneof(
  { weight: 4, arbitrary: numberText },
  { weight: 3, arbitrary: dateText },
  { weight: 1, arbitrary: fc.constantFrom("true", "false", "TRUE", " False ", "yes", "", "req_123", "0", "-1") },
  { weight: 2, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 20 }) },
  { weight: 1, arbitrary: fc.nat({ max: 5_000 }).map((n) => "x".repeat(n)) }
))

// What a plain record from JavaScript may hold instead of a string.
const throwing = {
  toString() {
    throw new Error("toString throws")
  }
}

const nonString: fc.Arbitrary<unknown> = fc.oneof(
  fc.double(),
  fc.integer(),
  fc.boolean(),
  fc.constantFrom(null, undefined, throwing, Symbol("header"), 10n, [], ["1", "2"], { value: "1" }, () => "1"),
  fc.array(headerText, { maxLength: 3 })
)

/** A header map as a plain record: duplicate names differing in case, values that may not even be strings. */
export const headerRecord: fc.Arbitrary<Record<string, unknown>> = fc.array(
  fc.tuple(headerName, fc.oneof({ weight: 5, arbitrary: headerText }, { weight: 1, arbitrary: nonString })),
  { maxLength: 24 }
).map((entries) => {
  const record: Record<string, unknown> = {}
  for (const [name, value] of entries) record[name] = value
  return record
})

/** A header map as a list of pairs, duplicates kept (the last one wins when decoded). */
export const headerPairs: fc.Arbitrary<ReadonlyArray<readonly [string, string]>> = fc.array(
  fc.tuple(headerName, headerText),
  { maxLength: 24 }
)

const isoSeconds = (millis: number): string => new Date(millis).toISOString().replace(/\.\d{3}Z$/, "Z")

/**
 * A header set shaped like the API's, around `reference`: limits, remainings (often 0, sometimes above the
 * limit), resets from days ago to days ahead, a retry-after now and then; some values then replaced by noise.
 */
export const plausibleHeaders = (reference: number): fc.Arbitrary<Record<string, unknown>> =>
  fc.tuple(
    fc.array(
      fc.record({
        prefix: fc.constantFrom(...bucketPrefixes),
        limit: fc.oneof(fc.constantFrom(0, 1, 50, 1_000, 30_000, 8_000_000), fc.nat(), fc.constant(2 ** 53)),
        remaining: fc.oneof(fc.constant(0), fc.nat({ max: 60 }), fc.nat({ max: 100_000 }).map((n) => n * 1000)),
        resetIn: fc.oneof(
          fc.integer({ min: -120, max: 120 }),
          fc.integer({ min: -2 * 86_400, max: 2 * 86_400 }),
          fc.integer({ min: -1e9, max: 1e9 })
        )
      }),
      { maxLength: 6 }
    ),
    fc.option(fc.oneof(fc.integer({ min: -100, max: 100_000 }).map(String), numberText, dateText)),
    fc.option(fc.oneof(fc.nat({ max: 600_000 }).map(String), numberText)),
    fc.option(fc.constantFrom("true", "false", "maybe")),
    headerRecord
  ).map(([buckets, retryAfter, retryAfterMs, shouldRetry, noise]) => {
    const headers: Record<string, unknown> = {}
    for (const bucket of buckets) {
      headers[`${bucket.prefix}-limit`] = String(bucket.limit)
      headers[`${bucket.prefix}-remaining`] = String(bucket.remaining)
      headers[`${bucket.prefix}-reset`] = isoSeconds(reference + bucket.resetIn * 1000)
    }
    if (retryAfter !== null) headers["retry-after"] = retryAfter
    if (retryAfterMs !== null) headers["retry-after-ms"] = retryAfterMs
    if (shouldRetry !== null) headers["x-should-retry"] = shouldRetry
    // a little noise on top: another spelling of a name, a value mangled, not a string
    const noisy = Object.entries(noise).slice(0, 3)
    for (const [name, value] of noisy) headers[name] = value
    return headers
  })

/** Any of the shapes `RateLimitHeaders.decode` accepts (and some it should survive although they are not). */
export const headerInput = (reference: number): fc.Arbitrary<unknown> =>
  fc.oneof(
    { weight: 5, arbitrary: plausibleHeaders(reference) },
    { weight: 4, arbitrary: headerRecord },
    { weight: 2, arbitrary: headerPairs },
    { weight: 1, arbitrary: fc.constantFrom(null, undefined, 5, "retry-after: 5", [], new Map([["retry-after", "1"]])) }
  )

/** An instant anywhere from 1970 to the year 2500, or right around the decoder's reference instant. */
export const instant = (reference: number): fc.Arbitrary<number> =>
  fc.oneof(
    fc.integer({ min: 0, max: 16_725_225_600_000 }),
    fc.integer({ min: -86_400_000 * 2, max: 86_400_000 * 2 }).map((offset) => reference + offset)
  )

/** The body of an error answer: not JSON, empty, deeply nested, of unknown types, with fields of wrong types. */
export const smallErrorBody: fc.Arbitrary<string> = fc.oneof(
  { weight: 2, arbitrary: fc.string({ maxLength: 200 }) },
  { weight: 1, arbitrary: fc.constantFrom("", " ", "\n", "null", "[]", "{}", "\"error\"", "{\"error\":null}") },
  { weight: 2, arbitrary: fc.json({ maxDepth: 4 }) },
  {
    weight: 4,
    arbitrary: fc.record({
      type: fc.anything({ maxDepth: 2 }),
      error: fc.oneof(
        fc.anything({ maxDepth: 2 }),
        fc.record({
          type: fc.oneof(
            fc.string({ maxLength: 40 }),
            fc.anything({ maxDepth: 1 }),
            fc.nat({ max: 5_000 }).map((n) => "t".repeat(n))
          ),
          message: fc.oneof(fc.string({ maxLength: 200 }), fc.anything({ maxDepth: 1 })),
          details: fc.oneof(
            fc.anything({ maxDepth: 2 }),
            fc.record({ error_code: fc.oneof(fc.string(), fc.anything({ maxDepth: 1 })) })
          )
        }, { requiredKeys: [] })
      ),
      request_id: fc.anything({ maxDepth: 1 })
    }, { requiredKeys: [] }).map((value) => JSON.stringify(value))
  },
  {
    weight: 1,
    arbitrary: fc.tuple(
      fc.oneof(fc.integer({ min: 100, max: 2_000 }), fc.integer({ min: 2_000, max: 200_000 })),
      fc.constantFrom("[", "{\"a\":"),
      fc.boolean()
    ).map((
      [depth, open, wrapped]
    ) => {
      const nested = open === "["
        ? "[".repeat(depth) + "]".repeat(depth)
        : open.repeat(depth) + "1" + "}".repeat(depth)
      return wrapped ? `{"type":"error","error":{"type":"api_error","message":${nested}}}` : nested
    })
  },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.string({ maxLength: 60 }), fc.nat({ max: 4000 })).map(([title, padding]) =>
      `<!DOCTYPE html><html><head><title>${title}</title></head><body>${"<p>".repeat(padding)}</body></html>`
    )
  }
)

/** Bodies as {@link smallErrorBody}, and now and then one of 100 KB to 1.1 MB. */
export const errorBody: fc.Arbitrary<string> = fc.oneof(
  { weight: 19, arbitrary: smallErrorBody },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.string({ minLength: 1, maxLength: 8 }), fc.integer({ min: 100_000, max: 1_100_000 })).map((
      [unit, length]
    ) => unit.repeat(Math.ceil(length / unit.length)).slice(0, length))
  }
)

/** Any HTTP status, the documented ones more often. */
export const errorStatus: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(400, 401, 402, 403, 404, 408, 409, 413, 429, 500, 502, 503, 504, 529),
  fc.integer({ min: 100, max: 599 }),
  fc.integer({ min: -1000, max: 10_000 })
)
