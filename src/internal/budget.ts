/**
 * The arithmetic of admission, as pure functions over plain data: token
 * buckets that refill continuously (Anthropic's documented model), and what a
 * response's headers say about the server's own bucket levels.
 *
 * Time is an epoch-millis argument; nothing here reads a clock.
 *
 * @internal
 */

/** The buckets admission charges. @internal */
export type BudgetBucket = "requests" | "inputTokens" | "outputTokens" | "tokens"

/** @internal */
export const budgetBuckets: ReadonlyArray<BudgetBucket> = ["requests", "inputTokens", "outputTokens", "tokens"]

/** What one request takes from each bucket. @internal */
export type Cost = { readonly [K in BudgetBucket]?: number }

/**
 * A bucket refilling continuously at `capacity / windowMillis`. `level` may
 * be negative: debt the server reported (a giant answer) or that admission
 * took on for requests already granted.
 *
 * @internal
 */
export interface Bucket {
  capacity: number
  level: number
  /** epoch millis at which `level` was true */
  at: number
  /** tokens per millisecond */
  rate: number
}

/** @internal */
export const makeBucket = (capacity: number, level: number, at: number, windowMillis: number): Bucket => ({
  capacity,
  level: Math.min(capacity, level),
  at,
  rate: capacity / windowMillis
})

/** The level at `now`, refilled since `at`, never above capacity. @internal */
export const levelAt = (bucket: Bucket, now: number): number =>
  Math.min(bucket.capacity, bucket.level + Math.max(0, now - bucket.at) * bucket.rate)

/** Brings `level` forward to `now`. @internal */
export const advance = (bucket: Bucket, now: number): void => {
  bucket.level = levelAt(bucket, now)
  bucket.at = Math.max(bucket.at, now)
}

/** Milliseconds from `now` until the level reaches `target` (0 when it already has). @internal */
export const millisUntil = (bucket: Bucket, now: number, target: number): number => {
  const level = levelAt(bucket, now)
  if (level >= target) return 0
  if (bucket.rate <= 0) return Number.POSITIVE_INFINITY
  return Math.ceil((target - level) / bucket.rate)
}

/**
 * The level a request needs before it may take `amount`: its own amount on
 * top of the share held back (the reserve, and for batch traffic the share
 * kept for interactive requests), but never more than a full bucket, so a
 * request that fits the bucket at all is not starved by the hold-back.
 *
 * @internal
 */
export const targetLevel = (bucket: Bucket, amount: number, holdBack: number): number =>
  Math.min(bucket.capacity, holdBack * bucket.capacity + amount)

/**
 * The buckets a cost is charged against, among those known. The combined
 * `tokens` bucket describes whichever of input and output is most restrictive,
 * so it is charged only when the API reports neither of those.
 *
 * @internal
 */
export const chargedBuckets = (
  known: { readonly [K in BudgetBucket]?: unknown },
  cost: Cost
): ReadonlyArray<BudgetBucket> =>
  budgetBuckets.filter((name) =>
    cost[name] !== undefined && known[name] !== undefined
    && !(name === "tokens" && (known.inputTokens !== undefined || known.outputTokens !== undefined))
  )

/**
 * What a response said about one of the server's buckets, as bounds on its
 * level at the moment the response was read.
 *
 * @internal
 */
export interface LevelBounds {
  readonly limit: number
  readonly low: number
  readonly high: number
}

/**
 * Bounds on a server bucket's level from its headers, read at `now`.
 *
 * - `remaining` is exact for requests; for tokens the API rounds it to the
 *   nearest thousand (a value that is not a multiple of 1,000 was not
 *   rounded), so it says the level is within ±500. `remaining: 0` says only
 *   that the level is below that: the bucket may be in debt.
 * - `reset` is when the bucket is full again, so the level is
 *   `limit − (reset − now) × limit / window`, debt included. Resets come in
 *   whole seconds, so that is true to within one second of refill.
 *
 * The two are intersected. When they disagree (the server's clock is not
 * ours), `remaining` wins, since it does not depend on clocks. A reset
 * further away than `maxResetMillis` is not trusted.
 *
 * @internal
 */
export const levelBounds = (options: {
  readonly limit: number
  readonly remaining: number | undefined
  readonly resetAt: number | undefined
  readonly now: number
  readonly windowMillis: number
  readonly exact: boolean
  readonly maxResetMillis: number
}): LevelBounds | undefined => {
  const { limit, now, remaining, resetAt, windowMillis } = options
  if (!(limit > 0) || !Number.isFinite(limit)) return undefined
  const rate = limit / windowMillis
  let remainingLow = Number.NEGATIVE_INFINITY
  let remainingHigh = Number.POSITIVE_INFINITY
  if (remaining !== undefined && Number.isFinite(remaining)) {
    const exact = options.exact || remaining % 1000 !== 0
    const slack = exact ? 0 : 500
    remainingLow = remaining === 0 ? Number.NEGATIVE_INFINITY : remaining - slack
    remainingHigh = exact ? remaining + 1 : remaining + slack
  }
  let resetLow = Number.NEGATIVE_INFINITY
  let resetHigh = Number.POSITIVE_INFINITY
  if (resetAt !== undefined && Number.isFinite(resetAt)) {
    const untilFull = Math.max(0, resetAt - now)
    if (untilFull <= options.maxResetMillis) {
      resetLow = limit - untilFull * rate
      resetHigh = limit - Math.max(0, untilFull - 1000) * rate
    }
  }
  let low = Math.max(remainingLow, resetLow)
  let high = Math.min(remainingHigh, resetHigh)
  if (low > high) {
    low = Number.isFinite(remainingLow) ? remainingLow : resetLow
    high = remainingHigh
  }
  if (!Number.isFinite(low)) {
    // `remaining: 0` and no usable reset: empty, debt unknown
    if (remaining === undefined) return undefined
    low = Math.min(0, high)
  }
  high = Math.min(limit, Number.isFinite(high) ? high : limit)
  low = Math.min(low, high)
  return { limit, low, high }
}
