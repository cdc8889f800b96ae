/**
 * The admission ledger of one pool: bucket levels, leases in flight, the
 * server's embargo, what is known about the limits, and the learned output
 * size. Every operation is one synchronous step over this state, so callers
 * that run it inside `Effect.sync` get atomic decisions; the Redis store runs
 * the same rules as Lua scripts.
 *
 * @internal
 */
import * as Budget from "./budget.js"

/** @internal */
export type BlockReason = "cold-start" | "embargo" | "concurrency" | Budget.BudgetBucket

/** @internal */
export interface Lease {
  readonly id: string
  readonly pool: string
  /** What was taken from each bucket when it was granted; buckets unknown then were not charged. */
  readonly taken: Budget.Cost
  /** The output tokens it was expected to produce, whichever bucket (if any) was charged for them. */
  readonly output: number
  /** Grants of the pool, counted: tells whether anything was granted after this one. */
  readonly sequence: number
  readonly grantedAt: number
}

/** @internal */
export interface BucketView {
  readonly capacity: number
  readonly level: number
  /** tokens per millisecond */
  readonly rate: number
}

/** What admission needs to predict waits and report levels. @internal */
export interface PoolView {
  readonly at: number
  readonly known: boolean
  readonly buckets: { readonly [K in Budget.BudgetBucket]?: BucketView }
  readonly embargoUntil: number
  readonly inFlight: number
}

/** @internal */
export interface ReserveRequest {
  readonly cost: Budget.Cost
  /** Share of each bucket's capacity this request may not take. */
  readonly holdBack: number
  /** The most leases the pool may have in flight. */
  readonly maxInFlight: number
}

/** @internal */
export type ReserveResult =
  | { readonly _tag: "Granted"; readonly lease: Lease }
  | {
    readonly _tag: "Blocked"
    readonly reason: BlockReason
    /** `Infinity`: until a lease is released */
    readonly waitMillis: number
    readonly view: PoolView
  }
  | {
    readonly _tag: "NeverFits"
    readonly bucket: Budget.BudgetBucket
    readonly cost: number
    readonly limit: number
  }

/** What a response said about the pool. @internal */
export interface Observation {
  readonly buckets: { readonly [K in Budget.BudgetBucket]?: Budget.LevelBounds }
  /** epoch millis until which the server asked every request of the pool to wait */
  readonly embargoUntil: number | undefined
  /**
   * `false` when the headers were sent before the answer's own output was
   * produced (a stream), so the server's levels do not include it yet.
   */
  readonly includesOwnOutput: boolean
}

/** How a granted request ended. @internal */
export interface Settlement {
  /**
   * What the server charged, bucket by bucket; a bucket left out keeps what
   * was taken; `undefined`: unknown, keep everything.
   */
  readonly charged: Budget.Cost | undefined
  readonly observation: Observation | undefined
  /** Output tokens of a served answer, for the learned estimate. */
  readonly outputTokens: number | undefined
}

/** @internal */
export interface LedgerOptions {
  readonly windowMillis: number
  /** Output sizes remembered for the estimate. */
  readonly outputSamples: number
  /** Samples needed before the estimate is used. */
  readonly outputMinSamples: number
  /** The percentile of remembered output sizes used as the estimate, in (0, 1]. */
  readonly outputPercentile: number
  /** Successful answers without rate-limit headers after which a pool is treated as unlimited. */
  readonly headerlessAfter: number
  /**
   * The share of every limit this ledger may spend, in (0, 1]: a budget that
   * knows it is one of several sharing the limits (a process whose shared
   * store is unreachable) takes its share of each capacity and level.
   * Default 1.
   */
  readonly scale?: number | undefined
}

/** @internal */
export interface Limits {
  readonly requests?: number | undefined
  readonly inputTokens?: number | undefined
  readonly outputTokens?: number | undefined
  readonly tokens?: number | undefined
}

/** @internal */
export class PoolLedger {
  known = false
  readonly buckets: { [K in Budget.BudgetBucket]?: Budget.Bucket } = {}
  /** the limits as the server states them; a bucket's capacity is its share (`scale`) of its limit */
  readonly limits: { [K in Budget.BudgetBucket]?: number } = {}
  embargoUntil = 0
  readonly leases = new Map<string, Lease>()
  /** what leases in flight took, per bucket */
  readonly inFlightTaken: { [K in Budget.BudgetBucket]: number } = {
    requests: 0,
    inputTokens: 0,
    outputTokens: 0,
    tokens: 0
  }
  /** the output tokens leases in flight are expected to produce, known buckets or not */
  inFlightOutput = 0
  sequence = 0
  headerlessSuccesses = 0
  private readonly outputs: Array<number> = []
  private outputCursor = 0
  private estimate: number | undefined = undefined

  private readonly scale: number
  /** the latest time an operation was given: a `now` before it means the clock was set back */
  private latest = Number.NEGATIVE_INFINITY

  constructor(readonly pool: string, readonly options: LedgerOptions) {
    this.scale = options.scale ?? 1
  }

  /**
   * Follows the clock. When it was set back, the pool's times are moved back with it, as if time had stood
   * still: an embargo keeps the time it had left (never more than the server asked), a bucket the level it had
   * (it refills from now on, instead of waiting for the clock to catch up with its last update).
   */
  private follow(now: number): void {
    if (now >= this.latest) {
      this.latest = now
      return
    }
    const back = this.latest - now
    if (this.embargoUntil > 0) this.embargoUntil -= back
    for (const name of Budget.budgetBuckets) {
      const bucket = this.buckets[name]
      if (bucket !== undefined) bucket.at -= back
    }
    this.latest = now
  }

  configure(limits: Limits, now: number): void {
    this.follow(now)
    for (const name of Budget.budgetBuckets) {
      const limit = limits[name]
      if (limit === undefined || !(limit > 0)) continue
      this.limits[name] = limit
      const capacity = limit * this.scale
      const bucket = this.buckets[name]
      if (bucket === undefined) {
        this.buckets[name] = Budget.makeBucket(capacity, capacity, now, this.options.windowMillis)
      } else {
        this.resize(bucket, capacity, now)
      }
      this.known = true
    }
  }

  view(now: number): PoolView {
    this.follow(now)
    const buckets: { [K in Budget.BudgetBucket]?: BucketView } = {}
    for (const name of Budget.budgetBuckets) {
      const bucket = this.buckets[name]
      if (bucket !== undefined) {
        buckets[name] = { capacity: bucket.capacity, level: Budget.levelAt(bucket, now), rate: bucket.rate }
      }
    }
    return { at: now, known: this.known, buckets, embargoUntil: this.embargoUntil, inFlight: this.leases.size }
  }

  reserve(request: ReserveRequest, now: number, id: string): ReserveResult {
    this.follow(now)
    if (now < this.embargoUntil) {
      return this.blocked("embargo", this.embargoUntil - now, now)
    }
    if (!this.known) {
      // Nothing is known about this pool's limits: one request goes, the rest wait for its headers.
      return this.leases.size === 0 ? this.grant(request.cost, [], now, id) : this.blocked("cold-start", Infinity, now)
    }
    const charged = Budget.chargedBuckets(this.buckets, request.cost)
    for (const name of charged) {
      const amount = request.cost[name]!
      // against the limit, not a scaled share of it: a request the server accepts waits for a full bucket instead
      const limit = this.limits[name] ?? this.buckets[name]!.capacity
      if (amount > limit) {
        return { _tag: "NeverFits", bucket: name, cost: amount, limit }
      }
    }
    if (this.leases.size >= Math.max(1, request.maxInFlight)) {
      return this.blocked("concurrency", Infinity, now)
    }
    let waitMillis = 0
    let reason: Budget.BudgetBucket | undefined
    for (const name of charged) {
      const bucket = this.buckets[name]!
      const wait = Budget.millisUntil(bucket, now, Budget.targetLevel(bucket, request.cost[name]!, request.holdBack))
      if (wait > waitMillis) {
        waitMillis = wait
        reason = name
      }
    }
    if (reason !== undefined) return this.blocked(reason, waitMillis, now)
    return this.grant(request.cost, charged, now, id)
  }

  release(lease: Lease, settlement: Settlement, now: number): PoolView {
    this.follow(now)
    if (!this.leases.delete(lease.id)) return this.view(now)
    for (const name of Budget.budgetBuckets) {
      this.inFlightTaken[name] -= lease.taken[name] ?? 0
    }
    this.inFlightOutput -= lease.output
    if (settlement.charged !== undefined) {
      for (const name of Budget.budgetBuckets) {
        const taken = lease.taken[name]
        const charged = settlement.charged[name]
        const bucket = this.buckets[name]
        if (taken === undefined || charged === undefined || bucket === undefined) continue
        // the difference between what was taken and what the server charged is given back, or charged
        Budget.advance(bucket, now)
        bucket.level = Math.min(bucket.capacity, bucket.level + taken - charged)
      }
    }
    if (settlement.outputTokens !== undefined) this.recordOutput(settlement.outputTokens)
    const quiescent = this.leases.size === 0 && lease.sequence === this.sequence
    if (settlement.observation !== undefined) {
      const ownOutput = settlement.observation.includesOwnOutput ? 0 : settlement.charged?.outputTokens ?? 0
      this.observe(settlement.observation, now, quiescent, ownOutput)
    }
    if (!this.known && settlement.charged !== undefined && settlement.observation !== undefined) {
      // served without any rate-limit header (a proxy that strips them): after a few, stop probing one by one
      if (++this.headerlessSuccesses >= this.options.headerlessAfter) this.known = true
    }
    return this.view(now)
  }

  /**
   * Folds what a response said into the levels. Lowering is always safe; a
   * level is raised only when nothing else is in flight or was granted since
   * the request whose response this is, because a stale or out-of-order
   * response must not hand back capacity that later requests have used.
   */
  observe(observation: Observation, now: number, quiescent: boolean, ownOutput = 0): void {
    this.follow(now)
    if (observation.embargoUntil !== undefined) {
      this.embargoUntil = Math.max(this.embargoUntil, observation.embargoUntil)
    }
    for (const name of Budget.budgetBuckets) {
      const bounds = observation.buckets[name]
      if (bounds === undefined) continue
      // output is charged by the server as it is produced: what is still in flight is not in its levels yet
      const uncounted = name === "outputTokens" || name === "tokens" ? this.inFlightOutput + ownOutput : 0
      const scale = this.scale
      const capacity = bounds.limit * scale
      const low = bounds.low * scale - uncounted
      const high = bounds.high * scale - uncounted
      this.limits[name] = bounds.limit
      const bucket = this.buckets[name]
      if (bucket === undefined) {
        // leases in flight took nothing from a bucket unknown when they were granted
        this.buckets[name] = Budget.makeBucket(capacity, low, now, this.options.windowMillis)
        continue
      }
      if (bucket.capacity !== capacity) this.resize(bucket, capacity, now)
      Budget.advance(bucket, now)
      if (bucket.level > high) {
        bucket.level = low
      } else if (quiescent && bucket.level < low) {
        bucket.level = low
      }
    }
    if (Object.keys(observation.buckets).length > 0) this.known = true
  }

  outputEstimate(): number | undefined {
    return this.estimate
  }

  private recordOutput(tokens: number): void {
    if (!(tokens >= 0) || !Number.isFinite(tokens)) return
    const size = Math.max(1, this.options.outputSamples)
    if (this.outputs.length < size) {
      this.outputs.push(tokens)
    } else {
      this.outputs[this.outputCursor] = tokens
      this.outputCursor = (this.outputCursor + 1) % size
    }
    if (this.outputs.length >= this.options.outputMinSamples) {
      const sorted = [...this.outputs].sort((a, b) => a - b)
      const index = Math.min(sorted.length - 1, Math.ceil(this.options.outputPercentile * sorted.length) - 1)
      this.estimate = sorted[Math.max(0, index)]
    }
  }

  private resize(bucket: Budget.Bucket, capacity: number, now: number): void {
    Budget.advance(bucket, now)
    bucket.capacity = capacity
    bucket.rate = capacity / this.options.windowMillis
    bucket.level = Math.min(capacity, bucket.level)
  }

  private blocked(reason: BlockReason, waitMillis: number, now: number): ReserveResult {
    return { _tag: "Blocked", reason, waitMillis, view: this.view(now) }
  }

  private grant(
    cost: Budget.Cost,
    charged: ReadonlyArray<Budget.BudgetBucket>,
    now: number,
    id: string
  ): ReserveResult {
    const taken: { [K in Budget.BudgetBucket]?: number } = {}
    for (const name of charged) {
      const bucket = this.buckets[name]!
      const amount = cost[name]!
      Budget.advance(bucket, now)
      bucket.level -= amount
      taken[name] = amount
      this.inFlightTaken[name] += amount
    }
    const output = cost.outputTokens ?? 0
    this.inFlightOutput += output
    const lease: Lease = { id, pool: this.pool, taken, output, sequence: ++this.sequence, grantedAt: now }
    this.leases.set(id, lease)
    return { _tag: "Granted", lease }
  }
}
