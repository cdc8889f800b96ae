/**
 * What the gate knows of one pool: its queue, the adaptive parts, and what
 * the store last said; how an answer adapts them, and how long a request
 * would wait.
 *
 * @internal
 */
import type * as Fiber from "effect/Fiber"
import type { Lane, Outcome, WaitReason } from "../Admission.js"
import type * as AdmissionStore from "../AdmissionStore.js"
import * as Adaptive from "./adaptive.js"
import * as Telemetry from "./admissionTelemetry.js"
import * as Budget from "./budget.js"
import * as Waiters from "./waiters.js"

/** @internal */
export interface PoolGateOptions {
  readonly window: Adaptive.WindowOptions
  readonly sendRate: Adaptive.RateOptions | undefined
  readonly retryBudget: Adaptive.RetryBudgetOptions | undefined
}

/** @internal */
export interface PoolGate {
  readonly pool: string
  readonly queue: Waiters.WaitQueue
  readonly window: Adaptive.ConcurrencyWindow
  readonly sendRate: Adaptive.SendRate | undefined
  readonly retryBudget: Adaptive.RetryBudget | undefined
  readonly inputRatio: Adaptive.InputRatio
  readonly telemetry: Telemetry.PoolTelemetry
  /** a drain is running */
  pumping: boolean
  /** something happened during the drain: go round again */
  again: boolean
  wakeAt: number
  timer: Fiber.RuntimeFiber<void> | undefined
  lastView: AdmissionStore.PoolView | undefined
  lastBlock: WaitReason | undefined
  inFlight: number
  /**
   * The server asked the pool to wait longer than `maxServerWait` (its embargo is cut to that): until this time
   * (wall clock), new requests are refused at once, not queued; `refusedUntil` is when the server said.
   */
  refusingUntil: number
  refusedUntil: number
}

/** @internal */
export const make = (pool: string, options: PoolGateOptions): PoolGate => ({
  pool,
  queue: new Waiters.WaitQueue(),
  window: new Adaptive.ConcurrencyWindow(options.window),
  sendRate: options.sendRate && new Adaptive.SendRate(options.sendRate),
  retryBudget: options.retryBudget && new Adaptive.RetryBudget(options.retryBudget),
  inputRatio: new Adaptive.InputRatio(),
  telemetry: Telemetry.forPool(pool),
  pumping: false,
  again: false,
  wakeAt: Infinity,
  timer: undefined,
  lastView: undefined,
  lastBlock: undefined,
  inFlight: 0,
  refusingUntil: 0,
  refusedUntil: 0
})

/** The send rate's hold on the next request, if any. @internal */
export const sendRateBlock = (
  gate: PoolGate,
  now: number
): { readonly _tag: "Blocked"; readonly reason: WaitReason; readonly waitMillis: number } | undefined => {
  const rateWait = gate.sendRate?.waitMillis(now) ?? 0
  return rateWait > 0 ? { _tag: "Blocked", reason: "send-rate", waitMillis: rateWait } : undefined
}

/** How long a request would wait, from the levels, the queue ahead of it and the embargo. @internal */
export const predictWait = (
  gate: PoolGate,
  cost: AdmissionStore.Cost,
  lane: Lane,
  holdBack: number,
  now: number
): number => {
  const view = gate.lastView
  if (view === undefined) return 0
  let wait = Math.max(0, view.embargoUntil - now)
  if (!view.known) return wait
  const ahead = gate.queue.ahead(lane)
  for (const name of Budget.chargedBuckets(view.buckets, cost)) {
    const bucket = view.buckets[name]!
    const level = Math.min(bucket.capacity, bucket.level + Math.max(0, now - view.at) * bucket.rate)
    const need = Math.min(bucket.capacity, holdBack * bucket.capacity + cost[name]!) + ahead[name] - level
    if (need > 0 && bucket.rate > 0) wait = Math.max(wait, need / bucket.rate)
  }
  return wait
}

/** What a request's end tells the adaptive parts: the window, the send rate, the retry budget. @internal */
export const adapt = (gate: PoolGate, outcome: Outcome, now: number): void => {
  switch (outcome._tag) {
    case "Served": {
      gate.window.served(now)
      gate.sendRate?.succeeded(now)
      gate.retryBudget?.succeeded()
      return
    }
    case "Refused": {
      switch (outcome.signal) {
        case "concurrency":
          gate.window.refused(gate.inFlight, now, outcome.limit)
          return
        case "acceleration":
          gate.window.halve(now)
          gate.sendRate?.throttled(now)
          return
        case "overloaded":
          gate.sendRate?.throttled(now)
          gate.retryBudget?.failed()
          return
        case "server-error":
          gate.retryBudget?.failed()
          return
        default:
          return
      }
    }
    case "Abandoned":
      return
    case "Unknown": {
      gate.retryBudget?.failed()
      return
    }
    case "NotSent": {
      gate.sendRate?.unsent()
      return
    }
  }
}
