import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Redacted, TestClock } from "effect"
import * as ClaudeClient from "../src/ClaudeClient.js"
import type * as MessageBatches from "../src/MessageBatches.js"
import { Simulator } from "../src/testing/index.js"

// The Message Batches API through the client, against the simulated API's batches, under TestClock.

const request = (id: string, content: string): MessageBatches.BatchRequest => ({
  custom_id: id,
  params: { model: "claude-sonnet-4-6", max_tokens: 64, messages: [{ role: "user", content }] }
})

const layer = ClaudeClient.layer({ apiKey: Redacted.make("sk-ant-batches") }).pipe(
  Layer.provideMerge(Simulator.layer({ seed: 5, batches: { completionDelay: "2 minutes" } }))
)

describe("ClaudeClient batches", () => {
  it.effect("create, retrieve until it ends, and read the results (JSON Lines, decoded)", () =>
    Effect.gen(function*() {
      const client = yield* ClaudeClient.ClaudeClient
      const created = yield* client.createBatch({
        requests: [request("a", "Hello"), request("b", "Bonjour"), request("c", "Hallo")]
      })
      expect(created.processing_status).toBe("in_progress")
      expect(created.request_counts.processing).toBe(3)
      const early = yield* client.retrieveBatch(created.id)
      expect(early.processing_status).toBe("in_progress")
      const later = yield* Effect.fork(Effect.zipRight(Effect.sleep("3 minutes"), client.retrieveBatch(created.id)))
      yield* TestClock.adjust("3 minutes")
      const ended = yield* Fiber.join(later)
      expect(ended.processing_status).toBe("ended")
      expect(ended.request_counts.succeeded).toBe(3)
      const results = yield* client.batchResults(created.id)
      expect(results.map((result) => result.custom_id).sort()).toEqual(["a", "b", "c"])
      expect(results.every((result) => result.result.type === "succeeded")).toBe(true)
    }).pipe(Effect.provide(layer)))

  it.effect("an unknown batch is a typed NotFoundError", () =>
    Effect.gen(function*() {
      const client = yield* ClaudeClient.ClaudeClient
      const error = yield* Effect.flip(client.retrieveBatch("msgbatch_nope"))
      expect(error._tag).toBe("NotFoundError")
    }).pipe(Effect.provide(layer)))

  it.effect("invalid batch params are refused before sending", () =>
    Effect.gen(function*() {
      const client = yield* ClaudeClient.ClaudeClient
      const error = yield* Effect.flip(client.createBatch({ requests: [{ ...request("", "x") }] }))
      expect(error._tag).toBe("RequestValidationError")
      expect((yield* (yield* Simulator.Simulator).stats).requests).toBe(0)
    }).pipe(Effect.provide(layer)))
})
