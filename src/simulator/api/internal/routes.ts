/**
 * The simulated API as one `HttpApp`, routed with `HttpRouter`:
 * `POST /v1/messages` (JSON or SSE), `POST /v1/messages/count_tokens`,
 * `POST /v1/messages/batches`, `GET /v1/messages/batches/:id`,
 * `GET /v1/messages/batches/:id/results`, and `GET /_simulator/stats`.
 * Anything else is a 404 `not_found_error`.
 *
 * A dropped connection is a response marked with {@link disconnectHeader};
 * a cut stream fails with `StreamCut`. Each adapter (in memory, loopback)
 * turns those into what a client of its kind sees.
 *
 * @internal
 */
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { Buffer } from "node:buffer"
import * as Batches from "./batches.js"
import type * as Engine from "./engine.js"
import * as Requests from "./requests.js"
import * as Sse from "./sse.js"
import * as Wire from "./wire.js"

/** @internal */
export const disconnectHeader = "x-simulator-disconnect"

const toResponse = (wire: Wire.WireResponse): HttpServerResponse.HttpServerResponse => {
  if (wire.disconnect) return HttpServerResponse.empty({ status: 503, headers: { [disconnectHeader]: "1" } })
  const { "content-type": contentType, ...headers } = wire.headers
  return HttpServerResponse.text(wire.body, {
    status: wire.status,
    headers,
    contentType: contentType ?? "application/json"
  })
}

type Check = Effect.Effect<Option.Option<Wire.WireResponse>, never, HttpServerRequest.HttpServerRequest>

/** @internal */
export const make = (engine: Engine.Engine) => {
  const { config } = engine
  const batches = Batches.make(config, engine.startedAt)
  const now = Clock.currentTimeMillis
  const slept = (latencyMillis: number) => (response: HttpServerResponse.HttpServerResponse) =>
    Effect.as(Effect.sleep(latencyMillis), response)

  // 401 without a key (the official SDK 1.x sends `authorization: Bearer`), 400 without a known anthropic-version
  const checkHeaders = (id: string): Check =>
    Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
      const headers = request.headers
      const bearer = /^Bearer\s+\S+/i.test(headers["authorization"] ?? "")
      if ((headers["x-api-key"] ?? "").trim() === "" && !bearer) {
        return Option.some(
          engine.clientError(401, "authentication_error", "x-api-key or authorization header is required", id)
        )
      }
      const version = (headers["anthropic-version"] ?? "").trim()
      if (version === "") {
        return Option.some(
          engine.clientError(400, "invalid_request_error", "anthropic-version: header is required", id)
        )
      }
      if (!config.anthropicVersions.includes(version)) {
        return Option.some(
          engine.clientError(400, "invalid_request_error", `anthropic-version: "${version}" is not a valid version`, id)
        )
      }
      return Option.none()
    })

  // The size limit is enforced while reading: a declared length over it is refused unread, and a body
  // that grows past it stops being read, so many huge bodies at once cannot exhaust memory.
  const readBody = (id: string, limit: number): Effect.Effect<
    string | { readonly refused: Wire.WireResponse },
    never,
    HttpServerRequest.HttpServerRequest
  > =>
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const tooLarge = () => {
        engine.recorder.clientError(413)
        return Wire.errorResponse(413, "request_too_large", "Request exceeds the maximum allowed number of bytes.", id)
      }
      const declared = Number(request.headers["content-length"])
      if (Number.isFinite(declared) && declared > limit) return { refused: tooLarge() }
      const text = yield* request.text.pipe(
        HttpIncomingMessage.withMaxBodySize(Option.some(limit)),
        Effect.either
      )
      if (text._tag === "Left") {
        return {
          refused: String(text.left.cause).includes("maxBytes")
            ? tooLarge()
            : engine.clientError(400, "invalid_request_error", "the request body could not be read", id)
        }
      }
      if (text.right.length > limit || Buffer.byteLength(text.right) > limit) return { refused: tooLarge() }
      return text.right
    })

  const withRequest = (
    limit: number,
    withMaxTokens: boolean,
    handle: (
      request: Requests.MessagesRequest,
      id: string
    ) => Effect.Effect<HttpServerResponse.HttpServerResponse, never, HttpServerRequest.HttpServerRequest>
  ) =>
    Effect.gen(function*() {
      const id = engine.nextId()
      const refused = yield* checkHeaders(id)
      if (Option.isSome(refused)) return yield* slept(engine.errorLatency)(toResponse(refused.value))
      const body = yield* readBody(id, limit)
      if (typeof body !== "string") return yield* slept(engine.errorLatency)(toResponse(body.refused))
      const read = Requests.read(body, withMaxTokens)
      if (read._tag === "Invalid") {
        return yield* slept(engine.errorLatency)(
          toResponse(engine.clientError(400, "invalid_request_error", read.message, id))
        )
      }
      return yield* handle(read.request, id)
    })

  const messages = withRequest(
    config.maxRequestBytes,
    true,
    (request, id) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          const draws = yield* engine.draws
          const decision = engine.messages(request, id, yield* now, draws)
          if (decision._tag === "Answer") {
            yield* restore(Effect.sleep(decision.latencyMillis))
            return toResponse(decision.response)
          }
          const { admitted } = decision
          const abandon = Effect.flatMap(now, (at) => Effect.sync(() => engine.abandon(admitted, at)))
          if (admitted.stream) {
            yield* restore(Effect.sleep(admitted.firstTokenMillis)).pipe(Effect.onInterrupt(() => abandon))
            return HttpServerResponse.stream(Sse.events(engine, admitted), {
              status: 200,
              contentType: Sse.contentType,
              headers: { ...engine.headersOf(admitted, yield* now), "cache-control": "no-cache" }
            })
          }
          const latency = admitted.firstTokenMillis + admitted.perTokenMillis * admitted.outputTokens
            + admitted.slowMillis
          yield* restore(Effect.sleep(Math.round(latency))).pipe(Effect.onInterrupt(() => abandon))
          return toResponse(engine.complete(admitted, yield* now))
        })
      )
  )

  const countTokens = withRequest(config.maxRequestBytes, false, (request, id) =>
    Effect.gen(function*() {
      const decision = engine.countTokens(request, id, yield* now)
      return yield* slept(decision._tag === "Answer" ? decision.latencyMillis : 0)(
        decision._tag === "Answer" ? toResponse(decision.response) : HttpServerResponse.empty()
      )
    }))

  const batchRoute = (
    handle: (id: string, at: number, body: string) => Effect.Effect<Wire.WireResponse>,
    readsBody: boolean
  ) =>
    Effect.gen(function*() {
      const id = engine.nextId()
      const refused = yield* checkHeaders(id)
      if (Option.isSome(refused)) return toResponse(refused.value)
      const at = yield* now
      const limited = batches.admit(id, at)
      if (limited !== undefined) return toResponse(limited)
      let text = ""
      if (readsBody) {
        const body = yield* readBody(id, config.maxRequestBytes * 8)
        if (typeof body !== "string") return toResponse(body.refused)
        if (Requests.nestingDepth(body) > Requests.maxNestingDepth) {
          return toResponse(engine.clientError(400, "invalid_request_error", "request body is nested too deeply", id))
        }
        text = body
      }
      return toResponse(yield* handle(id, at, text))
    })

  const batchId = Effect.map(HttpRouter.params, (params) => params["id"] ?? "")

  const router = HttpRouter.empty.pipe(
    HttpRouter.post("/v1/messages", messages),
    HttpRouter.post("/v1/messages/count_tokens", countTokens),
    HttpRouter.post(
      "/v1/messages/batches",
      batchRoute((id, at, text) =>
        Effect.sync(() => {
          let body: unknown
          try {
            body = JSON.parse(text)
          } catch {
            return Wire.errorResponse(400, "invalid_request_error", "body is not valid JSON", id)
          }
          const created = batches.create(body, id, at)
          if (created.status === 200) {
            const requests = (body as { requests: ReadonlyArray<unknown> }).requests.length
            engine.recorder.counters.batchesCreated++
            engine.recorder.counters.batchRequests += requests
          }
          return created
        }), true)
    ),
    HttpRouter.get(
      "/v1/messages/batches/:id",
      Effect.flatMap(
        batchId,
        (batch) => batchRoute((id, at) => Effect.sync(() => batches.retrieve(batch, id, at)), false)
      )
    ),
    HttpRouter.get(
      "/v1/messages/batches/:id/results",
      Effect.flatMap(batchId, (batch) => batchRoute((id, at) => batches.results(batch, id, at), false))
    ),
    HttpRouter.get(
      "/_simulator/stats",
      Effect.map(engine.stats, (stats) => HttpServerResponse.unsafeJson(stats))
    )
  )

  return router.pipe(
    Effect.catchTag("RouteNotFound", (error) =>
      Effect.sync(() => {
        const id = engine.nextId()
        const target = error.request.url.length > 200 ? `${error.request.url.slice(0, 200)}…` : error.request.url
        return toResponse(
          engine.clientError(404, "not_found_error", `Not found: ${error.request.method} ${target}`, id)
        )
      })),
    // our own bugs are answered as the API answers its own: a 500 api_error, logged, never a crash
    Effect.catchAllCause((cause) =>
      Cause.isInterruptedOnly(cause) ? Effect.failCause(cause) : Effect.gen(function*() {
        yield* Effect.logError("simulator: unexpected failure", cause)
        const id = engine.nextId()
        engine.recorder.counters.apiErrors++
        return toResponse(Wire.errorResponse(500, "api_error", "Internal server error", id))
      })
    )
  )
}
