/**
 * How this library compares with what people use today (issue #13): the
 * same seeded workloads, from a cold start, through each strategy, against
 * the simulated API's own model of the rules, in virtual time (exact, and
 * the same on every run for the seed); then one reduced workload in real
 * time over loopback, with the real `@anthropic-ai/sdk`, next to the same
 * workload in virtual time, to check that the two agree.
 *
 * `npm run bench -- compare` (add `--quick` for a reduced run, `--virtual`
 * to leave out the real-time rows).
 */
import * as Effect from "effect/Effect"
import * as ClaudeFetch from "../src/ClaudeFetch.js"
import * as Contenders from "./compare/contenders.js"
import type * as Figures from "./compare/figures.js"
import * as RealTime from "./compare/realTime.js"
import * as Runs from "./compare/runs.js"
import * as Workloads from "./compare/workloads.js"
import { printTable, writeJson } from "./table.js"

const quick = process.argv.includes("--quick")
const virtualOnly = process.argv.includes("--virtual")

const fixed = (n: number, digits: number) => Number.isFinite(n) ? n.toFixed(digits) : "-"

const failuresText = (failures: Readonly<Record<string, number>>) =>
  Object.entries(failures).map(([tag, n]) => `${n} ${tag.replace(/Error$/, "")}`).join(", ") || "0"

const table = (workload: Workloads.Workload, rows: ReadonlyArray<Figures.Figures>) => {
  const headers = ["strategy", "ok", "failed", "429s / 1,000 sent", "attempts / request", "wall s", "wall / bound"]
  headers.push("p50 / p99 s")
  if (workload.interactiveLane === true) headers.push("interactive p50 / p99 s")
  if (workload.outage !== undefined) headers.push("sent into the outage (per caller)", "recovery s")
  printTable(
    workload.name,
    headers,
    rows.map((row) => {
      const cells = [
        row.strategy,
        `${row.succeeded}/${row.requests}`,
        failuresText(row.failures),
        fixed(row.rateLimitedPer1000Sent, 0),
        fixed(row.attemptsPerRequest, 2),
        fixed(row.wallSeconds, 0),
        fixed(row.wallOverBound, 2),
        `${fixed(row.latencySeconds.p50, 1)} / ${fixed(row.latencySeconds.p99, 1)}`
      ]
      const interactive = row.interactiveLatencySeconds
      if (interactive !== undefined) cells.push(`${fixed(interactive.p50, 1)} / ${fixed(interactive.p99, 1)}`)
      const outage = row.outage
      if (outage !== undefined) {
        cells.push(
          `${outage.sentDuring} (${fixed(outage.perCaller, 1)})`,
          outage.recoverySeconds === null ? "never" : fixed(outage.recoverySeconds, 1)
        )
      }
      return cells
    })
  )
}

const realTimePairs: ReadonlyArray<RealTime.Pair> = [
  {
    name: "official SDK, defaults (the real @anthropic-ai/sdk; virtual: its policy as imitated)",
    real: { name: "official SDK (real)", library: false, layer: RealTime.sdkLayer() },
    virtual: Contenders.officialSdkPolicy
  },
  {
    name: "official SDK + ClaudeFetch (the real @anthropic-ai/sdk, maxRetries 0; virtual: the library's defaults)",
    real: {
      name: "official SDK + ClaudeFetch (real)",
      library: true,
      layer: RealTime.sdkLayer({ maxRetries: 0, fetch: () => ClaudeFetch.make() })
    },
    virtual: Contenders.libraryDefaults
  },
  { name: "claude-rate-limiter, defaults", real: Contenders.libraryDefaults, virtual: Contenders.libraryDefaults }
]

const agreementTable = (workload: Workloads.Workload, rows: ReadonlyArray<RealTime.Agreement>) =>
  printTable(
    `Real time (loopback) against virtual time: ${workload.name}`,
    ["strategy", "ok real / virtual", "attempts / request", "429s / 1,000 sent", "wall s", "wall differs by"],
    rows.map((row) => [
      row.name,
      `${row.real.succeeded} / ${row.virtual.succeeded} of ${row.real.requests}`,
      `${fixed(row.real.attemptsPerRequest, 2)} / ${fixed(row.virtual.attemptsPerRequest, 2)}`,
      `${fixed(row.real.rateLimitedPer1000Sent, 0)} / ${fixed(row.virtual.rateLimitedPer1000Sent, 0)}`,
      `${fixed(row.real.wallSeconds, 1)} / ${fixed(row.virtual.wallSeconds, 1)}`,
      `${fixed(100 * row.wallDifference, 1)} %`
    ])
  )

/** One line per strategy: the share of requests that got through, and 429s per 1,000 sent, by workload. */
const summary = (workloads: ReadonlyArray<Workloads.Workload>, results: ReadonlyArray<Figures.Figures>) =>
  printTable(
    "Summary: requests that got through (429s per 1,000 sent)",
    ["strategy", ...workloads.map((workload) => workload.short)],
    Contenders.all.map((contender) => [
      contender.name,
      ...workloads.map((workload) => {
        const row = results.find((r) => r.strategy === contender.name && r.workload === workload.name)
        return row === undefined
          ? "-"
          : `${fixed((100 * row.succeeded) / row.requests, 0)} % (${fixed(row.rateLimitedPer1000Sent, 0)})`
      })
    ])
  )

export const run = async () => {
  const results: Array<Figures.Figures> = []
  const workloads = Workloads.all(quick)
  for (const workload of workloads) {
    const rows: Array<Figures.Figures> = []
    for (const contender of Contenders.all) {
      if (contender.only !== undefined && !contender.only(workload)) continue
      rows.push(await Effect.runPromise(Runs.forecast(contender, workload)))
    }
    table(workload, rows)
    results.push(...rows)
  }
  summary(workloads, results)
  let realTime: ReadonlyArray<RealTime.Agreement> = []
  if (!virtualOnly) {
    const workload = Workloads.realTime(quick)
    realTime = await Effect.runPromise(RealTime.compare(realTimePairs, workload))
    agreementTable(workload, realTime)
  }
  writeJson(quick ? "compare-quick" : "compare", { quick, virtualTime: results, realTime })
}

if (import.meta.url === `file://${process.argv[1]}`) await run()
