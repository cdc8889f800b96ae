/**
 * What the simulator says on the wire: request parsing, rate-limit headers,
 * error bodies and generated messages, shaped like Anthropic's.
 *
 * @internal
 */
import * as TokenBucket from "../../../internal/tokenBucket.js"

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
  headers: Record<string, string> = {}
): WireResponse =>
  json(status, { type: "error", error: { type, message }, request_id: requestId }, {
    "request-id": requestId,
    ...headers
  })

/** @internal */
export const disconnected: WireResponse = { status: 0, headers: {}, body: "", disconnect: true }

/** A parsed Messages request: only what the rules need. @internal */
export interface ParsedRequest {
  readonly model: string
  readonly maxTokens: number
  /** text segments in the order the API reads them (tools, system, messages); `cached` marks a cache breakpoint */
  readonly segments: ReadonlyArray<{ readonly characters: number; readonly key: string; readonly cached: boolean }>
}

type Parsed = { readonly _tag: "Ok"; readonly request: ParsedRequest } | {
  readonly _tag: "Invalid"
  readonly message: string
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const blockSegments = (content: unknown): Array<ParsedRequest["segments"][number]> => {
  if (typeof content === "string") return [{ characters: content.length, key: content, cached: false }]
  if (!Array.isArray(content)) return []
  return content.map((block) => {
    const text = isRecord(block) && block.type === "text" && typeof block.text === "string"
      ? block.text
      : JSON.stringify(block)
    return { characters: text.length, key: text, cached: isRecord(block) && block.cache_control !== undefined }
  })
}

/**
 * Parses a Messages or count_tokens body. `requireMaxTokens` is false for
 * count_tokens. Errors are worded like the API's.
 *
 * @internal
 */
export const parseRequest = (body: string, requireMaxTokens: boolean): Parsed => {
  let value: unknown
  try {
    value = JSON.parse(body)
  } catch {
    return { _tag: "Invalid", message: "There was an issue with the format of your request: body is not valid JSON" }
  }
  if (!isRecord(value)) return { _tag: "Invalid", message: "request body must be a JSON object" }
  if (typeof value.model !== "string" || value.model.trim() === "") {
    return { _tag: "Invalid", message: "model: Field required" }
  }
  const maxTokens = value.max_tokens
  if (requireMaxTokens && (typeof maxTokens !== "number" || !Number.isInteger(maxTokens) || maxTokens < 1)) {
    return { _tag: "Invalid", message: "max_tokens: Field required (a positive integer)" }
  }
  if (!Array.isArray(value.messages) || value.messages.length === 0) {
    return { _tag: "Invalid", message: "messages: at least one message is required" }
  }
  const segments = [
    ...(Array.isArray(value.tools) ? value.tools.flatMap((tool) => blockSegments([tool])) : []),
    ...blockSegments(value.system),
    ...value.messages.flatMap((message) => isRecord(message) ? blockSegments(message.content) : [])
  ]
  return {
    _tag: "Ok",
    request: { model: value.model, maxTokens: typeof maxTokens === "number" ? maxTokens : 0, segments }
  }
}

/** The estimate the simulator counts with: characters / 4, rounded up. @internal */
export const tokensOf = (characters: number): number => Math.ceil(characters / 4)

/** RFC 3339 with whole seconds, as the API sends resets. @internal */
export const rfc3339Seconds = (millis: number): string =>
  new Date(Math.ceil(millis / 1000) * 1000).toISOString().replace(/\.000Z$/, "Z")

/** The moment a bucket will be full again. @internal */
export const fullAt = (bucket: TokenBucket.TokenBucket, now: number): number =>
  now + TokenBucket.millisUntil(bucket, now, bucket.capacity)

const roundToThousand = (n: number): number => Math.round(n / 1000) * 1000

/** The rate-limit headers of a pool at `now`. @internal */
export const rateLimitHeaders = (
  buckets: {
    readonly requests: TokenBucket.TokenBucket
    readonly input?: TokenBucket.TokenBucket | undefined
    readonly output?: TokenBucket.TokenBucket | undefined
  },
  now: number,
  roundTokens: boolean
): Record<string, string> => {
  const headers: Record<string, string> = {}
  const describe = (name: string, bucket: TokenBucket.TokenBucket, round: boolean) => {
    const level = Math.max(0, Math.floor(TokenBucket.levelAt(bucket, now)))
    headers[`anthropic-ratelimit-${name}-limit`] = String(bucket.capacity)
    headers[`anthropic-ratelimit-${name}-remaining`] = String(round ? roundToThousand(level) : level)
    headers[`anthropic-ratelimit-${name}-reset`] = rfc3339Seconds(fullAt(bucket, now))
  }
  describe("requests", buckets.requests, false)
  if (buckets.input !== undefined && buckets.output !== undefined) {
    describe("input-tokens", buckets.input, roundTokens)
    describe("output-tokens", buckets.output, roundTokens)
    // "tokens" shows the most restrictive token limit in effect: the lower share left
    const share = (bucket: TokenBucket.TokenBucket) => TokenBucket.levelAt(bucket, now) / bucket.capacity
    describe("tokens", share(buckets.input) <= share(buckets.output) ? buckets.input : buckets.output, roundTokens)
  }
  return headers
}

const words = (
  "the quick brown fox jumps over the lazy dog while rate limits refill continuously and every request "
  + "waits its turn so nothing is lost and nothing is hidden when the api pushes back"
).split(" ")

/** Text of about `tokens` tokens (4 characters each), deterministic. @internal */
export const generatedText = (tokens: number, offset: number): string => {
  const target = tokens * 4
  const parts: Array<string> = []
  let length = 0
  for (let i = offset; length < target; i++) {
    const word = words[i % words.length]!
    parts.push(word)
    length += word.length + 1
  }
  return parts.join(" ").slice(0, Math.max(1, target))
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
