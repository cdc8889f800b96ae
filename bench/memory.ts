/**
 * What a request waiting for budget costs in heap: N requests waiting at once
 * on a pool whose budget is spent (limits configured, so no request is sent),
 * heap measured after a full GC before and while they wait, per request.
 * Runs in a child process started with `--expose-gc`.
 *
 * `npm run bench -- memory`
 */
import * as HttpClient from "@effect/platform/HttpClient"
import { Effect, Fiber, Layer, Redacted } from "effect"
import { execFileSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import * as Admission from "../src/Admission.js"
import * as ClaudeClient from "../src/ClaudeClient.js"
import * as RateLimitState from "../src/RateLimitState.js"
import { printTable, writeJson } from "./table.js"

const waiters = 10_000
const pool = "claude-sonnet-4.x"
const params = { model: "claude-sonnet-4-6", max_tokens: 256, messages: [{ role: "user" as const, content: "hi" }] }
const never = Layer.succeed(HttpClient.HttpClient, HttpClient.make(() => Effect.never))
const spent = { limits: { [pool]: { requestsPerMinute: 1 } } }

const perWaiter = (start: Effect.Effect<unknown, unknown>) =>
  Effect.gen(function*() {
    const gc = (globalThis as { gc?: () => void }).gc!
    gc()
    gc()
    const before = process.memoryUsage().heapUsed
    const fibers = yield* Effect.forEach(Array.from({ length: waiters }), () => Effect.fork(start))
    yield* Effect.sleep("300 millis")
    gc()
    gc()
    const after = process.memoryUsage().heapUsed
    yield* Fiber.interruptAll(fibers)
    return (after - before) / waiters
  })

const measure = Effect.gen(function*() {
  const rows: Array<{ readonly case: string; readonly bytes: number }> = []
  rows.push({ case: "a fiber suspended on Effect.never (the floor)", bytes: yield* perWaiter(Effect.never) })
  const gateOnly = Effect.gen(function*() {
    const admission = yield* Admission.Admission
    yield* admission.withTicket({ pool, cost: { requests: 1 } }, () => Effect.void)
    return yield* perWaiter(admission.withTicket({ pool, cost: { requests: 1 } }, () => Effect.void))
  }).pipe(Effect.provide(Admission.layer(spent).pipe(Layer.provide(RateLimitState.layer))))
  rows.push({ case: "waiting in Admission.withTicket", bytes: yield* gateOnly })
  for (
    const [name, options] of [
      ["waiting in ClaudeClient.createMessage (defaults)", {}],
      ["waiting in ClaudeClient.createMessage, retry: false", { retry: false as const }]
    ] as const
  ) {
    const client = Effect.gen(function*() {
      const claude = yield* ClaudeClient.ClaudeClient
      yield* Effect.fork(claude.createMessage(params))
      yield* Effect.sleep("10 millis")
      return yield* perWaiter(claude.createMessage(params))
    }).pipe(
      Effect.provide(
        ClaudeClient.layer({ apiKey: Redacted.make("bench"), admission: spent, ...options }).pipe(Layer.provide(never))
      )
    )
    rows.push({ case: name, bytes: yield* client })
  }
  return rows
}).pipe(Effect.scoped)

export const run = () => {
  // the measurement needs a full GC: it runs in a child process started with --expose-gc
  const output = execFileSync(process.execPath, [
    "--expose-gc",
    "--import",
    "tsx",
    fileURLToPath(import.meta.url),
    "--child"
  ], {
    encoding: "utf8"
  })
  const rows = JSON.parse(output.trim().split("\n").at(-1)!) as Array<{ readonly case: string; readonly bytes: number }>
  printTable(
    `Heap per request waiting for admission (${waiters.toLocaleString("en-US")} waiting at once)`,
    ["case", "bytes each"],
    rows.map((row) => [row.case, Math.round(row.bytes).toLocaleString("en-US")])
  )
  writeJson("memory", rows)
}

if (process.argv.includes("--child")) {
  Effect.runPromise(measure).then((rows) => console.log(JSON.stringify(rows)))
} else if (import.meta.url === `file://${process.argv[1]}`) {
  run()
}
