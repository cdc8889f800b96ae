#!/usr/bin/env node
/**
 * The main job, first version: sends a few requests through the full
 * pipeline against a scripted API (a 429 with retry-after, an overload, a
 * nearly exhausted request bucket) and prints what happened to each.
 *
 * @since 0.1.0
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Duration, Effect, Layer, Option, Redacted } from "effect"
import * as CircuitBreaker from "../CircuitBreaker.js"
import * as ClaudeClient from "../ClaudeClient.js"
import * as RateLimitState from "../RateLimitState.js"
import * as Scripted from "../testing/ScriptedHttpClient.js"

const lowBudget = ({ now }: Scripted.StepContext) =>
  Scripted.message({
    text: "Fine, thanks.",
    headers: Scripted.bucketHeaders("requests", { limit: 50, remaining: 5, now, resetIn: "54 seconds" })
  })

const script: ReadonlyArray<Scripted.Step> = [
  Scripted.error(429, "rate_limit_error", { headers: { "retry-after": "1" } }),
  Scripted.message({ text: "Hello!" }),
  Scripted.error(529, "overloaded_error"),
  lowBudget,
  Scripted.message({ text: "Still here." })
]

const program = Effect.gen(function*() {
  const client = yield* ClaudeClient.ClaudeClient
  const state = yield* RateLimitState.RateLimitState
  for (const prompt of ["Hi", "How are you?", "Still there?"]) {
    const started = Date.now()
    const message = yield* client.createMessage({
      model: "claude-sonnet-4-6",
      max_tokens: 64,
      messages: [{ role: "user", content: prompt }]
    })
    const text = message.content.map((block) => (block.type === "text" && "text" in block ? block.text : "")).join("")
    const snapshot = yield* state.get("claude-sonnet-4-6")
    const remaining = Option.getOrUndefined(Option.flatMap(snapshot, (s) => s.requests.remaining))
    yield* Console.log(
      `${prompt.padEnd(14)} → ${String(text).padEnd(14)} after ${
        Duration.format(Duration.millis(Date.now() - started))
      }`
        + (remaining === undefined ? "" : `  (requests remaining: ${remaining})`)
    )
  }
})

const MainLive = ClaudeClient.layerWithoutDependencies({
  apiKey: Redacted.make("sk-ant-demo-not-a-real-key"),
  retry: { baseDelay: "500 millis" }
}).pipe(
  Layer.provideMerge(Layer.mergeAll(Scripted.layer(script), RateLimitState.layer, CircuitBreaker.layer()))
)

program.pipe(Effect.provide(MainLive), NodeRuntime.runMain)
