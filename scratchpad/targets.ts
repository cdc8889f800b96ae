// Quick look at issue #8's targets in virtual time against the current simulator.
import { Effect } from "effect"
import * as Run from "../src/cli/Run.js"

const bound = (report: any, limits: { rpm: number; itpm: number; otpm: number }) => {
  const s = report.simulator!
  const minutes = Math.max(
    (report.succeeded - limits.rpm) / limits.rpm,
    (s.inputTokens - limits.itpm) / limits.itpm,
    (s.outputTokens - limits.otpm) / limits.otpm
  )
  return minutes * 60
}

const run = (name: string, concurrency: number, extra: Partial<Run.Options> = {}, sim: any = {}) =>
  Effect.gen(function*() {
    const limits = { rpm: 50, itpm: 40_000, otpm: 8_000 }
    const started = Date.now()
    const report = yield* Run.forecast({
      workload: {
        requests: Number(process.env.N ?? 2000),
        concurrency,
        model: "claude-sonnet-4-6",
        promptTokens: { min: 400, max: 1200 },
        maxTokens: { min: 400, max: 400 },
        seed: 1
      },
      simulator: {
        seed: 1,
        limits: {
          requestsPerMinute: limits.rpm,
          inputTokensPerMinute: limits.itpm,
          outputTokensPerMinute: limits.otpm
        },
        latency: { base: "600 millis", perOutputToken: "2 millis", jitter: 0.2 },
        faults: {},
        ...sim
      },
      retry: {},
      admission: {},
      progress: false,
      ...extra
    })
    const lb = bound(report, limits)
    console.log(
      `${name.padEnd(28)} ok ${report.succeeded}/${report.requests} fail ${
        JSON.stringify(report.failures)
      } 429s ${report.rateLimitedResponses} other ${report.otherErrorResponses} wall ${
        report.wallSeconds.toFixed(0)
      }s bound ${lb.toFixed(0)}s ratio ${(report.wallSeconds / lb).toFixed(3)} sim429 ${
        JSON.stringify(report.simulator?.rateLimited)
      } real ${((Date.now() - started) / 1000).toFixed(1)}s`
    )
  })

Effect.runPromise(Effect.gen(function*() {
  for (const c of (process.env.C ?? "8,16,64,256").split(",").map(Number)) {
    yield* run(`output-bound c=${c}`, c)
  }
})).catch(console.error)
