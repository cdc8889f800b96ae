/**
 * Decodes Anthropic's rate-limit response headers (`anthropic-ratelimit-*`,
 * `retry-after`, `retry-after-ms`, `x-should-retry`, `request-id`) into a
 * typed {@link RateLimitSnapshot}, and derives the wait the server asks for.
 *
 * Decoding never fails: a header whose value cannot be trusted (negative,
 * not a number, a garbage date, not even a string) decodes as absent, is
 * listed in {@link RateLimitSnapshot.malformed}, and is logged as a warning
 * naming the header the first time it is seen (later sightings log at debug
 * level, so a proxy that mangles one header on every response cannot flood
 * the logs). A wait beyond {@link maxPlausibleWait} (a `retry-after`, or a
 * bucket reset that far ahead) is *not* absent: it is kept as given
 * (`Duration.infinity` when the number overflows), listed in
 * {@link RateLimitSnapshot.tooLong} and logged the same way, so that every
 * consumer sees a wait that is too long and can fail fast.
 *
 * @since 0.1.0
 */
import type * as Headers from "@effect/platform/Headers"
import * as Arr from "effect/Array"
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as FiberRef from "effect/FiberRef"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as HeaderReading from "./internal/headerReading.js"
import * as HeaderValues from "./internal/headerValues.js"
import * as HeaderWarnings from "./internal/headerWarnings.js"

/**
 * The longest wait a `retry-after` or `retry-after-ms` header (or a bucket's
 * reset) may plausibly ask for. Anthropic's limits are per minute; a wait
 * beyond a day is kept but listed in {@link RateLimitSnapshot.tooLong}: not
 * advice to sleep on, but not "no wait" either (retrying sooner is what a
 * broken header must not cause).
 *
 * @since 0.1.0
 * @category constants
 */
export const maxPlausibleWait: Duration.Duration = Duration.days(1)

/**
 * One token bucket as the server last described it. `reset` is the moment the
 * bucket is *fully* replenished (RFC 3339 on the wire).
 *
 * @since 0.1.0
 * @category models
 */
export class BucketSnapshot extends Schema.Class<BucketSnapshot>("BucketSnapshot")({
  limit: Schema.OptionFromSelf(Schema.NonNegativeInt),
  remaining: Schema.OptionFromSelf(Schema.NonNegativeInt),
  reset: Schema.OptionFromSelf(Schema.DateTimeUtcFromSelf)
}) {
  /**
   * A bucket about which the server said nothing.
   *
   * @since 0.1.0
   */
  static readonly empty: BucketSnapshot = new BucketSnapshot({
    limit: Option.none(),
    remaining: Option.none(),
    reset: Option.none()
  }, true)

  /**
   * `true` when the server reported `remaining: 0`.
   *
   * @since 0.1.0
   */
  get isExhausted(): boolean {
    return Option.exists(this.remaining, (remaining) => remaining === 0)
  }
}

/**
 * The buckets a response may describe. `tokens` is the most restrictive token
 * limit in effect; the `priority*` buckets appear only for Priority Tier.
 *
 * @since 0.1.0
 * @category models
 */
export type BucketName =
  | "requests"
  | "tokens"
  | "inputTokens"
  | "outputTokens"
  | "priorityInputTokens"
  | "priorityOutputTokens"

/**
 * Every bucket name, in the order they are reported.
 *
 * @since 0.1.0
 * @category constants
 */
export const bucketNames: ReadonlyArray<BucketName> = [
  "requests",
  "tokens",
  "inputTokens",
  "outputTokens",
  "priorityInputTokens",
  "priorityOutputTokens"
]

const bucketHeaderPrefix: Record<BucketName, string> = {
  requests: "anthropic-ratelimit-requests",
  tokens: "anthropic-ratelimit-tokens",
  inputTokens: "anthropic-ratelimit-input-tokens",
  outputTokens: "anthropic-ratelimit-output-tokens",
  priorityInputTokens: "anthropic-priority-input-tokens",
  priorityOutputTokens: "anthropic-priority-output-tokens"
}

/**
 * Everything one response said about rate limits. Every field is optional on
 * the wire, so every field is an `Option` here.
 *
 * - `retryAfter` / `retryAfterMs` are the waits as given, measured from
 *   `receivedAt` (an HTTP-date in `retry-after` is converted at decode time).
 * - `shouldRetry` is `x-should-retry`, which overrides the status code.
 * - `malformed` names the headers that were present but unusable (absent here).
 * - `tooLong` names the headers whose wait is beyond {@link maxPlausibleWait}
 *   (`retry-after`, `retry-after-ms`, a bucket's `-reset`): kept as given.
 *
 * @since 0.1.0
 * @category models
 */
export class RateLimitSnapshot extends Schema.Class<RateLimitSnapshot>("RateLimitSnapshot")({
  requests: BucketSnapshot,
  tokens: BucketSnapshot,
  inputTokens: BucketSnapshot,
  outputTokens: BucketSnapshot,
  priorityInputTokens: BucketSnapshot,
  priorityOutputTokens: BucketSnapshot,
  retryAfter: Schema.OptionFromSelf(Schema.DurationFromSelf),
  retryAfterMs: Schema.OptionFromSelf(Schema.DurationFromSelf),
  shouldRetry: Schema.OptionFromSelf(Schema.Boolean),
  requestId: Schema.OptionFromSelf(Schema.String),
  receivedAt: Schema.DateTimeUtcFromSelf,
  malformed: Schema.Array(Schema.String),
  /** @since 0.2.0 */
  tooLong: Schema.optionalWith(Schema.Array(Schema.String), { default: () => [] })
}) {
  /**
   * A snapshot of a response that carried no rate-limit information at all
   * (or of a failure that never produced a response).
   *
   * @since 0.1.0
   */
  static empty(receivedAt: DateTime.Utc): RateLimitSnapshot {
    return new RateLimitSnapshot({
      requests: BucketSnapshot.empty,
      tokens: BucketSnapshot.empty,
      inputTokens: BucketSnapshot.empty,
      outputTokens: BucketSnapshot.empty,
      priorityInputTokens: BucketSnapshot.empty,
      priorityOutputTokens: BucketSnapshot.empty,
      retryAfter: Option.none(),
      retryAfterMs: Option.none(),
      shouldRetry: Option.none(),
      requestId: Option.none(),
      receivedAt,
      malformed: [],
      tooLong: []
    }, true)
  }

  /**
   * The bucket called `name`.
   *
   * @since 0.1.0
   */
  bucket(name: BucketName): BucketSnapshot {
    return this[name]
  }
}

const beyondCap = (wait: Duration.Duration): boolean => Duration.greaterThan(wait, maxPlausibleWait)

const maxPlausibleMillis = Duration.toMillis(maxPlausibleWait)

const decodeBucket = (reading: HeaderReading.Reading, name: BucketName, now: DateTime.Utc): BucketSnapshot => {
  const prefix = bucketHeaderPrefix[name]
  const limit = reading.read(`${prefix}-limit`, HeaderValues.integer)
  const remaining = reading.read(`${prefix}-remaining`, HeaderValues.integer)
  const reset = reading.read(`${prefix}-reset`, HeaderValues.rfc3339)
  if (Option.isNone(limit) && Option.isNone(remaining) && Option.isNone(reset)) {
    return BucketSnapshot.empty
  }
  if (Option.isSome(reset) && reset.value.epochMillis - now.epochMillis > maxPlausibleMillis) {
    reading.flagTooLong(`${prefix}-reset`)
  }
  // decoded above: no need to validate again
  return new BucketSnapshot({ limit, remaining, reset }, true)
}

const noneYet: ReadonlyArray<string> = []

/**
 * Decodes headers into a snapshot without logging: the pure core of
 * {@link decode}, for callers that already have the current time.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeAt = (headers: Headers.Input, now: DateTime.Utc): RateLimitSnapshot => {
  const reading = new HeaderReading.Reading(HeaderReading.toHeaders(headers))
  const retryAfter = reading.read("retry-after", HeaderValues.retryAfterAt(now))
  const retryAfterMs = reading.read("retry-after-ms", HeaderValues.millis)
  if (Option.exists(retryAfter, beyondCap)) reading.flagTooLong("retry-after")
  if (Option.exists(retryAfterMs, beyondCap)) reading.flagTooLong("retry-after-ms")
  return new RateLimitSnapshot({
    requests: decodeBucket(reading, "requests", now),
    tokens: decodeBucket(reading, "tokens", now),
    inputTokens: decodeBucket(reading, "inputTokens", now),
    outputTokens: decodeBucket(reading, "outputTokens", now),
    priorityInputTokens: decodeBucket(reading, "priorityInputTokens", now),
    priorityOutputTokens: decodeBucket(reading, "priorityOutputTokens", now),
    retryAfter,
    retryAfterMs,
    shouldRetry: reading.read("x-should-retry", HeaderValues.boolean),
    requestId: reading.read("request-id", HeaderValues.requestId),
    receivedAt: now,
    malformed: reading.malformed ?? noneYet,
    tooLong: reading.tooLong ?? noneYet
  }, true)
}

/**
 * The header names that have already been warned about (malformed ones by
 * name, too-long ones as `"<name> (too long)"`). Shared by every fiber
 * unless a fiber sets its own (tests do, with `Effect.locally`).
 *
 * @since 0.1.0
 * @category logging
 */
export const currentWarnedHeaders: FiberRef.FiberRef<Set<string>> = HeaderWarnings.currentWarnedHeaders

/**
 * Decodes the rate-limit headers of a response, from a `Headers` value or a
 * plain record (header names in any case). Never fails.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RateLimitHeaders } from "claude-rate-limiter"
 *
 * const snapshot = Effect.runSync(RateLimitHeaders.decode({
 *   "anthropic-ratelimit-requests-limit": "50",
 *   "anthropic-ratelimit-requests-remaining": "0",
 *   "anthropic-ratelimit-requests-reset": "2026-11-22T10:00:12Z",
 *   "retry-after": "12"
 * }))
 * ```
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode = (headers: Headers.Input): Effect.Effect<RateLimitSnapshot> =>
  Effect.flatMap(Clock.currentTimeMillis, (millis) => {
    const snapshot = decodeAt(headers, DateTime.unsafeMake(millis))
    return Effect.as(HeaderWarnings.logUnusable(snapshot, headers, maxPlausibleWait), snapshot)
  })

/**
 * The buckets the snapshot reports as exhausted (`remaining: 0`).
 *
 * @since 0.1.0
 * @category getters
 */
export const exhaustedBuckets = (snapshot: RateLimitSnapshot): ReadonlyArray<BucketName> =>
  bucketNames.filter((name) => snapshot[name].isExhausted)

/**
 * Which header rule a {@link retryDelay} came from.
 *
 * @since 0.1.0
 * @category models
 */
export type WaitRule = "retry-after-ms" | "retry-after" | "bucket-reset"

/**
 * A header-based wait and the rule that chose it.
 *
 * @since 0.1.0
 * @category models
 */
export interface HeaderWait {
  readonly wait: Duration.Duration
  readonly rule: WaitRule
  /** For `bucket-reset`, the exhausted buckets whose latest reset was used. */
  readonly buckets: ReadonlyArray<BucketName>
}

const elapsedSince = (snapshot: RateLimitSnapshot, now: DateTime.Utc): Duration.Duration =>
  Duration.millis(Math.max(0, DateTime.distance(snapshot.receivedAt, now)))

const remainingOf = (wait: Duration.Duration, elapsed: Duration.Duration): Duration.Duration =>
  Duration.greaterThan(wait, elapsed) ? Duration.subtract(wait, elapsed) : Duration.zero

/**
 * Like {@link retryDelay}, but also says which rule chose the wait.
 *
 * @since 0.1.0
 * @category getters
 */
export const headerWait = (snapshot: RateLimitSnapshot, now: DateTime.Utc): Option.Option<HeaderWait> => {
  const elapsed = elapsedSince(snapshot, now)
  if (Option.isSome(snapshot.retryAfterMs)) {
    return Option.some({ wait: remainingOf(snapshot.retryAfterMs.value, elapsed), rule: "retry-after-ms", buckets: [] })
  }
  if (Option.isSome(snapshot.retryAfter)) {
    return Option.some({ wait: remainingOf(snapshot.retryAfter.value, elapsed), rule: "retry-after", buckets: [] })
  }
  const exhausted = exhaustedBuckets(snapshot).filter((name) => Option.isSome(snapshot[name].reset))
  if (!Arr.isNonEmptyReadonlyArray(exhausted)) {
    return Option.none()
  }
  const latestReset = Math.max(
    ...exhausted.map((name) => DateTime.toEpochMillis(Option.getOrThrow(snapshot[name].reset)))
  )
  // measured, like retry-after, from when the response arrived: a clock set back since cannot lengthen it
  const atReceipt = Duration.millis(Math.max(0, latestReset - DateTime.toEpochMillis(snapshot.receivedAt)))
  return Option.some({
    wait: remainingOf(atReceipt, elapsed),
    rule: "bucket-reset",
    buckets: exhausted
  })
}

/**
 * The wait the server asks for before the next attempt, measured from `now`:
 *
 * 1. `retry-after-ms`, else
 * 2. `retry-after` (seconds or HTTP-date), else
 * 3. the reset of the exhausted bucket (`remaining: 0`); when several are
 *    exhausted, the *latest* of their resets, else
 * 4. none.
 *
 * A reset already in the past means no wait (`Duration.zero`).
 *
 * Why the latest exhausted reset and not the earliest reset of any bucket: a
 * request needs every one of its buckets. Retrying when the requests bucket
 * refills, while the input-token bucket stays empty for another 12 s, only
 * buys another 429 (and, for sharp retries, acceleration-limit penalties).
 * Buckets that are not exhausted do not block the request at all, so their
 * resets say nothing about when it can succeed.
 *
 * @since 0.1.0
 * @category getters
 */
export const retryDelay = (snapshot: RateLimitSnapshot, now: DateTime.Utc): Option.Option<Duration.Duration> =>
  Option.map(headerWait(snapshot, now), (header) => header.wait)
