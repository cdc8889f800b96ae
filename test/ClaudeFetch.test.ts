import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { describe, expect, it } from "@effect/vitest"
import type { Duration } from "effect"
import { Chunk, Effect, Fiber, Layer, Option, Stream, TestClock } from "effect"
import * as Admission from "../src/Admission.js"
import * as AdmissionStore from "../src/AdmissionStore.js"
import * as ClaudeFetch from "../src/ClaudeFetch.js"
import * as ClaudeHttpClient from "../src/ClaudeHttpClient.js"
import * as Scripted from "../src/testing/ScriptedHttpClient.js"

// fetch in, Response out: the conversion and its lifecycle, over scripted clients under TestClock.

const apiKey = "sk-ant-api03-unit-test-key-0123456789"
const pool = "claude-sonnet-4.x"
const base = "https://api.example.test"

const services = (requestsPerMinute = 600) =>
  ClaudeHttpClient.layerServices({ admission: { limits: { [pool]: { requestsPerMinute } } } })

const headers = {
  "x-api-key": apiKey,
  "anthropic-version": "2023-06-01",
  "content-type": "application/json"
}

const messageBody = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model: "claude-sonnet-4-6", max_tokens: 100, messages: [{ role: "user", content: "hi" }], ...extra })

const withFetch = <A, E, R>(use: (fetch: ClaudeFetch.Fetch) => Effect.Effect<A, E, R>) =>
  Effect.scoped(Effect.flatMap(ClaudeFetch.makeScoped(), use))

const call = (fetch: ClaudeFetch.Fetch, input: string | URL | Request, init?: RequestInit) =>
  Effect.promise(() => fetch(input, init).then((response) => response, (error: unknown) => error as Error))

const recorded = Effect.flatMap(Scripted.ScriptedHttpClient, (scripted) => scripted.requests)

const decoder = new TextDecoder()

// Answers every request with what it received: method, URL, headers, the kind of body and its text.
const echo = HttpClient.make((request, url) =>
  Effect.gen(function*() {
    const body = request.body
    const text = body._tag === "Uint8Array"
      ? decoder.decode(body.body)
      : body._tag === "Stream"
      ? yield* Stream.runCollect(Stream.decodeText(body.stream)).pipe(
        Effect.map((chunks) => Chunk.join(chunks, "")),
        Effect.orDie
      )
      : ""
    return HttpClientResponse.fromWeb(
      request,
      Response.json({ method: request.method, url: url.toString(), headers: request.headers, body: body._tag, text })
    )
  })
)

const echoLayer = Layer.merge(services(), Layer.succeed(HttpClient.HttpClient, echo))

// Lets the event loop run (not the clock) until `check` holds, a bounded number of turns: for what an abort sets off
// asynchronously (a cancelled web stream, a fiber interrupted after it).
const eventually = <E, R>(check: Effect.Effect<boolean, E, R>) =>
  Effect.gen(function*() {
    for (let i = 0; i < 1_000; i++) {
      if (yield* check) return true
      yield* turn
    }
    return yield* check
  })

// The fetch runs on fibers of its own, outside the test's supervision: TestClock cannot tell when they sleep. So the
// clock moves in steps, with the event loop let run between them, until the call is done (a bounded number of steps).
const settle = <A>(promise: () => Promise<A>, step: Duration.DurationInput, steps = 100) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(Effect.promise(promise))
    for (let i = 0; i < steps && Option.isNone(yield* Fiber.poll(fiber)); i++) {
      yield* turn
      yield* TestClock.adjust(step)
    }
    return yield* Fiber.join(fiber)
  })

const turn = Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))

const sse = (events: ReadonlyArray<{ readonly event: string; readonly data: unknown }>) =>
  events.map(({ data, event }) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`).join("")

describe("ClaudeFetch: requests", () => {
  it.effect("a Messages request: method, URL, headers and JSON body reach the client; the answer comes back", () =>
    withFetch((fetch) =>
      Effect.gen(function*() {
        const response = yield* call(fetch, `${base}/v1/messages?beta=true`, {
          method: "POST",
          headers,
          body: messageBody()
        })
        if (!(response instanceof Response)) return expect.unreachable(String(response))
        expect(response.status).toBe(200)
        expect(response.headers.get("request-id")).toBe("req_scripted")
        expect(response.url).toBe(`${base}/v1/messages?beta=true`)
        expect(yield* Effect.promise(() => response.json())).toMatchObject({ content: [{ text: "Hello!" }] })
        const [sent] = yield* recorded
        expect(sent).toMatchObject({
          method: "POST",
          url: `${base}/v1/messages?beta=true`,
          headers: { "x-api-key": apiKey, "anthropic-version": "2023-06-01", "content-type": "application/json" },
          body: { model: "claude-sonnet-4-6", max_tokens: 100 }
        })
        // no trace context goes to the API
        expect(Object.keys(sent!.headers)).not.toContain("traceparent")
        expect(Object.keys(sent!.headers)).not.toContain("b3")
      })
    ).pipe(Effect.provide(Layer.merge(services(), Scripted.layer([Scripted.message()])))))

  it.effect("every body form fetch accepts arrives as its bytes: string, Uint8Array, URLSearchParams, streams", () =>
    withFetch((fetch) =>
      Effect.gen(function*() {
        const bodyOf = (input: string | URL | Request, init?: RequestInit) =>
          Effect.flatMap(call(fetch, input, init), (response) =>
            response instanceof Response
              ? Effect.promise(() =>
                response.json() as Promise<{ body: string; text: string; headers: Record<string, string> }>
              )
              : Effect.die(response))
        const json = messageBody()
        const bytes = new TextEncoder().encode(json)
        const stream = () =>
          new ReadableStream<Uint8Array>({
            start(controller) {
              controller.enqueue(bytes.subarray(0, 10))
              controller.enqueue(bytes.subarray(10))
              controller.close()
            }
          })
        const messages = `${base}/v1/messages`
        expect(yield* bodyOf(messages, { method: "POST", headers, body: json })).toMatchObject({
          body: "Uint8Array",
          text: json
        })
        expect(yield* bodyOf(new URL(messages), { method: "POST", headers, body: bytes })).toMatchObject({
          body: "Uint8Array",
          text: json
        })
        // a Messages body is read into memory even when it streams in: the pipeline estimates its cost and may resend it
        expect(yield* bodyOf(messages, { method: "POST", headers, body: stream() })).toMatchObject({
          body: "Uint8Array",
          text: json
        })
        // a Request object with its own headers and body
        expect(yield* bodyOf(new Request(messages, { method: "POST", headers, body: json }))).toMatchObject({
          text: json,
          headers: { "x-api-key": apiKey }
        })
        // other routes stream their body through
        expect(yield* bodyOf(`${base}/v1/files`, { method: "POST", body: stream() })).toMatchObject({
          body: "Stream",
          text: json
        })
        // fetch's own defaults for other body types: the content type is set as fetch sets it
        expect(yield* bodyOf(`${base}/v1/other`, { method: "PUT", body: new URLSearchParams({ a: "1", b: "x y" }) }))
          .toMatchObject({
            text: "a=1&b=x+y",
            headers: { "content-type": "application/x-www-form-urlencoded;charset=UTF-8" }
          })
      })
    ).pipe(Effect.provide(echoLayer)))

  it.effect("other routes pass through untouched, query included", () =>
    withFetch((fetch) =>
      Effect.gen(function*() {
        const response = yield* call(fetch, `${base}/v1/models?limit=2`, { headers })
        if (!(response instanceof Response)) return expect.unreachable(String(response))
        expect(yield* Effect.promise(() => response.json())).toMatchObject({
          method: "GET",
          url: `${base}/v1/models?limit=2`,
          body: "Empty"
        })
      })
    ).pipe(Effect.provide(echoLayer)))

  it.effect("input fetch itself refuses is refused the same way, nothing sent", () =>
    withFetch((fetch) =>
      Effect.gen(function*() {
        const notAUrl = yield* call(fetch, "not a url")
        expect(notAUrl).toBeInstanceOf(TypeError)
        const bodyOnGet = yield* call(fetch, `${base}/v1/models`, { body: "x" })
        expect(bodyOnGet).toBeInstanceOf(TypeError)
        const unknownMethod = yield* call(fetch, `${base}/v1/models`, { method: "PROPFIND" })
        expect(unknownMethod).toBeInstanceOf(ClaudeFetch.ClaudeFetchError)
        expect((unknownMethod as Error).message).toContain("PROPFIND")
        expect(yield* recorded).toHaveLength(0)
      })
    ).pipe(Effect.provide(Layer.merge(services(), Scripted.layer([])))))
})

describe("ClaudeFetch: answers", () => {
  it.effect("a 429 is retried at the gate; the caller gets the success", () =>
    withFetch((fetch) =>
      Effect.gen(function*() {
        const response = yield* settle(
          () => fetch(`${base}/v1/messages`, { method: "POST", headers, body: messageBody() }),
          "500 millis"
        )
        if (!(response instanceof Response)) return expect.unreachable(String(response))
        expect(response.status).toBe(200)
        expect((yield* recorded).length).toBe(2)
      })
    ).pipe(Effect.provide(Layer.merge(
      services(),
      Scripted.layer([Scripted.error(429, "rate_limit_error", { headers: { "retry-after": "2" } }), Scripted.message()])
    ))))

  it.effect("an error answer the policy does not retry is handed on as the API gave it", () =>
    withFetch((fetch) =>
      Effect.gen(function*() {
        const response = yield* call(fetch, `${base}/v1/messages`, { method: "POST", headers, body: messageBody() })
        if (!(response instanceof Response)) return expect.unreachable(String(response))
        expect(response.status).toBe(400)
        expect(response.headers.get("request-id")).toBe("req_scripted_400")
        expect(yield* Effect.promise(() => response.json())).toMatchObject({
          type: "error",
          error: { type: "invalid_request_error" }
        })
      })
    ).pipe(Effect.provide(Layer.merge(services(), Scripted.layer([Scripted.error(400, "invalid_request_error")])))))

  it.effect("a stream comes back as a streaming body, event by event", () =>
    withFetch((fetch) =>
      Effect.gen(function*() {
        const response = yield* call(fetch, `${base}/v1/messages`, {
          method: "POST",
          headers,
          body: messageBody({ stream: true })
        })
        if (!(response instanceof Response)) return expect.unreachable(String(response))
        expect(response.headers.get("content-type")).toBe("text/event-stream")
        const reader = response.body!.getReader()
        const first = yield* Effect.promise(() => reader.read())
        expect(decoder.decode(first.value)).toContain("event: message_start")
        let text = decoder.decode(first.value)
        for (;;) {
          const next = yield* Effect.promise(() => reader.read())
          if (next.done) break
          text += decoder.decode(next.value)
        }
        expect(text).toContain("Hello")
        expect(text).toContain("event: message_stop")
        // the lease is settled and released once the stream is read
        expect((yield* Effect.flatMap(Admission.Admission, (admission) => admission.status(pool))).inFlight).toBe(0)
      })
    ).pipe(Effect.provide(Layer.merge(services(), Scripted.layer([{ events: Scripted.streamEvents() }])))))

  it.effect("a 204 answer has no body", () =>
    withFetch((fetch) =>
      Effect.gen(function*() {
        const response = yield* call(fetch, `${base}/v1/files/file_1`, { method: "DELETE", headers })
        if (!(response instanceof Response)) return expect.unreachable(String(response))
        expect(response.status).toBe(204)
        expect(response.body).toBeNull()
      })
    ).pipe(Effect.provide(Layer.merge(services(), Scripted.layer([{ status: 204 }])))))
})

describe("ClaudeFetch: failures without an answer", () => {
  it.effect("rejects with a ClaudeFetchError (a TypeError) whose cause is the typed error; no key in the message", () =>
    withFetch((fetch) =>
      Effect.gen(function*() {
        const error = yield* call(fetch, `${base}/v1/messages`, {
          method: "POST",
          headers,
          body: messageBody({ messages: [{ role: "user", content: "x".repeat(400_000) }] })
        })
        expect(error).toBeInstanceOf(ClaudeFetch.ClaudeFetchError)
        expect(error).toBeInstanceOf(TypeError)
        const failure = error as ClaudeFetch.ClaudeFetchError
        expect(failure._tag).toBe("ClaudeFetchError")
        expect((failure.cause as { _tag: string })._tag).toBe("RequestExceedsLimitError")
        expect(failure.message).toContain("RequestExceedsLimitError")
        expect(failure.message).not.toContain(apiKey)
        expect(yield* recorded).toHaveLength(0)
      })
    ).pipe(Effect.provide(Layer.merge(
      ClaudeHttpClient.layerServices({ admission: { limits: { [pool]: { inputTokensPerMinute: 40_000 } } } }),
      Scripted.layer([])
    ))))

  it.effect("a lost connection on a route that passes through rejects with the transport's cause", () =>
    withFetch((fetch) =>
      Effect.gen(function*() {
        const error = yield* call(fetch, `${base}/v1/models`, { headers })
        expect(error).toBeInstanceOf(ClaudeFetch.ClaudeFetchError)
        expect((error as Error).message).toContain("connection reset by peer")
        expect((error as Error).message).not.toContain(apiKey)
      })
    ).pipe(Effect.provide(Layer.merge(services(), Scripted.layer([{ disconnect: true }])))))

  it.effect("the key is scrubbed from a failure's message even when the transport repeats it", () =>
    withFetch((fetch) =>
      Effect.gen(function*() {
        const error = yield* call(fetch, `${base}/v1/models`, { headers })
        expect((error as Error).message).toContain("<redacted>")
        expect((error as Error).message).not.toContain(apiKey)
      })
    ).pipe(Effect.provide(Layer.merge(
      services(),
      Layer.succeed(
        HttpClient.HttpClient,
        HttpClient.make((request) => Effect.die(new Error(`proxy refused ${request.headers["x-api-key"]}`)))
      )
    ))))
})

describe("ClaudeFetch: abort and close", () => {
  // The second request waits for admission: at 1 request a minute it is held for a minute.
  const waitingLayer = Layer.merge(services(1), Scripted.layer([Scripted.message(), Scripted.message()]))

  it.effect("aborting a request that waits for admission rejects with the abort reason and takes nothing", () =>
    withFetch((fetch) =>
      Effect.gen(function*() {
        yield* call(fetch, `${base}/v1/messages`, { method: "POST", headers, body: messageBody() })
        const controller = new AbortController()
        const fiber = yield* Effect.fork(
          call(fetch, `${base}/v1/messages`, {
            method: "POST",
            headers,
            body: messageBody(),
            signal: controller.signal
          })
        )
        const admission = yield* Admission.Admission
        expect(yield* eventually(Effect.map(admission.status(pool), (status) => status.waiting.interactive === 1)))
          .toBe(true)
        controller.abort()
        const error = yield* Fiber.join(fiber)
        expect((error as Error).name).toBe("AbortError")
        const status = yield* admission.status(pool)
        expect(status.waiting.interactive).toBe(0)
        expect(status.inFlight).toBe(0)
        // nothing else was sent, even once the wait would have ended
        for (let i = 0; i < 20; i++) yield* Effect.zipRight(turn, TestClock.adjust("10 seconds"))
        expect(yield* recorded).toHaveLength(1)
      })
    ).pipe(Effect.provide(waitingLayer)))

  it.effect("a signal aborted before the call rejects at once with its reason", () =>
    withFetch((fetch) =>
      Effect.gen(function*() {
        const reason = new Error("not needed any more")
        const error = yield* call(fetch, `${base}/v1/messages`, {
          method: "POST",
          headers,
          body: messageBody(),
          signal: AbortSignal.abort(reason)
        })
        expect(error).toBe(reason)
        expect(yield* recorded).toHaveLength(0)
      })
    ).pipe(Effect.provide(waitingLayer)))

  // A stream that sends its first content and then hangs, telling when it is cancelled.
  const hanging = (cancelled: { value: boolean }) =>
    HttpClient.make((request) =>
      Effect.succeed(HttpClientResponse.fromWeb(
        request,
        new Response(
          new ReadableStream<Uint8Array>({
            start(controller) {
              controller.enqueue(new TextEncoder().encode(sse(Scripted.streamEvents().slice(0, 4))))
            },
            cancel() {
              cancelled.value = true
            }
          }),
          { status: 200, headers: { "content-type": "text/event-stream" } }
        )
      ))
    )

  it.effect("aborting while the body streams fails the body with the reason and releases the stream's lease", () => {
    const cancelled = { value: false }
    return withFetch((fetch) =>
      Effect.gen(function*() {
        const controller = new AbortController()
        const response = yield* call(fetch, `${base}/v1/messages`, {
          method: "POST",
          headers,
          body: messageBody({ stream: true }),
          signal: controller.signal
        })
        if (!(response instanceof Response)) return expect.unreachable(String(response))
        const reader = response.body!.getReader()
        const first = yield* Effect.promise(() => reader.read())
        expect(decoder.decode(first.value)).toContain("message_start")
        const admission = yield* Admission.Admission
        expect((yield* admission.status(pool)).inFlight).toBe(1)
        controller.abort()
        const rest = yield* Effect.promise(() => reader.read().then(() => undefined, (error: Error) => error))
        expect(rest?.name).toBe("AbortError")
        // the cancellation reaches the answer's stream and the lease is released
        expect(yield* eventually(Effect.sync(() => cancelled.value))).toBe(true)
        expect(yield* eventually(Effect.map(admission.status(pool), (status) => status.inFlight === 0))).toBe(true)
      })
    ).pipe(Effect.provide(Layer.merge(services(), Layer.succeed(HttpClient.HttpClient, hanging(cancelled)))))
  })

  it.effect("closing the scope stops a waiting request and an open body; later calls reject", () => {
    const cancelled = { value: false }
    return Effect.gen(function*() {
      const admission = yield* Admission.Admission
      const [waiting, body, later] = yield* Effect.scoped(Effect.gen(function*() {
        const fetch = yield* ClaudeFetch.makeScoped()
        const streamed = yield* call(fetch, `${base}/v1/messages`, {
          method: "POST",
          headers,
          body: messageBody({ stream: true })
        })
        if (!(streamed instanceof Response)) return expect.unreachable(String(streamed))
        const reader = streamed.body!.getReader()
        yield* Effect.promise(() => reader.read())
        const waiting = yield* Effect.fork(
          call(fetch, `${base}/v1/messages`, { method: "POST", headers, body: messageBody() })
        )
        expect(yield* eventually(Effect.map(admission.status(pool), (status) => status.waiting.interactive === 1)))
          .toBe(true)
        return [waiting, reader, fetch] as const
      }))
      const rejected = yield* Fiber.join(waiting)
      expect(rejected).toBeInstanceOf(ClaudeFetch.ClaudeFetchError)
      expect((rejected as Error).message).toContain("disposed")
      const bodyError = yield* Effect.promise(() => body.read().then(() => undefined, (error: Error) => error))
      expect(bodyError).toBeInstanceOf(ClaudeFetch.ClaudeFetchError)
      expect(cancelled.value).toBe(true)
      const status = yield* admission.status(pool)
      expect(status.inFlight).toBe(0)
      expect(status.waiting.interactive).toBe(0)
      expect(yield* call(later, `${base}/v1/messages`, { method: "POST", headers, body: messageBody() }))
        .toBeInstanceOf(ClaudeFetch.ClaudeFetchError)
    }).pipe(Effect.provide(Layer.merge(services(1), Layer.succeed(HttpClient.HttpClient, hanging(cancelled)))))
  })
})

describe("ClaudeFetch.make: its own runtime", () => {
  const messagesInit = (): RequestInit => ({ method: "POST", headers, body: messageBody() })
  const admission = { limits: { [pool]: { requestsPerMinute: 600 } } }

  it("is a fetch itself and has one as .fetch; dispose is idempotent, and later calls reject", async () => {
    const claudeFetch = ClaudeFetch.make({
      admission,
      httpClient: Scripted.layer([Scripted.message({ text: "one" }), Scripted.message({ text: "two" })])
    })
    const first = await claudeFetch(`${base}/v1/messages`, messagesInit())
    expect(await first.json()).toMatchObject({ content: [{ text: "one" }] })
    const second = await claudeFetch.fetch(`${base}/v1/messages`, messagesInit())
    expect(await second.json()).toMatchObject({ content: [{ text: "two" }] })
    await Promise.all([claudeFetch.dispose(), claudeFetch.dispose()])
    await claudeFetch.dispose()
    await expect(claudeFetch(`${base}/v1/messages`, messagesInit())).rejects.toBeInstanceOf(
      ClaudeFetch.ClaudeFetchError
    )
  })

  it("dispose without a request ever made resolves", async () => {
    await ClaudeFetch.make().dispose()
  })

  it("logs through the given logger, at warn and above unless asked for more", async () => {
    const script = () =>
      Scripted.layer([
        Scripted.error(429, "rate_limit_error", { headers: { "retry-after-ms": "5" } }),
        Scripted.message()
      ])
    const capture = () => {
      const lines: Array<{ level: string; message: string; details: unknown }> = []
      const at = (level: string) => (message: string, details?: unknown) => lines.push({ level, message, details })
      return { lines, logger: { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") } }
    }
    const verbose = capture()
    const chatty = ClaudeFetch.make({ admission, httpClient: script(), logLevel: "info", logger: verbose.logger })
    expect((await chatty(`${base}/v1/messages`, messagesInit())).status).toBe(200)
    await chatty.dispose()
    const retry = verbose.lines.find((line) => line.message.includes("Retrying after attempt 1"))
    expect(retry?.level).toBe("info")
    expect(retry?.details).toMatchObject({ error: "RateLimitError" })
    expect(JSON.stringify(verbose.lines)).not.toContain(apiKey)

    const quiet = capture()
    const calm = ClaudeFetch.make({ admission, httpClient: script(), logger: quiet.logger })
    expect((await calm(`${base}/v1/messages`, messagesInit())).status).toBe(200)
    await calm.dispose()
    expect(quiet.lines.filter((line) => line.level === "info" || line.level === "debug")).toEqual([])
  })

  it("a store that cannot be reached rejects every call with the store's error as cause", async () => {
    const unreachable = new AdmissionStore.AdmissionStoreError({ message: "redis is down", cause: "ECONNREFUSED" })
    const claudeFetch = ClaudeFetch.make({ store: Layer.fail(unreachable), httpClient: Scripted.layer([]) })
    const error = await claudeFetch(`${base}/v1/messages`, messagesInit()).catch((error: unknown) => error)
    expect(error).toBeInstanceOf(ClaudeFetch.ClaudeFetchError)
    expect((error as Error).cause).toBe(unreachable)
    await claudeFetch.dispose()
  })
})
