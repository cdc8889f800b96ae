/**
 * Live counters of a workload run, observed from outside the library: from
 * the `HttpClient` the client sends through (attempts on the wire, statuses,
 * the limits the API reports) and from the runner's own bookkeeping
 * (requests started and done). Nothing inside the library is decorated, so
 * the library can change its insides freely.
 *
 * "Waiting" is what is neither on the wire nor done: requests held back by
 * the client (for budget, a retry wait, an open circuit) or by the lane's
 * own concurrency.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as Option from "effect/Option"

/**
 * @since 0.1.0
 * @category models
 */
export interface Progress {
  readonly total: number
  readonly started: number
  readonly done: number
  readonly failed: number
  /** HTTP attempts on the wire now */
  readonly onTheWire: number
  /** started − on the wire − done */
  readonly waiting: number
  readonly attempts: number
  readonly rateLimited: number
  readonly otherErrorStatuses: number
  readonly connectionErrors: number
}

/**
 * What happened to one request on the wire.
 *
 * @since 0.2.0
 * @category models
 */
export interface Trace {
  readonly startedAt: number
  firstSentAt: number | undefined
  attempts: number
  lastEndedAt: number | undefined
  /** status of the last attempt; 0 for no answer */
  lastStatus: number | undefined
  waitAfter429Millis: number
  waitAfterOtherMillis: number
}

/**
 * Limits the API reported in its headers.
 *
 * @since 0.2.0
 * @category models
 */
export interface ReportedLimits {
  readonly requestsPerMinute: number
  readonly inputTokensPerMinute: number
  readonly outputTokensPerMinute: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Monitor {
  readonly progress: Effect.Effect<Progress>
  /** limits from the last response that reported all three */
  readonly limits: Effect.Effect<Option.Option<ReportedLimits>>
  /** Runs one request of the workload, tracing its attempts. */
  readonly track: <A, E, R>(request: Effect.Effect<A, E, R>) => Effect.Effect<readonly [A, Trace], E, R>
  /** Counts a finished request. */
  readonly requestDone: (succeeded: boolean) => Effect.Effect<void>
  readonly httpClient: (client: HttpClient.HttpClient) => HttpClient.HttpClient
}

const currentTrace = FiberRef.unsafeMake<Trace | undefined>(undefined)

const limitHeader = (headers: Readonly<Record<string, string>>, bucket: string): number | undefined => {
  const value = Number(headers[`anthropic-ratelimit-${bucket}-limit`])
  return Number.isFinite(value) && value > 0 ? value : undefined
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (total: number): Effect.Effect<Monitor> =>
  Effect.sync(() => {
    const state = {
      started: 0,
      done: 0,
      failed: 0,
      onTheWire: 0,
      attempts: 0,
      rateLimited: 0,
      otherErrorStatuses: 0,
      connectionErrors: 0
    }
    let limits: Option.Option<ReportedLimits> = Option.none()

    const attemptStarts = (trace: Trace | undefined, at: number) => {
      state.onTheWire++
      state.attempts++
      if (trace === undefined) return
      if (trace.firstSentAt === undefined) trace.firstSentAt = at
      else if (trace.lastEndedAt !== undefined) {
        const gap = at - trace.lastEndedAt
        if (trace.lastStatus === 429) trace.waitAfter429Millis += gap
        else trace.waitAfterOtherMillis += gap
      }
      trace.attempts++
    }

    const attemptEnds = (trace: Trace | undefined, at: number, status: number) => {
      state.onTheWire--
      if (status === 429) state.rateLimited++
      else if (status === 0) state.connectionErrors++
      else if (status >= 400) state.otherErrorStatuses++
      if (trace !== undefined) {
        trace.lastEndedAt = at
        trace.lastStatus = status
      }
    }

    return {
      progress: Effect.sync(() => ({
        total,
        ...state,
        waiting: Math.max(0, state.started - state.onTheWire - state.done)
      })),
      limits: Effect.sync(() => limits),
      track: <A, E, R>(request: Effect.Effect<A, E, R>) =>
        Effect.flatMap(Clock.currentTimeMillis, (startedAt) => {
          const trace: Trace = {
            startedAt,
            firstSentAt: undefined,
            attempts: 0,
            lastEndedAt: undefined,
            lastStatus: undefined,
            waitAfter429Millis: 0,
            waitAfterOtherMillis: 0
          }
          state.started++
          return Effect.map(Effect.locally(request, currentTrace, trace), (a) => [a, trace] as const)
        }),
      requestDone: (succeeded) =>
        Effect.sync(() => {
          state.done++
          if (!succeeded) state.failed++
        }),
      httpClient: (client) =>
        HttpClient.transform(client, (response) =>
          Effect.gen(function*() {
            const trace = yield* FiberRef.get(currentTrace)
            attemptStarts(trace, yield* Clock.currentTimeMillis)
            const status = { value: 0 }
            return yield* response.pipe(
              Effect.tap((answer) =>
                Effect.sync(() => {
                  status.value = answer.status
                  const requests = limitHeader(answer.headers, "requests")
                  const input = limitHeader(answer.headers, "input-tokens")
                  const output = limitHeader(answer.headers, "output-tokens")
                  if (requests !== undefined && input !== undefined && output !== undefined) {
                    limits = Option.some({
                      requestsPerMinute: requests,
                      inputTokensPerMinute: input,
                      outputTokensPerMinute: output
                    })
                  }
                })
              ),
              Effect.ensuring(
                Effect.flatMap(Clock.currentTimeMillis, (at) => Effect.sync(() => attemptEnds(trace, at, status.value)))
              )
            )
          }))
    }
  })
