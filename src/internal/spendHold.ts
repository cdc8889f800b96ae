/**
 * What admission does after the API says the organisation's spend limit is
 * reached: every request would get the same answer until the limit resets
 * or is raised, and the limit is the organisation's, not a pool's. So every
 * request fails at once, unsent, for the hold; then one request goes to
 * find out (the others keep failing at once until its answer), and the hold
 * ends when it is answered with anything but the spend limit again.
 *
 * @internal
 */
import type { Outcome } from "../Admission.js"
import type * as Waiters from "./waiters.js"

/** What a request meets at the gate. @internal */
export type Check =
  | { readonly _tag: "Pass" }
  /** this request is the one that finds out whether the limit still holds */
  | { readonly _tag: "Probe" }
  | Waiters.SpendHeld

const pass: Check = { _tag: "Pass" }
const probe: Check = { _tag: "Probe" }

/** @internal */
export class SpendHold {
  private until = -Infinity
  private pool = ""
  private probing = false

  constructor(readonly holdMillis: number) {}

  get active(): boolean {
    return this.until > -Infinity
  }

  check(now: number): Check {
    if (!this.active) return pass
    const held = this.holding(now)
    if (held !== undefined) return held
    // while one request finds out, the others do not wait for its answer
    if (this.probing) return { _tag: "SpendHeld", pool: this.pool, remainingMillis: 0 }
    this.probing = true
    return probe
  }

  /** For a request already queued: held while the hold's time runs (the probe itself may queue after it). */
  holding(now: number): Waiters.SpendHeld | undefined {
    return now < this.until ? { _tag: "SpendHeld", pool: this.pool, remainingMillis: this.until - now } : undefined
  }

  /** The API said the spend limit is reached; returns whether this starts a hold (to say so once). */
  reached(pool: string, now: number): boolean {
    const started = !this.active
    this.until = now + this.holdMillis
    this.pool = pool
    this.probing = false
    return started
  }

  /** How the probe ended (or that it never got a ticket: `undefined`); returns whether the hold is over. */
  probeEnded(outcome: Outcome | undefined): boolean {
    this.probing = false
    if (outcome === undefined || !this.active) return false
    switch (outcome._tag) {
      case "Served":
        return this.lift()
      case "Refused":
        // a spend-limit refusal has renewed the hold already (reached); any other answer means it was lifted
        return outcome.signal === "spend-limit" ? false : this.lift()
      default:
        // no answer: the next request finds out
        return false
    }
  }

  private lift(): boolean {
    this.until = -Infinity
    return true
  }
}
