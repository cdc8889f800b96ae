/**
 * Reading a Messages request the way the API does: a body that is not JSON,
 * nested deeper than any real request, or that does not match the Messages
 * schemas is a 400 `invalid_request_error` with a short message. Decoded
 * with the library's public `Messages` schemas, which ignore fields they do
 * not know (the API grows every month).
 *
 * @internal
 */
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Messages from "../../../Messages.js"
import * as TokenCount from "./tokenCount.js"

/** Deeper JSON than this is refused before it is parsed. @internal */
export const maxNestingDepth = 100

/** @internal */
export interface MessagesRequest {
  readonly model: string
  /** 0 for count_tokens */
  readonly maxTokens: number
  readonly stream: boolean
  readonly segments: ReadonlyArray<TokenCount.Segment>
  /** tokens the API adds (the tool-use system prompt) */
  readonly overhead: number
}

/** @internal */
export type Read =
  | { readonly _tag: "Ok"; readonly request: MessagesRequest }
  | { readonly _tag: "Invalid"; readonly message: string }

/** The deepest nesting of arrays and objects in a JSON text, stopping early past `limit`. @internal */
export const nestingDepth = (text: string, limit = maxNestingDepth): number => {
  let depth = 0
  let deepest = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 92) i++ // backslash: skip the escaped character
      else if (c === 34) inString = false
    } else if (c === 34) inString = true
    else if (c === 91 || c === 123) {
      depth++
      if (depth > deepest) {
        deepest = depth
        if (deepest > limit) return deepest
      }
    } else if (c === 93 || c === 125) depth--
  }
  return deepest
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const segmentOf = (block: unknown): TokenCount.Segment => {
  if (typeof block === "string") return { characters: block.length, fixedTokens: 0, key: block, cached: false }
  const cached = isRecord(block) && block.cache_control !== undefined && block.cache_control !== null
  if (isRecord(block) && block.type === "text" && typeof block.text === "string") {
    return { characters: block.text.length, fixedTokens: 0, key: block.text, cached }
  }
  if (isRecord(block) && block.type === "image") {
    return { characters: 0, fixedTokens: TokenCount.imageTokens, key: JSON.stringify(block.source ?? null), cached }
  }
  const json = JSON.stringify(block) ?? ""
  return { characters: json.length, fixedTokens: 0, key: json, cached }
}

const contentSegments = (content: string | ReadonlyArray<unknown>): Array<TokenCount.Segment> =>
  typeof content === "string" ? [segmentOf(content)] : content.map(segmentOf)

const shortIssue = (error: ParseResult.ParseError): string => {
  const [first] = ParseResult.ArrayFormatter.formatErrorSync(error)
  if (first === undefined) return "invalid request"
  const path = first.path.map(String).join(".")
  const text = `${path === "" ? "" : `${path}: `}${first.message}`
  return text.length > 300 ? `${text.slice(0, 300)}…` : text
}

const decodeCreate = Schema.decodeUnknownEither(Messages.CreateMessageParams)
const decodeCount = Schema.decodeUnknownEither(Messages.CountTokensParams)

/**
 * Reads the body of `POST /v1/messages` (`withMaxTokens`) or of
 * `POST /v1/messages/count_tokens`.
 *
 * @internal
 */
export const read = (body: string, withMaxTokens: boolean): Read => {
  if (nestingDepth(body) > maxNestingDepth) {
    return { _tag: "Invalid", message: `request body is nested more than ${maxNestingDepth} levels deep` }
  }
  let value: unknown
  try {
    value = JSON.parse(body)
  } catch {
    return { _tag: "Invalid", message: "There was an issue with the format of your request: body is not valid JSON" }
  }
  if (!isRecord(value)) return { _tag: "Invalid", message: "request body must be a JSON object" }
  const decoded = withMaxTokens ? decodeCreate(value) : decodeCount(value)
  if (Either.isLeft(decoded)) return { _tag: "Invalid", message: shortIssue(decoded.left) }
  const params = decoded.right
  if (params.messages.length === 0) return { _tag: "Invalid", message: "messages: at least one message is required" }
  if (value.stream !== undefined && typeof value.stream !== "boolean") {
    return { _tag: "Invalid", message: "stream: Input should be a valid boolean" }
  }
  const toolChoice = isRecord(value.tool_choice) && typeof value.tool_choice.type === "string"
    ? value.tool_choice.type
    : undefined
  const tools = params.tools ?? []
  const segments = [
    ...tools.map(segmentOf),
    ...(params.system === undefined ? [] : contentSegments(params.system)),
    ...params.messages.flatMap((message) => contentSegments(message.content))
  ]
  return {
    _tag: "Ok",
    request: {
      model: params.model,
      maxTokens: "max_tokens" in params && typeof params.max_tokens === "number" ? params.max_tokens : 0,
      stream: value.stream === true,
      segments,
      overhead: tools.length > 0 ? TokenCount.toolSystemPromptTokens(toolChoice) : 0
    }
  }
}
