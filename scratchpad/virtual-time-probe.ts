import { Effect, Layer, Redacted } from "effect"
import * as ClaudeClient from "../src/ClaudeClient.js"
import * as Simulator from "../src/simulator/api/Simulator.js"
import * as VirtualTime from "../src/testing/VirtualTime.js"

const n = Number(process.argv[2] ?? 1000)
const program = Effect.gen(function*() {
  const client = yield* ClaudeClient.ClaudeClient
  const results = yield* Effect.forEach(
    Array.from({ length: n }),
    (_, i) =>
      Effect.either(
        client.createMessage({
          model: "claude-sonnet-4-6",
          max_tokens: 200,
          messages: [{ role: "user", content: "x".repeat(400 + (i % 800)) }]
        })
      ),
    { concurrency: 16 }
  )
  const stats = yield* (yield* Simulator.Simulator).stats
  return {
    ok: results.filter((r) => r._tag === "Right").length,
    rateLimited: stats.rateLimited,
    peak: stats.peakConcurrency
  }
}).pipe(
  Effect.provide(
    ClaudeClient.layer({ apiKey: Redacted.make("k") }).pipe(Layer.provideMerge(Simulator.layer({ seed: 7 })))
  )
)
const t0 = Date.now()
Effect.runPromise(VirtualTime.run(program)).then((r) =>
  console.log(JSON.stringify(r.exit), "virtual", r.elapsed.toString(), "real ms", Date.now() - t0)
)
