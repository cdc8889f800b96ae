/**
 * Live counters of a workload run, fed by decorating the services the
 * client already uses: the `HttpClient` (attempts in flight, 429s and other
 * error statuses received) and the `RateLimitState` (requests waiting for
 * budget, and for how long). Nothing inside the library knows about it.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"
import type * as RateLimitState from "../../RateLimitState.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Progress {
  readonly total: number
  readonly done: number
  readonly failed: number
  /** HTTP attempts on the wire now */
  readonly inFlight: number
  /** requests waiting for rate-limit budget now */
  readonly waiting: number
  readonly attempts: number
  readonly rateLimited: number
  readonly otherErrorStatuses: number
  readonly proactiveWaitMillis: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Monitor {
  readonly progress: Effect.Effect<Progress>
  readonly requestDone: (succeeded: boolean) => Effect.Effect<void>
  readonly httpClient: (client: HttpClient.HttpClient) => HttpClient.HttpClient
  readonly rateLimitState: (state: RateLimitState.RateLimitState) => RateLimitState.RateLimitState
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (total: number): Effect.Effect<Monitor> =>
  Effect.map(
    Ref.make<Progress>({
      total,
      done: 0,
      failed: 0,
      inFlight: 0,
      waiting: 0,
      attempts: 0,
      rateLimited: 0,
      otherErrorStatuses: 0,
      proactiveWaitMillis: 0
    }),
    (ref) => {
      const update = (f: (progress: Progress) => Partial<Progress>) =>
        Ref.update(ref, (progress) => ({ ...progress, ...f(progress) }))
      return {
        progress: Ref.get(ref),
        requestDone: (succeeded) => update((p) => ({ done: p.done + 1, failed: succeeded ? p.failed : p.failed + 1 })),
        httpClient: (client) =>
          HttpClient.transform(client, (response) =>
            Effect.acquireUseRelease(
              update((p) => ({ inFlight: p.inFlight + 1, attempts: p.attempts + 1 })),
              () =>
                Effect.tap(response, (answer) =>
                  answer.status === 429
                    ? update((p) => ({ rateLimited: p.rateLimited + 1 }))
                    : answer.status >= 400
                    ? update((p) => ({ otherErrorStatuses: p.otherErrorStatuses + 1 }))
                    : Effect.void),
              () => update((p) => ({ inFlight: p.inFlight - 1 }))
            )),
        rateLimitState: (state) => ({
          ...state,
          awaitCapacity: (pool, cost) =>
            Effect.acquireUseRelease(
              update((p) => ({ waiting: p.waiting + 1 })),
              () =>
                Effect.tap(
                  state.awaitCapacity(pool, cost),
                  (waited) =>
                    update((p) => ({ proactiveWaitMillis: p.proactiveWaitMillis + Duration.toMillis(waited) }))
                ),
              () => update((p) => ({ waiting: p.waiting - 1 }))
            )
        })
      }
    }
  )
