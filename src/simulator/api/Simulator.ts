/**
 * A simulated Anthropic API that behaves like the real one under load, with
 * its own model of the rules (written from Anthropic's documentation, not
 * shared with the client): per-pool token buckets with continuous refill for
 * requests, input tokens (cache reads excluded) and output tokens (charged
 * as produced), a cap on concurrent requests, the full `anthropic-ratelimit-*`
 * header set, 429s with `retry-after`, SSE streaming, validation as the API
 * does it, Message Batches, and reproducible faults (529s, 500s, outages,
 * dropped connections, slow answers, failing streams).
 *
 * One `HttpApp` (routed with `HttpRouter`), served two ways:
 * - {@link layer}: an `HttpClient` in memory that follows `Clock`, so under
 *   `TestClock` or `VirtualTime` minutes of traffic run in milliseconds;
 * - {@link layerServer}: a real HTTP server on 127.0.0.1, for end-to-end
 *   tests and for clients in any language (point `ANTHROPIC_BASE_URL` at it).
 *
 * @since 0.1.0
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import type * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { createServer } from "node:http"
import * as Engine from "./internal/engine.js"
import * as Routes from "./internal/routes.js"
import type * as SimulatorStats from "./internal/stats.js"
import * as SimulatorConfig from "./SimulatorConfig.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("claude-rate-limiter/testing/Simulator")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * What the simulator saw (also served as JSON at `GET /_simulator/stats`):
 * requests, 429s by the limit hit and by `error.details.error_code`, faults
 * sent (529s, 500s, dropped connections, stream errors and cuts), client
 * errors by status, tokens counted (overall and per minute since it
 * started), requests in flight now and at the peak, and the pools used.
 *
 * @since 0.1.0
 * @category models
 */
export type Stats = SimulatorStats.Stats

/**
 * @since 0.1.0
 * @category models
 */
export type MinuteStats = SimulatorStats.MinuteStats

/**
 * @since 0.1.0
 * @category models
 */
export interface Simulator {
  readonly [TypeId]: TypeId
  readonly config: SimulatorConfig.Config
  /** The whole API as one `HttpApp`: serve it anywhere. */
  readonly app: HttpApp.Default
  readonly stats: Effect.Effect<Stats>
}

/**
 * @since 0.1.0
 * @category tags
 */
export const Simulator: Context.Tag<Simulator, Simulator> = Context.GenericTag<Simulator>(
  "claude-rate-limiter/testing/Simulator"
)

/**
 * The address of a simulator served on loopback.
 *
 * @since 0.1.0
 * @category models
 */
export interface SimulatorServer {
  /** e.g. `http://127.0.0.1:40123`: use it as `ANTHROPIC_BASE_URL`. */
  readonly url: string
  readonly port: number
  /** `${url}/_simulator/stats` */
  readonly statsUrl: string
}

/**
 * @since 0.1.0
 * @category tags
 */
export const SimulatorServer: Context.Tag<SimulatorServer, SimulatorServer> = Context.GenericTag<SimulatorServer>(
  "claude-rate-limiter/testing/SimulatorServer"
)

/**
 * A simulator; its clock starts when this effect runs.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: SimulatorConfig.Options = {}): Effect.Effect<Simulator> => {
  const config = SimulatorConfig.resolve(options)
  return Effect.map(Engine.make(config), (engine) => ({
    [TypeId]: TypeId,
    config,
    app: Routes.make(engine),
    stats: engine.stats
  }))
}

const decoder = new TextDecoder()

const bodyText = (body: HttpBody.HttpBody): string =>
  body._tag === "Uint8Array"
    ? decoder.decode(body.body)
    : body._tag === "Raw" && typeof body.body === "string"
    ? body.body
    : ""

// In memory nothing may wait on a promise: under VirtualTime a pending promise looks like idleness and the
// clock would jump ahead. So bodies are handed over as values and streams run in the caller's fiber,
// with the web Request and Response used only for their method, URL and headers.
const inMemoryRequest = (url: URL, method: string, headers: Record<string, string>, body: string) =>
  Object.create(HttpServerRequest.fromWeb(new Request(url, { method, headers })), {
    text: { value: Effect.succeed(body) },
    json: { value: Effect.try({ try: () => JSON.parse(body) as unknown, catch: (cause) => cause }) }
  }) as HttpServerRequest.HttpServerRequest

const inMemoryResponse = (
  request: HttpClientRequest.HttpClientRequest,
  response: HttpServerResponse.HttpServerResponse
): HttpClientResponse.HttpClientResponse => {
  const { headers } = HttpServerResponse.toWeb(response, { withoutBody: true })
  const base = HttpClientResponse.fromWeb(request, new Response(null, { status: response.status, headers }))
  const body = response.body
  const toResponseError = (cause: unknown) =>
    new HttpClientError.ResponseError({ request, response: base, reason: "Decode", cause })
  const bytes: Stream.Stream<Uint8Array, HttpClientError.ResponseError> = body._tag === "Stream"
    ? Stream.mapError(body.stream, toResponseError)
    : body._tag === "Uint8Array"
    ? Stream.succeed(body.body)
    : Stream.empty
  const text = Stream.mkString(Stream.decodeText(bytes))
  return Object.create(base, {
    stream: { value: bytes },
    text: { value: text },
    json: {
      value: Effect.flatMap(
        text,
        (t) => Effect.try({ try: () => (t === "" ? null : JSON.parse(t)) as unknown, catch: toResponseError })
      )
    },
    arrayBuffer: {
      value: Effect.map(Stream.runCollect(bytes), (chunks) => {
        const all = Chunk.toReadonlyArray(chunks)
        const out = new Uint8Array(all.reduce((n, c) => n + c.length, 0))
        let offset = 0
        for (const c of all) {
          out.set(c, offset)
          offset += c.length
        }
        return out.buffer
      })
    }
  }) as HttpClientResponse.HttpClientResponse
}

/**
 * An `HttpClient` whose every request is answered by `simulator`'s app, in
 * memory, in the caller's fiber (so it follows the caller's `Clock`: exact
 * under `TestClock` and `VirtualTime`). A dropped connection is a
 * `RequestError` (`Transport`); a stream cut mid-way fails the response
 * body with a `ResponseError`.
 *
 * @since 0.1.0
 * @category adapters
 */
export const httpClient = (simulator: Simulator): HttpClient.HttpClient =>
  HttpClient.make((request, url) =>
    Effect.gen(function*() {
      const serverRequest = inMemoryRequest(url, request.method, request.headers, bodyText(request.body))
      const response = yield* Effect.provideService(simulator.app, HttpServerRequest.HttpServerRequest, serverRequest)
        .pipe(Effect.orDie)
      if (response.headers[Routes.disconnectHeader] !== undefined) {
        return yield* Effect.fail(
          new HttpClientError.RequestError({ request, reason: "Transport", description: "connection reset by peer" })
        )
      }
      return inMemoryResponse(request, response)
    })
  )

/**
 * The simulator as an in-memory `HttpClient` (and the `Simulator` itself,
 * for its stats). Follows `Clock`: use it under `TestClock` or `VirtualTime`
 * for exact, instant timelines.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: SimulatorConfig.Options = {}): Layer.Layer<Simulator | HttpClient.HttpClient> =>
  Layer.effectContext(
    Effect.map(
      make(options),
      (simulator) => Context.make(Simulator, simulator).pipe(Context.add(HttpClient.HttpClient, httpClient(simulator)))
    )
  )

// On a socket, a dropped connection and a cut stream are the socket destroyed.
const onLoopback = (app: HttpApp.Default): HttpApp.Default =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const response = yield* app
    const destroy = () => NodeHttpServerRequest.toIncomingMessage(request).socket.destroy()
    if (response.headers[Routes.disconnectHeader] !== undefined) {
      destroy()
      return response
    }
    if (response.body._tag === "Stream") {
      const { body } = response
      return HttpServerResponse.setBody(
        response,
        HttpBody.stream(
          body.stream.pipe(Stream.tapErrorCause(() => Effect.sync(destroy))),
          body.contentType,
          body.contentLength
        )
      )
    }
    return response
  })

/**
 * The simulator served over HTTP on 127.0.0.1 (port 0, the default, picks a
 * free one), for as long as the layer's scope lives. Fails with `ServeError`
 * when the port cannot be bound.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerServer = (
  options: SimulatorConfig.Options & { readonly port?: number | undefined } = {}
): Layer.Layer<Simulator | SimulatorServer, HttpServerError.ServeError> =>
  Layer.scopedContext(Effect.gen(function*() {
    const simulator = yield* make(options)
    const server = yield* NodeHttpServer.make(() => createServer(), { port: options.port ?? 0, host: "127.0.0.1" })
    yield* server.serve(onLoopback(simulator.app))
    const port = server.address._tag === "TcpAddress" ? server.address.port : 0
    const url = `http://127.0.0.1:${port}`
    return Context.make(Simulator, simulator).pipe(
      Context.add(SimulatorServer, { url, port, statsUrl: `${url}/_simulator/stats` })
    )
  }))
