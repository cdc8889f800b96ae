/**
 * The rules of the simulated Anthropic API, shared by the in-memory
 * `HttpClient` and the loopback server.
 *
 * Every decision about a request (admit or refuse, what it costs) happens in
 * one synchronous step over the engine's state, so concurrent fibers see
 * each other's effects atomically. Time comes from `Clock` (latency is an
 * `Effect.sleep`), so under `TestClock` minutes of traffic run in
 * milliseconds. Random choices come from the engine's own `Random`, seeded
 * from the config, so they replay exactly for the same sequence of requests.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import * as TokenBucket from "../../../internal/tokenBucket.js"
import type { Config, Limits } from "../SimulatorConfig.js"
import { limitsFor } from "../SimulatorConfig.js"
import * as PromptCache from "./promptCache.js"
import * as Stats from "./stats.js"
import * as Wire from "./wire.js"

/** @internal */
export interface Engine {
  readonly handle: (request: Wire.WireRequest) => Effect.Effect<Wire.WireResponse>
  readonly stats: Effect.Effect<Stats.Stats>
}

interface Pool {
  readonly limits: Limits
  requests: TokenBucket.TokenBucket
  input: TokenBucket.TokenBucket
  output: TokenBucket.TokenBucket
}

interface Admitted {
  readonly id: string
  readonly pool: Pool
  readonly model: string
  readonly latency: Duration.Duration
  readonly outputTokens: number
  readonly reservedOutput: number
  readonly inputTokens: number
  readonly cacheRead: number
  readonly cacheCreation: number
}

type Decision =
  | { readonly _tag: "Answer"; readonly response: Wire.WireResponse; readonly latency: Duration.Duration }
  | { readonly _tag: "Admitted"; readonly admitted: Admitted }

const window = Duration.toMillis(Duration.minutes(1))
const drawsPerRequest = 6

const unitOf: Record<Exclude<Stats.LimitKind, "concurrency">, string> = {
  requests: "requests",
  input_tokens: "input tokens",
  output_tokens: "output tokens"
}

/** @internal */
export const make = (config: Config): Effect.Effect<Engine> =>
  Effect.gen(function*() {
    const startedAt = yield* Clock.currentTimeMillis
    const rng = Random.make(config.seed)
    const pools = new Map<string, Pool>()
    const cache = PromptCache.make()
    let countTokensBucket = TokenBucket.make({
      capacity: config.countTokensPerMinute,
      level: config.countTokensPerMinute,
      windowMillis: window,
      at: startedAt
    })
    let inFlight = 0
    let sequence = 0
    const recorder = Stats.makeRecorder(startedAt)
    const { counters, rateLimited } = recorder
    const errorLatency = Duration.millis(Math.round(Duration.toMillis(config.latency.base) / 4))

    const poolFor = (model: string, now: number): Pool => {
      const { limits, pool: key } = limitsFor(config, model)
      let pool = pools.get(key)
      if (pool === undefined) {
        const bucket = (capacity: number) =>
          TokenBucket.make({ capacity, level: capacity, windowMillis: window, at: now })
        pool = {
          limits,
          requests: bucket(limits.requestsPerMinute),
          input: bucket(limits.inputTokensPerMinute),
          output: bucket(limits.outputTokensPerMinute)
        }
        pools.set(key, pool)
      }
      return pool
    }

    const answer = (response: Wire.WireResponse, latency = errorLatency): Decision => ({
      _tag: "Answer",
      response,
      latency
    })

    const refuse = (
      kind: Stats.LimitKind,
      model: string,
      limit: number,
      waitMillis: number,
      headers: Record<string, string>
    ) => {
      rateLimited[kind]++
      const retryAfter = Math.max(1, Math.ceil(waitMillis / 1000))
      const message = kind === "concurrency"
        ? `Number of concurrent connections has exceeded your rate limit of ${limit}. Please try again later.`
        : `This request would exceed your organization's rate limit of ${limit.toLocaleString("en-US")} ${
          unitOf[kind]
        } per minute (model: ${model}). For details, refer to: https://docs.claude.com/en/api/rate-limits.`
      return answer(Wire.errorResponse(429, "rate_limit_error", message, headers["request-id"]!, {
        ...headers,
        "retry-after": String(retryAfter)
      }))
    }

    const decide = (request: Wire.WireRequest, now: number, draws: ReadonlyArray<number>): Decision => {
      const id = `req_sim_${String(++sequence).padStart(8, "0")}`
      const isMessages = request.path === "/v1/messages"
      const isCount = request.path === "/v1/messages/count_tokens"
      counters.requests++
      if (request.method !== "POST" || (!isMessages && !isCount)) {
        counters.clientErrors++
        return answer(Wire.errorResponse(404, "not_found_error", `Not found: ${request.method} ${request.path}`, id))
      }
      // the official SDK sends `authorization: Bearer <key>` since 1.x; older clients send x-api-key
      const bearer = /^Bearer\s+\S+/i.test(request.headers["authorization"] ?? "")
      if ((request.headers["x-api-key"] ?? "").trim() === "" && !bearer) {
        counters.clientErrors++
        return answer(
          Wire.errorResponse(401, "authentication_error", "x-api-key or authorization header is required", id)
        )
      }
      if ((request.headers["anthropic-version"] ?? "").trim() === "") {
        counters.clientErrors++
        return answer(Wire.errorResponse(400, "invalid_request_error", "anthropic-version: header is required", id))
      }
      const parsed = Wire.parseRequest(request.body, isMessages)
      if (parsed._tag === "Invalid") {
        counters.clientErrors++
        return answer(Wire.errorResponse(400, "invalid_request_error", parsed.message, id))
      }
      const { maxTokens, model, segments } = parsed.request
      const [resetDraw, overloadDraw, errorDraw, slowDraw, outputDraw, jitterDraw] = draws as [
        number,
        number,
        number,
        number,
        number,
        number
      ]
      const minute = recorder.minuteOf(now)
      minute.requests++

      if (isCount) {
        const headers = {
          ...Wire.rateLimitHeaders({ requests: countTokensBucket }, now, false),
          "request-id": id
        }
        if (TokenBucket.levelAt(countTokensBucket, now) < 1) {
          minute.rateLimited++
          return refuse(
            "requests",
            "count_tokens",
            config.countTokensPerMinute,
            TokenBucket.millisUntil(countTokensBucket, now, 1),
            headers
          )
        }
        countTokensBucket = TokenBucket.take(countTokensBucket, now, 1)
        counters.tokenCounts++
        return answer(
          Wire.json(200, { input_tokens: cache.usage(segments, now).total }, {
            ...Wire.rateLimitHeaders({ requests: countTokensBucket }, now, false),
            "request-id": id
          })
        )
      }

      const pool = poolFor(model, now)
      const headersNow = () => ({
        ...Wire.rateLimitHeaders(pool, now, config.roundTokenHeaders),
        "request-id": id
      })
      const elapsed = now - startedAt
      const outage = config.faults.outages.find((window) => elapsed >= window.from && elapsed < window.to)
      if (outage !== undefined) {
        const overloaded = outage.status === 529
        if (overloaded) counters.overloaded++
        else counters.apiErrors++
        return answer(Wire.errorResponse(
          outage.status,
          overloaded ? "overloaded_error" : outage.status === 504 ? "timeout_error" : "api_error",
          overloaded ? "Overloaded" : "Internal server error",
          id,
          headersNow()
        ))
      }
      if (resetDraw < config.faults.connectionResetRate) {
        counters.connectionResets++
        return answer(Wire.disconnected)
      }
      if (inFlight >= config.maxConcurrentRequests) {
        minute.rateLimited++
        return refuse("concurrency", model, config.maxConcurrentRequests, 1000, headersNow())
      }

      const usage = cache.usage(segments, now)
      const countedInput = usage.total - usage.cacheRead
      const outputNeed = config.outputAccounting === "max_tokens" ? maxTokens : 1
      const needs: ReadonlyArray<readonly [Exclude<Stats.LimitKind, "concurrency">, TokenBucket.TokenBucket, number]> =
        [
          ["requests", pool.requests, 1],
          ["input_tokens", pool.input, countedInput],
          ["output_tokens", pool.output, outputNeed]
        ]
      const short = needs.filter(([, bucket, need]) => TokenBucket.levelAt(bucket, now) < need)
      if (short.length > 0) {
        minute.rateLimited++
        const [kind, bucket] = short[0]!
        const waitMillis = Math.max(
          ...short.map(([, shortBucket, need]) =>
            TokenBucket.millisUntil(shortBucket, now, Math.min(need, shortBucket.capacity))
          )
        )
        return refuse(kind, model, bucket.capacity, waitMillis, headersNow())
      }
      if (overloadDraw < config.faults.overloadedRate) {
        counters.overloaded++
        return answer(Wire.errorResponse(529, "overloaded_error", "Overloaded", id, headersNow()))
      }
      if (errorDraw < config.faults.apiErrorRate) {
        counters.apiErrors++
        return answer(Wire.errorResponse(500, "api_error", "Internal server error", id, headersNow()))
      }

      pool.requests = TokenBucket.take(pool.requests, now, 1)
      pool.input = TokenBucket.take(pool.input, now, countedInput)
      const reservedOutput = config.outputAccounting === "max_tokens" ? maxTokens : 0
      pool.output = TokenBucket.take(pool.output, now, reservedOutput)
      usage.store()
      inFlight++
      counters.peakConcurrency = Math.max(counters.peakConcurrency, inFlight)
      counters.inputTokens += countedInput
      counters.cacheReadInputTokens += usage.cacheRead
      counters.cacheCreationInputTokens += usage.cacheCreation
      minute.inputTokens += countedInput
      minute.cacheReadInputTokens += usage.cacheRead

      const { max, min } = config.output
      const outputTokens = Math.min(maxTokens, Math.max(1, Math.round(maxTokens * (min + (max - min) * outputDraw))))
      const { base, jitter, perOutputToken } = config.latency
      const spread = 1 + jitter * (2 * jitterDraw - 1)
      const slow = slowDraw < config.faults.slowRate ? Duration.toMillis(config.faults.slowLatency) : 0
      const latency = Duration.millis(
        Math.round((Duration.toMillis(base) + Duration.toMillis(perOutputToken) * outputTokens) * spread) + slow
      )
      return {
        _tag: "Admitted",
        admitted: {
          id,
          pool,
          model,
          latency,
          outputTokens,
          reservedOutput,
          inputTokens: usage.total - usage.cacheRead - usage.cacheCreation,
          cacheRead: usage.cacheRead,
          cacheCreation: usage.cacheCreation
        }
      }
    }

    const complete = (admitted: Admitted, now: number): Wire.WireResponse => {
      inFlight--
      const { pool } = admitted
      // output is charged as produced; a max_tokens reservation is settled to what was produced
      pool.output = admitted.reservedOutput > 0
        ? TokenBucket.refund(pool.output, now, admitted.reservedOutput - admitted.outputTokens)
        : TokenBucket.take(pool.output, now, admitted.outputTokens)
      counters.succeeded++
      counters.outputTokens += admitted.outputTokens
      const minute = recorder.minuteOf(now)
      minute.succeeded++
      minute.outputTokens += admitted.outputTokens
      const stopReason = admitted.outputTokens >= admitted.reservedOutput && admitted.reservedOutput > 0
        ? "max_tokens"
        : "end_turn"
      return Wire.json(
        200,
        Wire.messageBody({
          id: `msg_sim_${admitted.id.slice(8)}`,
          model: admitted.model,
          text: Wire.generatedText(admitted.outputTokens, Number(admitted.id.slice(8))),
          stopReason,
          inputTokens: admitted.inputTokens,
          outputTokens: admitted.outputTokens,
          cacheCreation: admitted.cacheCreation,
          cacheRead: admitted.cacheRead
        }),
        { ...Wire.rateLimitHeaders(pool, now, config.roundTokenHeaders), "request-id": admitted.id }
      )
    }

    const abandon = (admitted: Admitted, now: number) => {
      inFlight--
      counters.abandoned++
      if (admitted.reservedOutput > 0) {
        admitted.pool.output = TokenBucket.refund(admitted.pool.output, now, admitted.reservedOutput)
      }
    }

    const handle = (request: Wire.WireRequest): Effect.Effect<Wire.WireResponse> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          const draws = yield* Effect.all(Array.from({ length: drawsPerRequest }, () => rng.next))
          const now = yield* Clock.currentTimeMillis
          const decision = yield* Effect.sync(() => decide(request, now, draws))
          if (decision._tag === "Answer") {
            yield* restore(Effect.sleep(decision.latency))
            return decision.response
          }
          const { admitted } = decision
          yield* restore(Effect.sleep(admitted.latency)).pipe(
            Effect.onInterrupt(() =>
              Effect.flatMap(Clock.currentTimeMillis, (at) => Effect.sync(() => abandon(admitted, at)))
            )
          )
          const done = yield* Clock.currentTimeMillis
          return yield* Effect.sync(() => complete(admitted, done))
        })
      )

    const stats = Effect.sync(() =>
      recorder.snapshot(Object.fromEntries(Array.from(pools.entries(), ([key, pool]) => [key, pool.limits])))
    )

    return { handle, stats }
  })
