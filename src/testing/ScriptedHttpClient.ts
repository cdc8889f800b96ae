/**
 * An `HttpClient` that answers from a script, for tests: each request gets
 * the next scripted response (status, headers, body, latency, or a dropped
 * connection), at the time `Clock` says, so under `TestClock` a whole
 * timeline of retries runs in milliseconds and exactly. Every request is
 * recorded with its virtual send time.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import * as Wire from "./internal/scriptedWire.js"

/**
 * One scripted answer. `body` may be a string (sent as is) or any other
 * value (sent as JSON). `disconnect` drops the connection instead of
 * answering. `latency` is slept (through `Clock`) before the answer.
 *
 * @since 0.1.0
 * @category models
 */
export interface ScriptedResponse {
  readonly status?: number | undefined
  readonly headers?: Readonly<Record<string, string>> | undefined
  readonly body?: unknown
  readonly latency?: Duration.DurationInput | undefined
  readonly disconnect?: boolean | undefined
  /** A streamed body: these server-sent events, one chunk each (`body` is then ignored). */
  readonly events?: ReadonlyArray<{ readonly event: string; readonly data: unknown }> | undefined
  /** With `events`: the connection is cut after this many of them. */
  readonly cutAfterEvents?: number | undefined
  /**
   * The body (`events` or `body`) is sent in chunks of this many bytes (instead of one event a chunk), so that a
   * chunk may end anywhere (inside a field, inside a multi-byte character).
   *
   * @since 0.2.0
   */
  readonly chunkBytes?: number | undefined
  /**
   * The connection ends after this many bytes of the body (`events` or `body`), wherever that falls. How it ends
   * is `cutWith`.
   *
   * @since 0.2.0
   */
  readonly cutAfterBytes?: number | undefined
  /**
   * How a cut body ends: `"reset"` (default), the connection fails; `"end"`, it closes cleanly as if the body
   * were complete (a proxy that gave up); `"stall"`, nothing more ever comes and the connection stays open (a
   * response that never ends).
   *
   * @since 0.2.0
   */
  readonly cutWith?: "reset" | "end" | "stall" | undefined
}

/**
 * What a step of the script sees when it is built lazily.
 *
 * @since 0.1.0
 * @category models
 */
export interface StepContext {
  readonly now: DateTime.Utc
  /** 0 for the first request. */
  readonly index: number
  readonly request: RecordedRequest
}

/**
 * @since 0.1.0
 * @category models
 */
export type Step = ScriptedResponse | ((context: StepContext) => ScriptedResponse)

/**
 * @since 0.1.0
 * @category models
 */
export interface RecordedRequest {
  readonly method: string
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: unknown
  /** Virtual epoch millis at which the request was sent. */
  readonly sentAt: number
}

/**
 * The recorder of a scripted client.
 *
 * @since 0.1.0
 * @category models
 */
export interface ScriptedHttpClient {
  readonly requests: Effect.Effect<ReadonlyArray<RecordedRequest>>
  /** Virtual send times relative to the first request, in millis. */
  readonly sendTimes: Effect.Effect<ReadonlyArray<number>>
}

/**
 * @since 0.1.0
 * @category tags
 */
export const ScriptedHttpClient: Context.Tag<ScriptedHttpClient, ScriptedHttpClient> = Context.GenericTag<
  ScriptedHttpClient
>("claude-rate-limiter/testing/ScriptedHttpClient")

/**
 * A scripted client and its recorder. When the script runs out, the request
 * dies with a message saying so: a test that sends more than it scripted is
 * wrong, and should not pass on a made-up answer.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  script: ReadonlyArray<Step>
): Effect.Effect<readonly [HttpClient.HttpClient, ScriptedHttpClient]> =>
  Effect.gen(function*() {
    const recorded = yield* Ref.make<ReadonlyArray<RecordedRequest>>([])
    const client = HttpClient.make((request, url) =>
      Effect.gen(function*() {
        const sentAt = yield* Clock.currentTimeMillis
        const entry: RecordedRequest = {
          method: request.method,
          url: url.toString(),
          headers: request.headers,
          body: Wire.bodyOf(request),
          sentAt
        }
        const index = yield* Ref.modify(recorded, (all) => [all.length, [...all, entry]])
        const step = script[index]
        if (step === undefined) {
          return yield* Effect.dieMessage(`ScriptedHttpClient: request ${index + 1} was not scripted (${url})`)
        }
        const response = typeof step === "function"
          ? step({ now: DateTime.unsafeMake(sentAt), index, request: entry })
          : step
        if (response.latency !== undefined) {
          yield* Effect.sleep(response.latency)
        }
        if (response.disconnect === true) {
          return yield* Effect.fail(
            new HttpClientError.RequestError({ request, reason: "Transport", description: "connection reset by peer" })
          )
        }
        return Wire.respond(request, response)
      })
    )
    const requests = Ref.get(recorded)
    return [client, {
      requests,
      sendTimes: Effect.map(requests, (all) => all.map((entry) => entry.sentAt - (all[0]?.sentAt ?? 0)))
    }] as const
  })

/**
 * The server-sent events `events` as the bytes of a body, as the API frames them.
 *
 * @since 0.2.0
 * @category responses
 */
export const sseText: (events: ReadonlyArray<{ readonly event: string; readonly data: unknown }>) => Uint8Array =
  Wire.sseText

/**
 * The events of a streamed answer, as the Messages API sends them: the text
 * in `chunks` text deltas, then the final usage; with `errorAfter`, an
 * `event: error` of `errorType` after that many deltas instead of the rest.
 *
 * @since 0.2.0
 * @category responses
 */
export const streamEvents = (options: {
  readonly chunks?: ReadonlyArray<string> | undefined
  readonly inputTokens?: number | undefined
  readonly outputTokens?: number | undefined
  readonly errorAfter?: number | undefined
  readonly errorType?: string | undefined
} = {}): ReadonlyArray<{ readonly event: string; readonly data: unknown }> => {
  const chunks = options.chunks ?? ["Hello", ", ", "world!"]
  const head = [
    {
      event: "message_start",
      data: {
        type: "message_start",
        message: {
          id: "msg_scripted_stream",
          type: "message",
          role: "assistant",
          model: "claude-sonnet-4-6",
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { input_tokens: options.inputTokens ?? 12, output_tokens: 1 }
        }
      }
    },
    {
      event: "content_block_start",
      data: { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }
    },
    { event: "ping", data: { type: "ping" } }
  ]
  const deltas = chunks.map((text) => ({
    event: "content_block_delta",
    data: { type: "content_block_delta", index: 0, delta: { type: "text_delta", text } }
  }))
  if (options.errorAfter !== undefined) {
    return [
      ...head,
      ...deltas.slice(0, options.errorAfter),
      {
        event: "error",
        data: { type: "error", error: { type: options.errorType ?? "overloaded_error", message: "Overloaded" } }
      }
    ]
  }
  return [
    ...head,
    ...deltas,
    { event: "content_block_stop", data: { type: "content_block_stop", index: 0 } },
    {
      event: "message_delta",
      data: {
        type: "message_delta",
        delta: { stop_reason: "end_turn", stop_sequence: null },
        usage: { output_tokens: options.outputTokens ?? 7 }
      }
    },
    { event: "message_stop", data: { type: "message_stop" } }
  ]
}

/**
 * Provides the scripted `HttpClient` and its recorder.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  script: ReadonlyArray<Step>
): Layer.Layer<HttpClient.HttpClient | ScriptedHttpClient> =>
  Layer.effectContext(
    Effect.map(make(script), ([client, recorder]) =>
      Context.make(HttpClient.HttpClient, client).pipe(Context.add(ScriptedHttpClient, recorder)))
  )

/**
 * A successful Messages API answer with the given text and usage.
 *
 * @since 0.1.0
 * @category responses
 */
export const message = (options: {
  readonly text?: string | undefined
  readonly model?: string | undefined
  readonly inputTokens?: number | undefined
  readonly outputTokens?: number | undefined
  readonly headers?: Readonly<Record<string, string>> | undefined
} = {}): ScriptedResponse => ({
  status: 200,
  headers: { "request-id": "req_scripted", ...options.headers },
  body: {
    id: "msg_scripted",
    type: "message",
    role: "assistant",
    model: options.model ?? "claude-sonnet-4-6",
    content: [{ type: "text", text: options.text ?? "Hello!" }],
    stop_reason: "end_turn",
    stop_sequence: null,
    usage: { input_tokens: options.inputTokens ?? 10, output_tokens: options.outputTokens ?? 5 }
  }
})

/**
 * An error answer with Anthropic's JSON error body.
 *
 * @since 0.1.0
 * @category responses
 */
export const error = (
  status: number,
  type: string,
  options: {
    readonly message?: string | undefined
    readonly headers?: Readonly<Record<string, string>> | undefined
    readonly details?: Readonly<Record<string, unknown>> | undefined
  } = {}
): ScriptedResponse => ({
  status,
  headers: { "request-id": `req_scripted_${status}`, ...options.headers },
  body: {
    type: "error",
    error: {
      type,
      message: options.message ?? `scripted ${type}`,
      ...(options.details === undefined ? {} : { details: options.details })
    },
    request_id: `req_scripted_${status}`
  }
})

/**
 * Rate-limit headers for one bucket, its reset `resetIn` from `now`.
 *
 * @since 0.1.0
 * @category responses
 */
export const bucketHeaders = (
  bucket: "requests" | "tokens" | "input-tokens" | "output-tokens",
  options: {
    readonly limit: number
    readonly remaining: number
    readonly now: DateTime.Utc
    readonly resetIn: Duration.DurationInput
  }
): Record<string, string> => ({
  [`anthropic-ratelimit-${bucket}-limit`]: String(options.limit),
  [`anthropic-ratelimit-${bucket}-remaining`]: String(options.remaining),
  [`anthropic-ratelimit-${bucket}-reset`]: DateTime.formatIso(
    DateTime.addDuration(options.now, Duration.decode(options.resetIn))
  ).replace(/\.000Z$/, "Z")
})
