/**
 * The soak, reduced for CI: 2,000 requests from 200 callers on loopback with faults on and 5 % of callers
 * interrupted, in a child process of its own (`--expose-gc`, so its heap and its open sockets and timers are its
 * own). The full run is `npm run soak` (20,000 requests); see bench/soak.ts for what each check means.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { execFile } from "node:child_process"
import type { Report } from "../../bench/soak.js"

const soak = (requests: number): Effect.Effect<{ readonly report: Report | undefined; readonly output: string }> =>
  Effect.async((resume) => {
    execFile(
      process.execPath,
      ["--expose-gc", "--import", "tsx", "bench/soak.ts", "--requests", String(requests), "--callers", "200", "--json"],
      { timeout: 240_000, maxBuffer: 16 * 1024 * 1024 },
      (_, stdout, stderr) => {
        const line = stdout.split("\n").find((each) => each.startsWith("{"))
        resume(Effect.succeed({ report: line === undefined ? undefined : JSON.parse(line), output: stdout + stderr }))
      }
    )
  })

describe("soak (reduced): nothing lost under load", () => {
  it.live(
    "2,000 requests, 200 callers, faults on, callers interrupted: every check holds",
    () =>
      Effect.gen(function*() {
        const { output, report } = yield* soak(2_000)
        expect(report, output).toBeDefined()
        if (report === undefined) return
        // every request ended once, and the outcomes add up to the requests
        expect(report.ended).toBe(2_000)
        expect(report.endedTwice).toBe(0)
        expect(report.defects).toBe(0)
        expect(Object.values(report.outcomes).reduce((sum, count) => sum + count, 0)).toBe(2_000)
        // the run was what it says: faults were met, callers were interrupted, and most requests got through
        expect(report.server.faults).toBeGreaterThan(50)
        expect(report.outcomes["interrupted"] ?? 0).toBeGreaterThan(0)
        expect(report.attempts.started).toBeGreaterThan(2_000 - (report.outcomes["interrupted"] ?? 0))
        expect(report.outcomes["success"] ?? 0).toBeGreaterThan(1_500)
        expect(report.leftOver.peakFibers).toBeGreaterThan(200)
        // and every check of nothing left (fibers, permits, leases, waiters, attempts, sockets, timers, heap)
        for (const check of report.checks) expect(check.ok, `${check.check}: ${check.detail}`).toBe(true)
        expect(report.heap, "measured with --expose-gc").not.toBeNull()
      }),
    { timeout: 300_000 }
  )
})
