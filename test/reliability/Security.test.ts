/**
 * Security: the API key is found nowhere a program shows to the outside world, for every kind of failure (and for
 * a success): not in log lines (as effect's loggers print them, nor in the raw annotations and causes an exporter
 * gets), not in spans (ours and @effect/platform's own `http.client` spans, whose end holds the request), not in
 * errors however they are rendered (`String`, JSON, `util.inspect`, `Cause.pretty`), not in the command line's
 * output. Servers listen on 127.0.0.1 only; the simulator bounds request bodies; server-given waits are capped.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import type { Console, Scope } from "effect"
import { Duration, Effect, Fiber, Layer, Option, Redacted, Schedule, Stream } from "effect"
import { execFile } from "node:child_process"
import { readFileSync } from "node:fs"
import type { IncomingMessage, ServerResponse } from "node:http"
import { connect } from "node:net"
import { networkInterfaces } from "node:os"
import * as Admission from "../../src/Admission.js"
import * as ClaudeClient from "../../src/ClaudeClient.js"
import { cli } from "../../src/cli/Commands.js"
import * as Simulator from "../../src/simulator/api/Simulator.js"
import * as Scripted from "../../src/testing/ScriptedHttpClient.js"
import { capture, failureOf, leaks, renderings } from "../support/capture.js"
import { closedPort, rawServer } from "../support/loopback.js"

// One key shaped like Anthropic's (scrubbed by pattern too) and one that is not (only structure can keep it out).
const keys = ["sk-ant-api03-Sec7ur1tyK3yZ9x8w7v6u5t4s3r2q1p0", "ck-live-9f8e7d6c5b4a39281706f5e4d3c2b1a0"]

const params = { model: "claude-sonnet-4-6", max_tokens: 64, messages: [{ role: "user" as const, content: "hi" }] }

// What a misconfigured proxy sends back: the request's own headers, the key among them.
const echo = (request: IncomingMessage) => JSON.stringify(request.headers)

const json = (response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  response.writeHead(status, { "content-type": "application/json", ...headers })
  response.end(JSON.stringify(body))
}

interface Failure {
  readonly kind: string
  /** what the caller gets; "success" for the one row that succeeds */
  readonly expected: string
  readonly run: (key: string) => Effect.Effect<unknown, unknown, Scope.Scope>
}

const overLoopback = (
  key: string,
  baseUrl: string,
  options: Omit<ClaudeClient.LayerOptions, "apiKey" | "baseUrl">,
  use: (client: ClaudeClient.ClaudeClient) => Effect.Effect<unknown, unknown>
) =>
  Effect.flatMap(ClaudeClient.ClaudeClient, use).pipe(
    Effect.provide(
      ClaudeClient.layer({ apiKey: Redacted.make(key), baseUrl, ...options }).pipe(
        Layer.provide(NodeHttpClient.layerUndici)
      )
    )
  )

const quick = { retry: { maxRetries: 1, baseDelay: "5 millis", maxDelay: "10 millis" }, timeout: "2 seconds" } as const

const create = (client: ClaudeClient.ClaudeClient) => client.createMessage(params)
const stream = (client: ClaudeClient.ClaudeClient) => Stream.runDrain(client.streamMessage(params))

const failures: ReadonlyArray<Failure> = [
  {
    kind: "a success",
    expected: "success",
    run: (key) =>
      Effect.flatMap(
        rawServer((_, response) => json(response, 200, Scripted.message().body)),
        (url) => overLoopback(key, url, quick, create)
      )
  },
  {
    kind: "connection refused",
    expected: "MaxRetriesExceededError",
    run: (key) => Effect.flatMap(closedPort, (port) => overLoopback(key, `http://127.0.0.1:${port}`, quick, create))
  },
  {
    kind: "connection reset before headers",
    expected: "MaxRetriesExceededError",
    run: (key) =>
      Effect.flatMap(
        rawServer((request) => request.socket.destroy()),
        (url) => overLoopback(key, url, quick, create)
      )
  },
  {
    kind: "401 whose body echoes the request headers",
    expected: "AuthenticationError",
    run: (key) =>
      Effect.flatMap(
        rawServer((request, response) =>
          json(response, 401, { type: "error", error: { type: "authentication_error", message: echo(request) } })
        ),
        (url) => overLoopback(key, url, quick, create)
      )
  },
  {
    kind: "a proxy's 502 HTML page echoing the request headers, every attempt",
    expected: "MaxRetriesExceededError",
    run: (key) =>
      Effect.flatMap(
        rawServer((request, response) => {
          response.writeHead(502, { "content-type": "text/html" })
          response.end(`<html><body><h1>502</h1><pre>${echo(request)}</pre></body></html>`)
        }),
        (url) => overLoopback(key, url, quick, create)
      )
  },
  {
    kind: "a 200 that is not a Message, echoing the key",
    expected: "MalformedResponseError",
    run: (key) =>
      Effect.flatMap(
        rawServer((request, response) => json(response, 200, { unexpected: echo(request) })),
        (url) => overLoopback(key, url, quick, create)
      )
  },
  {
    kind: "a 429 asking for 11 days, its body echoing the key",
    expected: "RetryWaitTooLongError",
    run: (key) =>
      Effect.flatMap(
        rawServer((request, response) =>
          json(response, 429, { type: "error", error: { type: "rate_limit_error", message: echo(request) } }, {
            "retry-after": "999999"
          })
        ),
        (url) => overLoopback(key, url, quick, create)
      )
  },
  {
    kind: "a response that never ends (timeout)",
    expected: "TimeoutError",
    run: (key) =>
      Effect.flatMap(
        rawServer((_, response) => {
          response.writeHead(200, { "content-type": "application/json" })
          response.write("{")
        }),
        (url) => overLoopback(key, url, { ...quick, retry: false, timeout: "300 millis" }, create)
      )
  },
  {
    kind: "a stream whose event: error echoes the key after content",
    expected: "StreamInterruptedError",
    run: (key) =>
      Effect.flatMap(
        rawServer((request, response) => {
          response.writeHead(200, { "content-type": "text/event-stream" })
          const events = Scripted.streamEvents({ errorAfter: 2, errorType: "api_error" }).map((event) =>
            event.event === "error"
              ? { ...event, data: { type: "error", error: { type: "api_error", message: echo(request) } } }
              : event
          )
          // the content first, the error a moment later (in one chunk, the error would come before any content)
          response.write(Buffer.from(Scripted.sseText(events.slice(0, -1))))
          setTimeout(() => response.end(Buffer.from(Scripted.sseText(events.slice(-1)))), 20)
        }),
        (url) => overLoopback(key, url, quick, stream)
      )
  },
  {
    kind: "a stream cut after content",
    expected: "StreamInterruptedError",
    run: (key) =>
      Effect.flatMap(
        rawServer((_, response) => {
          response.writeHead(200, { "content-type": "text/event-stream" })
          const bytes = Scripted.sseText(Scripted.streamEvents())
          response.write(Buffer.from(bytes.slice(0, bytes.length - 60)))
          setTimeout(() => response.destroy(), 20)
        }),
        (url) => overLoopback(key, url, quick, stream)
      )
  },
  {
    kind: "an open circuit",
    expected: "CircuitOpenError",
    run: (key) =>
      Effect.flatMap(
        rawServer((_, response) => json(response, 529, { type: "error", error: { type: "overloaded_error" } })),
        (url) =>
          overLoopback(
            key,
            url,
            { ...quick, retry: false, circuitBreaker: { failureThreshold: 1 } },
            (client) => Effect.zipRight(Effect.exit(create(client)), create(client))
          )
      )
  },
  {
    kind: "a wait longer than the caller's deadline",
    expected: "BudgetWaitTooLongError",
    run: (key) =>
      Effect.flatMap(
        rawServer((_, response) =>
          json(response, 429, { type: "error", error: { type: "rate_limit_error" } }, { "retry-after": "60" })
        ),
        (url) =>
          overLoopback(
            key,
            url,
            { ...quick, retry: false },
            (client) =>
              Effect.zipRight(Effect.exit(create(client)), client.createMessage(params, { deadline: "1 second" }))
          )
      )
  },
  {
    kind: "parameters that fail validation",
    expected: "RequestValidationError",
    run: (key) =>
      Effect.flatMap(
        closedPort,
        (port) =>
          overLoopback(key, `http://127.0.0.1:${port}`, quick, (client) =>
            client.createMessage({ ...params, max_tokens: -1 }))
      )
  }
]

describe("the API key appears in no log, span, error or rendering of them", () => {
  for (const failure of failures) {
    it.scopedLive(`${failure.kind}: ${failure.expected}`, () =>
      Effect.gen(function*() {
        for (const key of keys) {
          const [exit, captured] = yield* capture(failure.run(key))
          const failed = failureOf(exit)
          expect(Option.match(failed, { onNone: () => "success", onSome: (error: any) => error._tag })).toBe(
            failure.expected
          )
          const texts = [
            ...captured.texts(),
            ...renderings(exit),
            ...Option.match(failed, { onNone: () => [], onSome: renderings })
          ]
          expect(leaks(texts, key)).toEqual([])
          // the platform's own client spans were there to look at (and ended), unless nothing was sent
          if (failure.expected !== "RequestValidationError") {
            const client = captured.spans.filter((span) => span.kind === "client")
            expect(client.length).toBeGreaterThan(0)
            expect(client.every((span) => span.exit !== undefined)).toBe(true)
          }
        }
      }))
  }
})

// ---------------------------------------------------------------------------------------------------------------
// The command line, as users run it: its whole stdout and stderr.

interface Ran {
  readonly code: number
  readonly output: string
}

const runCli = (args: ReadonlyArray<string>, env: Record<string, string>): Effect.Effect<Ran> =>
  Effect.async<Ran>((resume) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "src/cli/main.ts", ...args],
      { timeout: 120_000, env: { ...process.env, FORCE_COLOR: "0", ...env } },
      (error, stdout, stderr) =>
        resume(Effect.succeed({ code: error ? (error.code as number | null) ?? 1 : 0, output: `${stdout}\n${stderr}` }))
    )
  })

describe("the command line prints no key", () => {
  const key = keys[1]!
  const live = ["--live", "--requests", "4", "--concurrency", "1", "--max-retries", "1", "--verbose"]

  it.scopedLive(
    "--live against a server that echoes the key in every kind of error answer, and in JSON",
    () =>
      Effect.gen(function*() {
        const url = yield* rawServer((request, response, index) => {
          const body = { type: "error", error: { type: "api_error", message: echo(request) } }
          switch (index % 4) {
            case 0:
              return json(response, 401, body)
            case 1:
              return json(response, 429, body, { "retry-after": "999999" })
            case 2:
              return json(response, 200, { surprise: echo(request) })
            default:
              response.writeHead(500, { "content-type": "text/html" })
              return response.end(`<pre>${echo(request)}</pre>`)
          }
        })
        for (const extra of [[], ["--json"]]) {
          const ran = yield* runCli([...live, ...extra], { ANTHROPIC_API_KEY: key, ANTHROPIC_BASE_URL: url })
          expect(ran.code).toBe(2)
          expect(ran.output.length).toBeGreaterThan(0)
          expect(leaks([ran.output], key)).toEqual([])
        }
      }),
    { timeout: 240_000 }
  )

  it.scopedLive(
    "--live with the connection refused, and with the key given as the base URL by mistake",
    () =>
      Effect.gen(function*() {
        const port = yield* closedPort
        const refused = yield* runCli(live, { ANTHROPIC_API_KEY: key, ANTHROPIC_BASE_URL: `http://127.0.0.1:${port}` })
        expect(refused.code).toBe(2)
        expect(leaks([refused.output], key)).toEqual([])
        const swapped = yield* runCli(live, { ANTHROPIC_API_KEY: key, ANTHROPIC_BASE_URL: key })
        expect(swapped.code).toBe(1)
        expect(swapped.output).toContain("base URL")
        expect(leaks([swapped.output], key)).toEqual([])
      }),
    { timeout: 240_000 }
  )
})

// ---------------------------------------------------------------------------------------------------------------
// Servers listen on 127.0.0.1 only.

/** The local addresses listening on `port`, from the kernel's table (Linux); undefined where there is none. */
const listeningAddresses = (port: number): ReadonlyArray<string> | undefined => {
  let table: string
  try {
    table = readFileSync("/proc/net/tcp", "utf8") + readFileSync("/proc/net/tcp6", "utf8")
  } catch {
    return undefined
  }
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0")
  return table.split("\n").slice(1).flatMap((line) => {
    const [, local, , state] = line.trim().split(/\s+/)
    if (local === undefined || state !== "0A") return [] // 0A: LISTEN
    const [address, localPort] = local.split(":")
    return localPort === hexPort && address !== undefined ? [address] : []
  })
}

const refusedAt = (host: string, port: number): Effect.Effect<boolean> =>
  Effect.async<boolean>((resume) => {
    const socket = connect({ host, port, timeout: 2_000 })
    socket.on("connect", () => {
      socket.destroy()
      resume(Effect.succeed(false))
    })
    socket.on("error", () => resume(Effect.succeed(true)))
    socket.on("timeout", () => {
      socket.destroy()
      resume(Effect.succeed(true))
    })
  })

const otherAddresses = Object.values(networkInterfaces()).flatMap((addresses) =>
  (addresses ?? []).filter((address) => !address.internal && address.family === "IPv4").map((address) =>
    address.address
  )
)

const expectLoopbackOnly = (port: number) =>
  Effect.gen(function*() {
    const listening = listeningAddresses(port)
    // 0100007F is 127.0.0.1 in the kernel's byte order; nothing on 0.0.0.0 or ::
    if (listening !== undefined) expect(listening).toEqual(["0100007F"])
    for (const address of otherAddresses) expect(yield* refusedAt(address, port)).toBe(true)
    expect(yield* refusedAt("127.0.0.1", port)).toBe(false)
  })

describe("servers listen on 127.0.0.1 only", () => {
  it.live("Simulator.layerServer", () =>
    Effect.gen(function*() {
      const server = yield* Simulator.SimulatorServer
      expect(server.url).toBe(`http://127.0.0.1:${server.port}`)
      yield* expectLoopbackOnly(server.port)
    }).pipe(Effect.provide(Simulator.layerServer())))

  it.live("claude-rate-limiter simulate", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const base = yield* Effect.console
      const captured: Console.Console = {
        ...base,
        log: (...parts) => Effect.sync(() => void lines.push(parts.join(" "))),
        error: (...parts) => Effect.sync(() => void lines.push(parts.join(" ")))
      }
      const fiber = yield* cli(["node", "claude-rate-limiter", "simulate", "--port", "0"]).pipe(
        Effect.provide(NodeContext.layer),
        Effect.withConsole(captured),
        Effect.fork
      )
      const url = yield* Effect.suspend(() => {
        const line = lines.find((each) => each.includes("listening on"))
        return line === undefined ? Effect.fail("not yet") : Effect.succeed(/http:\/\/[^\s]+/.exec(line)![0])
      }).pipe(Effect.retry({ times: 200, schedule: Schedule.spaced("50 millis") }))
      const port = Number(new URL(url).port)
      expect(new URL(url).hostname).toBe("127.0.0.1")
      yield* expectLoopbackOnly(port)
      yield* Fiber.interrupt(fiber)
    }))
})

// ---------------------------------------------------------------------------------------------------------------
// Bounded input, capped waits.

describe("the simulator bounds request bodies", () => {
  it.live("a body over maxRequestBytes is a 413, whether declared or chunked", () =>
    Effect.gen(function*() {
      const server = yield* Simulator.SimulatorServer
      const send = (chunked: boolean) =>
        Effect.async<number>((resume) => {
          const body = Buffer.alloc(1_000_000, "a")
          const socket = connect(server.port, "127.0.0.1")
          let received = ""
          socket.on("data", (data) => {
            received += data.toString()
          })
          socket.on("close", () => resume(Effect.succeed(Number(/^HTTP\/1\.1 (\d{3})/.exec(received)?.[1] ?? 0))))
          socket.on("error", () => {})
          const head = [
            "POST /v1/messages HTTP/1.1",
            "host: 127.0.0.1",
            "x-api-key: any",
            "anthropic-version: 2023-06-01",
            "content-type: application/json",
            chunked ? "transfer-encoding: chunked" : `content-length: ${body.length}`,
            "connection: close"
          ].join("\r\n")
          socket.write(`${head}\r\n\r\n`)
          if (chunked) {
            for (let offset = 0; offset < body.length; offset += 16_384) {
              const part = body.subarray(offset, offset + 16_384)
              socket.write(`${part.length.toString(16)}\r\n`)
              socket.write(part)
              socket.write("\r\n")
            }
            socket.end("0\r\n\r\n")
          } else {
            socket.end(body)
          }
        })
      expect(yield* send(false)).toBe(413)
      // a 413, or the connection closed on the sender: never an answer to a half-read body
      expect([413, 0]).toContain(yield* send(true))
    }).pipe(Effect.provide(Simulator.layerServer({ maxRequestBytes: 65_536 }))))
})

describe("server-given waits are capped", () => {
  const huge = Scripted.error(529, "overloaded_error", { headers: { "retry-after": "999999" } })

  it.effect("the breaker stays open at most maxCooldown, whatever retry-after says", () =>
    Effect.gen(function*() {
      const client = yield* ClaudeClient.ClaudeClient
      yield* Effect.exit(client.createMessage(params))
      const refused = yield* Effect.flip(client.createMessage(params))
      expect(refused._tag).toBe("CircuitOpenError")
      if (refused._tag === "CircuitOpenError") {
        expect(Duration.toMillis(refused.remaining)).toBeLessThanOrEqual(Duration.toMillis("10 minutes"))
      }
    }).pipe(Effect.provide(
      ClaudeClient.layer({
        apiKey: Redacted.make(keys[0]!),
        retry: false,
        circuitBreaker: { failureThreshold: 1, maxCooldown: "10 minutes" }
      }).pipe(Layer.provideMerge(Scripted.layer([huge])))
    )))

  it.effect("admission holds a pool at most maxServerWait, whatever retry-after says", () =>
    Effect.gen(function*() {
      const client = yield* ClaudeClient.ClaudeClient
      yield* Effect.exit(client.createMessage(params))
      const status = yield* (yield* Admission.Admission).status("claude-sonnet-4.x")
      expect(status.view.embargoUntil - status.view.at).toBeLessThanOrEqual(Duration.toMillis("5 minutes"))
      const refused = yield* Effect.flip(client.createMessage(params))
      // waiting longer than allowed fails at once: nothing is sent
      expect(refused._tag).toBe("BudgetWaitTooLongError")
      expect((yield* (yield* Scripted.ScriptedHttpClient).requests).length).toBe(1)
    }).pipe(Effect.provide(
      ClaudeClient.layer({
        apiKey: Redacted.make(keys[0]!),
        retry: false,
        circuitBreaker: false,
        admission: { maxServerWait: "5 minutes" }
      }).pipe(
        Layer.provideMerge(
          Scripted.layer([Scripted.error(429, "rate_limit_error", { headers: { "retry-after": "999999" } })])
        )
      )
    )))
})
