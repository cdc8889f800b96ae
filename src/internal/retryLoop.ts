/**
 * Running an effect under the retry policy: the schedule's driver is built
 * only when an attempt fails, the attempts that were sent are counted (an
 * open circuit's refusal was not), and the last answer of the retry budget
 * is kept so that giving up can say the budget was why.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import { globalValue } from "effect/GlobalValue"
import * as Schedule from "effect/Schedule"
import type { RetryStep } from "../RetryPolicy.js"
import { isCircuitOpen } from "./retryPlan.js"

// The last answer of `allowRetry` in this fiber, so giving up can say the budget was why. The schedule runs in the
// caller's fiber and sets it on every decision, so it is never stale when read.
const currentRefusal = globalValue(
  Symbol.for("claude-rate-limiter/RetryPolicy/currentRefusal"),
  () => FiberRef.unsafeMake(false)
)

/** `allowRetry`, its answer noted for {@link run}. @internal */
export const notingRefusal =
  (allowRetry: (error: unknown) => Effect.Effect<boolean>) => (error: unknown): Effect.Effect<boolean> =>
    Effect.tap(allowRetry(error), (allowed) => FiberRef.set(currentRefusal, !allowed))

/**
 * Runs `self`, retrying under `policy` (whose `allowRetry` is {@link notingRefusal}); when the policy stops,
 * `giveUp` says how the call fails, told the attempts that were sent and whether the retry budget refused.
 *
 * @internal
 */
export const run = <A, E, R, G>(
  self: Effect.Effect<A, E, R>,
  policy: Schedule.Schedule<RetryStep, unknown>,
  giveUp: (error: E, attempts: number, refused: boolean) => Effect.Effect<never, E | G>
): Effect.Effect<A, E | G, R> =>
  Effect.suspend(() => {
    // attempts that were sent (an open circuit's refusal was not)
    let attempts = 0
    const counted = Effect.tapError(self, (error) =>
      Effect.sync(() => {
        if (!isCircuitOpen(error)) attempts++
      }))
    const next = (
      driver: Schedule.ScheduleDriver<RetryStep, unknown>,
      error: E
    ): Effect.Effect<A, E | G, R> =>
      Effect.matchEffect(driver.next(error), {
        onFailure: () => Effect.flatMap(FiberRef.get(currentRefusal), (refused) => giveUp(error, attempts, refused)),
        onSuccess: () => Effect.catchAll(counted, (failed) => next(driver, failed))
      })
    // nothing of the schedule is built until an attempt fails: most calls never need it
    return Effect.catchAll(
      counted,
      (error) => Effect.flatMap(Schedule.driver(policy), (driver) => next(driver, error))
    )
  })
