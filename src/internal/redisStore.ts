/**
 * The admission store over Redis: the ledger's operations as the Lua scripts
 * of ./redisScripts.ts, run with EVALSHA (EVAL when Redis answers NOSCRIPT,
 * e.g. after a restart). Every call is bounded by a timeout; every failure is
 * an `AdmissionStoreError`.
 *
 * The scripts read the Redis server's clock. What they return in server time
 * (a view's `at`, an embargo, a lease's grant time) is translated to this
 * process's clock, and an embargo goes in as a delay, so admission compares
 * times from one clock only and skew between hosts does not matter.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as AdmissionStore from "../AdmissionStore.js"
import * as Budget from "./budget.js"
import type * as Ledger from "./ledger.js"
import * as Scripts from "./redisScripts.js"

/**
 * What the store needs of a Redis client: ioredis' `call`.
 *
 * @internal
 */
export interface RedisCommands {
  call(command: string, ...args: Array<string | number>): Promise<unknown>
}

/** @internal */
export interface Options {
  readonly client: RedisCommands
  /** `<prefix>:<identity>`; each pool's keys are `<keyPrefix>:{<pool>}:<part>`. */
  readonly keyPrefix: string
  readonly ledger: Ledger.LedgerOptions
  readonly leaseTtlMillis: number
  readonly idleMillis: number
  /** Bounds each call; `undefined` when the client bounds its commands itself. */
  readonly timeoutMillis: number | undefined
}

/**
 * The store, and what the fallback wrapper needs to know about it.
 *
 * @internal
 */
export interface RedisStore extends AdmissionStore.AdmissionStore {
  /** PING, bounded by the timeout. */
  readonly ping: Effect.Effect<void, AdmissionStore.AdmissionStoreError>
  /** SCRIPT LOAD of every script, ignoring failures. */
  readonly loadScripts: Effect.Effect<void>
  /** The limits each configured pool starts from when its state is missing. */
  readonly configured: ReadonlyMap<string, Ledger.Limits>
}

interface Script {
  readonly name: string
  readonly lua: string
  readonly sha: string
}

/**
 * A hex digest by WebCrypto (Node 20+, Deno, Bun, workers): no `node:crypto`
 * import in the library's module graph.
 *
 * @internal
 */
export const hexDigest = (algorithm: "SHA-1" | "SHA-256", text: string): Effect.Effect<string> =>
  Effect.promise(async () => {
    const digest = await globalThis.crypto.subtle.digest(algorithm, new TextEncoder().encode(text))
    return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join("")
  })

const script = (name: string, lua: string): Effect.Effect<Script> =>
  Effect.map(hexDigest("SHA-1", lua), (sha) => ({ name, lua, sha }))

const digestScripts = Effect.all({
  configure: script("configure", Scripts.configure),
  reserve: script("reserve", Scripts.reserve),
  release: script("release", Scripts.release),
  renew: script("renew", Scripts.renew),
  view: script("view", Scripts.view)
})

const bucketIndex: ReadonlyArray<Budget.BudgetBucket> = Budget.budgetBuckets

/** How long an output estimate read from Redis is used before it is read again. */
const estimateMaxAgeMillis = 1_000

/** A number for a script argument: `""` for none, `inf`/`-inf` for infinities. @internal */
export const encodeNumber = (value: number | undefined): string =>
  value === undefined || Number.isNaN(value)
    ? ""
    : value === Infinity
    ? "inf"
    : value === -Infinity
    ? "-inf"
    : String(value)

/** @internal */
export const decodeNumber = (value: unknown): number | undefined => {
  if (typeof value === "number") return value
  if (typeof value !== "string" || value === "") return undefined
  if (value === "inf") return Infinity
  if (value === "-inf") return -Infinity
  const n = Number(value)
  return Number.isNaN(n) ? undefined : n
}

const perBucket = (values: { readonly [K in Budget.BudgetBucket]?: number | undefined } | undefined) =>
  bucketIndex.map((name) => encodeNumber(values?.[name]))

const limitsArgs = (limits: Ledger.Limits | undefined) => perBucket(limits)

const isNoScript = (cause: unknown) => cause instanceof Error && cause.message.startsWith("NOSCRIPT")

const describe = (cause: unknown): string => {
  const text = cause instanceof Error ? cause.message : String(cause)
  return text.length > 200 ? `${text.slice(0, 200)}…` : text
}

const asArray = (reply: unknown, what: string): ReadonlyArray<unknown> => {
  if (!Array.isArray(reply)) throw new Error(`unexpected reply to ${what}: ${typeof reply}`)
  return reply
}

/** @internal */
export const make = (options: Options): Effect.Effect<RedisStore> =>
  Effect.map(digestScripts, (scripts) => makeWith(options, scripts))

const makeWith = (options: Options, scripts: Effect.Effect.Success<typeof digestScripts>): RedisStore => {
  const { client, ledger } = options
  const common = [
    encodeNumber(ledger.windowMillis),
    encodeNumber(ledger.scale ?? 1),
    encodeNumber(ledger.outputSamples),
    encodeNumber(ledger.outputMinSamples),
    encodeNumber(ledger.outputPercentile),
    encodeNumber(ledger.headerlessAfter),
    encodeNumber(options.leaseTtlMillis),
    encodeNumber(options.idleMillis)
  ]
  const configured = new Map<string, Ledger.Limits>()
  const keysOf = (pool: string) => {
    const base = `${options.keyPrefix}:{${pool}}`
    return [`${base}:state`, `${base}:leases`, `${base}:lease-data`, `${base}:outputs`, `${base}:output-sizes`]
  }

  // A client of our own bounds every command itself (ioredis' `commandTimeout`), which costs far less per call
  // than a timeout fiber; a client we were given may not, so its calls are bounded here.
  const bounded = <A>(
    operation: string,
    call: Effect.Effect<A, AdmissionStore.AdmissionStoreError>
  ): Effect.Effect<A, AdmissionStore.AdmissionStoreError> => {
    const timeoutMillis = options.timeoutMillis
    if (timeoutMillis === undefined) return call
    return Effect.timeoutFail(call, {
      duration: Duration.millis(timeoutMillis),
      onTimeout: () =>
        new AdmissionStore.AdmissionStoreError({
          message: `Redis ${operation}: no answer within ${timeoutMillis} ms`,
          cause: undefined
        })
    })
  }

  const attempt = <A>(operation: string, run: () => Promise<A>): Effect.Effect<A, AdmissionStore.AdmissionStoreError> =>
    bounded(
      operation,
      Effect.tryPromise({
        try: run,
        catch: (cause) =>
          new AdmissionStore.AdmissionStoreError({ message: `Redis ${operation}: ${describe(cause)}`, cause })
      })
    )

  const evaluate = (which: Script, pool: string, args: ReadonlyArray<string>) => {
    const keys = keysOf(pool)
    const argv = [...keys, ...common, ...args]
    return attempt(which.name, async () => {
      try {
        return await client.call("EVALSHA", which.sha, keys.length, ...argv)
      } catch (cause) {
        if (!isNoScript(cause)) throw cause
        // not in the script cache (first use, or Redis restarted): EVAL loads it
        return await client.call("EVAL", which.lua, keys.length, ...argv)
      }
    })
  }

  // Server time → this process's clock, by the offset seen around the call.
  const withClock = <A, B>(
    run: Effect.Effect<A, AdmissionStore.AdmissionStoreError>,
    translate: (reply: A, local: number) => B
  ): Effect.Effect<B, AdmissionStore.AdmissionStoreError> =>
    Effect.flatMap(run, (reply) =>
      Effect.flatMap(Clock.currentTimeMillis, (local) =>
        Effect.try({
          try: () => translate(reply, local),
          catch: (cause) => new AdmissionStore.AdmissionStoreError({ message: `Redis: ${describe(cause)}`, cause })
        })))

  const decodeView = (reply: ReadonlyArray<unknown>, offset: number, local: number): Ledger.PoolView => {
    const at = decodeNumber(reply[offset]) ?? 0
    const buckets: { [K in Budget.BudgetBucket]?: Ledger.BucketView } = {}
    bucketIndex.forEach((name, k) => {
      const base = offset + 4 + k * 3
      const capacity = decodeNumber(reply[base])
      if (capacity === undefined) return
      buckets[name] = {
        capacity,
        level: decodeNumber(reply[base + 1]) ?? 0,
        rate: decodeNumber(reply[base + 2]) ?? 0
      }
    })
    const embargo = decodeNumber(reply[offset + 2]) ?? 0
    return {
      at: local,
      known: reply[offset + 1] === "1",
      buckets,
      embargoUntil: embargo > at ? local + (embargo - at) : 0,
      inFlight: decodeNumber(reply[offset + 3]) ?? 0
    }
  }

  const configure = (pool: string, limits: Ledger.Limits) =>
    Effect.zipRight(
      Effect.sync(() => configured.set(pool, { ...configured.get(pool), ...definedLimits(limits) })),
      Effect.asVoid(evaluate(scripts.configure, pool, limitsArgs(limits)))
    )

  const reserve = (pool: string, request: Ledger.ReserveRequest) =>
    withClock(
      evaluate(scripts.reserve, pool, [
        ...perBucket(request.cost),
        encodeNumber(request.holdBack),
        encodeNumber(request.maxInFlight),
        ...limitsArgs(configured.get(pool))
      ]),
      (raw, local): Ledger.ReserveResult => {
        const reply = asArray(raw, "reserve")
        switch (reply[0]) {
          case "G": {
            const taken: { [K in Budget.BudgetBucket]?: number } = {}
            bucketIndex.forEach((name, k) => {
              const amount = decodeNumber(reply[4 + k])
              if (amount !== undefined) taken[name] = amount
            })
            return {
              _tag: "Granted",
              lease: {
                id: String(reply[1]),
                pool,
                taken,
                output: decodeNumber(reply[8]) ?? 0,
                sequence: decodeNumber(reply[2]) ?? 0,
                // granted at the server's `reply[3]`, during the call: now, on this process's clock
                grantedAt: local
              }
            }
          }
          case "B": {
            const reason = String(reply[1])
            const index = Number(reason)
            return {
              _tag: "Blocked",
              reason: Number.isInteger(index) && index >= 1 && index <= 4
                ? bucketIndex[index - 1]!
                : reason as Ledger.BlockReason,
              waitMillis: decodeNumber(reply[2]) ?? 0,
              view: decodeView(reply, 3, local)
            }
          }
          case "N":
            return {
              _tag: "NeverFits",
              bucket: bucketIndex[Number(reply[1]) - 1]!,
              cost: decodeNumber(reply[2]) ?? 0,
              limit: decodeNumber(reply[3]) ?? 0
            }
          default:
            throw new Error(`unexpected reply to reserve: ${String(reply[0])}`)
        }
      }
    )

  const release = (lease: Ledger.Lease, settlement: Ledger.Settlement) =>
    Effect.flatMap(Clock.currentTimeMillis, (before) => {
      const observation = settlement.observation
      const bounds = bucketIndex.flatMap((name) => {
        const b = observation?.buckets[name]
        return b === undefined ? ["", "", ""] : [encodeNumber(b.limit), encodeNumber(b.low), encodeNumber(b.high)]
      })
      const outputTokens = settlement.outputTokens
      return withClock(
        evaluate(scripts.release, lease.pool, [
          lease.id,
          settlement.charged === undefined ? "0" : "1",
          ...perBucket(settlement.charged),
          encodeNumber(outputTokens !== undefined && Number.isFinite(outputTokens) ? outputTokens : undefined),
          observation === undefined ? "0" : "1",
          // an embargo travels as a delay: the script adds it to the server's clock
          encodeNumber(
            observation?.embargoUntil === undefined ? undefined : Math.max(0, observation.embargoUntil - before)
          ),
          observation?.includesOwnOutput === false ? "0" : "1",
          ...bounds
        ]),
        (raw, local) => {
          const reply = asArray(raw, "release")
          estimates.set(lease.pool, { value: decodeNumber(reply[1]), at: local })
          return decodeView(reply, 2, local)
        }
      )
    })

  const renew = (lease: Ledger.Lease) => Effect.asVoid(evaluate(scripts.renew, lease.pool, [lease.id]))

  const view = (pool: string) =>
    withClock(evaluate(scripts.view, pool, []), (raw, local) => decodeView(asArray(raw, "view"), 0, local))

  // Asked before every request: answered from the last release's reply or read, when that is recent enough.
  const estimates = new Map<string, { readonly value: number | undefined; readonly at: number }>()
  const outputEstimate = (pool: string) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const cached = estimates.get(pool)
      if (cached !== undefined && now - cached.at < estimateMaxAgeMillis) {
        return Effect.succeed(Option.fromNullable(cached.value))
      }
      return Effect.map(
        attempt("outputEstimate", () => client.call("HGET", keysOf(pool)[0]!, "est")),
        (reply) => {
          const value = decodeNumber(reply)
          estimates.set(pool, { value, at: now })
          return Option.fromNullable(value)
        }
      )
    })

  const ping = Effect.asVoid(attempt("ping", () => client.call("PING")))

  // Loaded up front, so that concurrent first calls do not each send a whole script with EVAL. Best effort: a
  // script missing later (a restart, another cluster node) is loaded by EVAL on NOSCRIPT.
  const loadScripts = Effect.ignore(
    Effect.forEach(
      Object.values(scripts),
      (script) => attempt("load", () => client.call("SCRIPT", "LOAD", script.lua)),
      {
        discard: true
      }
    )
  )

  return {
    [AdmissionStore.TypeId]: AdmissionStore.TypeId,
    shared: true,
    leaseRenewal: Option.some(Duration.millis(Math.max(1, Math.floor(options.leaseTtlMillis / 3)))),
    configure,
    reserve,
    release,
    renew,
    view,
    outputEstimate,
    ping,
    loadScripts,
    configured
  }
}

const definedLimits = (limits: Ledger.Limits): Ledger.Limits => {
  const out: { -readonly [K in keyof Ledger.Limits]: number } = {}
  for (const name of bucketIndex) {
    const limit = limits[name]
    if (limit !== undefined && limit > 0) out[name] = limit
  }
  return out
}
