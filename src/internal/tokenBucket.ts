/**
 * A token bucket that refills continuously, the model Anthropic documents for
 * its limits. `level` may go below zero: a negative level is capacity already
 * promised to callers who are waiting for it (debt), so waiters queue up
 * behind one another instead of all waking at the same instant.
 *
 * Pure functions over plain data; time is an epoch-millis argument.
 *
 * @internal
 */

/** @internal */
export interface TokenBucket {
  readonly capacity: number
  readonly level: number
  /** tokens per millisecond */
  readonly refillRate: number
  /** epoch millis at which `level` was true */
  readonly at: number
}

/** @internal */
export const make = (options: {
  readonly capacity: number
  readonly level: number
  readonly windowMillis: number
  readonly at: number
}): TokenBucket => ({
  capacity: options.capacity,
  level: Math.min(options.capacity, options.level),
  refillRate: options.capacity / options.windowMillis,
  at: options.at
})

/** The level at `now`, refilled since `at`, never above capacity. @internal */
export const levelAt = (bucket: TokenBucket, now: number): number =>
  Math.min(bucket.capacity, bucket.level + Math.max(0, now - bucket.at) * bucket.refillRate)

/** Milliseconds from `now` until the level reaches `target` (0 when it already has). @internal */
export const millisUntil = (bucket: TokenBucket, now: number, target: number): number => {
  const level = levelAt(bucket, now)
  if (level >= target) return 0
  if (bucket.refillRate <= 0) return Number.POSITIVE_INFINITY
  return Math.ceil((target - level) / bucket.refillRate)
}

/** Takes `amount` at `now`; the level may go negative. @internal */
export const take = (bucket: TokenBucket, now: number, amount: number): TokenBucket => ({
  ...bucket,
  level: levelAt(bucket, now) - amount,
  at: Math.max(now, bucket.at)
})

/** Gives back `amount` (a cancelled reservation), never above capacity. @internal */
export const refund = (bucket: TokenBucket, now: number, amount: number): TokenBucket => ({
  ...bucket,
  level: Math.min(bucket.capacity, levelAt(bucket, now) + amount),
  at: Math.max(now, bucket.at)
})
