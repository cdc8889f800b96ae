/**
 * How long a forecast takes for real, and how much memory it needs, by
 * workload size. Each size runs in a fresh process so its peak RSS is its own.
 * Run: npm run bench -- forecast
 */
import { Duration, Effect } from "effect"
import { execFileSync } from "node:child_process"
import * as Distribution from "../src/simulator/workload/Distribution.js"
import * as Run from "../src/simulator/workload/Runner.js"
import * as Workload from "../src/simulator/workload/Workload.js"
import { printTable } from "./table.js"

const sizes = [100, 1_000, 10_000]

const one = async (requests: number) => {
  const started = performance.now()
  const scenario = Workload.single({
    requests,
    concurrency: 16,
    model: "claude-sonnet-4-6",
    promptTokens: Distribution.uniform(200, 800),
    maxTokens: 256,
    seed: 1,
    simulator: { faults: { overloadedRate: 0.02 } }
  })
  const report = await Effect.runPromise(Run.forecast({ scenario, client: {} }))
  const realMillis = performance.now() - started
  console.log(JSON.stringify({
    requests,
    succeeded: report.succeeded,
    virtualSeconds: report.wallSeconds,
    realMillis,
    maxRssMb: process.resourceUsage().maxRSS / 1024
  }))
}

export const run = () => {
  const rows = sizes.map((requests) => {
    const output = execFileSync(process.execPath, ["--import", "tsx", "bench/forecast.ts", String(requests)], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"]
    })
    const result = JSON.parse(output.trim().split("\n").at(-1)!)
    return [
      String(requests),
      String(result.succeeded),
      Duration.format(Duration.seconds(Math.round(result.virtualSeconds))),
      (result.realMillis / 1000).toFixed(1),
      (result.virtualSeconds / (result.realMillis / 1000)).toFixed(0),
      (result.realMillis / requests).toFixed(2),
      result.maxRssMb.toFixed(0)
    ]
  })
  printTable(
    "forecast: virtual time against the in-memory simulator (Tier 1, concurrency 16, 2 % 529s)",
    ["requests", "ok", "virtual time", "real s", "speed-up", "real ms / request", "peak RSS MB"],
    rows
  )
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const requests = Number(process.argv[2])
  if (Number.isFinite(requests) && requests > 0) await one(requests)
  else run()
}
