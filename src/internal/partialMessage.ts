/**
 * Folding the events of a stream into the message received so far: usage
 * merged as it is reported, each block grown by its deltas, a tool call's
 * JSON input parsed when its block stops.
 *
 * @internal
 */
import type * as Messages from "../Messages.js"
import type * as MessageStream from "../MessageStream.js"

const mergeUsage = (usage: Messages.Usage, update: typeof MessageStream.StreamUsage.Type): Messages.Usage => ({
  ...usage,
  input_tokens: update.input_tokens ?? usage.input_tokens,
  output_tokens: update.output_tokens ?? usage.output_tokens,
  ...(update.cache_creation_input_tokens != null
    ? { cache_creation_input_tokens: update.cache_creation_input_tokens }
    : {}),
  ...(update.cache_read_input_tokens != null ? { cache_read_input_tokens: update.cache_read_input_tokens } : {})
})

// A tool call's input arrives as JSON text in pieces; it is parsed when its block stops.
const partialJsonKey = "__partial_json"

const applyDelta = (block: Messages.ContentBlock, delta: MessageStream.Delta): Messages.ContentBlock => {
  const current = block as Record<string, unknown>
  switch (delta.type) {
    case "text_delta":
      return { ...current, text: `${current.text ?? ""}${delta.text ?? ""}` } as Messages.ContentBlock
    case "thinking_delta":
      return { ...current, thinking: `${current.thinking ?? ""}${delta.thinking ?? ""}` } as Messages.ContentBlock
    case "signature_delta":
      return { ...current, signature: delta.signature } as Messages.ContentBlock
    case "input_json_delta":
      return {
        ...current,
        [partialJsonKey]: `${current[partialJsonKey] ?? ""}${delta.partial_json ?? ""}`
      } as unknown as Messages.ContentBlock
    case "citations_delta":
      return {
        ...current,
        citations: [...(Array.isArray(current.citations) ? current.citations : []), delta.citation]
      } as unknown as Messages.ContentBlock
    default:
      return block
  }
}

const finishBlock = (block: Messages.ContentBlock): Messages.ContentBlock => {
  const { [partialJsonKey]: json, ...rest } = block as Record<string, unknown>
  if (typeof json !== "string") return block
  try {
    return { ...rest, input: json === "" ? {} : JSON.parse(json) } as Messages.ContentBlock
  } catch {
    return { ...rest, input: json } as Messages.ContentBlock
  }
}

/** @internal */
export const accumulate = (
  message: MessageStream.PartialMessage,
  event: MessageStream.StreamEvent
): MessageStream.PartialMessage => {
  switch (event.type) {
    case "message_start": {
      const start = event as typeof MessageStream.MessageStartEvent.Type
      return {
        ...message,
        id: start.message.id,
        model: start.message.model,
        content: start.message.content,
        usage: mergeUsage(message.usage, start.message.usage)
      }
    }
    case "content_block_start": {
      const start = event as typeof MessageStream.ContentBlockStartEvent.Type
      const content = [...message.content]
      content[start.index] = start.content_block
      return { ...message, content }
    }
    case "content_block_delta": {
      const { delta, index } = event as typeof MessageStream.ContentBlockDeltaEvent.Type
      const block = message.content[index]
      if (block === undefined) return message
      const content = [...message.content]
      content[index] = applyDelta(block, delta)
      return { ...message, content }
    }
    case "content_block_stop": {
      const { index } = event as typeof MessageStream.ContentBlockStopEvent.Type
      const block = message.content[index]
      if (block === undefined) return message
      const content = [...message.content]
      content[index] = finishBlock(block)
      return { ...message, content }
    }
    case "message_delta": {
      const { delta, usage } = event as typeof MessageStream.MessageDeltaEvent.Type
      return {
        ...message,
        stop_reason: delta.stop_reason ?? message.stop_reason,
        stop_sequence: delta.stop_sequence ?? message.stop_sequence,
        usage: mergeUsage(message.usage, usage)
      }
    }
    case "message_stop":
      return { ...message, complete: true }
    default:
      return message
  }
}

/** @internal */
export const toMessage = (partial: MessageStream.PartialMessage): Messages.Message => ({
  id: partial.id,
  type: "message",
  role: "assistant",
  model: partial.model,
  content: partial.content.map(finishBlock),
  stop_reason: partial.stop_reason,
  stop_sequence: partial.stop_sequence,
  usage: partial.usage
})
