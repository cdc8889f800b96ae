/**
 * Message Batches, minimal: create, retrieve, results. A batch ends
 * `completionDelay` after it was created (virtual time, like everything
 * else); its requests are validated like Messages requests and answered
 * with generated messages. Batches have limits of their own, not the
 * Messages buckets: requests per minute to the batch endpoints, requests per
 * batch, and requests waiting in unfinished batches.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import * as ModelCatalog from "../ModelCatalog.js"
import type { Config } from "../SimulatorConfig.js"
import * as Bucket from "./bucket.js"
import * as Requests from "./requests.js"
import * as Wire from "./wire.js"

interface Batch {
  readonly id: string
  readonly createdAt: number
  readonly endsAt: number
  readonly requests: ReadonlyArray<{ readonly customId: string; readonly params: unknown }>
  readonly seed: number
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const iso = (millis: number) => new Date(millis).toISOString()

/** @internal */
export const make = (config: Config, startedAt: number) => {
  const batches = new Map<string, Batch>()
  let bucket = Bucket.full(config.batches.requestsPerMinute, startedAt)
  let sequence = 0

  const describe = (batch: Batch, now: number) => {
    const ended = now >= batch.endsAt
    const outcomes = ended ? batch.requests.map((request) => validate(request.params)) : []
    const errored = outcomes.filter((outcome) => outcome !== undefined).length
    return {
      id: batch.id,
      type: "message_batch",
      processing_status: ended ? "ended" : "in_progress",
      request_counts: {
        processing: ended ? 0 : batch.requests.length,
        succeeded: ended ? batch.requests.length - errored : 0,
        errored,
        canceled: 0,
        expired: 0
      },
      ended_at: ended ? iso(batch.endsAt) : null,
      created_at: iso(batch.createdAt),
      expires_at: iso(batch.createdAt + 24 * 3_600_000),
      archived_at: null,
      cancel_initiated_at: null,
      results_url: ended ? `/v1/messages/batches/${batch.id}/results` : null
    }
  }

  const validate = (params: unknown): string | undefined => {
    const read = Requests.read(JSON.stringify(params) ?? "", true)
    if (read._tag === "Invalid") return read.message
    const model = ModelCatalog.find(config.models, read.request.model)
    if (model === undefined) return `model: ${read.request.model}`
    if (read.request.maxTokens > model.maxOutputTokens) {
      return `max_tokens: ${read.request.maxTokens} > ${model.maxOutputTokens}`
    }
    return undefined
  }

  const queued = (now: number) =>
    Array.from(batches.values()).reduce((sum, batch) => sum + (now < batch.endsAt ? batch.requests.length : 0), 0)

  /** Takes one request from the batch endpoints' own bucket; a 429 when empty. */
  const admit = (id: string, now: number): Wire.WireResponse | undefined => {
    if (Bucket.level(bucket, now) < 1) {
      return Wire.errorResponse(
        429,
        "rate_limit_error",
        `This request would exceed your organization's rate limit of ${config.batches.requestsPerMinute} batch requests per minute.`,
        id,
        { "retry-after": String(Math.max(1, Math.ceil(Bucket.waitFor(bucket, now, 1) / 1000))) }
      )
    }
    bucket = Bucket.take(bucket, now, 1)
    return undefined
  }

  const create = (body: unknown, id: string, now: number): Wire.WireResponse => {
    if (!isRecord(body) || !Array.isArray(body.requests) || body.requests.length === 0) {
      return Wire.errorResponse(400, "invalid_request_error", "requests: at least one request is required", id)
    }
    if (body.requests.length > config.batches.maxRequestsPerBatch) {
      return Wire.errorResponse(
        400,
        "invalid_request_error",
        `requests: a batch holds at most ${config.batches.maxRequestsPerBatch} requests`,
        id
      )
    }
    const requests: Array<Batch["requests"][number]> = []
    for (const entry of body.requests) {
      if (!isRecord(entry) || typeof entry.custom_id !== "string" || !isRecord(entry.params)) {
        return Wire.errorResponse(400, "invalid_request_error", "requests: each needs a custom_id and params", id)
      }
      requests.push({ customId: entry.custom_id, params: entry.params })
    }
    if (queued(now) + requests.length > config.batches.maxQueuedRequests) {
      return Wire.errorResponse(
        429,
        "rate_limit_error",
        `Your organization's batch queue is full (${config.batches.maxQueuedRequests} requests in unfinished batches).`,
        id,
        {}
      )
    }
    const batch: Batch = {
      id: `msgbatch_sim_${String(++sequence).padStart(8, "0")}`,
      createdAt: now,
      endsAt: now + config.batches.completionDelayMillis,
      requests,
      seed: config.seed * 7_919 + sequence
    }
    batches.set(batch.id, batch)
    return Wire.json(200, describe(batch, now), { "request-id": id })
  }

  const notFound = (batchId: string, id: string) =>
    Wire.errorResponse(404, "not_found_error", `message_batch: ${batchId} not found`, id)

  const retrieve = (batchId: string, id: string, now: number): Wire.WireResponse => {
    const batch = batches.get(batchId)
    return batch === undefined ? notFound(batchId, id) : Wire.json(200, describe(batch, now), { "request-id": id })
  }

  const results = (batchId: string, id: string, now: number): Effect.Effect<Wire.WireResponse> =>
    Effect.gen(function*() {
      const batch = batches.get(batchId)
      if (batch === undefined) return notFound(batchId, id)
      if (now < batch.endsAt) {
        return Wire.errorResponse(400, "invalid_request_error", `message_batch ${batchId} has not ended yet`, id)
      }
      const rng = Random.make(batch.seed)
      const lines: Array<string> = []
      for (const [index, request] of batch.requests.entries()) {
        const problem = validate(request.params)
        if (problem !== undefined) {
          lines.push(JSON.stringify({
            custom_id: request.customId,
            result: {
              type: "errored",
              error: { type: "error", error: { type: "invalid_request_error", message: problem } }
            }
          }))
          continue
        }
        const params = request.params as { readonly model: string; readonly max_tokens: number }
        const share = 0.2 + 0.8 * (yield* rng.next)
        const outputTokens = Math.max(1, Math.min(params.max_tokens, Math.round(params.max_tokens * share)))
        const input = Requests.read(JSON.stringify(params), true)
        const inputTokens = input._tag === "Ok"
          ? Math.ceil(input.request.segments.reduce((sum, s) => sum + s.characters, 0) / config.charactersPerToken)
          : 0
        lines.push(JSON.stringify({
          custom_id: request.customId,
          result: {
            type: "succeeded",
            message: Wire.messageBody({
              id: `msg_sim_${batch.id.slice(13)}_${index}`,
              model: params.model,
              text: Wire.generatedText(outputTokens, index, config.charactersPerToken),
              stopReason: outputTokens >= params.max_tokens ? "max_tokens" : "end_turn",
              inputTokens,
              outputTokens,
              cacheCreation: 0,
              cacheRead: 0
            })
          }
        }))
      }
      return {
        status: 200,
        headers: { "content-type": "application/x-jsonl", "request-id": id },
        body: lines.join("\n") + "\n",
        disconnect: false
      }
    })

  return { admit, create, retrieve, results }
}
