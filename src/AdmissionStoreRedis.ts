/**
 * One admission budget shared by every process that uses the same API key
 * (workers, replicas, cron jobs), kept in Redis.
 *
 * The store runs the same rules as the in-memory one, as atomic Lua scripts
 * on the Redis server's clock (`TIME`), so clock skew between hosts does not
 * matter and swapping stores changes no call site:
 *
 * ```ts
 * const MainLive = ClaudeClient.layer({ apiKey }).pipe(
 *   Layer.provide(AdmissionStoreRedis.layer({ url: "redis://127.0.0.1:6379", apiKey })),
 *   Layer.provide(FetchHttpClient.layer)
 * )
 * ```
 *
 * Keys are `<prefix>:<identity>:{<pool>}:<part>`: the identity is a hash of
 * the API key (never the key itself) or a namespace you choose; the pool is in
 * braces so each pool's keys share one Redis Cluster slot. Every write makes
 * every key of the pool expire after `idleExpiry`.
 *
 * Concurrency permits are leases with a TTL, renewed while their request is
 * in flight: a crashed process's permits come back when its leases expire
 * (what they took from the buckets stays taken). The learned output estimate
 * is shared: a ring of the last `outputSamples` output sizes (a Redis list).
 *
 * When Redis cannot be reached, `whenUnavailable` decides: `"local"` (the
 * default) stands in a local budget of `1 / expectedProcesses` of each limit,
 * logs one warning, counts it in {@link metrics}, and goes back to Redis when
 * it answers again; `"fail"` fails every operation with
 * `AdmissionStoreError`.
 *
 * ioredis 5 is an optional peer dependency, loaded only when a store is made
 * from a URL.
 *
 * @since 0.2.0
 */
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as AdmissionStore from "./AdmissionStore.js"
import * as RedisStore from "./internal/redisStore.js"
import * as Fallback from "./internal/storeFallback.js"

/**
 * The part of a Redis client the store uses: an ioredis 5 `Redis` (or
 * `Cluster`) instance fits. Give it `enableOfflineQueue: false`, so commands
 * fail at once while it is disconnected instead of running late.
 *
 * @since 0.2.0
 * @category models
 */
export interface RedisClient {
  call(command: string, ...args: Array<string | number>): Promise<unknown>
}

/**
 * What a store does while Redis cannot be reached.
 *
 * - `"local"`: a local budget of `1 / expectedProcesses` of each limit stands
 *   in, until Redis answers again.
 * - `"fail"`: every operation fails with `AdmissionStoreError`.
 *
 * @since 0.2.0
 * @category models
 */
export type UnavailablePolicy = "local" | "fail"

/**
 * Which budget a store is spending: the shared one in Redis, or the local
 * stand-in while Redis cannot be reached.
 *
 * @since 0.2.0
 * @category models
 */
export type Mode = "redis" | "local"

/**
 * @since 0.2.0
 * @category models
 */
export interface Options extends AdmissionStore.Options {
  /** `redis://[:password@]host:port[/db]` (or `rediss://`). Ignored when `client` is given. */
  readonly url?: string | Redacted.Redacted<string> | undefined
  /** A client of your own (not closed by the store). */
  readonly client?: RedisClient | undefined
  /** The API key whose budget this is: keys carry a hash of it, never the key. */
  readonly apiKey?: Redacted.Redacted<string> | undefined
  /** Names the budget instead of `apiKey` (e.g. one per organisation). Default `"default"`. */
  readonly namespace?: string | undefined
  /** The first part of every key. Default `"claude-rate-limiter"`. */
  readonly prefix?: string | undefined
  /** A lease not renewed for this long is reclaimed (its process is presumed dead). Default 30 seconds. */
  readonly leaseTtl?: Duration.DurationInput | undefined
  /** A pool's keys expire after this long without a write. Default 1 hour. */
  readonly idleExpiry?: Duration.DurationInput | undefined
  /** How long a Redis call may take before it counts as unavailable. Default 1 second. */
  readonly timeout?: Duration.DurationInput | undefined
  /** Default `"local"`. */
  readonly whenUnavailable?: UnavailablePolicy | undefined
  /** The processes expected to share the budget: a local stand-in spends `1 / expectedProcesses`. Default 4. */
  readonly expectedProcesses?: number | undefined
  /** How often Redis is tried again while the local stand-in is in use. Default 1 second. */
  readonly retryInterval?: Duration.DurationInput | undefined
}

/**
 * A store over Redis that also says which budget it is spending.
 *
 * @since 0.2.0
 * @category models
 */
export interface RedisAdmissionStore extends AdmissionStore.AdmissionStore {
  readonly mode: Effect.Effect<Mode>
  /** The prefix of every key of this budget: `<prefix>:<identity>`. */
  readonly keyPrefix: string
}

/**
 * Metrics of the Redis store.
 *
 * @since 0.2.0
 * @category metrics
 */
export const metrics = {
  /** Times a local budget took over because Redis could not be reached. */
  fallbacks: Metric.counter("claude_rate_limiter_store_fallback_total", {
    description: "Times admission fell back to a local budget because its shared store could not be reached",
    incremental: true
  }),
  /** 1 while a local budget stands in for the shared one, 0 while Redis is in use. */
  mode: Metric.gauge("claude_rate_limiter_store_mode", {
    description: "1 while a local budget stands in for the shared store, 0 while the shared store is in use"
  })
} as const

/**
 * The prefix of every key of a budget: `<prefix>:<identity>`, where the
 * identity is the first 16 hex digits of a SHA-256 of the API key, else the
 * namespace, else `"default"`.
 *
 * @since 0.2.0
 * @category keys
 */
export const keyPrefix = (options: Pick<Options, "apiKey" | "namespace" | "prefix"> = {}): Effect.Effect<string> =>
  Effect.map(
    options.apiKey !== undefined
      ? Effect.map(
        RedisStore.hexDigest("SHA-256", `claude-rate-limiter:${Redacted.value(options.apiKey)}`),
        (hex) => hex.slice(0, 16)
      )
      : Effect.succeed(options.namespace ?? "default"),
    // braces would change which part of a key Redis Cluster hashes
    (identity) => `${options.prefix ?? "claude-rate-limiter"}:${identity}`.replace(/[{}]/g, "_")
  )

const ioredisModule = "ioredis"

interface OwnClient extends RedisClient {
  on(event: "error", listener: (error: unknown) => void): unknown
  quit(): Promise<unknown>
  disconnect(): void
}

const connect = (
  url: string,
  timeoutMillis: number
): Effect.Effect<OwnClient, AdmissionStore.AdmissionStoreError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        // a specifier the compiler does not resolve: building and type-checking need no ioredis either
        const module: any = await import(ioredisModule)
        const Redis = module.Redis ?? module.default
        const client: OwnClient = new Redis(url, {
          // fail at once while disconnected (the local stand-in answers), instead of running commands late
          enableOfflineQueue: false,
          // a command the lost connection left unanswered fails, not sent again later: the stand-in answered it
          autoResendUnfulfilledCommands: false,
          maxRetriesPerRequest: 1,
          connectTimeout: Math.max(1_000, timeoutMillis * 2),
          commandTimeout: timeoutMillis,
          retryStrategy: (times: number) => Math.min(100 * times, 1_000)
        })
        // failures are reported through the store's fallback, once; ioredis would print each one
        client.on("error", () => {})
        return client
      },
      catch: (cause) =>
        new AdmissionStore.AdmissionStoreError({
          message: "Could not load ioredis: install it (npm install ioredis@5) to use AdmissionStoreRedis",
          cause
        })
    }),
    (client) =>
      Effect.tryPromise(() => client.quit()).pipe(
        Effect.timeout(Duration.seconds(1)),
        Effect.ignore,
        Effect.ensuring(Effect.sync(() => client.disconnect()))
      )
  )

const describeUrl = (url: string): string => {
  try {
    const parsed = new URL(url)
    return `${parsed.protocol}//${parsed.host}`
  } catch {
    return "Redis"
  }
}

/**
 * Makes the store: connects (or uses `client`), waits up to twice the
 * timeout for Redis to answer, and starts on the local stand-in if it does
 * not (with `whenUnavailable: "local"`). Fails only when neither `client` nor
 * `url` is given or ioredis cannot be loaded.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (
  options: Options
): Effect.Effect<RedisAdmissionStore, AdmissionStore.AdmissionStoreError, Scope.Scope> =>
  Effect.gen(function*() {
    const timeoutMillis = Math.max(1, Duration.toMillis(options.timeout ?? Duration.seconds(1)))
    const url = options.url === undefined
      ? undefined
      : Redacted.isRedacted(options.url)
      ? Redacted.value(options.url)
      : options.url
    const where = options.client !== undefined ? "Redis" : url === undefined ? "Redis" : describeUrl(url)
    const client: RedisClient = options.client ?? (url === undefined
      ? yield* new AdmissionStore.AdmissionStoreError({
        message: "AdmissionStoreRedis needs a `url` or a `client`",
        cause: undefined
      })
      : yield* connect(url, timeoutMillis))
    const ledger = AdmissionStore.resolveOptions(options)
    const prefix = yield* keyPrefix(options)
    const leaseTtlMillis = Math.max(100, Duration.toMillis(options.leaseTtl ?? Duration.seconds(30)))
    const shared = yield* RedisStore.make({
      client,
      keyPrefix: prefix,
      ledger,
      leaseTtlMillis,
      idleMillis: Math.max(leaseTtlMillis, Duration.toMillis(options.idleExpiry ?? Duration.hours(1))),
      // ioredis bounds the commands of a client made here (`commandTimeout`); a client of yours is bounded per call
      timeoutMillis: options.client === undefined ? undefined : timeoutMillis
    })
    const answered = yield* shared.ping.pipe(
      Effect.retry(Schedule.spaced(Duration.millis(50)).pipe(Schedule.upTo(Duration.millis(2 * timeoutMillis)))),
      Effect.isSuccess
    )
    if (answered) yield* shared.loadScripts
    const { configured: _configured, loadScripts: _loadScripts, ping: _ping, ...store } = shared
    if (options.whenUnavailable === "fail") {
      return { ...store, mode: Effect.succeed<Mode>("redis"), keyPrefix: prefix }
    }
    const processes = Math.max(1, Math.floor(options.expectedProcesses ?? 4))
    const sharedScale = ledger.scale ?? 1
    const local = yield* AdmissionStore.makeMemory({ ...options, scale: sharedScale / processes })
    const fallback = yield* Fallback.make({
      shared,
      local,
      sharedScale,
      retryEvery: Duration.decode(options.retryInterval ?? Duration.seconds(1)),
      initialMode: answered ? "shared" : "local",
      describeFallback: (error) =>
        `${where} cannot be reached (${error.message}): admission falls back to a local budget of 1/${processes} `
        + `of each limit until it answers again`,
      describeRecovery: `${where} answers again: admission is back on the shared budget`,
      metrics
    })
    return {
      ...fallback,
      mode: Effect.map(fallback.mode, (mode): Mode => mode === "shared" ? "redis" : "local"),
      keyPrefix: prefix
    }
  })

/**
 * The store as the `AdmissionStore` for `Admission` (and so `ClaudeClient`)
 * to use.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<AdmissionStore.AdmissionStore, AdmissionStore.AdmissionStoreError> =>
  Layer.scoped(AdmissionStore.AdmissionStore, make(options))

/**
 * What {@link layerConfig} reads: `REDIS_URL` (required, `Redacted`: it may
 * hold a password), and the budget's identity: `ANTHROPIC_API_KEY` (hashed)
 * or, when set, `CLAUDE_RATE_LIMITER_NAMESPACE`.
 *
 * @since 0.2.0
 * @category config
 */
export const config: Config.Config<Pick<Options, "url" | "apiKey" | "namespace">> = Config.all({
  url: Config.redacted("REDIS_URL"),
  apiKey: Config.option(Config.redacted("ANTHROPIC_API_KEY")),
  namespace: Config.option(Config.nonEmptyString("CLAUDE_RATE_LIMITER_NAMESPACE"))
}).pipe(Config.map(({ apiKey, namespace, url }) =>
  Option.isSome(namespace)
    ? { url, namespace: namespace.value }
    : { url, apiKey: Option.getOrUndefined(apiKey) }
))

/**
 * {@link layer} with the URL and identity read by {@link config}, and the
 * rest from `overrides`.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerConfigWith = (
  overrides: Omit<Options, "url" | "client" | "apiKey" | "namespace"> = {}
): Layer.Layer<AdmissionStore.AdmissionStore, ConfigError.ConfigError | AdmissionStore.AdmissionStoreError> =>
  Layer.unwrapEffect(Effect.map(config, (fromEnv) => layer({ ...overrides, ...fromEnv })))

/**
 * {@link layer} configured from the environment: `REDIS_URL`, and
 * `ANTHROPIC_API_KEY` or `CLAUDE_RATE_LIMITER_NAMESPACE` for the identity.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerConfig: Layer.Layer<
  AdmissionStore.AdmissionStore,
  ConfigError.ConfigError | AdmissionStore.AdmissionStoreError
> = layerConfigWith()
