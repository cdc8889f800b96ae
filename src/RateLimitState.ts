/**
 * What the API last said about each pool's rate limits: the latest decoded
 * snapshot per pool, held in a `Ref` whose changes are published to subscribers.
 *
 * A pool is a set of requests that share limits (Anthropic's limits are per
 * model class). Admission folds every response, success or error, into this
 * state; readers get the latest snapshot per pool (`current`, `get`) and
 * every change as a `Stream` (`changes`), for dashboards. The budget
 * admission waits on lives in the `AdmissionStore`; this is the record of
 * what the server said.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as HashMap from "effect/HashMap"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import type { BucketSnapshot } from "./RateLimitHeaders.js"
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
}

/**
 * @since 0.1.0
 * @category tags
 */
export const RateLimitState: Context.Tag<RateLimitState, RateLimitState> = Context.GenericTag<RateLimitState>(
  "claude-rate-limiter/RateLimitState"
)

const mergeBucket = (previous: BucketSnapshot, next: BucketSnapshot): BucketSnapshot =>
  Option.isNone(next.limit) && Option.isNone(next.remaining) && Option.isNone(next.reset) ? previous : next

// A response without rate-limit headers (an edge 413, a proxy error, a 529)
// must not erase what earlier responses said about the buckets.
const mergeSnapshot = (previous: Option.Option<RateLimitSnapshot>, next: RateLimitSnapshot): RateLimitSnapshot =>
  Option.match(previous, {
    onNone: () => next,
    onSome: (old) =>
      new RateLimitSnapshot({
        ...next,
        ...Object.fromEntries(bucketNames.map((name) => [name, mergeBucket(old[name], next[name])] as const))
      }, true)
  })

/**
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<RateLimitState> = Effect.map(
  PubSub.sliding<HashMap.HashMap<string, RateLimitSnapshot>>(64),
  (pubsub) => {
    // Every response goes through `update`: a plain Ref and a publish, without the lock a SubscriptionRef takes.
    // Subscribers are told the current value, so the last thing they see is always the latest state.
    const ref = Ref.unsafeMake(HashMap.empty<string, RateLimitSnapshot>())
    const update = (pool: string, snapshot: RateLimitSnapshot) =>
      Effect.zipRight(
        Ref.update(ref, (all) => HashMap.set(all, pool, mergeSnapshot(HashMap.get(all, pool), snapshot))),
        Effect.flatMap(Ref.get(ref), (current) => PubSub.publish(pubsub, current))
      )
    return RateLimitState.of({
      [TypeId]: TypeId,
      update,
      current: Ref.get(ref),
      get: (pool) => Effect.map(Ref.get(ref), HashMap.get(pool)),
      changes: Stream.unwrapScoped(
        Effect.flatMap(
          PubSub.subscribe(pubsub),
          (queue) => Effect.map(Ref.get(ref), (current) => Stream.concat(Stream.make(current), Stream.fromQueue(queue)))
        )
      )
    })
  }
)

/**
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<RateLimitState> = Layer.effect(RateLimitState, make)
