/**
 * The real-time rows: the reduced workload over loopback (the simulated API
 * served on 127.0.0.1), with the REAL `@anthropic-ai/sdk` at its defaults
 * (and wrapped in `ClaudeFetch`: `sdkLayer({ fetch, maxRetries: 0 })`) and
 * with this library, each next to the same workload in virtual time (the
 * SDK's published policy as imitated in bench/strategies/officialSdk.ts, and
 * this library's defaults), to check that virtual time tells what real time
 * does.
 */
import Anthropic from "@anthropic-ai/sdk"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as ClaudeClient from "../../src/ClaudeClient.js"
import * as ClaudeError from "../../src/ClaudeError.js"
import type * as Messages from "../../src/Messages.js"
import * as RateLimitHeaders from "../../src/RateLimitHeaders.js"
import type * as Runner from "../../src/simulator/workload/Runner.js"
import * as Strategy from "../strategies/strategy.js"
import type * as Contenders from "./contenders.js"
import type * as Figures from "./figures.js"
import * as Runs from "./runs.js"
import type * as Workloads from "./workloads.js"

/** What the SDK threw, as the typed error this library would have failed with (for "failed by error"). */
const toClaudeError = (thrown: unknown, now: number): ClaudeError.ClaudeError => {
  if (thrown instanceof Anthropic.APIError && thrown.status !== undefined) {
    return ClaudeError.fromResponse({
      status: thrown.status,
      body: JSON.stringify(thrown.error ?? {}),
      rateLimits: RateLimitHeaders.decodeAt(
        Object.fromEntries(thrown.headers?.entries() ?? []),
        DateTime.unsafeMake(now)
      )
    })
  }
  return new ClaudeError.ConnectionError({
    message: thrown instanceof Error ? thrown.message : "the SDK failed without an answer",
    cause: thrown
  })
}

/** A `fetch` to give the SDK, made for one run and disposed after it (as `ClaudeFetch.make()` is). */
export interface FetchForRun {
  readonly fetch: typeof fetch
  readonly dispose?: (() => Promise<void>) | undefined
}

/**
 * The real SDK as a `ClaudeClient` (`createMessage` only), one client per
 * run. It sends with its own `fetch` unless `fetch` makes one for the run,
 * e.g. `sdkLayer({ maxRetries: 0, fetch: () => ClaudeFetch.make() })`.
 */
export const sdkLayer = (
  options: { readonly maxRetries?: number; readonly fetch?: (() => FetchForRun) | undefined } = {}
) =>
(connection: Runner.Connection): Layer.Layer<ClaudeClient.ClaudeClient, never, HttpClient.HttpClient> =>
  Layer.scoped(
    ClaudeClient.ClaudeClient,
    Effect.gen(function*() {
      const made = options.fetch === undefined ? undefined : yield* Effect.acquireRelease(
        Effect.sync(options.fetch),
        (forRun) => forRun.dispose === undefined ? Effect.void : Effect.promise(forRun.dispose)
      )
      const anthropic = new Anthropic({
        apiKey: Redacted.value(connection.apiKey),
        ...(connection.baseUrl === undefined ? {} : { baseURL: connection.baseUrl }),
        ...(options.maxRetries === undefined ? {} : { maxRetries: options.maxRetries }),
        ...(made === undefined ? {} : { fetch: made.fetch })
      })
      return Strategy.client("official SDK", (params: Messages.CreateMessageParams) =>
        Effect.tryPromise({
          try: (signal) =>
            anthropic.messages.create(params as unknown as Anthropic.MessageCreateParamsNonStreaming, { signal }),
          catch: (thrown) => thrown
        }).pipe(
          Effect.map((message) => message as unknown as Messages.Message),
          Effect.catchAll((thrown) =>
            Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.fail(toClaudeError(thrown, now)))
          )
        ))
    })
  )

export interface Pair {
  readonly name: string
  /** in real time over loopback */
  readonly real: Contenders.Contender
  /** its counterpart in virtual time */
  readonly virtual: Contenders.Contender
}

export interface Agreement {
  readonly name: string
  readonly real: Figures.Figures
  readonly virtual: Figures.Figures
  /** |real − virtual| / virtual wall time */
  readonly wallDifference: number
}

/** A few requests of the workload's shape, on a fresh simulator. */
const warmUp = (workload: Workloads.Workload): Workloads.Workload => ({
  ...workload,
  scenario: {
    ...workload.scenario,
    lanes: [{ ...workload.scenario.lanes[0], requests: 16, waves: undefined }]
  }
})

/** Runs each pair on the workload, in real time (after a warm-up run) and in virtual time. */
export const compare = (
  pairs: ReadonlyArray<Pair>,
  workload: Workloads.Workload
): Effect.Effect<ReadonlyArray<Agreement>> =>
  Effect.forEach(pairs, (pair) =>
    Effect.gen(function*() {
      // a first run pays for connections and the first calls of cold code; it is not measured
      yield* Runs.simulated(pair.real, warmUp(workload))
      const real = yield* Runs.simulated(pair.real, workload)
      const virtual = yield* Runs.forecast(pair.virtual, workload)
      return {
        name: pair.name,
        real,
        virtual,
        wallDifference: Math.abs(real.wallSeconds - virtual.wallSeconds) / virtual.wallSeconds
      }
    }))
