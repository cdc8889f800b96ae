/**
 * What the simulator says on the wire: rate-limit headers, error bodies and
 * generated messages, shaped like Anthropic's.
 *
 * @internal
 */
import * as Bucket from "./bucket.js"
import type * as TokenCount from "./tokenCount.js"

/** @internal */
export interface WireRequest {
  readonly method: string
  readonly path: string
  /** lower-case names */
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

/** @internal */
export interface WireResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
  /** drop the connection instead of answering */
  readonly disconnect: boolean
}

/** @internal */
export const json = (status: number, body: unknown, headers: Record<string, string> = {}): WireResponse => ({
  status,
  headers: { "content-type": "application/json", ...headers },
  body: JSON.stringify(body),
  disconnect: false
})

/** @internal */
export const errorResponse = (
  status: number,
  type: string,
  message: string,
  requestId: string,
  headers: Record<string, string> = {},
  details?: Record<string, unknown>
): WireResponse =>
  json(
    status,
    {
      type: "error",
      error: details === undefined ? { type, message } : { type, message, details },
      request_id: requestId
    },
    { "request-id": requestId, ...headers }
  )

/** @internal */
export const disconnected: WireResponse = { status: 0, headers: {}, body: "", disconnect: true }

/** RFC 3339 with whole seconds, as the API sends resets. @internal */
export const rfc3339Seconds = (millis: number): string =>
  new Date(Math.ceil(millis / 1000) * 1000).toISOString().replace(/\.000Z$/, "Z")

const roundToThousand = (n: number): number => Math.round(n / 1000) * 1000

/** The rate-limit headers of a pool at `now`. @internal */
export const rateLimitHeaders = (
  buckets: {
    readonly requests: Bucket.Bucket
    readonly input?: Bucket.Bucket | undefined
    readonly output?: Bucket.Bucket | undefined
  },
  now: number,
  roundTokens: boolean
): Record<string, string> => {
  const headers: Record<string, string> = {}
  const describe = (name: string, bucket: Bucket.Bucket, round: boolean) => {
    const level = Math.max(0, Math.floor(Bucket.level(bucket, now)))
    headers[`anthropic-ratelimit-${name}-limit`] = String(bucket.capacity)
    headers[`anthropic-ratelimit-${name}-remaining`] = String(round ? roundToThousand(level) : level)
    headers[`anthropic-ratelimit-${name}-reset`] = rfc3339Seconds(Bucket.resetAt(bucket, now))
  }
  describe("requests", buckets.requests, false)
  if (buckets.input !== undefined && buckets.output !== undefined) {
    describe("input-tokens", buckets.input, roundTokens)
    describe("output-tokens", buckets.output, roundTokens)
    // "tokens" shows the most restrictive token limit in effect: the lower share left
    const share = (bucket: Bucket.Bucket) => Bucket.level(bucket, now) / bucket.capacity
    describe("tokens", share(buckets.input) <= share(buckets.output) ? buckets.input : buckets.output, roundTokens)
  }
  return headers
}

const words = (
  "the quick brown fox jumps over the lazy dog while rate limits refill continuously and every request "
  + "waits its turn so nothing is lost and nothing is hidden when the api pushes back"
).split(" ")

/** Generated text never exceeds this many characters, whatever `max_tokens` says. @internal */
export const maxGeneratedCharacters = 512 * 1024

/** Text of about `tokens` tokens, deterministic, bounded by {@link maxGeneratedCharacters}. @internal */
export const generatedText = (
  tokens: number,
  offset: number,
  charactersPerToken: TokenCount.Counter["charactersPerToken"]
): string => {
  const target = Math.min(maxGeneratedCharacters, Math.max(1, Math.round(tokens * charactersPerToken)))
  const parts: Array<string> = []
  let length = 0
  for (let i = offset; length < target; i++) {
    const word = words[i % words.length]!
    parts.push(word)
    length += word.length + 1
  }
  return parts.join(" ").slice(0, target)
}

/** A Messages API response body. @internal */
export const messageBody = (options: {
  readonly id: string
  readonly model: string
  readonly text: string
  readonly stopReason: string
  readonly inputTokens: number
  readonly outputTokens: number
  readonly cacheCreation: number
  readonly cacheRead: number
}) => ({
  id: options.id,
  type: "message",
  role: "assistant",
  model: options.model,
  content: [{ type: "text", text: options.text }],
  stop_reason: options.stopReason,
  stop_sequence: null,
  usage: {
    input_tokens: options.inputTokens,
    output_tokens: options.outputTokens,
    cache_creation_input_tokens: options.cacheCreation,
    cache_read_input_tokens: options.cacheRead,
    service_tier: "standard"
  }
})
