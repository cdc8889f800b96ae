// Heap per suspended fiber for a few shapes of effect, to see what a waiting request costs.
import { Effect, Fiber, Schedule } from "effect"
import * as RetryPolicy from "../src/RetryPolicy.js"

const gc = (globalThis as any).gc as () => void
const n = 10_000
const policy = RetryPolicy.make()
const shapes: Record<string, () => Effect.Effect<unknown, unknown>> = {
  never: () => Effect.never,
  gen: () =>
    Effect.gen(function*() {
      yield* Effect.never
    }),
  gen3: () =>
    Effect.gen(function*() {
      yield* Effect.gen(function*() {
        yield* Effect.gen(function*() {
          yield* Effect.never
        })
      })
    }),
  flatMap3: () =>
    Effect.flatMap(
      Effect.void,
      () => Effect.flatMap(Effect.void, () => Effect.flatMap(Effect.void, () => Effect.never))
    ),
  scoped: () => Effect.scoped(Effect.never),
  span: () => Effect.withSpan(Effect.never, "x"),
  retryPrebuilt: () => Effect.retry(Effect.never, policy),
  retryPolicy: () => RetryPolicy.retry(Effect.never, {}),
  retrySimple: () => Effect.retry(Effect.never, Schedule.recurs(5)),
  uninterruptibleMask: () => Effect.uninterruptibleMask((restore) => restore(Effect.never)),
  timeout: () => Effect.timeout(Effect.never, "10 minutes")
}
Effect.runPromise(Effect.gen(function*() {
  for (const [name, make] of Object.entries(shapes)) {
    gc()
    gc()
    const before = process.memoryUsage().heapUsed
    const fibers = yield* Effect.forEach(Array.from({ length: n }), () => Effect.fork(make()))
    yield* Effect.sleep("100 millis")
    gc()
    gc()
    const after = process.memoryUsage().heapUsed
    console.log(`${name.padEnd(20)} ${((after - before) / n).toFixed(0)} bytes`)
    yield* Fiber.interruptAll(fibers)
  }
}))
