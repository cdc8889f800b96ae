/**
 * What the API last said about each pool's rate limits, and the proactive
 * wait that keeps a request from being sent into a certain 429.
 *
 * A pool is a set of requests that share limits: Anthropic's limits are per
 * model class, so `ClaudeClient` uses the model id as the pool by default.
 *
 * Every response (success or error) is folded in with {@link RateLimitState.update}.
 * Readers get the latest snapshot per pool (`current`, `get`) and every change
 * as a `Stream` (`changes`), for dashboards.
 *
 * Before a request, {@link RateLimitState.awaitCapacity} models each known
 * bucket as Anthropic does, a token bucket refilling continuously at
 * `limit / 1 minute`, calibrated by the latest headers. When the bucket would
 * drop below its reserve (default 10 % of the limit), the request waits for
 * exactly the capacity *it* needs, not for a full reset. Waiters queue behind
 * one another: each reservation is taken at once, so the n-th waiter wakes
 * after the n-th slice of refill.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as HashMap from "effect/HashMap"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import type * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as TokenBucket from "./internal/tokenBucket.js"
import type { BucketName, BucketSnapshot } from "./RateLimitHeaders.js"
import { bucketNames, RateLimitSnapshot } from "./RateLimitHeaders.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("claude-rate-limiter/RateLimitState")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * What one request needs from each bucket. Buckets not named are not checked.
 *
 * @since 0.1.0
 * @category models
 */
export type Cost = { readonly [K in BucketName]?: number }

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * The share of each bucket kept in reserve: a request that would take a
   * bucket below `threshold × limit` waits until it would not. The reserve
   * absorbs what this process cannot see: other clients of the same
   * organisation, and token counts rounded to the nearest thousand.
   * Between 0 and 1; default 0.1.
   */
  readonly threshold?: number | undefined
  /** The refill window of every bucket. Default: 1 minute, as Anthropic documents. */
  readonly window?: Duration.DurationInput | undefined
  /** `false` turns the proactive wait off (state is still tracked). Default: `true`. */
  readonly proactive?: boolean | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface RateLimitState {
  readonly [TypeId]: TypeId
  /** Folds a response's snapshot into the pool's state. */
  readonly update: (pool: string, snapshot: RateLimitSnapshot) => Effect.Effect<void>
  /** The latest snapshot of every pool seen so far. */
  readonly current: Effect.Effect<HashMap.HashMap<string, RateLimitSnapshot>>
  /** The latest snapshot of one pool. */
  readonly get: (pool: string) => Effect.Effect<Option.Option<RateLimitSnapshot>>
  /** The current value, then every change. */
  readonly changes: Stream.Stream<HashMap.HashMap<string, RateLimitSnapshot>>
  /**
   * Waits until the pool's known buckets can pay `cost` without dropping
   * below their reserve, and reserves it. Returns how long it waited. If
   * interrupted while waiting, the reservation is given back.
   */
  readonly awaitCapacity: (pool: string, cost: Cost) => Effect.Effect<Duration.Duration>
  /**
   * Gives back a reservation made by `awaitCapacity` for a request that was
   * never sent (an open circuit refused it), so the budget it held is not
   * lost until the next response recalibrates the buckets.
   */
  readonly refund: (pool: string, cost: Cost) => Effect.Effect<void>
}

/**
 * @since 0.1.0
 * @category tags
 */
export const RateLimitState: Context.Tag<RateLimitState, RateLimitState> = Context.GenericTag<RateLimitState>(
  "claude-rate-limiter/RateLimitState"
)

/**
 * Seconds each request waited before it was sent, by pool.
 *
 * @since 0.1.0
 * @category metrics
 */
export const proactiveWaitSeconds = Metric.histogram(
  "claude_rate_limiter_proactive_wait_seconds",
  MetricBoundaries.exponential({ start: 0.01, factor: 2, count: 16 }),
  "Time a request waited for rate-limit capacity before it was sent"
)

interface PoolBuckets {
  readonly buckets: { readonly [K in BucketName]?: TokenBucket.TokenBucket }
  /** Capacity promised to fibers that are still waiting, so not yet seen by the server. */
  readonly waiting: { readonly [K in BucketName]?: number }
}

const emptyPool: PoolBuckets = { buckets: {}, waiting: {} }

const mergeBucket = (previous: BucketSnapshot, next: BucketSnapshot): BucketSnapshot =>
  Option.isNone(next.limit) && Option.isNone(next.remaining) && Option.isNone(next.reset) ? previous : next

// A response without rate-limit headers (an edge 413, a proxy error) must not
// erase what earlier responses said about the buckets.
const mergeSnapshot = (previous: Option.Option<RateLimitSnapshot>, next: RateLimitSnapshot): RateLimitSnapshot =>
  Option.match(previous, {
    onNone: () => next,
    onSome: (old) =>
      new RateLimitSnapshot({
        ...next,
        ...Object.fromEntries(bucketNames.map((name) => [name, mergeBucket(old[name], next[name])] as const))
      }, true)
  })

const calibrate = (pool: PoolBuckets, snapshot: RateLimitSnapshot, windowMillis: number): PoolBuckets => {
  const at = snapshot.receivedAt.epochMillis
  const buckets = { ...pool.buckets }
  for (const name of bucketNames) {
    const reported = snapshot[name]
    if (Option.isSome(reported.limit) && Option.isSome(reported.remaining) && reported.limit.value > 0) {
      buckets[name] = TokenBucket.make({
        capacity: reported.limit.value,
        // what waiting fibers reserved has not reached the server yet
        level: reported.remaining.value - (pool.waiting[name] ?? 0),
        windowMillis,
        at
      })
    }
  }
  return { ...pool, buckets }
}

const reserve = (
  pool: PoolBuckets,
  cost: Cost,
  now: number,
  threshold: number
): readonly [number, PoolBuckets] => {
  let waitMillis = 0
  const buckets = { ...pool.buckets }
  for (const name of chargedBuckets(pool, cost)) {
    const amount = cost[name]!
    const bucket = pool.buckets[name]!
    const target = Math.min(bucket.capacity, threshold * bucket.capacity + amount)
    waitMillis = Math.max(waitMillis, TokenBucket.millisUntil(bucket, now, target))
    buckets[name] = TokenBucket.take(bucket, now, amount)
  }
  if (waitMillis === 0) {
    return [0, { ...pool, buckets }]
  }
  return [waitMillis, { buckets, waiting: adjust(pool.waiting, cost, 1) }]
}

// `tokens` describes whichever token bucket is most restrictive at the moment
// (input or output), so once those two are known it would double-charge the
// input, against a bucket that may be the output's. It is used only alone.
const chargedBuckets = (pool: PoolBuckets, cost: Cost): ReadonlyArray<BucketName> =>
  bucketNames.filter((name) =>
    cost[name] !== undefined && pool.buckets[name] !== undefined
    && !(name === "tokens" && (pool.buckets.inputTokens !== undefined || pool.buckets.outputTokens !== undefined))
  )

const adjust = (
  waiting: PoolBuckets["waiting"],
  cost: Cost,
  sign: 1 | -1
): PoolBuckets["waiting"] => {
  const next = { ...waiting }
  for (const name of bucketNames) {
    const amount = cost[name]
    if (amount !== undefined) next[name] = Math.max(0, (next[name] ?? 0) + sign * amount)
  }
  return next
}

const giveBack = (pool: PoolBuckets, cost: Cost, now: number): PoolBuckets => {
  const buckets = { ...pool.buckets }
  for (const name of chargedBuckets(pool, cost)) {
    buckets[name] = TokenBucket.refund(buckets[name]!, now, cost[name]!)
  }
  return { ...pool, buckets }
}

const release = (pool: PoolBuckets, cost: Cost, now: number, refund: boolean): PoolBuckets => {
  const waited = { ...pool, waiting: adjust(pool.waiting, cost, -1) }
  return refund ? giveBack(waited, cost, now) : waited
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<RateLimitState> =>
  Effect.gen(function*() {
    const threshold = Math.min(1, Math.max(0, options.threshold ?? 0.1))
    const windowMillis = Duration.toMillis(options.window ?? Duration.minutes(1))
    const proactive = options.proactive ?? true
    const snapshots = yield* SubscriptionRef.make(HashMap.empty<string, RateLimitSnapshot>())
    const pools = yield* Ref.make(HashMap.empty<string, PoolBuckets>())

    const modifyPool = <A>(pool: string, f: (buckets: PoolBuckets) => readonly [A, PoolBuckets]) =>
      Ref.modify(pools, (all) => {
        const [result, next] = f(Option.getOrElse(HashMap.get(all, pool), () => emptyPool))
        return [result, HashMap.set(all, pool, next)]
      })

    const update = (pool: string, snapshot: RateLimitSnapshot) =>
      Effect.zipRight(
        SubscriptionRef.update(snapshots, (all) =>
          HashMap.set(all, pool, mergeSnapshot(HashMap.get(all, pool), snapshot))),
        modifyPool(pool, (buckets) => [undefined, calibrate(buckets, snapshot, windowMillis)])
      )

    const awaitCapacity = (pool: string, cost: Cost): Effect.Effect<Duration.Duration> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          const waitMillis = yield* modifyPool(pool, (buckets) =>
            reserve(buckets, cost, now, threshold))
          const waited = Metric.tagged(proactiveWaitSeconds, "pool", pool)
          if (waitMillis === 0) {
            yield* Metric.update(waited, 0)
            return Duration.zero
          }
          const wait = Duration.millis(waitMillis)
          yield* Effect.logDebug("Waiting for rate-limit capacity").pipe(
            Effect.annotateLogs({ pool, waitMillis })
          )
          yield* restore(Effect.sleep(wait)).pipe(
            Effect.onExit((exit) =>
              Effect.flatMap(Clock.currentTimeMillis, (at) =>
                modifyPool(pool, (buckets) => [undefined, release(buckets, cost, at, Exit.isInterrupted(exit))]))
            )
          )
          yield* Metric.update(waited, Duration.toSeconds(wait))
          return wait
        })
      )

    const refund = (pool: string, cost: Cost): Effect.Effect<void> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        modifyPool(pool, (buckets) => [undefined, giveBack(buckets, cost, now)]))

    return RateLimitState.of({
      [TypeId]: TypeId,
      update,
      current: SubscriptionRef.get(snapshots),
      get: (pool) =>
        Effect.map(SubscriptionRef.get(snapshots), HashMap.get(pool)),
      changes: snapshots.changes,
      awaitCapacity: proactive ? awaitCapacity : () =>
        Effect.succeed(Duration.zero),
      refund: proactive ? refund : () => Effect.void
    })
  })

/**
 * A `RateLimitState` with default options.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<RateLimitState> = Layer.effect(RateLimitState, make())

/**
 * @since 0.1.0
 * @category layers
 */
export const layerWith = (options: Options): Layer.Layer<RateLimitState> => Layer.effect(RateLimitState, make(options))
