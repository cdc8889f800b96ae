import { Effect, Fiber, Layer } from "effect"
import * as Admission from "../src/Admission.js"
import * as RateLimitState from "../src/RateLimitState.js"

const gc = (globalThis as any).gc as () => void
const n = Number(process.env.N ?? 10_000)
const mode = process.env.MODE ?? "admit"
const pool = "p"
Effect.runPromise(
  Effect.gen(function*() {
    const admission = yield* Admission.Admission
    const cost = { requests: 1 }
    yield* Effect.scoped(admission.admit({ pool, cost }))
    gc()
    gc()
    const before = process.memoryUsage().heapUsed
    const body = mode === "withTicket" ? admission.withTicket({ pool, cost }, () => Effect.void) : mode === "admit"
      ? Effect.scoped(admission.admit({ pool, cost }))
      : mode === "sleep"
      ? Effect.sleep("1 hour")
      : Effect.never
    const fibers = yield* Effect.forEach(Array.from({ length: n }), () => Effect.fork(body))
    yield* Effect.sleep("200 millis")
    gc()
    gc()
    const after = process.memoryUsage().heapUsed
    console.log(`${mode}: ${n} waiters: ${((after - before) / n).toFixed(0)} bytes each`)
    yield* Fiber.interruptAll(fibers)
  }).pipe(
    Effect.provide(
      Admission.layer({ limits: { [pool]: { requestsPerMinute: 1 } } }).pipe(Layer.provide(RateLimitState.layer))
    ),
    Effect.scoped
  )
)
