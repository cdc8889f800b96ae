/**
 * One strategy on one workload: in virtual time against the in-memory
 * simulated API (`forecast`), or in real time against the simulated API
 * served on 127.0.0.1 (`simulated`). Logs are off: the strategies retry a
 * lot, and the figures say what happened.
 */
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import type * as Report from "../../src/simulator/workload/Report.js"
import * as Runner from "../../src/simulator/workload/Runner.js"
import type * as Contenders from "./contenders.js"
import * as Figures from "./figures.js"
import * as Probe from "./probe.js"
import type * as Workloads from "./workloads.js"

const measured = (
  run: (options: Runner.Options) => Effect.Effect<Report.Report>,
  contender: Contenders.Contender,
  workload: Workloads.Workload
): Effect.Effect<Figures.Figures> =>
  Effect.gen(function*() {
    const probe = Probe.make()
    const report = yield* run({
      scenario: workload.scenario,
      simulator: workload.simulator,
      client: {},
      clientLayer: (connection) => probe.wrap(contender.layer(connection))
    })
    return Figures.make({ strategy: contender.name, workload, report, probe })
  }).pipe(Logger.withMinimumLogLevel(LogLevel.None))

export const forecast = (contender: Contenders.Contender, workload: Workloads.Workload) =>
  measured(Runner.forecast, contender, workload)

export const simulated = (contender: Contenders.Contender, workload: Workloads.Workload) =>
  measured(Runner.simulated, contender, workload)
