/**
 * The gate of each pool: the drain that admits its waiters as the store
 * allows, the wake-ups that drive it, and the tickets that settle leases
 * (the pool's state is in poolGate.ts; the request's side, admitting and
 * refusing, in admitting.ts). `Admission` wires it to a store and exposes it.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type { AdmitRequest, Lane, Outcome, PoolStatus, Ticket, WaitReason } from "../Admission.js"
import type * as AdmissionStore from "../AdmissionStore.js"
import type * as RateLimitState from "../RateLimitState.js"
import type * as Adaptive from "./adaptive.js"
import * as Admitting from "./admitting.js"
import * as PoolGate from "./poolGate.js"
import * as Settlement from "./settlement.js"
import * as SpendHold from "./spendHold.js"
import * as Waiters from "./waiters.js"

/** @internal */
export interface GateOptions extends Settlement.SettlementOptions {
  readonly threshold: number
  readonly batchHoldBack: number
  readonly pollMillis: number
  readonly window: Adaptive.WindowOptions
  readonly sendRate: Adaptive.RateOptions | undefined
  readonly retryBudget: Adaptive.RetryBudgetOptions | undefined
  /** after a spend-limit refusal, how long every request fails at once; `undefined`: never */
  readonly spendLimitHoldMillis: number | undefined
}

/** Why the gate refused a request without sending it. @internal */
export type Failure =
  | {
    readonly _tag: "TooLong"
    readonly pool: string
    readonly predictedMillis: number
    readonly maxWaitMillis: number
    readonly reason: WaitReason
  }
  | (Waiters.NeverFits & { readonly pool: string })
  | Waiters.SpendHeld

/** @internal */
export interface Gates {
  readonly admit: (
    request: AdmitRequest
  ) => Effect.Effect<Ticket, Failure | AdmissionStore.AdmissionStoreError, Scope.Scope>
  readonly withTicket: <A, E, R, F>(
    request: AdmitRequest,
    use: (ticket: Ticket) => Effect.Effect<A, E, R>,
    refused: (failure: Failure) => F
  ) => Effect.Effect<A, E | F | AdmissionStore.AdmissionStoreError, R>
  readonly outputEstimate: (pool: string, maxTokens: number) => Effect.Effect<number>
  readonly retryAllowed: (pool: string) => Effect.Effect<boolean>
  readonly status: (pool: string) => Effect.Effect<PoolStatus, AdmissionStore.AdmissionStoreError>
}

const notSent: Outcome = { _tag: "NotSent" } as Outcome

/** What the store's answer means for the head of a queue. @internal */
export type Attempt =
  | { readonly _tag: "Granted"; readonly lease: AdmissionStore.Lease }
  | { readonly _tag: "Blocked"; readonly reason: WaitReason; readonly waitMillis: number }
  | Waiters.NeverFits

/** @internal */
export const make = (
  store: AdmissionStore.AdmissionStore,
  rateLimitState: RateLimitState.RateLimitState,
  scope: Scope.Scope,
  options: GateOptions
): Gates => {
  const { batchHoldBack, maxServerWaitMillis, pollMillis, threshold } = options
  const settlementOptions: Settlement.SettlementOptions = options
  const gates = new Map<string, PoolGate.PoolGate>()
  // the spend limit is the organisation's: one hold for every pool
  const spendHold = options.spendLimitHoldMillis === undefined
    ? undefined
    : new SpendHold.SpendHold(options.spendLimitHoldMillis)
  const gateFor = (pool: string): PoolGate.PoolGate => {
    let gate = gates.get(pool)
    if (gate === undefined) {
      gate = PoolGate.make(pool, options)
      gates.set(pool, gate)
    }
    return gate
  }

  const holdBackOf = (lane: Lane) => threshold + (lane === "batch" ? batchHoldBack : 0)

  // What the store answered, folded into the gate: one synchronous step.
  const reserved = (gate: PoolGate.PoolGate, result: AdmissionStore.ReserveResult, now: number): Attempt => {
    switch (result._tag) {
      case "Granted": {
        gate.sendRate?.sent(now)
        gate.inFlight++
        return result
      }
      case "Blocked": {
        gate.lastView = result.view
        if (result.reason === "concurrency") gate.window.bound = true
        return { _tag: "Blocked", reason: result.reason, waitMillis: result.waitMillis }
      }
      case "NeverFits":
        return result
    }
  }

  const unsafeStore = store.unsafe

  /** The store's answer at once, for a store that can give it synchronously. */
  const unsafeTryReserve = unsafeStore === undefined ? undefined : (
    gate: PoolGate.PoolGate,
    cost: AdmissionStore.Cost,
    holdBack: number,
    now: number
  ): Attempt =>
    PoolGate.sendRateBlock(gate, now)
      ?? reserved(gate, unsafeStore.reserve(gate.pool, { cost, holdBack, maxInFlight: gate.window.size }, now), now)

  const tryReserve = (
    gate: PoolGate.PoolGate,
    cost: AdmissionStore.Cost,
    holdBack: number,
    now: number
  ): Effect.Effect<Attempt, AdmissionStore.AdmissionStoreError> => {
    if (unsafeTryReserve !== undefined) return Effect.sync(() => unsafeTryReserve(gate, cost, holdBack, now))
    const blocked = PoolGate.sendRateBlock(gate, now)
    if (blocked !== undefined) return Effect.succeed(blocked)
    return Effect.map(
      store.reserve(gate.pool, { cost, holdBack, maxInFlight: gate.window.size }),
      (result) => reserved(gate, result, now)
    )
  }

  // Wakes the pump when the head of the queue may go: at a time, or (for a
  // store other processes share) soon, since their releases are not seen here.
  const scheduleWake = (gate: PoolGate.PoolGate, waitMillis: number, now: number): Effect.Effect<void> => {
    const wait = store.shared ? Math.min(waitMillis, pollMillis) : waitMillis
    if (!Number.isFinite(wait)) return Effect.void
    const at = now + Math.max(1, wait)
    if (gate.timer !== undefined && gate.wakeAt <= at) return Effect.void
    const previous = gate.timer
    gate.wakeAt = at
    return Effect.sleep(Duration.millis(at - now)).pipe(
      Effect.zipRight(Effect.suspend(() => {
        gate.timer = undefined
        gate.wakeAt = Infinity
        return pump(gate)
      })),
      // pumps run inside admission's uninterruptible regions; the timer they fork must not inherit that
      Effect.interruptible,
      Effect.forkIn(scope),
      Effect.flatMap((fiber) =>
        Effect.sync(() => {
          gate.timer = fiber
        })
      ),
      Effect.zipRight(previous === undefined ? Effect.void : Fiber.interruptFork(previous))
    )
  }

  const drain = (gate: PoolGate.PoolGate): Effect.Effect<void> =>
    Effect.gen(function*() {
      for (;;) {
        gate.again = false
        const head = gate.queue.head()
        if (head === undefined) return
        const now = yield* Clock.currentTimeMillis
        // the spend limit was reached while it waited: it would get the same answer
        const held = spendHold?.holding(now)
        if (held !== undefined) {
          gate.queue.take(head, "refused")
          Waiters.refuse(head, held)
          continue
        }
        // a store that cannot be reached (and whose policy is to fail, not to fall back): the waiter is told
        const attempt = yield* Effect.either(tryReserve(gate, head.cost, head.holdBack, now))
        if (attempt._tag === "Left") {
          gate.queue.take(head, "refused")
          Waiters.refuse(head, attempt.left)
          continue
        }
        switch (attempt.right._tag) {
          case "Granted": {
            if (head.state === "waiting") {
              head.reason = gate.lastBlock
              gate.queue.take(head, "granted")
              Waiters.grant(head, attempt.right.lease)
            } else {
              // interrupted while the store decided: nothing was sent
              yield* releaseLease(gate, attempt.right.lease, notSent)
            }
            continue
          }
          case "NeverFits": {
            gate.queue.take(head, "refused")
            Waiters.refuse(head, attempt.right)
            continue
          }
          case "Blocked": {
            gate.lastBlock = attempt.right.reason
            yield* scheduleWake(gate, attempt.right.waitMillis, now)
            return
          }
        }
      }
    })

  // One drain at a time per pool; a trigger during a drain makes it go round again.
  const pump = (gate: PoolGate.PoolGate): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (gate.pumping) {
        gate.again = true
        return Effect.void
      }
      gate.pumping = true
      const round: Effect.Effect<void> = Effect.zipRight(
        drain(gate),
        Effect.suspend(() => (gate.again ? round : Effect.void))
      )
      return Effect.ensuring(
        round,
        Effect.sync(() => {
          gate.pumping = false
        })
      ).pipe(Effect.zipRight(Effect.sync(() => gate.telemetry.queueDepth(gate.queue))))
    })

  const settle = (outcome: Outcome, now: number) => Settlement.settlementOf(settlementOptions, outcome, now)

  // After a release: the adaptive parts, the record of what the API said, the gauges, and the queue.
  const released = (
    gate: PoolGate.PoolGate,
    outcome: Outcome,
    now: number,
    view: AdmissionStore.PoolView | undefined
  ) => {
    PoolGate.adapt(gate, outcome, now)
    const beyond = outcome._tag === "Refused" ? Settlement.waitBeyondCap(settlementOptions, outcome, now) : undefined
    if (beyond !== undefined) {
      gate.refusingUntil = now + maxServerWaitMillis
      gate.refusedUntil = now + beyond
    }
    const holdStarted = outcome._tag === "Refused" && outcome.signal === "spend-limit" && spendHold !== undefined
      && spendHold.reached(gate.pool, now)
    if (view !== undefined) gate.lastView = view
    const recorded = outcome._tag === "Served" || outcome._tag === "Refused"
      ? rateLimitState.update(gate.pool, outcome.rateLimits)
      : Effect.void
    const gauges = view !== undefined ? gate.telemetry.released(gate, view, now) : Effect.void
    // a waiter may go now; with nobody waiting there is nothing to do
    const next = gate.queue.isEmpty && !gate.pumping ? Effect.void : pump(gate)
    if (holdStarted) {
      // every pool's waiters would get the same answer: their drains refuse them now
      const others = Effect.forEach(
        gates.values(),
        (each) => each === gate || each.queue.isEmpty ? Effect.void : pump(each),
        {
          discard: true
        }
      )
      const hold = Duration.format(Duration.millis(spendHold.holdMillis))
      return Effect.logWarning(
        `The organisation's spend limit is reached (pool "${gate.pool}"): requests fail at once with `
          + `SpendLimitHoldError for ${hold}, then one goes to find out whether it still holds`
      ).pipe(Effect.zipRight(recorded), Effect.zipRight(gauges), Effect.zipRight(next), Effect.zipRight(others))
    }
    return Effect.zipRight(Effect.zipRight(recorded, gauges), next)
  }

  const releaseLease = (gate: PoolGate.PoolGate, lease: AdmissionStore.Lease, outcome: Outcome): Effect.Effect<void> =>
    Effect.clockWith((clock) =>
      Effect.suspend(() => {
        const now = clock.unsafeCurrentTimeMillis()
        gate.inFlight = Math.max(0, gate.inFlight - 1)
        if (unsafeStore !== undefined) {
          return released(gate, outcome, now, unsafeStore.release(lease, settle(outcome, now), now))
        }
        return store.release(lease, settle(outcome, now)).pipe(
          Effect.catchAll((error) =>
            Effect.as(Effect.logWarning("Could not settle an admission lease", error), undefined)
          ),
          Effect.flatMap((view) => released(gate, outcome, now, view))
        )
      })
    )

  const ticketFor = (
    gate: PoolGate.PoolGate,
    lease: AdmissionStore.Lease,
    waited: number,
    reason: WaitReason | undefined,
    estimatedInput: number | undefined
  ): Effect.Effect<Ticket> => {
    let done = false
    const complete = (outcome: Outcome): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (done) return Effect.void
        done = true
        if (outcome._tag === "Served" && estimatedInput !== undefined) {
          gate.inputRatio.observe(estimatedInput, outcome.usage.inputTokens)
        }
        return Effect.uninterruptible(releaseLease(gate, lease, outcome))
      })
    return Effect.succeed({
      pool: gate.pool,
      lease,
      waited: Duration.millis(waited),
      reason: Option.fromNullable(reason),
      complete
    })
  }

  // A shared store reclaims leases a crashed process held; this process is alive, so it keeps renewing.
  const renewal = (ticket: Ticket): Effect.Effect<Fiber.RuntimeFiber<void> | undefined> =>
    Option.match(store.leaseRenewal, {
      onNone: () => Effect.succeed(undefined),
      onSome: (every) =>
        Effect.forkDaemon(Effect.interruptible(
          store.renew(ticket.lease).pipe(
            Effect.catchAll((error) => Effect.logDebug("Could not renew an admission lease", error)),
            Effect.delay(every),
            Effect.forever
          )
        ))
    })

  const stopRenewal = (fiber: Fiber.RuntimeFiber<void> | undefined): Effect.Effect<void> =>
    fiber === undefined ? Effect.void : Fiber.interruptFork(fiber)

  const { admit, withTicket } = Admitting.make({
    store,
    spendHold,
    maxServerWaitMillis,
    gateFor,
    holdBackOf,
    tryReserve,
    unsafeTryReserve,
    pump,
    releaseLease,
    ticketFor,
    renewal,
    stopRenewal
  })

  const outputEstimate = (pool: string, maxTokens: number) =>
    Effect.map(
      Effect.orElseSucceed(store.outputEstimate(pool), () => Option.none<number>()),
      (estimate) => Math.max(0, Math.min(maxTokens, Option.getOrElse(estimate, () => maxTokens)))
    )

  const status = (pool: string) =>
    Effect.map(store.view(pool), (view): PoolStatus => {
      const gate = gateFor(pool)
      return {
        pool,
        view,
        waiting: { interactive: gate.queue.depth("interactive"), batch: gate.queue.depth("batch") },
        inFlight: gate.inFlight,
        concurrencyWindow: gate.window.size,
        sendRate: Option.filter(Option.fromNullable(gate.sendRate), (rate) => rate.enabled).pipe(
          Option.map((rate) => rate.fillRate)
        ),
        retryTokens: Option.map(Option.fromNullable(gate.retryBudget), (budget) => budget.tokens)
      }
    })

  return {
    admit,
    withTicket,
    outputEstimate,
    retryAllowed: (pool) => Effect.sync(() => gateFor(pool).retryBudget?.allowsRetry ?? true),
    status
  }
}
