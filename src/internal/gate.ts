/**
 * The gate of each pool: its queue of waiters, the drain that admits them as
 * the store allows, the wake-ups that drive it, the adaptive parts, and the
 * tickets that settle leases. `Admission` wires it to a store and exposes it.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type { AdmitRequest, Lane, Outcome, PoolStatus, Ticket, WaitReason } from "../Admission.js"
import type * as AdmissionStore from "../AdmissionStore.js"
import type * as RateLimitState from "../RateLimitState.js"
import * as Adaptive from "./adaptive.js"
import * as Telemetry from "./admissionTelemetry.js"
import * as Budget from "./budget.js"
import * as Settlement from "./settlement.js"
import * as Waiters from "./waiters.js"

/** @internal */
export interface GateOptions extends Settlement.SettlementOptions {
  readonly threshold: number
  readonly batchHoldBack: number
  readonly pollMillis: number
  readonly window: Adaptive.WindowOptions
  readonly sendRate: Adaptive.RateOptions | undefined
  readonly retryBudget: Adaptive.RetryBudgetOptions | undefined
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
const abandoned: Outcome = { _tag: "Abandoned" } as Outcome

interface Gate {
  readonly pool: string
  readonly queue: Waiters.WaitQueue
  readonly window: Adaptive.ConcurrencyWindow
  readonly sendRate: Adaptive.SendRate | undefined
  readonly retryBudget: Adaptive.RetryBudget | undefined
  readonly inputRatio: Adaptive.InputRatio
  readonly telemetry: Telemetry.PoolTelemetry
  pumping: boolean
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

type Attempt =
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
  const windowOptions = options.window
  const rateOptions = options.sendRate
  const budgetOptions = options.retryBudget
  const gates = new Map<string, Gate>()
  const gateFor = (pool: string): Gate => {
    let gate = gates.get(pool)
    if (gate === undefined) {
      gate = {
        pool,
        queue: new Waiters.WaitQueue(),
        window: new Adaptive.ConcurrencyWindow(windowOptions),
        sendRate: rateOptions && new Adaptive.SendRate(rateOptions),
        retryBudget: budgetOptions && new Adaptive.RetryBudget(budgetOptions),
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
      }
      gates.set(pool, gate)
    }
    return gate
  }

  const holdBackOf = (lane: Lane) => threshold + (lane === "batch" ? batchHoldBack : 0)

  // What the store answered, folded into the gate: one synchronous step.
  const reserved = (gate: Gate, result: AdmissionStore.ReserveResult, now: number): Attempt => {
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

  const sendRateBlock = (gate: Gate, now: number): Attempt | undefined => {
    const rateWait = gate.sendRate?.waitMillis(now) ?? 0
    return rateWait > 0 ? { _tag: "Blocked", reason: "send-rate", waitMillis: rateWait } : undefined
  }

  const unsafeStore = store.unsafe

  /** The store's answer at once, for a store that can give it synchronously. */
  const unsafeTryReserve = unsafeStore === undefined ? undefined : (
    gate: Gate,
    cost: AdmissionStore.Cost,
    holdBack: number,
    now: number
  ): Attempt =>
    sendRateBlock(gate, now)
      ?? reserved(gate, unsafeStore.reserve(gate.pool, { cost, holdBack, maxInFlight: gate.window.size }, now), now)

  const tryReserve = (
    gate: Gate,
    cost: AdmissionStore.Cost,
    holdBack: number,
    now: number
  ): Effect.Effect<Attempt, AdmissionStore.AdmissionStoreError> => {
    if (unsafeTryReserve !== undefined) return Effect.sync(() => unsafeTryReserve(gate, cost, holdBack, now))
    const blocked = sendRateBlock(gate, now)
    if (blocked !== undefined) return Effect.succeed(blocked)
    return Effect.map(
      store.reserve(gate.pool, { cost, holdBack, maxInFlight: gate.window.size }),
      (result) => reserved(gate, result, now)
    )
  }

  // Wakes the pump when the head of the queue may go: at a time, or (for a
  // store other processes share) soon, since their releases are not seen here.
  const scheduleWake = (gate: Gate, waitMillis: number, now: number): Effect.Effect<void> => {
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

  const drain = (gate: Gate): Effect.Effect<void> =>
    Effect.gen(function*() {
      for (;;) {
        gate.again = false
        const head = gate.queue.head()
        if (head === undefined) return
        const now = yield* Clock.currentTimeMillis
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
  const pump = (gate: Gate): Effect.Effect<void> =>
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

  const predictWait = (gate: Gate, cost: AdmissionStore.Cost, lane: Lane, now: number): number => {
    const view = gate.lastView
    if (view === undefined) return 0
    let wait = Math.max(0, view.embargoUntil - now)
    if (!view.known) return wait
    const ahead = gate.queue.ahead(lane)
    const holdBack = holdBackOf(lane)
    for (const name of Budget.chargedBuckets(view.buckets, cost)) {
      const bucket = view.buckets[name]!
      const level = Math.min(bucket.capacity, bucket.level + Math.max(0, now - view.at) * bucket.rate)
      const need = Math.min(bucket.capacity, holdBack * bucket.capacity + cost[name]!) + ahead[name] - level
      if (need > 0 && bucket.rate > 0) wait = Math.max(wait, need / bucket.rate)
    }
    return wait
  }

  const adapt = (gate: Gate, outcome: Outcome, now: number): void => {
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

  const settle = (outcome: Outcome, now: number) => Settlement.settlementOf(settlementOptions, outcome, now)

  // After a release: the adaptive parts, the record of what the API said, the gauges, and the queue.
  const released = (gate: Gate, outcome: Outcome, now: number, view: AdmissionStore.PoolView | undefined) => {
    adapt(gate, outcome, now)
    const beyond = outcome._tag === "Refused" ? Settlement.waitBeyondCap(settlementOptions, outcome, now) : undefined
    if (beyond !== undefined) {
      gate.refusingUntil = now + maxServerWaitMillis
      gate.refusedUntil = now + beyond
    }
    if (view !== undefined) gate.lastView = view
    const recorded = outcome._tag === "Served" || outcome._tag === "Refused"
      ? rateLimitState.update(gate.pool, outcome.rateLimits)
      : Effect.void
    const gauges = view !== undefined ? gate.telemetry.released(gate, view, now) : Effect.void
    // a waiter may go now; with nobody waiting there is nothing to do
    const next = gate.queue.isEmpty && !gate.pumping ? Effect.void : pump(gate)
    return Effect.zipRight(Effect.zipRight(recorded, gauges), next)
  }

  const releaseLease = (gate: Gate, lease: AdmissionStore.Lease, outcome: Outcome): Effect.Effect<void> =>
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
    gate: Gate,
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

  const refuse = (gate: Gate, refusal: Waiters.NeverFits): Effect.Effect<never, Failure> =>
    Effect.zipRight(
      gate.telemetry.refused("RequestExceedsLimitError"),
      Effect.fail<Failure>({ ...refusal, pool: gate.pool })
    )

  const tooLong = (gate: Gate, predicted: number, maxWait: number, reason: WaitReason) =>
    Effect.zipRight(
      gate.telemetry.refused("BudgetWaitTooLongError"),
      Effect.fail<Failure>({
        _tag: "TooLong",
        pool: gate.pool,
        predictedMillis: Math.ceil(predicted),
        maxWaitMillis: maxWait,
        reason
      })
    )

  // The hot path: a store that answers synchronously, nobody waiting, and room now. One step, no waiting machinery.
  const admitAtOnce = (request: AdmitRequest, now: number) => {
    if (unsafeTryReserve === undefined) return undefined
    const gate = gateFor(request.pool)
    if (!gate.queue.isEmpty || gate.pumping) return undefined
    const lane: Lane = request.lane ?? "interactive"
    const attempt = unsafeTryReserve(gate, gate.inputRatio.scale(request.cost), holdBackOf(lane), now)
    if (attempt._tag !== "Granted") return undefined
    return Effect.zipRight(
      gate.telemetry.admitted(lane, 0, undefined, false),
      ticketFor(gate, attempt.lease, 0, undefined, request.cost.inputTokens)
    )
  }

  type Restore = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>

  // A ticket whose release is the caller's to arrange: only inside an uninterruptible region.
  const admitCore = (request: AdmitRequest, restore: Restore) =>
    Effect.clockWith((clock) => admitAtOnce(request, clock.unsafeCurrentTimeMillis()) ?? admitWaiting(request, restore))

  const admit = (request: AdmitRequest) =>
    Effect.uninterruptibleMask((restore) =>
      Effect.tap(
        admitCore(request, restore),
        (ticket) =>
          Effect.flatMap(
            renewal(ticket),
            (renewing) => Effect.addFinalizer(() => Effect.zipRight(stopRenewal(renewing), ticket.complete(abandoned)))
          )
      )
    )

  // The same without a Scope (cheaper on every request): the lease is released however `use` ends.
  const withTicket = <A, E, R, F>(
    request: AdmitRequest,
    use: (ticket: Ticket) => Effect.Effect<A, E, R>,
    refused: (failure: Failure) => F
  ): Effect.Effect<A, E | F | AdmissionStore.AdmissionStoreError, R> =>
    Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(
        Effect.mapError(
          admitCore(request, restore),
          (failure): F | AdmissionStore.AdmissionStoreError =>
            failure._tag === "AdmissionStoreError" ? failure : refused(failure)
        ),
        (ticket) =>
          Effect.flatMap(renewal(ticket), (renewing) =>
            Effect.onExit(
              restore(use(ticket)),
              () => Effect.zipRight(stopRenewal(renewing), ticket.complete(abandoned))
            ))
      )
    )

  // Until it is admitted, a request waits as little more than its waiter in the queue: this is what thousands of
  // waiting requests cost, so the waiting itself holds no generator frame, no Deferred and no timer of its own.
  const admitWaiting = (request: AdmitRequest, restore: Restore) =>
    Effect.flatMap(Clock.currentTimeMillis, (start) => {
      const gate = gateFor(request.pool)
      const lane: Lane = request.lane ?? "interactive"
      const holdBack = holdBackOf(lane)
      // the caller's input estimate, scaled by how the API's counts have compared to such estimates
      const cost = gate.inputRatio.scale(request.cost)
      const first = gate.queue.isEmpty && !gate.pumping ? tryReserve(gate, cost, holdBack, start) : undefined
      if (first === undefined) return enqueue(request, gate, lane, holdBack, cost, start, restore)
      return Effect.flatMap(first, (attempt) => {
        if (attempt._tag === "Granted") {
          return Effect.zipRight(
            gate.telemetry.admitted(lane, 0, undefined, false),
            ticketFor(gate, attempt.lease, 0, undefined, request.cost.inputTokens)
          )
        }
        if (attempt._tag === "NeverFits") return refuse(gate, attempt)
        gate.lastBlock = attempt.reason
        return enqueue(request, gate, lane, holdBack, cost, start, restore)
      })
    })

  const enqueue = (
    request: AdmitRequest,
    gate: Gate,
    lane: Lane,
    holdBack: number,
    cost: AdmissionStore.Cost,
    start: number,
    restore: Restore
  ): Effect.Effect<Ticket, Failure | AdmissionStore.AdmissionStoreError> => {
    const deadline = request.deadline === undefined ? Infinity : Duration.toMillis(request.deadline)
    const predicted = predictWait(gate, cost, lane, start)
    const embargo = Math.max(0, (gate.lastView?.embargoUntil ?? 0) - start)
    // (a refusal time further away than the cap is from before the clock was set back: it no longer holds)
    const refusing = gate.refusingUntil - start
    if (embargo > maxServerWaitMillis || (refusing > 0 && refusing <= maxServerWaitMillis)) {
      return tooLong(gate, Math.max(predicted, gate.refusedUntil - start), maxServerWaitMillis, "embargo")
    }
    if (predicted > deadline) return tooLong(gate, predicted, deadline, gate.lastBlock ?? "concurrency")
    const waiter: Waiters.Waiter = {
      cost,
      lane,
      holdBack,
      enqueuedAt: start,
      lease: undefined,
      refusal: undefined,
      wake: undefined,
      state: "waiting",
      reason: undefined
    }
    gate.queue.add(waiter, request.retry === true)
    const waiting = Effect.async<AdmissionStore.Lease, Waiters.Refusal>((wake) => {
      if (waiter.lease !== undefined) return wake(Effect.succeed(waiter.lease))
      if (waiter.refusal !== undefined) return wake(Effect.fail(waiter.refusal))
      waiter.wake = wake
    })
    const awaited = Number.isFinite(deadline)
      ? Effect.timeoutFail(waiting, { duration: Duration.millis(deadline), onTimeout: () => "timeout" as const })
      : waiting
    return gate.telemetry.queueDepth(gate.queue).pipe(
      Effect.zipRight(pump(gate)),
      Effect.zipRight(Effect.exit(restore(awaited))),
      Effect.flatMap((exit) => waited(request, gate, lane, cost, start, deadline, waiter, exit))
    )
  }

  const waited = (
    request: AdmitRequest,
    gate: Gate,
    lane: Lane,
    cost: AdmissionStore.Cost,
    start: number,
    deadline: number,
    waiter: Waiters.Waiter,
    exit: Exit.Exit<AdmissionStore.Lease, Waiters.Refusal | "timeout">
  ): Effect.Effect<Ticket, Failure | AdmissionStore.AdmissionStoreError> =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      if (Exit.isSuccess(exit)) {
        return Effect.zipRight(
          gate.telemetry.admitted(lane, now - start, waiter.reason, request.retry === true),
          ticketFor(gate, exit.value, now - start, waiter.reason, request.cost.inputTokens)
        )
      }
      // it leaves the queue; if it was granted as it was interrupted, that lease was never used
      const leave = waiter.state === "granted" && waiter.lease !== undefined
        ? releaseLease(gate, waiter.lease, notSent)
        : Effect.suspend(() => {
          gate.queue.leave(waiter, "gone")
          return pump(gate)
        })
      const failure = Cause.failureOption(exit.cause)
      const failed: Effect.Effect<never, Failure | AdmissionStore.AdmissionStoreError> = Option.isNone(failure)
        ? Effect.failCause(Cause.stripFailures(exit.cause))
        : failure.value === "timeout"
        ? tooLong(gate, now - start + predictWait(gate, cost, lane, now), deadline, gate.lastBlock ?? "concurrency")
        : failure.value._tag === "AdmissionStoreError"
        ? Effect.fail(failure.value)
        : refuse(gate, failure.value)
      return Effect.zipRight(leave, failed)
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
