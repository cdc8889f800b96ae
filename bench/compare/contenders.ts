/**
 * The strategies compared, each a `ClaudeClient` layer over the run's
 * `HttpClient`: the four competing retry strategies (bench/strategies/) and
 * this library, with its defaults and with admission off.
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ClaudeClient from "../../src/ClaudeClient.js"
import type * as Runner from "../../src/simulator/workload/Runner.js"
import * as fullJitter from "../strategies/fullJitter.js"
import * as headerAware from "../strategies/headerAware.js"
import * as naive from "../strategies/naive.js"
import * as officialSdk from "../strategies/officialSdk.js"
import * as Strategy from "../strategies/strategy.js"
import type * as Workloads from "./workloads.js"

export interface Contender {
  readonly name: string
  /** the workloads it runs on, when not all of them */
  readonly only?: ((workload: Workloads.Workload) => boolean) | undefined
  /** this library (rather than a competing strategy) */
  readonly library: boolean
  readonly layer: (
    connection: Runner.Connection
  ) => Layer.Layer<ClaudeClient.ClaudeClient, never, HttpClient.HttpClient>
}

const strategy = (name: string, policy: Effect.Effect<Strategy.Policy>): Contender => ({
  name,
  library: false,
  layer: (connection) => Strategy.layer(policy, connection)
})

const library = (name: string, options: Runner.ClientOptions): Contender => ({
  name,
  library: true,
  layer: (connection) => Layer.orDie(ClaudeClient.layer({ ...options, ...connection }))
})

export const naiveRetries = strategy("naive: 429 → sleep 1 s, 5 retries", Effect.succeed(naive.policy))
export const officialSdkPolicy = strategy(
  "official SDK's default policy (2 retries)",
  Effect.succeed(officialSdk.policy)
)
export const fullJitterRetries = strategy("full jitter, no headers (6 attempts)", Effect.succeed(fullJitter.policy))
export const classicHeaderAware = strategy("classic header-aware + breaker", headerAware.make)
export const libraryDefaults = library("claude-rate-limiter, defaults", {})
export const libraryAdmissionOff = library("claude-rate-limiter, admission off", { admission: { enabled: false } })
/** Not a default: waits out an open circuit instead of failing (for work that may wait); on the outage only. */
export const libraryWaitingOutOutages: Contender = {
  ...library("claude-rate-limiter, retryOnOpenCircuit", { retry: { retryOnOpenCircuit: true } }),
  only: (workload) => workload.outage !== undefined
}

export const all: ReadonlyArray<Contender> = [
  naiveRetries,
  officialSdkPolicy,
  fullJitterRetries,
  classicHeaderAware,
  libraryDefaults,
  libraryAdmissionOff,
  libraryWaitingOutOutages
]
