/**
 * The requests of one pool waiting for admission: a FIFO queue per lane
 * (interactive before batch), with the total cost waiting in each lane kept
 * up to date so a newcomer's wait can be predicted without walking the queue.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as AdmissionStore from "../AdmissionStore.js"
import * as Budget from "./budget.js"
import type * as Ledger from "./ledger.js"

/** Lanes in priority order. @internal */
export const lanes = ["interactive", "batch"] as const

/** @internal */
export type Lane = typeof lanes[number]

/** @internal */
export type NeverFits = {
  readonly _tag: "NeverFits"
  readonly bucket: Budget.BudgetBucket
  readonly cost: number
  readonly limit: number
}

/** Why a waiter was refused: it can never fit, or the store cannot be reached (and will not be stood in for). @internal */
export type Refusal = NeverFits | AdmissionStore.AdmissionStoreError

/** @internal */
export interface Waiter {
  readonly cost: Budget.Cost
  readonly lane: Lane
  readonly holdBack: number
  readonly enqueuedAt: number
  /** what the waiter was given, once it was */
  lease: Ledger.Lease | undefined
  refusal: Refusal | undefined
  /** resumes the waiting fiber, once it sleeps */
  wake: ((effect: Effect.Effect<Ledger.Lease, Refusal>) => void) | undefined
  /** waiting, granted (`lease`), refused (`refusal`), or gone (interrupted or timed out) */
  state: "waiting" | "granted" | "refused" | "gone"
  /** why the queue was held up when this waiter was admitted */
  reason: Ledger.BlockReason | "send-rate" | undefined
}

class Deque {
  private items: Array<Waiter | undefined> = []
  private head = 0

  get size(): number {
    return this.items.length - this.head
  }

  push(waiter: Waiter): void {
    this.items.push(waiter)
  }

  unshift(waiter: Waiter): void {
    if (this.head > 0) this.items[--this.head] = waiter
    else this.items.unshift(waiter)
  }

  peek(): Waiter | undefined {
    return this.items[this.head]
  }

  shift(): Waiter | undefined {
    const waiter = this.items[this.head]
    this.items[this.head++] = undefined
    // compact once the consumed prefix dominates, keeping shift amortised O(1)
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return waiter
  }
}

/** @internal */
export class WaitQueue {
  private readonly queues: Record<Lane, Deque> = { interactive: new Deque(), batch: new Deque() }
  /** cost of the waiters still waiting, per lane and bucket */
  private readonly waiting: Record<Lane, { [K in Budget.BudgetBucket]: number }> = {
    interactive: { requests: 0, inputTokens: 0, outputTokens: 0, tokens: 0 },
    batch: { requests: 0, inputTokens: 0, outputTokens: 0, tokens: 0 }
  }
  private readonly counts: Record<Lane, number> = { interactive: 0, batch: 0 }

  /** Waiters still waiting in `lane`. */
  depth(lane: Lane): number {
    return this.counts[lane]
  }

  get isEmpty(): boolean {
    return this.counts.interactive === 0 && this.counts.batch === 0
  }

  /** Adds a waiter at the back of its lane, or at the front (a retry keeps its turn). */
  add(waiter: Waiter, front: boolean): void {
    if (front) this.queues[waiter.lane].unshift(waiter)
    else this.queues[waiter.lane].push(waiter)
    this.count(waiter, 1)
  }

  /** The first waiter still waiting, highest-priority lane first. */
  head(): Waiter | undefined {
    for (const lane of lanes) {
      const queue = this.queues[lane]
      let waiter = queue.peek()
      while (waiter !== undefined && waiter.state !== "waiting") {
        queue.shift()
        waiter = queue.peek()
      }
      if (waiter !== undefined) return waiter
    }
    return undefined
  }

  /** Removes the head returned by {@link head}, which is leaving the queue with `state`. */
  take(waiter: Waiter, state: "granted" | "refused" | "gone"): void {
    const queue = this.queues[waiter.lane]
    if (queue.peek() === waiter) queue.shift()
    this.leave(waiter, state)
  }

  /** A waiter anywhere in the queue leaves it (interrupted, timed out); it is dropped when it reaches the front. */
  leave(waiter: Waiter, state: "granted" | "refused" | "gone"): void {
    if (waiter.state !== "waiting") return
    waiter.state = state
    this.count(waiter, -1)
  }

  /** What is waiting ahead of a newcomer to `lane`: its own lane and every lane before it. */
  ahead(lane: Lane): { [K in Budget.BudgetBucket]: number } {
    const total = { requests: 0, inputTokens: 0, outputTokens: 0, tokens: 0 }
    for (const each of lanes) {
      for (const name of Budget.budgetBuckets) total[name] += this.waiting[each][name]
      if (each === lane) break
    }
    return total
  }

  private count(waiter: Waiter, sign: 1 | -1): void {
    this.counts[waiter.lane] += sign
    const sums = this.waiting[waiter.lane]
    for (const name of Budget.budgetBuckets) sums[name] += sign * (waiter.cost[name] ?? 0)
  }
}

/** Gives a waiting waiter its lease, waking its fiber. @internal */
export const grant = (waiter: Waiter, lease: Ledger.Lease): void => {
  waiter.lease = lease
  waiter.wake?.(Effect.succeed(lease))
}

/** Refuses a waiting waiter, waking its fiber. @internal */
export const refuse = (waiter: Waiter, refusal: Refusal): void => {
  waiter.refusal = refusal
  waiter.wake?.(Effect.fail(refusal))
}
