/**
 * The retry schedule of each pool, built once: the retry budget it consults
 * is the pool's, and the server's waits are held by the gate when there is
 * one.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Admission from "../Admission.js"
import * as ClaudeError from "../ClaudeError.js"
import * as RetryPolicy from "../RetryPolicy.js"

/** Retries an effect by a pool's policy. @internal */
export type Retrier = <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | RetryPolicy.GiveUpError<E>, R>

/** The retrier of a pool, or `undefined` when retries are off. @internal */
export const make = (
  retry: RetryPolicy.Options | false,
  admission: Admission.Admission
): (pool: string) => Retrier | undefined => {
  const retriers = new Map<string, Retrier>()
  return (pool) => {
    if (retry === false) return undefined
    let retrier = retriers.get(pool)
    if (retrier === undefined) {
      retrier = RetryPolicy.retry({
        ...retry,
        // the gate holds a retry until the server's time; with the gate off, the schedule must sleep it
        headerWaits: admission.gating ? "gate" : "sleep",
        // a retry budget keeps a fleet of callers from multiplying load on a struggling API; a caller who asked to
        // wait out outages (retryOnOpenCircuit) is protected by the breaker instead, and loses nothing
        allowRetry: retry.allowRetry
          ?? ((error) =>
            retry.retryOnOpenCircuit === true || !ClaudeError.isServiceFailure(error)
              ? Effect.succeed(true)
              : admission.retryAllowed(pool))
      })
      retriers.set(pool, retrier)
    }
    return retrier
  }
}
