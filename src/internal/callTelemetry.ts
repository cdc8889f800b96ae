/**
 * How a call's end is reported: the usage and response attributes of its
 * span and the token metrics when it answered, in OpenTelemetry's GenAI
 * names, and the `error.type` of its duration when it did not.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Tracer from "effect/Tracer"
import type * as Messages from "../Messages.js"
import { usageOf } from "./attemptOutcome.js"
import * as GenAi from "./genAiTelemetry.js"

/** The span attributes and metrics of a call's answer, in OpenTelemetry's GenAI names. @internal */
export const answered = (
  attributes: GenAi.CallAttributes | undefined,
  usage: Messages.Usage | undefined,
  value: unknown,
  span: Tracer.Span
): Effect.Effect<void> => {
  if (usage === undefined) return Effect.void
  const used = usageOf(usage)
  const message = value as Partial<Messages.Message>
  span.attribute("gen_ai.usage.input_tokens", used.inputTokens)
  span.attribute("gen_ai.usage.output_tokens", used.outputTokens)
  if (typeof message.id === "string") span.attribute("gen_ai.response.id", message.id)
  if (typeof message.model === "string") span.attribute("gen_ai.response.model", message.model)
  if (typeof message.stop_reason === "string") span.attribute("gen_ai.response.finish_reasons", [message.stop_reason])
  return GenAi.recordUsage(attributes, used)
}

/** The `error.type` of a call that ended without a value. @internal */
export const errorTypeOf = (cause: Cause.Cause<unknown>): string =>
  Option.match(Cause.failureOption(cause), {
    onNone: () => Cause.isInterruptedOnly(cause) ? "interrupted" : "defect",
    onSome: (error) => typeof error === "object" && error !== null && "_tag" in error ? String(error._tag) : "unknown"
  })
