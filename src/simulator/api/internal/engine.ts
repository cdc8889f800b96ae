/**
 * The rules of the simulated Anthropic API, shared by every route and both
 * ways of serving it (in memory and on loopback).
 *
 * Every decision about a request (admit or refuse, what it costs) happens in
 * one synchronous step over the engine's state, so concurrent fibers see
 * each other's effects atomically. Time comes from `Clock`, so under
 * `TestClock` or `VirtualTime` minutes of traffic run in milliseconds.
 * Random choices come from the engine's own `Random`, seeded from the
 * config, drawn a fixed number per request, so they replay exactly.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import * as ModelCatalog from "../ModelCatalog.js"
import type { Config, Limits } from "../SimulatorConfig.js"
import { limitsFor } from "../SimulatorConfig.js"
import * as Bucket from "./bucket.js"
import * as Lifecycle from "./lifecycle.js"
import * as Models from "./models.js"
import * as PromptCache from "./promptCache.js"
import type * as Requests from "./requests.js"
import * as Stats from "./stats.js"
import * as TokenCount from "./tokenCount.js"
import * as Wire from "./wire.js"

/** @internal */
export interface Pool {
  readonly limits: Limits
  requests: Bucket.Bucket
  input: Bucket.Bucket
  output: Bucket.Bucket
  ramp: Models.Ramp
}

/** How a streamed answer ends. @internal */
export type StreamFault = "none" | "errorBeforeContent" | "errorMidStream" | "cut"

/** @internal */
export interface Admitted {
  readonly id: string
  readonly pool: Pool
  readonly model: string
  readonly stream: boolean
  /** time to the first token (and the whole latency of an answer without output pacing) */
  readonly firstTokenMillis: number
  /** time per output token */
  readonly perTokenMillis: number
  /** extra latency of a slow answer */
  readonly slowMillis: number
  readonly outputTokens: number
  readonly stopReason: "end_turn" | "max_tokens"
  readonly reservedOutput: number
  readonly inputTokens: number
  readonly cacheRead: number
  readonly cacheCreation: number
  readonly streamFault: StreamFault
  /** output tokens charged so far */
  charged: number
  settled: boolean
}

/** @internal */
export type Decision =
  | { readonly _tag: "Answer"; readonly response: Wire.WireResponse; readonly latencyMillis: number }
  | { readonly _tag: "Admitted"; readonly admitted: Admitted }

const drawsPerRequest = 10
const window = 60_000

const unitOf: Record<Exclude<Stats.LimitKind, "concurrency">, string> = {
  requests: "requests",
  input_tokens: "input tokens",
  output_tokens: "output tokens"
}

/** @internal */
export const make = (config: Config) =>
  Effect.gen(function*() {
    const startedAt = yield* Clock.currentTimeMillis
    const rng = Random.make(config.seed)
    const pools = new Map<string, Pool>()
    const counter = TokenCount.make(config.charactersPerToken)
    const cache = PromptCache.make(counter)
    let countTokensBucket = Bucket.full(config.countTokensPerMinute, startedAt)
    let sequence = 0
    const recorder = Stats.makeRecorder(startedAt)
    const { counters, rateLimited } = recorder
    const errorLatency = Math.round(Duration.toMillis(config.latency.base) / 4)

    const nextId = (): string => {
      counters.requests++
      return `req_sim_${String(++sequence).padStart(8, "0")}`
    }

    const poolFor = (model: string, now: number): Pool => {
      const { limits, pool: key } = limitsFor(config, model)
      let pool = pools.get(key)
      if (pool === undefined) {
        pool = {
          limits,
          requests: Bucket.full(limits.requestsPerMinute, now),
          input: Bucket.full(limits.inputTokensPerMinute, now),
          output: Bucket.full(limits.outputTokensPerMinute, now),
          ramp: Models.ramp()
        }
        pools.set(key, pool)
      }
      return pool
    }

    const answer = (response: Wire.WireResponse, latencyMillis = errorLatency): Decision => ({
      _tag: "Answer",
      response,
      latencyMillis
    })

    const clientError = (status: number, type: string, message: string, id: string): Wire.WireResponse => {
      recorder.clientError(status)
      return Wire.errorResponse(status, type, message, id)
    }

    const rateLimitedAnswer = (
      message: string,
      id: string,
      headers: Record<string, string>,
      extra: { readonly retryAfterMillis?: number; readonly details?: Record<string, unknown> } = {}
    ) =>
      answer(Wire.errorResponse(
        429,
        "rate_limit_error",
        message,
        id,
        extra.retryAfterMillis === undefined
          ? headers
          : { ...headers, "retry-after": String(Math.max(1, Math.ceil(extra.retryAfterMillis / 1000))) },
        extra.details
      ))

    const refuse = (
      kind: Stats.LimitKind,
      model: string,
      limit: number,
      waitMillis: number,
      id: string,
      headers: Record<string, string>
    ) => {
      rateLimited[kind]++
      const message = kind === "concurrency"
        ? `Number of concurrent connections has exceeded your rate limit of ${limit}. Please try again later.`
        : `This request would exceed your organization's rate limit of ${limit.toLocaleString("en-US")} ${
          unitOf[kind]
        } per minute (model: ${model}). For details, refer to: https://docs.claude.com/en/api/rate-limits.`
      return rateLimitedAnswer(message, id, headers, { retryAfterMillis: waitMillis })
    }

    const validate = (
      request: Requests.MessagesRequest,
      id: string,
      withMaxTokens: boolean
    ): Wire.WireResponse | undefined => {
      const model = ModelCatalog.find(config.models, request.model)
      if (model === undefined) return clientError(404, "not_found_error", `model: ${request.model}`, id)
      if (withMaxTokens && request.maxTokens > model.maxOutputTokens) {
        return clientError(
          400,
          "invalid_request_error",
          `max_tokens: ${request.maxTokens} > ${model.maxOutputTokens}, which is the maximum allowed number of output tokens for ${model.id}`,
          id
        )
      }
      return undefined
    }

    const countTokens = (request: Requests.MessagesRequest, id: string, now: number): Decision => {
      const invalid = validate(request, id, false)
      if (invalid !== undefined) return answer(invalid)
      recorder.minuteOf(now).requests++
      const headers = () => ({
        ...Wire.rateLimitHeaders({ requests: countTokensBucket }, now, false),
        "request-id": id
      })
      if (Bucket.level(countTokensBucket, now) < 1) {
        recorder.minuteOf(now).rateLimited++
        return refuse(
          "requests",
          "count_tokens",
          config.countTokensPerMinute,
          Bucket.waitFor(countTokensBucket, now, 1),
          id,
          headers()
        )
      }
      countTokensBucket = Bucket.take(countTokensBucket, now, 1)
      counters.tokenCounts++
      const total = counter.prefix(
        request.segments.reduce((sum, s) => sum + s.characters, 0),
        request.segments.reduce((sum, s) => sum + s.fixedTokens, 0),
        request.overhead
      )
      return answer(Wire.json(200, { input_tokens: total }, headers()))
    }

    const messages = (
      request: Requests.MessagesRequest,
      id: string,
      now: number,
      draws: ReadonlyArray<number>
    ): Decision => {
      const invalid = validate(request, id, true)
      if (invalid !== undefined) return answer(invalid)
      const model = ModelCatalog.find(config.models, request.model)!
      const [resetDraw, overloadDraw, errorDraw, slowDraw, outputDraw, jitterDraw, streamDraw, outputDraw2] = draws as [
        number,
        number,
        number,
        number,
        number,
        number,
        number,
        number
      ]
      const usage = cache.usage(request.segments, request.overhead, now)
      if (usage.total > model.contextWindow) {
        return answer(clientError(
          400,
          "invalid_request_error",
          `prompt is too long: ${usage.total} tokens > ${model.contextWindow} maximum`,
          id
        ))
      }
      const minute = recorder.minuteOf(now)
      minute.requests++
      const pool = poolFor(request.model, now)
      const headers = () => ({ ...Wire.rateLimitHeaders(pool, now, config.roundTokenHeaders), "request-id": id })
      const elapsed = now - startedAt
      const outage = config.faults.outages.find((w) => elapsed >= w.from && elapsed < w.to)
      if (outage !== undefined) return answer(serverError(outage.status, id, headers()))
      if (resetDraw < config.faults.connectionResetRate) {
        counters.connectionResets++
        return answer(Wire.disconnected)
      }
      const spend = config.spendLimit
      if (spend !== undefined && counters.succeeded + counters.inFlight >= spend.afterRequests) {
        minute.rateLimited++
        recorder.errorCode(spend.errorCode)
        return rateLimitedAnswer(
          "Your organization has reached its spend limit for this period. Requests will be refused until it resets.",
          id,
          headers(),
          { details: { error_code: spend.errorCode } }
        )
      }
      if (counters.inFlight >= config.maxConcurrentRequests) {
        minute.rateLimited++
        return refuse("concurrency", request.model, config.maxConcurrentRequests, 1000, id, headers())
      }
      const countedInput = TokenCount.chargedInput(
        {
          input: usage.total - usage.cacheRead - usage.cacheCreation,
          cacheCreation: usage.cacheCreation,
          cacheRead: usage.cacheRead
        },
        model.cacheReadsCountTowardInputLimit === true
      )
      const outputNeed = config.outputAccounting === "max_tokens" ? request.maxTokens : 1
      const needs: ReadonlyArray<readonly [Exclude<Stats.LimitKind, "concurrency">, Bucket.Bucket, number]> = [
        ["requests", pool.requests, 1],
        ["input_tokens", pool.input, countedInput],
        ["output_tokens", pool.output, outputNeed]
      ]
      const neverFits = needs.find(([, bucket, need]) => !Bucket.canEverFit(bucket, need))
      if (neverFits !== undefined) {
        const [kind, bucket, need] = neverFits
        minute.rateLimited++
        rateLimited[kind]++
        counters.neverFit++
        // the honest answer: waiting helps only until the bucket is full, and a full bucket is still too small
        return answer(Wire.errorResponse(
          429,
          "rate_limit_error",
          `This request (${need.toLocaleString("en-US")} ${unitOf[kind]}) exceeds your organization's rate limit of ${
            bucket.capacity.toLocaleString("en-US")
          } ${unitOf[kind]} per minute (model: ${request.model}) and cannot succeed at this limit: make it smaller.`,
          id,
          {
            ...headers(),
            "retry-after": String(Math.max(1, Math.ceil((Bucket.resetAt(bucket, now) - now) / 1000))),
            "x-should-retry": "false"
          }
        ))
      }
      const short = needs.filter(([, bucket, need]) => Bucket.level(bucket, now) < need)
      if (short.length > 0) {
        minute.rateLimited++
        const [kind, bucket] = short[0]!
        const waitMillis = Math.max(...short.map(([, b, need]) => Bucket.waitFor(b, now, need)))
        return refuse(kind, request.model, bucket.capacity, waitMillis, id, headers())
      }
      const ramp = config.acceleration === undefined
        ? { ok: true, retryAfterMillis: 0 }
        : Models.rampAllows(config.acceleration, pool.ramp, pool.limits.requestsPerMinute, now - startedAt)
      if (!ramp.ok) {
        minute.rateLimited++
        recorder.errorCode("ramp_limit_exceeded")
        return rateLimitedAnswer(
          "Your organization's request rate increased too quickly (acceleration limit). Ramp up traffic gradually.",
          id,
          headers(),
          { retryAfterMillis: ramp.retryAfterMillis, details: { error_code: "ramp_limit_exceeded" } }
        )
      }
      if (overloadDraw < config.faults.overloadedRate) return answer(serverError(529, id, headers()))
      if (errorDraw < config.faults.apiErrorRate) return answer(serverError(500, id, headers()))

      pool.ramp.current++
      pool.requests = Bucket.take(pool.requests, now, 1)
      pool.input = Bucket.take(pool.input, now, countedInput)
      const reservedOutput = config.outputAccounting === "max_tokens" ? request.maxTokens : 0
      pool.output = Bucket.take(pool.output, now, reservedOutput)
      usage.store()
      counters.inFlight++
      counters.peakConcurrency = Math.max(counters.peakConcurrency, counters.inFlight)
      counters.inputTokens += countedInput
      counters.cacheReadInputTokens += usage.cacheRead
      counters.cacheCreationInputTokens += usage.cacheCreation
      minute.inputTokens += countedInput
      minute.cacheReadInputTokens += usage.cacheRead
      if (request.stream) counters.streams++

      const outputTokens = Models.outputLength(config.output, request.maxTokens, outputDraw, outputDraw2)
      const { base, jitter, perOutputToken } = config.latency
      const spread = 1 + jitter * (2 * jitterDraw - 1)
      const faults = config.faults.stream
      const streamFault: StreamFault = !request.stream
        ? "none"
        : streamDraw < faults.errorBeforeContentRate
        ? "errorBeforeContent"
        : streamDraw < faults.errorBeforeContentRate + faults.errorMidStreamRate
        ? "errorMidStream"
        : streamDraw < faults.errorBeforeContentRate + faults.errorMidStreamRate + faults.cutRate
        ? "cut"
        : "none"
      return {
        _tag: "Admitted",
        admitted: {
          id,
          pool,
          model: request.model,
          stream: request.stream,
          firstTokenMillis: Math.round(millisOf(base) * spread),
          perTokenMillis: millisOf(perOutputToken) * spread,
          slowMillis: slowDraw < config.faults.slowRate ? millisOf(config.faults.slowLatency) : 0,
          outputTokens,
          stopReason: outputTokens >= request.maxTokens ? "max_tokens" : "end_turn",
          reservedOutput,
          inputTokens: usage.total - usage.cacheRead - usage.cacheCreation,
          cacheRead: usage.cacheRead,
          cacheCreation: usage.cacheCreation,
          streamFault,
          charged: 0,
          settled: false
        }
      }
    }

    const serverError = (status: number, id: string, headers: Record<string, string>): Wire.WireResponse => {
      if (status === 529) {
        counters.overloaded++
        // as observed from the API: no rate-limit headers, and an explicit invitation to retry
        return Wire.errorResponse(529, "overloaded_error", "Overloaded", id, { "x-should-retry": "true" })
      }
      counters.apiErrors++
      return Wire.errorResponse(
        status,
        status === 504 ? "timeout_error" : "api_error",
        "Internal server error",
        id,
        headers
      )
    }

    const lifecycle = Lifecycle.make(config, recorder)

    const draws = Effect.all(Array.from({ length: drawsPerRequest }, () => rng.next))

    const stats = Effect.sync(() =>
      recorder.snapshot(Object.fromEntries(Array.from(pools.entries(), ([key, pool]) => [key, pool.limits])))
    )

    return {
      config,
      startedAt,
      recorder,
      nextId,
      clientError,
      messages,
      countTokens,
      ...lifecycle,
      draws,
      stats,
      errorLatency,
      window
    } as const
  })

const millisOf = Duration.toMillis

/** @internal */
export type Engine = Effect.Effect.Success<ReturnType<typeof make>>
