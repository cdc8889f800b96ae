/**
 * Admission's construction: the store in context (or an in-memory one of
 * its own), the limits known in advance configured in it, the gate built
 * over it with every default filled in, and the path that lets everything
 * through when admission is off. `Admission` adds its type id and says
 * which error each refusal is.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type { Admission, AdmitRequest, RefusalError, Ticket, TypeId } from "../Admission.js"
import * as AdmissionStore from "../AdmissionStore.js"
import * as RateLimitState from "../RateLimitState.js"
import * as AdmissionOptions from "./admissionOptions.js"
import * as Gate from "./gate.js"

/** @internal */
export const make = (
  options: AdmissionOptions.Options,
  refused: (failure: Gate.Failure) => RefusalError
): Effect.Effect<
  Omit<Admission, TypeId>,
  AdmissionStore.AdmissionStoreError,
  RateLimitState.RateLimitState | Scope.Scope
> =>
  Effect.gen(function*() {
    const store = yield* Effect.serviceOption(AdmissionStore.AdmissionStore).pipe(
      Effect.flatMap(Option.match({
        onNone: () => AdmissionStore.makeMemory({ window: options.window }),
        onSome: Effect.succeed
      }))
    )
    const rateLimitState = yield* RateLimitState.RateLimitState
    for (const [pool, limits] of Object.entries(options.limits ?? {})) {
      yield* store.configure(pool, {
        requests: limits.requestsPerMinute,
        inputTokens: limits.inputTokensPerMinute,
        outputTokens: limits.outputTokensPerMinute,
        tokens: limits.tokensPerMinute
      })
    }
    const gates = Gate.make(store, rateLimitState, yield* Effect.scope, AdmissionOptions.gateOptions(options))

    // admission off: nothing waits, nothing is reserved; what the API says is still recorded
    const admitAtOnce = (request: AdmitRequest): Effect.Effect<Ticket, never, Scope.Scope> =>
      Effect.sync((): Ticket => ({
        pool: request.pool,
        lease: { id: "", pool: request.pool, taken: {}, output: 0, sequence: 0, grantedAt: 0 },
        waited: Duration.zero,
        reason: Option.none(),
        complete: (outcome) =>
          outcome._tag === "Served" || outcome._tag === "Refused"
            ? rateLimitState.update(request.pool, outcome.rateLimits)
            : Effect.void
      }))

    return {
      gating: options.enabled !== false,
      admit: options.enabled === false
        ? admitAtOnce
        : (request) =>
          Effect.catchAll(
            gates.admit(request),
            (failure) => Effect.fail(failure._tag === "AdmissionStoreError" ? failure : refused(failure))
          ),
      withTicket: options.enabled === false
        ? (request, use) => Effect.flatMap(admitAtOnce(request).pipe(Effect.scoped), use)
        : (request, use) => gates.withTicket(request, use, refused),
      outputEstimate: gates.outputEstimate,
      retryAllowed: gates.retryAllowed,
      status: gates.status
    }
  })
