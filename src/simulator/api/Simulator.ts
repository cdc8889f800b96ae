/**
 * A simulated Anthropic Messages API that behaves like the real one under
 * load: per-model token buckets with continuous refill for requests, input
 * tokens (cache reads excluded) and output tokens, a cap on concurrent
 * requests, the full `anthropic-ratelimit-*` header set on every response,
 * 429s with `retry-after` and Anthropic's error body, and reproducible
 * faults (529s, 500s, outages, dropped connections, slow answers).
 *
 * One implementation of the rules, two ways to run it:
 * - {@link layer}: an `HttpClient` in memory that follows `Clock`, so under
 *   `TestClock` minutes of traffic run in milliseconds, exactly;
 * - {@link layerServer}: a real HTTP server on 127.0.0.1, for end-to-end
 *   tests and for clients in any language (point `ANTHROPIC_BASE_URL` at it).
 *
 * Input tokens are estimated as characters / 4 (rounded up) over the text of
 * tools, system and messages; cache breakpoints (`cache_control`) are
 * honoured: a prefix seen within 5 minutes is a cache read and costs no
 * input-token budget.
 *
 * @since 0.1.0
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import type * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { createServer } from "node:http"
import * as Engine from "./internal/engine.js"
import type * as SimulatorStats from "./internal/stats.js"
import type * as Wire from "./internal/wire.js"
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
 * A request as the simulator sees it (header names in lower case).
 *
 * @since 0.1.0
 * @category models
 */
export type SimulatorRequest = Wire.WireRequest

/**
 * An answer, or a dropped connection (`disconnect: true`).
 *
 * @since 0.1.0
 * @category models
 */
export type SimulatorResponse = Wire.WireResponse

/**
 * What the simulator saw: requests, 429s by the limit that was hit, faults
 * sent, tokens counted (overall and per minute since it started), the peak
 * number of requests in flight, and the pools that saw traffic.
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
  /** Answers one request, latency included (slept through `Clock`). */
  readonly handle: (request: SimulatorRequest) => Effect.Effect<SimulatorResponse>
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
}

/**
 * @since 0.1.0
 * @category tags
 */
export const SimulatorServer: Context.Tag<SimulatorServer, SimulatorServer> = Context.GenericTag<SimulatorServer>(
  "claude-rate-limiter/testing/SimulatorServer"
)

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: SimulatorConfig.Options = {}): Effect.Effect<Simulator> => {
  const config = SimulatorConfig.resolve(options)
  return Effect.map(Engine.make(config), (engine) => ({ [TypeId]: TypeId, config, ...engine }))
}

const decoder = new TextDecoder()

/**
 * An `HttpClient` whose every request is answered by `simulator`, in memory.
 *
 * @since 0.1.0
 * @category adapters
 */
export const httpClient = (simulator: Simulator): HttpClient.HttpClient =>
  HttpClient.make((request, url) =>
    Effect.gen(function*() {
      const body = request.body._tag === "Uint8Array" ? decoder.decode(request.body.body) : ""
      const response = yield* simulator.handle({
        method: request.method,
        path: url.pathname,
        headers: request.headers,
        body
      })
      if (response.disconnect) {
        return yield* Effect.fail(
          new HttpClientError.RequestError({ request, reason: "Transport", description: "connection reset by peer" })
        )
      }
      return HttpClientResponse.fromWeb(
        request,
        new Response(response.body, { status: response.status, headers: response.headers })
      )
    })
  )

/**
 * The simulator as an in-memory `HttpClient` (and the `Simulator` itself,
 * for its stats). Follows `Clock`: use it under `TestClock` for exact,
 * instant timelines.
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

const serverApp = (simulator: Simulator) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const body = yield* Effect.orElseSucceed(request.text, () => "")
    const path = new URL(request.url, "http://127.0.0.1").pathname
    const response = yield* simulator.handle({ method: request.method, path, headers: request.headers, body })
    if (response.disconnect) {
      NodeHttpServerRequest.toIncomingMessage(request).socket.destroy()
      return HttpServerResponse.empty({ status: 503 })
    }
    const { "content-type": contentType, ...headers } = response.headers
    return HttpServerResponse.text(response.body, {
      status: response.status,
      headers,
      contentType: contentType ?? "application/json"
    })
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
    yield* server.serve(serverApp(simulator))
    const port = server.address._tag === "TcpAddress" ? server.address.port : 0
    return Context.make(Simulator, simulator).pipe(
      Context.add(SimulatorServer, { url: `http://127.0.0.1:${port}`, port })
    )
  }))
