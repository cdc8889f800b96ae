/**
 * What the simulator records: counters, 429s by the limit hit, and tokens
 * per minute since it started.
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
  readonly requests: number
  readonly succeeded: number
  readonly rateLimited: Readonly<Record<LimitKind, number>>
  readonly overloaded: number
  readonly apiErrors: number
  readonly connectionResets: number
  readonly clientErrors: number
  readonly abandoned: number
  readonly tokenCounts: number
  readonly inputTokens: number
  readonly outputTokens: number
  readonly cacheReadInputTokens: number
  readonly cacheCreationInputTokens: number
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
    overloaded: 0,
    apiErrors: 0,
    connectionResets: 0,
    clientErrors: 0,
    abandoned: 0,
    tokenCounts: 0,
    inputTokens: 0,
    outputTokens: 0,
    cacheReadInputTokens: 0,
    cacheCreationInputTokens: 0,
    peakConcurrency: 0
  }
  const rateLimited: Record<LimitKind, number> = { requests: 0, input_tokens: 0, output_tokens: 0, concurrency: 0 }
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
  const snapshot = (pools: Readonly<Record<string, Limits>>): Stats => ({
    startedAt,
    ...counters,
    rateLimited: { ...rateLimited },
    perMinute: Array.from(minutes.values()).sort((a, b) => a.minute - b.minute).map((minute) => ({ ...minute })),
    pools
  })
  return { counters, rateLimited, minuteOf, snapshot }
}
