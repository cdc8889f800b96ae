/**
 * Where admission keeps each pool's budget: bucket levels, leases in flight
 * (concurrency permits), reservations and their settlement, the server's
 * embargo, what is known about the limits, and the learned output size.
 *
 * Every operation is atomic. The default store is in memory: one budget per
 * process, shared by every fiber. A store shared between processes (Redis)
 * implements the same operations with the same rules, so swapping stores
 * changes no call site.
 *
 * @since 0.2.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Budget from "./internal/budget.js"
import * as Ledger from "./internal/ledger.js"

/**
 * @since 0.2.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("claude-rate-limiter/AdmissionStore")

/**
 * @since 0.2.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * The buckets admission charges: requests, input tokens, output tokens, and
 * the combined `tokens` bucket (only when the API reports no separate input
 * and output buckets).
 *
 * @since 0.2.0
 * @category models
 */
export type BudgetBucket = Budget.BudgetBucket

/**
 * What one request takes from each bucket.
 *
 * @since 0.2.0
 * @category models
 */
export type Cost = Budget.Cost

/**
 * Why a request could not be granted yet.
 *
 * @since 0.2.0
 * @category models
 */
export type BlockReason = Ledger.BlockReason

/**
 * A granted request: what it took, until it is released.
 *
 * @since 0.2.0
 * @category models
 */
export type Lease = Ledger.Lease

/**
 * A pool's budget as the store sees it at `at`.
 *
 * @since 0.2.0
 * @category models
 */
export type PoolView = Ledger.PoolView

/**
 * @since 0.2.0
 * @category models
 */
export type ReserveRequest = Ledger.ReserveRequest

/**
 * @since 0.2.0
 * @category models
 */
export type ReserveResult = Ledger.ReserveResult

/**
 * @since 0.2.0
 * @category models
 */
export type Observation = Ledger.Observation

/**
 * @since 0.2.0
 * @category models
 */
export type Settlement = Ledger.Settlement

/**
 * Limits per minute of one pool, known in advance.
 *
 * @since 0.2.0
 * @category models
 */
export type Limits = Ledger.Limits

/**
 * The store could not be reached (a shared store's server is down). The
 * admission gate decides what to do: fall back to a local budget, or fail.
 *
 * @since 0.2.0
 * @category errors
 */
export class AdmissionStoreError extends Data.TaggedError("AdmissionStoreError")<{
  readonly message: string
  readonly cause: unknown
}> {}

/**
 * @since 0.2.0
 * @category models
 */
export interface AdmissionStore {
  readonly [TypeId]: TypeId
  /** `true` when other processes change the same budget: waiters then re-check it periodically. */
  readonly shared: boolean
  /**
   * How often a lease in flight must be renewed (`renew`) so the store does
   * not reclaim it as abandoned by a crashed process; none for a store whose
   * leases cannot be abandoned.
   */
  readonly leaseRenewal: Option.Option<Duration.Duration>
  /** Sets a pool's limits before any response has told them. */
  readonly configure: (pool: string, limits: Limits) => Effect.Effect<void, AdmissionStoreError>
  /**
   * Takes the request's cost and a concurrency permit if the pool can pay it
   * now without dropping below the hold-back, or says why not and for how long.
   */
  readonly reserve: (pool: string, request: ReserveRequest) => Effect.Effect<ReserveResult, AdmissionStoreError>
  /** Returns the permit and settles what the lease took against what the server charged. */
  readonly release: (lease: Lease, settlement: Settlement) => Effect.Effect<PoolView, AdmissionStoreError>
  /** Keeps a lease alive while its request is in flight (a shared store expires abandoned leases). */
  readonly renew: (lease: Lease) => Effect.Effect<void, AdmissionStoreError>
  readonly view: (pool: string) => Effect.Effect<PoolView, AdmissionStoreError>
  /** The learned output size of the pool's answers (a high percentile), once enough were seen. */
  readonly outputEstimate: (pool: string) => Effect.Effect<Option.Option<number>, AdmissionStoreError>
  /**
   * `reserve` and `release` as plain synchronous steps at a given time, for a
   * store that can take them that way (the memory store): the gate then
   * admits and settles a request without any effect machinery on its hot
   * path. A store over the network leaves it out.
   */
  readonly unsafe?: {
    readonly reserve: (pool: string, request: ReserveRequest, now: number) => ReserveResult
    readonly release: (lease: Lease, settlement: Settlement, now: number) => PoolView
  } | undefined
}

/**
 * @since 0.2.0
 * @category tags
 */
export const AdmissionStore: Context.Tag<AdmissionStore, AdmissionStore> = Context.GenericTag<AdmissionStore>(
  "claude-rate-limiter/AdmissionStore"
)

/**
 * @since 0.2.0
 * @category models
 */
export interface Options {
  /** The refill window of every bucket. Default 1 minute, as Anthropic documents. */
  readonly window?: Duration.DurationInput | undefined
  /** Output sizes remembered per pool for the estimate. Default 200. */
  readonly outputSamples?: number | undefined
  /** Answers seen before the learned estimate replaces `max_tokens`. Default 20. */
  readonly outputMinSamples?: number | undefined
  /** The percentile of remembered output sizes reserved for each request. Default 0.95. */
  readonly outputPercentile?: number | undefined
  /**
   * The share of every limit (and of every level the server reports) this
   * store may spend, in (0, 1]. Default 1. A process that stands in for a
   * shared budget it cannot reach takes `1 / processes`. A request that fits
   * the limit but not the share is not refused: it waits for a full share.
   */
  readonly scale?: number | undefined
}

/**
 * The ledger rules with every default filled in, for stores that implement
 * them (the memory store here, the Redis store's scripts).
 *
 * @since 0.2.0
 * @category constructors
 */
export const resolveOptions = (options: Options = {}): Ledger.LedgerOptions => ({
  windowMillis: Math.max(1, Duration.toMillis(options.window ?? Duration.minutes(1))),
  outputSamples: Math.max(1, Math.floor(options.outputSamples ?? 200)),
  outputMinSamples: Math.max(1, Math.floor(options.outputMinSamples ?? 20)),
  outputPercentile: Math.min(1, Math.max(0.01, options.outputPercentile ?? 0.95)),
  headerlessAfter: 3,
  scale: options.scale !== undefined && options.scale > 0 ? Math.min(1, options.scale) : 1
})

/**
 * A store in this process's memory: one budget shared by every fiber that
 * uses it. Operations are synchronous steps, hence atomic.
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeMemory = (options: Options = {}): Effect.Effect<AdmissionStore> =>
  Effect.sync(() => {
    const resolved = resolveOptions(options)
    const pools = new Map<string, Ledger.PoolLedger>()
    let leaseCount = 0
    const ledger = (pool: string) => {
      let found = pools.get(pool)
      if (found === undefined) {
        found = new Ledger.PoolLedger(pool, resolved)
        pools.set(pool, found)
      }
      return found
    }
    const atNow = <A>(f: (now: number) => A): Effect.Effect<A> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => f(now)))
    return AdmissionStore.of({
      [TypeId]: TypeId,
      shared: false,
      leaseRenewal: Option.none(),
      configure: (pool, limits) => atNow((now) => ledger(pool).configure(limits, now)),
      reserve: (pool, request) => atNow((now) => ledger(pool).reserve(request, now, `lease-${++leaseCount}`)),
      release: (lease, settlement) => atNow((now) => ledger(lease.pool).release(lease, settlement, now)),
      renew: () => Effect.void,
      view: (pool) => atNow((now) => ledger(pool).view(now)),
      outputEstimate: (pool) => Effect.sync(() => Option.fromNullable(ledger(pool).outputEstimate())),
      unsafe: {
        reserve: (pool, request, now) => ledger(pool).reserve(request, now, `lease-${++leaseCount}`),
        release: (lease, settlement, now) => ledger(lease.pool).release(lease, settlement, now)
      }
    })
  })

/**
 * The in-memory store: one budget per process.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerMemory = (options: Options = {}): Layer.Layer<AdmissionStore> =>
  Layer.effect(AdmissionStore, makeMemory(options))
