/**
 * A shared admission store with a local stand-in: while the shared store
 * answers, every operation goes to it; the first failure switches to a local
 * store (an in-memory budget holding this process's share of each limit),
 * logs one warning, and counts it. A background fiber pings the shared store
 * and switches back when it answers.
 *
 * No request is lost or stuck on the way: an operation that fails on the
 * shared store is answered by the local one; a lease granted by the shared
 * store and released while it is unreachable is forgotten (the shared store
 * reclaims its permit when its TTL runs out, and what it took stays taken);
 * a lease granted locally is released locally, whichever store is in use by
 * then.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as AdmissionStore from "../AdmissionStore.js"
import * as Budget from "./budget.js"
import type * as Ledger from "./ledger.js"

/** @internal */
export type Mode = "shared" | "local"

/** @internal */
export interface SharedStore extends AdmissionStore.AdmissionStore {
  readonly ping: Effect.Effect<void, AdmissionStore.AdmissionStoreError>
  readonly configured: ReadonlyMap<string, Ledger.Limits>
}

/** @internal */
export interface Options {
  readonly shared: SharedStore
  readonly local: AdmissionStore.AdmissionStore
  /** The share of each limit the shared store spends (its `scale`), to tell limits from its capacities. */
  readonly sharedScale: number
  /** How often the shared store is pinged while the local one stands in. */
  readonly retryEvery: Duration.Duration
  readonly initialMode: Mode
  /** Says what happened, for the one warning. */
  readonly describeFallback: (error: AdmissionStore.AdmissionStoreError) => string
  readonly describeRecovery: string
  readonly metrics: {
    readonly fallbacks: Metric.Metric.Counter<number>
    readonly mode: Metric.Metric.Gauge<number>
  }
}

/** @internal */
export interface FallbackStore extends AdmissionStore.AdmissionStore {
  readonly mode: Effect.Effect<Mode>
}

/** @internal */
export const make = (options: Options): Effect.Effect<FallbackStore, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { local, shared } = options
    let mode: Mode = options.initialMode
    // counts switches between the stores: tells a failure of the current shared period from a late one
    let period = 0
    const localLeases = new Set<string>()
    const lastViews = new Map<string, Ledger.PoolView>()

    // what the shared store last said about a pool, for the local share to start from when it takes over
    const learn = (pool: string, view: Ledger.PoolView) =>
      Effect.sync(() => {
        if (view.known) lastViews.set(pool, view)
      })

    const limitsOf = (pool: string): Ledger.Limits => {
      const limits: { [K in Budget.BudgetBucket]?: number | undefined } = { ...shared.configured.get(pool) }
      const view = lastViews.get(pool)
      for (const name of Budget.budgetBuckets) {
        const bucket = view?.buckets[name]
        if (bucket !== undefined) limits[name] = Math.round(bucket.capacity / options.sharedScale)
      }
      return limits
    }

    // The local share starts from the shared levels (refilled since they were read) and the shared embargo, not
    // from full buckets: processes falling back together would otherwise each spend a fresh share at once. The
    // store interface sets levels only from what a response says, so they go in as the observation of a lease
    // that takes nothing.
    const seed = (pool: string, now: number): Effect.Effect<void, AdmissionStore.AdmissionStoreError> =>
      Effect.gen(function*() {
        yield* local.configure(pool, limitsOf(pool))
        const view = lastViews.get(pool)
        if (view === undefined) return
        const result = yield* local.reserve(pool, { cost: {}, holdBack: 0, maxInFlight: Number.MAX_SAFE_INTEGER })
        if (result._tag !== "Granted") return
        const buckets: { [K in Budget.BudgetBucket]?: Budget.LevelBounds } = {}
        for (const name of Budget.budgetBuckets) {
          const bucket = view.buckets[name]
          if (bucket === undefined) continue
          const level = Math.min(bucket.capacity, bucket.level + Math.max(0, now - view.at) * bucket.rate)
          const scaled = level / options.sharedScale
          buckets[name] = { limit: Math.round(bucket.capacity / options.sharedScale), low: scaled, high: scaled }
        }
        yield* local.release(result.lease, {
          charged: {},
          observation: {
            buckets,
            embargoUntil: view.embargoUntil > now ? view.embargoUntil : undefined,
            includesOwnOutput: true
          },
          outputTokens: undefined
        })
      })

    const fallBack = (error: AdmissionStore.AdmissionStoreError): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (mode === "local") return Effect.void
        mode = "local"
        period++
        const pools = new Set([...shared.configured.keys(), ...lastViews.keys()])
        return Effect.all([
          Effect.logWarning(options.describeFallback(error)),
          Metric.increment(options.metrics.fallbacks),
          Metric.set(options.metrics.mode, 1),
          Effect.flatMap(
            Clock.currentTimeMillis,
            (now) => Effect.forEach(pools, (pool) => Effect.ignore(seed(pool, now)), { discard: true })
          )
        ], { discard: true })
      })

    const onShared = <A>(
      run: Effect.Effect<A, AdmissionStore.AdmissionStoreError>,
      standIn: Effect.Effect<A, AdmissionStore.AdmissionStoreError>
    ): Effect.Effect<A, AdmissionStore.AdmissionStoreError> =>
      Effect.suspend(() => {
        if (mode === "local") return standIn
        const started = period
        return Effect.catchAll(run, (error) =>
          // a call made before Redis came back that fails now says nothing about Redis now
          started === period ? Effect.zipRight(fallBack(error), standIn) : standIn)
      })

    const recover = Effect.suspend(() => {
      if (mode === "shared") return Effect.void
      return shared.ping.pipe(
        Effect.zipRight(Effect.suspend(() => {
          if (mode === "shared") return Effect.void
          mode = "shared"
          period++
          return Effect.zipRight(Effect.logInfo(options.describeRecovery), Metric.set(options.metrics.mode, 0))
        })),
        Effect.ignore
      )
    })
    yield* Metric.set(options.metrics.mode, mode === "local" ? 1 : 0)
    if (mode === "local") {
      yield* Effect.logWarning(options.describeFallback(
        new AdmissionStore.AdmissionStoreError({ message: "no answer at start", cause: undefined })
      ))
      yield* Metric.increment(options.metrics.fallbacks)
    }
    yield* Effect.forkScoped(Effect.forever(Effect.delay(recover, options.retryEvery)))

    return {
      [AdmissionStore.TypeId]: AdmissionStore.TypeId,
      shared: true,
      leaseRenewal: shared.leaseRenewal,
      mode: Effect.sync(() => mode),
      configure: (pool, limits) =>
        Effect.zipRight(
          Effect.ignore(local.configure(pool, limits)),
          onShared(shared.configure(pool, limits), Effect.void)
        ),
      reserve: (pool, request) =>
        onShared(
          Effect.tap(
            shared.reserve(pool, request),
            (result) => result._tag === "Blocked" ? learn(pool, result.view) : Effect.void
          ),
          Effect.tap(local.reserve(pool, request), (result) =>
            Effect.sync(() => {
              if (result._tag === "Granted") localLeases.add(result.lease.id)
            }))
        ),
      release: (lease, settlement) =>
        Effect.suspend(() => {
          if (localLeases.delete(lease.id)) return local.release(lease, settlement)
          // a lease of the shared store while it is unreachable: forgotten; its permit comes back with its TTL
          return onShared(
            Effect.tap(shared.release(lease, settlement), (view) => learn(lease.pool, view)),
            local.view(lease.pool)
          )
        }),
      renew: (lease) => localLeases.has(lease.id) ? Effect.void : onShared(shared.renew(lease), Effect.void),
      view: (pool) => onShared(Effect.tap(shared.view(pool), (view) => learn(pool, view)), local.view(pool)),
      outputEstimate: (pool) =>
        onShared(
          shared.outputEstimate(pool),
          Effect.orElseSucceed(local.outputEstimate(pool), () => Option.none())
        )
    }
  })
