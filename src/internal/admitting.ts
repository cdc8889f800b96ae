/**
 * The request's side of the gate: how a request is admitted (at once, or
 * after waiting in its pool's queue), refused (never fits, waits too long,
 * the spend limit holds), and how its lease is released however it ends.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type { AdmitRequest, Lane, Outcome, Ticket, WaitReason } from "../Admission.js"
import type * as AdmissionStore from "../AdmissionStore.js"
import type { Attempt, Failure } from "./gate.js"
import * as PoolGate from "./poolGate.js"
import type * as SpendHold from "./spendHold.js"
import type * as Waiters from "./waiters.js"

/** What the gate lends the request's side. @internal */
export interface Core {
  readonly store: AdmissionStore.AdmissionStore
  readonly spendHold: SpendHold.SpendHold | undefined
  readonly maxServerWaitMillis: number
  readonly gateFor: (pool: string) => PoolGate.PoolGate
  readonly holdBackOf: (lane: Lane) => number
  readonly tryReserve: (
    gate: PoolGate.PoolGate,
    cost: AdmissionStore.Cost,
    holdBack: number,
    now: number
  ) => Effect.Effect<Attempt, AdmissionStore.AdmissionStoreError>
  /** for a store that answers synchronously */
  readonly unsafeTryReserve:
    | ((gate: PoolGate.PoolGate, cost: AdmissionStore.Cost, holdBack: number, now: number) => Attempt)
    | undefined
  readonly pump: (gate: PoolGate.PoolGate) => Effect.Effect<void>
  readonly releaseLease: (gate: PoolGate.PoolGate, lease: AdmissionStore.Lease, outcome: Outcome) => Effect.Effect<void>
  readonly ticketFor: (
    gate: PoolGate.PoolGate,
    lease: AdmissionStore.Lease,
    waited: number,
    reason: WaitReason | undefined,
    estimatedInput: number | undefined
  ) => Effect.Effect<Ticket>
  readonly renewal: (ticket: Ticket) => Effect.Effect<Fiber.RuntimeFiber<void> | undefined>
  readonly stopRenewal: (fiber: Fiber.RuntimeFiber<void> | undefined) => Effect.Effect<void>
}

const notSent: Outcome = { _tag: "NotSent" } as Outcome
const abandoned: Outcome = { _tag: "Abandoned" } as Outcome

/** @internal */
export const make = (core: Core) => {
  const {
    gateFor,
    holdBackOf,
    maxServerWaitMillis,
    pump,
    releaseLease,
    renewal,
    spendHold,
    stopRenewal,
    ticketFor,
    tryReserve,
    unsafeTryReserve
  } = core

  const refuse = (
    gate: PoolGate.PoolGate,
    refusal: Waiters.NeverFits | Waiters.SpendHeld
  ): Effect.Effect<never, Failure> =>
    refusal._tag === "SpendHeld"
      ? Effect.zipRight(gate.telemetry.refused("SpendLimitHoldError"), Effect.fail<Failure>(refusal))
      : Effect.zipRight(
        gate.telemetry.refused("RequestExceedsLimitError"),
        Effect.fail<Failure>({ ...refusal, pool: gate.pool })
      )

  const tooLong = (gate: PoolGate.PoolGate, predicted: number, maxWait: number, reason: WaitReason) =>
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
  const admitCore = (
    request: AdmitRequest,
    restore: Restore
  ): Effect.Effect<Ticket, Failure | AdmissionStore.AdmissionStoreError> =>
    Effect.clockWith((clock) => {
      const now = clock.unsafeCurrentTimeMillis()
      const held = spendHold?.active === true ? spendHold.check(now) : undefined
      if (held?._tag === "SpendHeld") return refuse(gateFor(request.pool), held)
      const admitted = admitAtOnce(request, now) ?? admitWaiting(request, restore)
      return held?._tag === "Probe" ? probing(admitted) : admitted
    })

  // The request that finds out whether the spend limit still holds: its answer ends the hold, or renews it.
  const probing = <E>(admitted: Effect.Effect<Ticket, E>): Effect.Effect<Ticket, E> =>
    Effect.matchCauseEffect(admitted, {
      onFailure: (cause) =>
        Effect.zipRight(Effect.sync(() => spendHold!.probeEnded(undefined)), Effect.failCause(cause)),
      onSuccess: (ticket) => {
        let ended = false
        return Effect.succeed<Ticket>({
          ...ticket,
          complete: (outcome) =>
            Effect.zipRight(
              ticket.complete(outcome),
              Effect.suspend(() => {
                if (ended) return Effect.void
                ended = true
                return spendHold!.probeEnded(outcome)
                  ? Effect.logInfo("The spend limit no longer holds: requests go again")
                  : Effect.void
              })
            )
        })
      }
    })

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
    gate: PoolGate.PoolGate,
    lane: Lane,
    holdBack: number,
    cost: AdmissionStore.Cost,
    start: number,
    restore: Restore
  ): Effect.Effect<Ticket, Failure | AdmissionStore.AdmissionStoreError> => {
    const deadline = request.deadline === undefined ? Infinity : Duration.toMillis(request.deadline)
    const predicted = PoolGate.predictWait(gate, cost, lane, holdBackOf(lane), start)
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
    gate: PoolGate.PoolGate,
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
        ? tooLong(
          gate,
          now - start + PoolGate.predictWait(gate, cost, lane, holdBackOf(lane), now),
          deadline,
          gate.lastBlock ?? "concurrency"
        )
        : failure.value._tag === "AdmissionStoreError"
        ? Effect.fail(failure.value)
        : refuse(gate, failure.value)
      return Effect.zipRight(leave, failed)
    })

  return { admit, withTicket }
}
