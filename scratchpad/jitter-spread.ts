// Experiment: how well each jitter mode spreads 1 000 clients that failed at the same instant.
// Run: npx tsx scratchpad/jitter-spread.ts
import { Chunk, Duration, Effect, Random, Schedule } from "effect"
import * as RetryPolicy from "../src/RetryPolicy.js"

// the second retry's delay of each client: Schedule.run steps the schedule without sleeping
const secondDelays = (jitter: RetryPolicy.Jitter) =>
  Effect.forEach(
    Chunk.range(1, 1000),
    (seed) =>
      Schedule.run(RetryPolicy.backoff({ jitter, baseDelay: "1 second" }), 0, [undefined, undefined]).pipe(
        Effect.map((outputs) => Duration.toMillis(Chunk.unsafeGet(outputs, 1))),
        Effect.withRandom(Random.make(seed))
      )
  )

for (const jitter of ["none", "equal", "full", "decorrelated"] as const) {
  const delays = Effect.runSync(secondDelays(jitter))
  const buckets = new Map<number, number>()
  for (const delay of delays) buckets.set(Math.floor(delay / 250), (buckets.get(Math.floor(delay / 250)) ?? 0) + 1)
  const busiest = Math.max(...buckets.values())
  console.log(`${jitter.padEnd(13)} distinct 250 ms slots: ${buckets.size}, busiest slot: ${busiest} clients`)
}
