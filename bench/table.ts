import { mkdirSync, writeFileSync } from "node:fs"
/** Helpers shared by the benchmarks: timing loops and plain-text tables. */

export const time = (f: () => unknown, options: { readonly minMillis: number }) => {
  for (let i = 0; i < 200; i++) f() // warm up
  let iterations = 0
  const start = performance.now()
  let elapsed = 0
  while (elapsed < options.minMillis) {
    for (let i = 0; i < 100; i++) f()
    iterations += 100
    elapsed = performance.now() - start
  }
  return { opsPerSecond: (iterations / elapsed) * 1000 }
}

/** CPU time (user + system, `process.cpuUsage`) per call of `f`, over `operations` calls, repeated: min and median. */
export const cpuPerOp = (
  f: () => unknown,
  options: { readonly operations: number; readonly repeats: number }
): { readonly min: number; readonly median: number } => {
  for (let i = 0; i < Math.min(5_000, options.operations); i++) f() // warm up
  const samples: Array<number> = []
  for (let r = 0; r < options.repeats; r++) {
    const start = process.cpuUsage()
    for (let i = 0; i < options.operations; i++) f()
    const used = process.cpuUsage(start)
    samples.push((used.user + used.system) / options.operations)
  }
  samples.sort((a, b) => a - b)
  return { min: samples[0]!, median: samples[Math.floor(samples.length / 2)]! }
}

export const printTable = (
  title: string,
  headers: ReadonlyArray<string>,
  rows: ReadonlyArray<ReadonlyArray<string>>
) => {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => (row[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) =>
    "| " + cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join(" | ") + " |"
  console.log(`\n${title}\n`)
  console.log(line(headers))
  console.log("|" + widths.map((w, i) => (i === 0 ? "-".repeat(w + 2) : "-".repeat(w + 1) + ":")).join("|") + "|")
  for (const row of rows) console.log(line(row))
}

/** Writes a benchmark's figures as JSON under bench/results/. */
export const writeJson = (name: string, data: unknown) => {
  const dir = new URL("./results/", import.meta.url)
  mkdirSync(dir, { recursive: true })
  writeFileSync(new URL(`${name}.json`, dir), JSON.stringify(data, null, 2) + "\n")
}
