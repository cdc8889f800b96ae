/**
 * Schemas for the Messages API: the request parameters of
 * `POST /v1/messages` and `POST /v1/messages/count_tokens`, and the
 * responses, with the wire's snake_case field names.
 *
 * Both directions are open where the API grows. Request parameters validate
 * the fields this library knows and keep every other field as given, so a
 * field added to the API last month (`context_management`, `mcp_servers`, …)
 * reaches it untouched. In responses, an unknown content block type, stop
 * reason or usage field still decodes.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * @since 0.1.0
 * @category schemas
 */
export const CacheControl = Schema.Struct({
  type: Schema.Literal("ephemeral"),
  ttl: Schema.optional(Schema.String)
})

/**
 * @since 0.1.0
 * @category schemas
 */
export const TextBlockParam = Schema.Struct({
  type: Schema.Literal("text"),
  text: Schema.String,
  cache_control: Schema.optional(CacheControl)
})

/**
 * Any other block a request may carry (image, document, tool_use,
 * tool_result, …): passed through as given.
 *
 * @since 0.1.0
 * @category schemas
 */
export const OtherBlockParam = Schema.Struct(
  // a text block is a TextBlockParam: one whose text is not a string is refused, not passed through
  { type: Schema.String.pipe(Schema.filter((type) => type !== "text", { message: () => "not a text block" })) },
  Schema.Record({ key: Schema.String, value: Schema.Unknown })
)

/**
 * @since 0.1.0
 * @category schemas
 */
export const ContentBlockParam = Schema.Union(TextBlockParam, OtherBlockParam)

/**
 * @since 0.1.0
 * @category schemas
 */
export const MessageParam = Schema.Struct({
  role: Schema.Literal("user", "assistant"),
  content: Schema.Union(Schema.String, Schema.Array(ContentBlockParam))
})

/**
 * @since 0.1.0
 * @category models
 */
export type MessageParam = typeof MessageParam.Type

const InputFields = {
  model: Schema.NonEmptyTrimmedString,
  messages: Schema.Array(MessageParam),
  system: Schema.optional(Schema.Union(Schema.String, Schema.Array(TextBlockParam))),
  tools: Schema.optional(Schema.Array(Schema.Record({ key: Schema.String, value: Schema.Unknown }))),
  tool_choice: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
  thinking: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown }))
}

// Fields the schema does not name pass through untouched: the API grows every month.
const OtherFields = Schema.Record({ key: Schema.String, value: Schema.Unknown })

// The API refuses a request without messages. Checked once the fields are valid, so that it is not one more
// problem listed next to theirs.
const atLeastOneMessage = (params: { readonly messages: ReadonlyArray<unknown> }) =>
  params.messages.length > 0 || { path: ["messages"], message: "at least one message is required" }

/**
 * Parameters of `POST /v1/messages`: the known fields are validated, any
 * other field is sent as given.
 *
 * `stream` is set by the client, not by you: `createMessage` sends it
 * `false` (a stream is not one JSON message) and `streamMessage` sends it
 * `true`; `createMessage` refuses params that ask for `stream: true`.
 *
 * Encode with {@link encodeOptions} so that unknown fields inside known
 * objects (a text block's `citations`, say) are kept too.
 *
 * @since 0.1.0
 * @category schemas
 */
export const CreateMessageParams = Schema.Struct({
  ...InputFields,
  max_tokens: Schema.Int.pipe(Schema.positive()),
  temperature: Schema.optional(Schema.Number.pipe(Schema.between(0, 1))),
  top_p: Schema.optional(Schema.Number.pipe(Schema.between(0, 1))),
  top_k: Schema.optional(Schema.NonNegativeInt),
  stop_sequences: Schema.optional(Schema.Array(Schema.String)),
  metadata: Schema.optional(Schema.Struct({ user_id: Schema.optional(Schema.String) })),
  service_tier: Schema.optional(Schema.Literal("auto", "standard_only")),
  stream: Schema.optional(Schema.Boolean)
}, OtherFields).pipe(Schema.filter(atLeastOneMessage))

/**
 * @since 0.1.0
 * @category models
 */
export type CreateMessageParams = typeof CreateMessageParams.Type

/**
 * Parameters of `POST /v1/messages/count_tokens`: the known fields are
 * validated, any other field is sent as given.
 *
 * @since 0.1.0
 * @category schemas
 */
export const CountTokensParams = Schema.Struct(InputFields, OtherFields).pipe(Schema.filter(atLeastOneMessage))

/**
 * The options to encode request parameters with: fields the schemas do not
 * name are kept, at every level, instead of being stripped.
 *
 * @since 0.2.0
 * @category schemas
 */
export const encodeOptions = { onExcessProperty: "preserve", errors: "all" } as const

/**
 * @since 0.1.0
 * @category models
 */
export type CountTokensParams = typeof CountTokensParams.Type

/**
 * @since 0.1.0
 * @category schemas
 */
export const TextBlock = Schema.Struct({
  type: Schema.Literal("text"),
  text: Schema.String,
  citations: Schema.optional(Schema.NullOr(Schema.Array(Schema.Unknown)))
})

/**
 * @since 0.1.0
 * @category schemas
 */
export const ToolUseBlock = Schema.Struct({
  type: Schema.Literal("tool_use"),
  id: Schema.String,
  name: Schema.String,
  input: Schema.Unknown
})

/**
 * @since 0.1.0
 * @category schemas
 */
export const ThinkingBlock = Schema.Struct({
  type: Schema.Literal("thinking"),
  thinking: Schema.String,
  signature: Schema.String
})

/**
 * @since 0.1.0
 * @category schemas
 */
export const RedactedThinkingBlock = Schema.Struct({
  type: Schema.Literal("redacted_thinking"),
  data: Schema.String
})

/**
 * A block type this library does not know yet, kept as given.
 *
 * @since 0.1.0
 * @category schemas
 */
export const UnknownBlock = Schema.Struct(
  { type: Schema.String },
  Schema.Record({ key: Schema.String, value: Schema.Unknown })
)

/**
 * @since 0.1.0
 * @category schemas
 */
export const ContentBlock = Schema.Union(TextBlock, ToolUseBlock, ThinkingBlock, RedactedThinkingBlock, UnknownBlock)

/**
 * @since 0.1.0
 * @category models
 */
export type ContentBlock = typeof ContentBlock.Type

/**
 * Token usage of one message. ITPM counts `input_tokens` plus
 * `cache_creation_input_tokens`; `cache_read_input_tokens` does not count on
 * most models.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Usage = Schema.Struct({
  input_tokens: Schema.NonNegativeInt,
  output_tokens: Schema.NonNegativeInt,
  cache_creation_input_tokens: Schema.optional(Schema.NullOr(Schema.NonNegativeInt)),
  cache_read_input_tokens: Schema.optional(Schema.NullOr(Schema.NonNegativeInt)),
  service_tier: Schema.optional(Schema.NullOr(Schema.String))
})

/**
 * @since 0.1.0
 * @category models
 */
export type Usage = typeof Usage.Type

/**
 * Why generation stopped. Known values: `end_turn`, `max_tokens`,
 * `stop_sequence`, `tool_use`, `pause_turn`, `refusal`; newer ones decode too.
 *
 * @since 0.1.0
 * @category schemas
 */
export const StopReason = Schema.String

/**
 * A response of `POST /v1/messages`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Message = Schema.Struct({
  id: Schema.String,
  type: Schema.Literal("message"),
  role: Schema.Literal("assistant"),
  model: Schema.String,
  content: Schema.Array(ContentBlock),
  stop_reason: Schema.NullOr(StopReason),
  stop_sequence: Schema.optional(Schema.NullOr(Schema.String)),
  usage: Usage
})

/**
 * @since 0.1.0
 * @category models
 */
export type Message = typeof Message.Type

/**
 * A response of `POST /v1/messages/count_tokens`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const TokenCount = Schema.Struct({ input_tokens: Schema.NonNegativeInt })

/**
 * @since 0.1.0
 * @category models
 */
export type TokenCount = typeof TokenCount.Type

// Never throws: a block that cannot be serialised (a BigInt, a cycle) counts for nothing; the client
// refuses such parameters before estimating anyway.
const blockText = (block: unknown): string => {
  try {
    return JSON.stringify(block) ?? ""
  } catch {
    return ""
  }
}

/**
 * A cheap, deterministic estimate of a request's input tokens: one token per
 * four characters of its text (and of the JSON of any non-text block or
 * tool definition), rounded up. Good enough to reserve rate-limit budget
 * before a request is sent; the real count arrives in `usage`.
 *
 * @since 0.1.0
 * @category tokens
 */
export const estimateInputTokens = (params: CountTokensParams): number => {
  let characters = 0
  const add = (content: string | ReadonlyArray<{ readonly type: string }>) => {
    if (typeof content === "string") {
      characters += content.length
      return
    }
    for (const block of content) {
      characters += block.type === "text" && "text" in block && typeof block.text === "string"
        ? block.text.length
        : blockText(block).length
    }
  }
  if (params.system !== undefined) add(params.system)
  for (const message of params.messages) add(message.content)
  for (const tool of params.tools ?? []) characters += blockText(tool).length
  return Math.ceil(characters / 4)
}

/**
 * The total text of a message's text blocks.
 *
 * @since 0.1.0
 * @category getters
 */
export const text = (message: Message): string =>
  message.content.flatMap((block) => block.type === "text" && "text" in block ? [block.text as string] : []).join("")
