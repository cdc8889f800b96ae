/**
 * Schemas for the Message Batches API: many Messages requests processed
 * asynchronously (within 24 hours) under limits of their own, the route
 * Anthropic recommends for large offline work.
 *
 * @since 0.2.0
 */
import * as Schema from "effect/Schema"
import * as Messages from "./Messages.js"

const Open = Schema.Record({ key: Schema.String, value: Schema.Unknown })

/**
 * One request of a batch: its own id, and the parameters of a Messages
 * request (without `stream`).
 *
 * @since 0.2.0
 * @category schemas
 */
export const BatchRequest = Schema.Struct({
  custom_id: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(64)),
  params: Messages.CreateMessageParams
})

/**
 * @since 0.2.0
 * @category models
 */
export type BatchRequest = typeof BatchRequest.Type

/**
 * Parameters of `POST /v1/messages/batches`.
 *
 * @since 0.2.0
 * @category schemas
 */
export const CreateBatchParams = Schema.Struct({
  requests: Schema.NonEmptyArray(BatchRequest)
}, Open)

/**
 * @since 0.2.0
 * @category models
 */
export type CreateBatchParams = typeof CreateBatchParams.Type

/**
 * @since 0.2.0
 * @category schemas
 */
export const RequestCounts = Schema.Struct({
  processing: Schema.NonNegativeInt,
  succeeded: Schema.NonNegativeInt,
  errored: Schema.NonNegativeInt,
  canceled: Schema.NonNegativeInt,
  expired: Schema.NonNegativeInt
}, Open)

/**
 * A batch as the API describes it. `results_url` is set once processing has
 * `ended`.
 *
 * @since 0.2.0
 * @category schemas
 */
export const MessageBatch = Schema.Struct({
  id: Schema.String,
  type: Schema.Literal("message_batch"),
  processing_status: Schema.String,
  request_counts: RequestCounts,
  created_at: Schema.String,
  ended_at: Schema.optional(Schema.NullOr(Schema.String)),
  expires_at: Schema.optional(Schema.NullOr(Schema.String)),
  results_url: Schema.optional(Schema.NullOr(Schema.String))
}, Open)

/**
 * @since 0.2.0
 * @category models
 */
export type MessageBatch = typeof MessageBatch.Type

/**
 * The result of one request of a batch: `succeeded` with its message,
 * `errored` with the error body, `canceled`, `expired`, or a type not known
 * yet (kept as given).
 *
 * @since 0.2.0
 * @category schemas
 */
export const BatchResult = Schema.Struct({
  custom_id: Schema.String,
  result: Schema.Union(
    Schema.Struct({ type: Schema.Literal("succeeded"), message: Messages.Message }),
    Schema.Struct({ type: Schema.Literal("errored"), error: Schema.Unknown }),
    Schema.Struct({ type: Schema.String }, Open)
  )
})

/**
 * @since 0.2.0
 * @category models
 */
export type BatchResult = typeof BatchResult.Type
