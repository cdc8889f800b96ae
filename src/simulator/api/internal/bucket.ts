/**
 * The simulator's own model of one rate-limit bucket, written from
 * Anthropic's rate-limit documentation rather than shared with the client
 * (so a wrong model in the client cannot hide behind the same wrong model
 * here):
 *
 * - capacity is the per-minute limit, and the bucket refills continuously at
 *   `limit / 60 s` ("60 RPM may be enforced as 1 request per second");
 * - `reset` is the moment the bucket is *full* again, which is also how the
 *   state is kept: a bucket is the instant it will be full (`fullAt`), the
 *   way GCRA keeps its theoretical arrival time. The level follows:
 *   `capacity − (fullAt − now) × rate`.
 *
 * Pure functions over plain data; time is epoch milliseconds.
 *
 * @internal
 */

/** @internal */
export interface Bucket {
  readonly capacity: number
  /** refill window in milliseconds (capacity refills in one window) */
  readonly windowMillis: number
  /** epoch millis at which the bucket is full again; at or before now when it is full */
  readonly fullAt: number
}

/** A full bucket. @internal */
export const full = (capacity: number, now: number, windowMillis = 60_000): Bucket => ({
  capacity,
  windowMillis,
  fullAt: now
})

const millisPerUnit = (bucket: Bucket): number => bucket.windowMillis / bucket.capacity

/** The level at `now`: between `capacity` (full) and below zero (debt). @internal */
export const level = (bucket: Bucket, now: number): number =>
  bucket.capacity - Math.max(0, bucket.fullAt - now) / millisPerUnit(bucket)

/** When the bucket is full again, never before `now`. @internal */
export const resetAt = (bucket: Bucket, now: number): number => Math.max(now, bucket.fullAt)

/** Milliseconds from `now` until the level reaches `amount` (0 when it has). @internal */
export const waitFor = (bucket: Bucket, now: number, amount: number): number => {
  // level ≥ amount ⇔ fullAt − now ≤ (capacity − amount) × millisPerUnit
  const wait = bucket.fullAt - (bucket.capacity - amount) * millisPerUnit(bucket) - now
  return wait > 0 ? Math.ceil(wait) : 0
}

/** Whether `amount` can ever fit: nothing larger than the capacity does. @internal */
export const canEverFit = (bucket: Bucket, amount: number): boolean => amount <= bucket.capacity

/** Takes `amount` (the level may go below zero). @internal */
export const take = (bucket: Bucket, now: number, amount: number): Bucket => ({
  ...bucket,
  fullAt: resetAt(bucket, now) + amount * millisPerUnit(bucket)
})

/** Gives back `amount`, never above full. @internal */
export const give = (bucket: Bucket, now: number, amount: number): Bucket => ({
  ...bucket,
  fullAt: Math.max(now, bucket.fullAt - amount * millisPerUnit(bucket))
})
