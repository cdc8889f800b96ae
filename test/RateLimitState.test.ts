import { describe, expect, it } from "@effect/vitest"
import { DateTime, Effect, HashMap, Option } from "effect"
import * as RateLimitHeaders from "../src/RateLimitHeaders.js"
import * as RateLimitState from "../src/RateLimitState.js"
import * as Scripted from "../src/testing/ScriptedHttpClient.js"
import { collectFirst } from "./support/streams.js"

const pool = "claude-sonnet-4-6"

/** A snapshot received now, with the given bucket headers. */
const snapshotNow = (headers: (now: DateTime.Utc) => Record<string, string>) =>
  Effect.flatMap(DateTime.now, (now) => Effect.succeed(RateLimitHeaders.decodeAt(headers(now), now)))

const requests = (limit: number, remaining: number) => (now: DateTime.Utc) =>
  Scripted.bucketHeaders("requests", { limit, remaining, now, resetIn: "60 seconds" })

describe("RateLimitState", () => {
  it.effect("holds the latest snapshot per pool, readable as current, get and a changes stream", () =>
    Effect.gen(function*() {
      const state = yield* RateLimitState.make
      const changes = yield* collectFirst(state.changes, 3)
      yield* state.update(pool, yield* snapshotNow(requests(50, 40)))
      yield* state.update("claude-haiku-4-5", yield* snapshotNow(requests(100, 99)))
      expect(HashMap.size(yield* state.current)).toBe(2)
      const latest = Option.getOrThrow(yield* state.get(pool))
      expect(latest.requests.remaining).toEqual(Option.some(40))
      const seen = yield* changes
      expect(seen.map(HashMap.size)).toEqual([0, 1, 2])
      expect(yield* state.get("unknown-model")).toEqual(Option.none())
    }))

  it.effect("a response without rate-limit headers does not erase what earlier responses said", () =>
    Effect.gen(function*() {
      const state = yield* RateLimitState.make
      yield* state.update(pool, yield* snapshotNow(requests(50, 40)))
      yield* state.update(pool, yield* snapshotNow(() => ({ "request-id": "req_edge" })))
      const latest = Option.getOrThrow(yield* state.get(pool))
      expect(latest.requests.remaining).toEqual(Option.some(40))
      expect(latest.requestId).toEqual(Option.some("req_edge"))
    }))
})
