/**
 * What the simulator records: counters, 429s by the limit hit and by
 * `error.details.error_code`, faults, and tokens per minute since it
 * started. Served as JSON at `GET /_simulator/stats`.
 *
 * @internal
 */
import type { Limits } from "../SimulatorConfig.js"

/** @internal */
export type LimitKind = "requests" | "input_tokens" | "output_tokens" | "concurrency"

/** @internal */
export interface MinuteStats {
  /** minutes since the simulator started */
  readonly minute: number
  requests: number
  succeeded: number
  rateLimited: number
  inputTokens: number
  outputTokens: number
  cacheReadInputTokens: number
}

/** @internal */
export interface Stats {
  readonly startedAt: number
  /** every request that reached the API, whatever its answer */
  readonly requests: number
  /** Messages requests answered in full (streams included) */
  readonly succeeded: number
  /** streamed answers begun (`stream: true` admitted) */
  readonly streams: number
  /** 429s from the limits, by the limit hit */
  readonly rateLimited: Readonly<Record<LimitKind, number>>
  /** 429s with an `error.details.error_code` (`ramp_limit_exceeded`, spend limits) */
  readonly rateLimitedByErrorCode: Readonly<Record<string, number>>
  /** requests that could never fit a bucket (a 429 with `x-should-retry: false`) */
  readonly neverFit: number
  readonly overloaded: number
  readonly apiErrors: number
  readonly connectionResets: number
  /** `event: error` sent inside a 200 stream */
  readonly streamErrors: number
  /** streams whose connection was cut */
  readonly streamCuts: number
  /** 4xx answers other than 429, in all and by status */
  readonly clientErrors: number
  readonly clientErrorsByStatus: Readonly<Record<string, number>>
  /** admitted requests whose client went away before the answer */
  readonly abandoned: number
  readonly tokenCounts: number
  readonly batchesCreated: number
  readonly batchRequests: number
  readonly inputTokens: number
  readonly outputTokens: number
  readonly cacheReadInputTokens: number
  readonly cacheCreationInputTokens: number
  readonly inFlight: number
  readonly peakConcurrency: number
  readonly perMinute: ReadonlyArray<MinuteStats>
  /** the pools that saw traffic and their limits */
  readonly pools: Readonly<Record<string, Limits>>
}

const window = 60_000

/** @internal */
export const makeRecorder = (startedAt: number) => {
  const counters = {
    requests: 0,
    succeeded: 0,
    streams: 0,
    neverFit: 0,
    overloaded: 0,
    apiErrors: 0,
    connectionResets: 0,
    streamErrors: 0,
    streamCuts: 0,
    clientErrors: 0,
    abandoned: 0,
    tokenCounts: 0,
    batchesCreated: 0,
    batchRequests: 0,
    inputTokens: 0,
    outputTokens: 0,
    cacheReadInputTokens: 0,
    cacheCreationInputTokens: 0,
    inFlight: 0,
    peakConcurrency: 0
  }
  const rateLimited: Record<LimitKind, number> = { requests: 0, input_tokens: 0, output_tokens: 0, concurrency: 0 }
  const byErrorCode: Record<string, number> = {}
  const byStatus: Record<string, number> = {}
  const minutes = new Map<number, MinuteStats>()
  const minuteOf = (now: number): MinuteStats => {
    const minute = Math.floor((now - startedAt) / window)
    let stats = minutes.get(minute)
    if (stats === undefined) {
      stats = {
        minute,
        requests: 0,
        succeeded: 0,
        rateLimited: 0,
        inputTokens: 0,
        outputTokens: 0,
        cacheReadInputTokens: 0
      }
      minutes.set(minute, stats)
    }
    return stats
  }
  const clientError = (status: number) => {
    counters.clientErrors++
    byStatus[status] = (byStatus[status] ?? 0) + 1
  }
  const errorCode = (code: string) => {
    byErrorCode[code] = (byErrorCode[code] ?? 0) + 1
  }
  const snapshot = (pools: Readonly<Record<string, Limits>>): Stats => ({
    startedAt,
    ...counters,
    rateLimited: { ...rateLimited },
    rateLimitedByErrorCode: { ...byErrorCode },
    clientErrorsByStatus: { ...byStatus },
    perMinute: Array.from(minutes.values()).sort((a, b) => a.minute - b.minute).map((minute) => ({ ...minute })),
    pools
  })
  return { counters, rateLimited, minuteOf, clientError, errorCode, snapshot }
}
