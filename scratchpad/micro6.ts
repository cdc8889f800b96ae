import { Effect, Fiber } from "effect"
const n = 50_000
const time = (name: string, f: () => Effect.Effect<unknown, unknown>) =>
  Effect.gen(function*() {
    for (let i = 0; i < 5000; i++) yield* f()
    const start = process.cpuUsage()
    for (let i = 0; i < n; i++) yield* f()
    const used = process.cpuUsage(start)
    console.log(`${name.padEnd(40)} ${((used.user + used.system) / n).toFixed(2)} µs`)
  })
const work = Effect.flatMap(Effect.void, () => Effect.succeed(1))
Effect.runPromise(Effect.gen(function*() {
  yield* time("work", () => work)
  yield* time("timeoutFail(work)", () => Effect.timeoutFail(work, { duration: "10 minutes", onTimeout: () => 1 }))
  yield* time("fork+await(work)", () => Effect.flatMap(Effect.fork(work), Fiber.await))
  yield* time("forkDaemon+await(work)", () => Effect.flatMap(Effect.forkDaemon(work), Fiber.await))
  yield* time("fork+join(work)", () => Effect.flatMap(Effect.fork(work), Fiber.join))
}))
