import type { Duration } from "effect"
import { Effect, Exit, Fiber, Scope, TestClock, TestContext } from "effect"
import * as Admission from "../src/Admission.js"
import * as RateLimitState from "../src/RateLimitState.js"

const pool = "p"
const program = Effect.gen(function*() {
  const scope = yield* Scope.make()
  const admission = yield* Admission.make({
    threshold: 0,
    limits: { [pool]: { requestsPerMinute: 60 } },
    sendRate: false
  }).pipe(Scope.extend(scope))
  const send = (n: number, deadline?: Duration.DurationInput) =>
    Effect.scoped(Effect.gen(function*() {
      const t = yield* admission.admit({ pool, cost: { requests: n }, deadline })
      yield* t.complete(Admission.Outcome.NotSent())
    }))
  yield* Effect.scoped(Effect.flatMap(admission.admit({ pool, cost: { requests: 60 } }), (t) => Effect.void))
  const f = yield* Effect.fork(Effect.forEach([1, 2, 3], () => send(1), { concurrency: "unbounded" }))
  yield* TestClock.adjust("1 millis")
  yield* Effect.log("interrupting f")
  yield* Fiber.interrupt(f)
  yield* Effect.log("closing scope")
  yield* Scope.close(scope, Exit.void)
  yield* Effect.log("closed")
}).pipe(Effect.provide(RateLimitState.layer), Effect.provide(TestContext.TestContext))
const fiber = Effect.runFork(program)
setTimeout(() => {
  console.log("still running", fiber.unsafePoll())
  process.exit(1)
}, 3000)
fiber.addObserver((e) => {
  console.log("done", e._tag)
  process.exit(0)
})
