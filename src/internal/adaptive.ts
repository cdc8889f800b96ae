/**
 * The adaptive parts of admission, per pool, in this process:
 *
 * - a send-rate limit cut on overload signals (529, acceleration-limit 429s)
 *   and grown back with CUBIC, as the AWS SDKs' adaptive retry mode does;
 * - a window on requests in flight that starts small (slow start), grows
 *   while it is what holds requests back, and shrinks to what the API
 *   accepted when it answers with its concurrent-requests 429;
 * - a retry budget in the manner of gRPC retry throttling: failures spend
 *   tokens, successes earn a fraction back, and retries stop while the
 *   budget is at or below half.
 *
 * Pure state machines over plain data; time is an epoch-millis argument.
 *
 * @internal
 */

/** @internal */
export interface RateOptions {
  /** multiplicative cut on each overload signal */
  readonly beta: number
  /** CUBIC scale, in requests/s per s³ */
  readonly scale: number
  /** the lowest send rate, requests per second */
  readonly minRate: number
}

/** @internal */
export class SendRate {
  enabled = false
  /** requests per second allowed now */
  fillRate = Infinity
  private lastMaxRate = 0
  private lastThrottle = 0
  private tokens = 1
  private lastRefill = 0
  // measured send rate: requests counted in half-second buckets, smoothed
  private measured = 0
  private bucketStart = 0
  private bucketCount = 0

  constructor(readonly options: RateOptions) {}

  /** Milliseconds until a request may be sent (0: now). */
  waitMillis(now: number): number {
    if (!this.enabled) return 0
    this.refill(now)
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) / this.fillRate) * 1000)
  }

  /** A request is sent now. */
  sent(now: number): void {
    this.measure(now)
    if (!this.enabled) return
    this.refill(now)
    this.tokens -= 1
  }

  /** A request that took a token was not sent after all. */
  unsent(): void {
    if (this.enabled) this.tokens = Math.min(Math.max(1, this.fillRate), this.tokens + 1)
  }

  /** The API said it is overloaded, or that we ramped too fast. */
  throttled(now: number): void {
    const current = this.enabled
      ? Math.min(this.fillRate, Math.max(this.measured, this.options.minRate))
      : this.measured
    const rate = Math.max(current, this.options.minRate)
    this.lastMaxRate = rate
    this.lastThrottle = now
    this.refill(now)
    this.fillRate = Math.max(this.options.minRate, rate * this.options.beta)
    this.tokens = Math.min(this.tokens, Math.max(1, this.fillRate))
    this.enabled = true
  }

  /** A request was served: the allowed rate grows back along the cubic curve. */
  succeeded(now: number): void {
    if (!this.enabled) return
    const { beta, scale } = this.options
    const k = Math.cbrt((this.lastMaxRate * (1 - beta)) / scale)
    if (now < this.lastThrottle) this.lastThrottle = now
    const t = (now - this.lastThrottle) / 1000
    const cubic = scale * Math.pow(t - k, 3) + this.lastMaxRate
    this.refill(now)
    this.fillRate = Math.max(this.options.minRate, Math.min(cubic, 2 * Math.max(this.measured, this.options.minRate)))
    // far above anything the pool sends: the limit no longer binds
    if (cubic > 4 * this.lastMaxRate && t > 60) this.enabled = false
  }

  private refill(now: number): void {
    // the clock set back: no time has passed, rather than none until it catches up
    if (now < this.lastRefill) this.lastRefill = now
    if (now > this.lastRefill) {
      const capacity = Math.max(1, this.fillRate)
      this.tokens = Math.min(capacity, this.tokens + ((now - this.lastRefill) / 1000) * this.fillRate)
    }
    this.lastRefill = Math.max(this.lastRefill, now)
  }

  private measure(now: number): void {
    const width = 500
    if (now < this.bucketStart) this.bucketStart = now
    if (now - this.bucketStart >= width) {
      const rate = (this.bucketCount * 1000) / Math.max(width, now - this.bucketStart)
      this.measured = this.measured === 0 ? rate : 0.8 * rate + 0.2 * this.measured
      this.bucketStart = now
      this.bucketCount = 0
    }
    this.bucketCount++
  }
}

/** @internal */
export interface WindowOptions {
  readonly initial: number
  readonly max: number
  /** up to this size the window doubles each round trip; beyond it, it grows by one a round trip */
  readonly slowStartUntil: number
  /** after this long without a concurrent-requests 429, the learned ceiling may be probed one higher */
  readonly probeAfterMillis: number
}

/**
 * A window on requests in flight, grown the way TCP grows its congestion
 * window: by one per completed request while it is small (doubling each
 * round trip), then by one per round trip, so that when it passes the API's
 * cap it does so by one request, not by a burst of them.
 *
 * @internal
 */
export class ConcurrencyWindow {
  size: number
  ceiling: number
  slowStartUntil: number
  /** set when the window held a request back since it last grew */
  bound = false
  private credit = 0
  private lastCut = 0

  constructor(readonly options: WindowOptions) {
    this.size = Math.max(1, Math.min(options.initial, options.max))
    this.ceiling = Math.max(1, options.max)
    this.slowStartUntil = Math.max(1, options.slowStartUntil)
  }

  /** A request completed: grow while the window is what holds requests back. */
  served(now: number): void {
    if (!this.bound) return
    this.bound = false
    if (now < this.lastCut) this.lastCut = now
    if (this.size >= this.ceiling) {
      // at the ceiling the API taught us: probe one higher only after a quiet while
      if (this.ceiling < this.options.max && now - this.lastCut >= this.options.probeAfterMillis) {
        this.ceiling++
        this.lastCut = now
      } else {
        return
      }
    }
    if (this.size < this.slowStartUntil) {
      this.size++
      return
    }
    this.credit += 1 / this.size
    // (a round trip's worth of 1/size adds up to a hair under 1 in floating point)
    if (this.credit >= 1 - 1e-9) {
      this.credit = 0
      this.size++
    }
  }

  /**
   * The API refused a request for too many in flight while `inFlight`
   * others were (or told its limit): that is the ceiling from now on.
   */
  refused(inFlight: number, now: number, limit?: number): void {
    this.ceiling = Math.max(1, Math.min(this.options.max, limit ?? inFlight))
    this.size = Math.min(this.size, this.ceiling)
    this.slowStartUntil = Math.min(this.slowStartUntil, this.ceiling)
    this.credit = 0
    this.lastCut = now
  }

  /** An acceleration limit: back off to half, and grow back by one a round trip. */
  halve(now: number): void {
    this.size = Math.max(1, Math.floor(this.size / 2))
    this.slowStartUntil = this.size
    this.credit = 0
    this.lastCut = now
  }
}

/** @internal */
export interface RetryBudgetOptions {
  readonly maxTokens: number
  readonly tokenRatio: number
}

/** @internal */
export class RetryBudget {
  tokens: number

  constructor(readonly options: RetryBudgetOptions) {
    this.tokens = options.maxTokens
  }

  get allowsRetry(): boolean {
    return this.tokens > this.options.maxTokens / 2
  }

  failed(): void {
    this.tokens = Math.max(0, this.tokens - 1)
  }

  succeeded(): void {
    this.tokens = Math.min(this.options.maxTokens, this.tokens + this.options.tokenRatio)
  }
}

/**
 * How the API's token count compares to the client's estimate of a request's
 * input (characters / 4): tokenizers differ by language and content, so the
 * ratio is learned from each answer's `usage` and the estimate scaled by a
 * high percentile of it before reserving.
 *
 * @internal
 */
export class InputRatio {
  ratio = 1
  private readonly samples: Array<number> = []
  private cursor = 0

  constructor(readonly size = 100, readonly percentile = 0.9) {}

  /** The cost with its input (and the combined tokens) scaled by the learned ratio. */
  scale<C extends { readonly inputTokens?: number; readonly tokens?: number }>(cost: C): C {
    const input = cost.inputTokens
    if (input === undefined || this.ratio === 1) return cost
    const scaled = Math.ceil(input * this.ratio)
    return {
      ...cost,
      inputTokens: scaled,
      ...(cost.tokens === undefined ? {} : { tokens: cost.tokens - input + scaled })
    }
  }

  /** An answer counted `actual` input tokens for a request estimated at `estimated`. */
  observe(estimated: number, actual: number): void {
    if (!(estimated > 0) || !(actual >= 0) || !Number.isFinite(actual)) return
    const sample = Math.min(10, Math.max(0.1, actual / estimated))
    if (this.samples.length < this.size) this.samples.push(sample)
    else {
      this.samples[this.cursor] = sample
      this.cursor = (this.cursor + 1) % this.size
    }
    const sorted = [...this.samples].sort((a, b) => a - b)
    this.ratio = sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(this.percentile * sorted.length) - 1))]!
  }
}
