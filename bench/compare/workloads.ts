/**
 * The workloads of `npm run bench -- compare`: each from a cold start (every
 * bucket full, nothing learned), against the simulated API with low-tier
 * limits (Tier 1: 50 RPM, 30,000 ITPM, 8,000 OTPM), and a simulated cap on
 * requests in flight at least the workload's concurrency, so every 429
 * comes from a bucket (or from a request that can never fit one), not from
 * the cap.
 */
import * as Duration from "effect/Duration"
import type * as SimulatorConfig from "../../src/simulator/api/SimulatorConfig.js"
import * as Distribution from "../../src/simulator/workload/Distribution.js"
import * as Scenario from "../../src/simulator/workload/Scenario.js"

export interface Limits {
  readonly requestsPerMinute: number
  readonly inputTokensPerMinute: number
  readonly outputTokensPerMinute: number
}

export interface Workload {
  readonly name: string
  /** a column heading for the summary */
  readonly short: string
  readonly scenario: Scenario.Scenario
  readonly simulator: SimulatorConfig.Options
  readonly limits: Limits
  /** seconds from the simulator's start */
  readonly outage?: { readonly from: number; readonly to: number } | undefined
  /** the workload has an interactive lane next to a batch lane: report it apart */
  readonly interactiveLane?: boolean | undefined
}

export const tier1: Limits = { requestsPerMinute: 50, inputTokensPerMinute: 30_000, outputTokensPerMinute: 8_000 }

/** Seconds from the start at which a workload releases requests (each wave of each lane). */
export const releasesOf = (workload: Workload): ReadonlyArray<number> => [
  ...new Set(workload.scenario.lanes.flatMap((lane) => Scenario.wavesOf(lane).map((wave) => wave.atSeconds)))
]

/** Callers: requests the workload keeps in flight at most. */
export const callersOf = (workload: Workload): number => Scenario.concurrencyOf(workload.scenario)

const model = "claude-sonnet-4-6"

type Waves = NonNullable<Scenario.Lane["waves"]>

/** `count` waves of `requests`, `every` seconds from 0. */
const waves = (count: number, every: number, requests: number): Waves => [
  { atSeconds: 0, requests },
  ...Array.from({ length: count - 1 }, (_, i) => ({ atSeconds: every * (i + 1), requests }))
]

const simulatorFor = (scenario: Scenario.Scenario, extra: SimulatorConfig.Options = {}): SimulatorConfig.Options => ({
  seed: 1,
  limits: tier1,
  maxConcurrentRequests: Math.max(20, Scenario.concurrencyOf(scenario)),
  latency: { base: Duration.millis(600), perOutputToken: Duration.millis(2), jitter: 0.2 },
  ...extra
})

const oneLane = (options: {
  readonly name: string
  readonly short: string
  readonly concurrency: number
  readonly promptTokens: Distribution.Distribution
  readonly maxTokens: Distribution.Distribution
  readonly requests: number | Waves
  readonly outage?: { readonly from: number; readonly to: number }
}): Workload => {
  const { outage, requests } = options
  const scenario: Scenario.Scenario = {
    name: options.name,
    seed: 1,
    model,
    simulator: {},
    lanes: [{
      name: "main",
      lane: "interactive",
      concurrency: options.concurrency,
      promptTokens: options.promptTokens,
      maxTokens: options.maxTokens,
      ...(typeof requests === "number" ? { requests } : { waves: requests })
    }]
  }
  return {
    name: options.name,
    short: options.short,
    scenario,
    simulator: simulatorFor(
      scenario,
      outage === undefined ? {} : {
        faults: { outages: [{ from: Duration.seconds(outage.from), to: Duration.seconds(outage.to), status: 529 }] }
      }
    ),
    limits: tier1,
    outage
  }
}

/** The workloads, full size or reduced (`--quick`). */
export const all = (quick: boolean): ReadonlyArray<Workload> => {
  const size = (full: number, reduced: number) => quick ? reduced : full
  const burst = size(500, 100)
  const quiet = size(900, 300)
  const outageWaves = size(72, 48)
  const chatWaves = size(9, 4)
  const twoApps: Scenario.Scenario = {
    name: "two applications on one key",
    seed: 1,
    model,
    simulator: {},
    lanes: [
      {
        name: "chat",
        lane: "interactive",
        concurrency: 2,
        promptTokens: { lognormal: { median: 250, sigma: 0.7 } },
        maxTokens: { uniform: [128, 512] },
        waves: waves(chatWaves, 60, 8)
      },
      {
        name: "batch",
        lane: "batch",
        concurrency: 12,
        requests: size(200, 60),
        promptTokens: { lognormal: { median: 1_500, sigma: 0.5 } },
        maxTokens: 512
      }
    ]
  }
  return [
    oneLane({
      short: "requests bind",
      name: `steady overload, requests bind: ${size(600, 150)} short requests, 16 callers`,
      requests: size(600, 150),
      concurrency: 16,
      promptTokens: Distribution.uniform(50, 150),
      maxTokens: 64
    }),
    oneLane({
      short: "input tokens bind",
      name: `steady overload, input tokens bind: ${size(150, 40)} prompts of 3-5k tokens, 16 callers`,
      requests: size(150, 40),
      concurrency: 16,
      promptTokens: Distribution.uniform(3_000, 5_000),
      maxTokens: 64
    }),
    oneLane({
      short: "output tokens bind",
      name: `steady overload, output tokens bind: ${size(300, 80)} answers of up to 512 tokens, 16 callers`,
      requests: size(300, 80),
      concurrency: 16,
      promptTokens: Distribution.uniform(200, 800),
      maxTokens: 512
    }),
    oneLane({
      short: "bursts",
      name: `bursts of ${burst} at once, ${quiet} s apart`,
      requests: waves(2, quiet, burst),
      concurrency: burst,
      promptTokens: Distribution.uniform(100, 500),
      maxTokens: 128
    }),
    oneLane({
      short: "1 % giant prompts",
      name: `1 % giant prompts (100k tokens, over the whole ITPM): ${size(500, 200)} requests, 16 callers`,
      requests: size(500, 200),
      concurrency: 16,
      promptTokens: { mix: [{ share: 0.99, size: { uniform: [400, 1_200] } }, { share: 0.01, size: 100_000 }] },
      maxTokens: 256
    }),
    oneLane({
      short: "60 s outage",
      name: `60 s outage of 529s at 2 min, 50 callers, 48 requests a minute (under the limits) for ${
        outageWaves * 5 / 60
      } min`,
      requests: waves(outageWaves, 5, 4),
      concurrency: 50,
      promptTokens: Distribution.uniform(200, 800),
      maxTokens: 128,
      outage: { from: 120, to: 180 }
    }),
    {
      short: "two apps, one key",
      name: `two applications on one key: chat (interactive, 8 a minute) and ${size(200, 60)} batch summaries`,
      scenario: twoApps,
      simulator: simulatorFor(twoApps),
      limits: tier1,
      interactiveLane: true
    }
  ]
}

/**
 * The reduced workload run both in real time (loopback) and in virtual
 * time: a few callers above a small requests-per-minute limit, so that most
 * of the run is paced by the bucket's refill and by the waits the API asks
 * for, and short enough to wait for (the token limits are out of the way).
 */
export const realTime = (quick: boolean): Workload => {
  const limits: Limits = { requestsPerMinute: 60, inputTokensPerMinute: 1_000_000, outputTokensPerMinute: 400_000 }
  const requests = quick ? 70 : 100
  const scenario: Scenario.Scenario = {
    name: "real time against virtual time",
    seed: 1,
    model,
    simulator: {},
    lanes: [{
      name: "main",
      lane: "interactive",
      concurrency: 4,
      promptTokens: Distribution.uniform(50, 150),
      maxTokens: 64,
      requests
    }]
  }
  return {
    short: "real time",
    name: `${requests} short requests, 4 callers, ${limits.requestsPerMinute} RPM`,
    scenario,
    simulator: simulatorFor(scenario, {
      limits,
      latency: { base: Duration.millis(200), perOutputToken: Duration.millis(2), jitter: 0.2 }
    }),
    limits
  }
}
