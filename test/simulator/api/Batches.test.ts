import { describe, expect, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import { message, send, stats, withSimulator } from "../support/send.js"

const batch = (count: number, params: (i: number) => unknown = () => message()) => ({
  requests: Array.from({ length: count }, (_, i) => ({ custom_id: `r${i}`, params: params(i) }))
})

const get = (path: string) => send(null, { method: "GET", path })

describe("Simulator Message Batches (in memory, TestClock)", () => {
  it.effect("create, retrieve, results: a batch ends after its virtual delay", () =>
    withSimulator(
      { batches: { completionDelay: "30 minutes" } },
      Effect.gen(function*() {
        const created = yield* send(
          batch(3, (i) => i === 1 ? message("Hi", { model: "claude-nope" }) : message()),
          { path: "/v1/messages/batches" }
        )
        expect(created.status).toBe(200)
        expect(created.body).toMatchObject({
          type: "message_batch",
          processing_status: "in_progress",
          request_counts: { processing: 3, succeeded: 0, errored: 0 },
          results_url: null
        })
        const id = created.body.id as string
        expect((yield* get(`/v1/messages/batches/${id}/results`)).status).toBe(400)
        yield* TestClock.adjust("29 minutes")
        expect((yield* get(`/v1/messages/batches/${id}`)).body.processing_status).toBe("in_progress")
        yield* TestClock.adjust("1 minute")
        const ended = yield* get(`/v1/messages/batches/${id}`)
        expect(ended.body).toMatchObject({
          processing_status: "ended",
          request_counts: { processing: 0, succeeded: 2, errored: 1 },
          results_url: `/v1/messages/batches/${id}/results`
        })
        const results = yield* get(`/v1/messages/batches/${id}/results`)
        expect(results.headers["content-type"]).toContain("jsonl")
        const lines = (results.body as string).trim().split("\n").map((line) => JSON.parse(line))
        expect(lines.map((line) => [line.custom_id, line.result.type])).toEqual([
          ["r0", "succeeded"],
          ["r1", "errored"],
          ["r2", "succeeded"]
        ])
        expect(lines[0].result.message).toMatchObject({ type: "message", model: "claude-sonnet-4-6" })
        // batches do not draw on the Messages buckets
        expect(yield* stats).toMatchObject({ batchesCreated: 1, batchRequests: 3, inputTokens: 0 })
      })
    ))

  it.effect("batches have limits of their own: requests per batch, the queue, and requests per minute", () =>
    withSimulator(
      { batches: { maxRequestsPerBatch: 5, maxQueuedRequests: 8, requestsPerMinute: 3 } },
      Effect.gen(function*() {
        const tooBig = yield* send(batch(6), { path: "/v1/messages/batches" })
        expect([tooBig.status, tooBig.body.error.type]).toEqual([400, "invalid_request_error"])
        expect((yield* send(batch(5), { path: "/v1/messages/batches" })).status).toBe(200)
        const queueFull = yield* send(batch(4), { path: "/v1/messages/batches" })
        expect([queueFull.status, queueFull.body.error.type]).toEqual([429, "rate_limit_error"])
        const perMinute = yield* get("/v1/messages/batches/msgbatch_sim_00000001")
        expect(perMinute.status).toBe(429)
        expect(perMinute.headers["retry-after"]).toBe("20")
        // a batch that does not exist
        yield* TestClock.adjust("1 minute")
        expect((yield* get("/v1/messages/batches/msgbatch_nope")).status).toBe(404)
      })
    ))
})
