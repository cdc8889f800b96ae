/**
 * Runs the benchmarks and prints their tables: `npm run bench` for all,
 * `npm run bench -- admission|headers|memory|overhead|throughput|forecast|redis|soak` for one.
 */
import * as Admission from "./admission.js"
import * as Compare from "./compare.js"
import * as Forecast from "./forecast.js"
import * as Headers from "./headers.js"
import * as Memory from "./memory.js"
import * as Overhead from "./overhead.js"
import * as Redis from "./redis.js"
import * as Soak from "./soak.js"
import * as Throughput from "./throughput.js"

const benches: Record<string, () => unknown> = {
  admission: Admission.run,
  compare: Compare.run,
  headers: Headers.run,
  memory: Memory.run,
  overhead: Overhead.run,
  throughput: Throughput.run,
  forecast: Forecast.run,
  redis: Redis.run,
  soak: Soak.bench
}

const chosen = process.argv.slice(2).filter((arg) => !arg.startsWith("--"))
for (const name of chosen.length > 0 ? chosen : Object.keys(benches)) {
  const bench = benches[name]
  if (bench === undefined) {
    console.error(`unknown benchmark "${name}"; choose from ${Object.keys(benches).join(", ")}`)
    process.exit(2)
  }
  await bench()
}
