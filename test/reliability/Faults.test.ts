/**
 * Named faults, one row each, each with the outcome it must have: what the caller gets (a success or the typed
 * error, by tag), how many requests went on the wire, and the state the circuit is left in.
 *
 * The first table runs in virtual time (`TestClock`) over `ScriptedHttpClient`; clock jumps use a wall clock set
 * forward or back while timers keep their pace (`test/support/jumpingClock.ts`), as on a real machine. The second
 * runs over loopback sockets with the Node HTTP client, for what only a socket shows.
 *
 * Not here: Redis killed and restarted mid-run, which belongs to the shared Redis store's own suite.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import type { Scope } from "effect"
import { Duration, Effect, Exit, Fiber, Layer, Option, Redacted, Stream, TestClock } from "effect"
import * as CircuitBreaker from "../../src/CircuitBreaker.js"
import * as ClaudeClient from "../../src/ClaudeClient.js"
import * as MessageStream from "../../src/MessageStream.js"
import * as Simulator from "../../src/simulator/api/Simulator.js"
import * as Scripted from "../../src/testing/ScriptedHttpClient.js"
import * as JumpingClock from "../support/jumpingClock.js"
import { closedPort, rawServer } from "../support/loopback.js"

const pool = "claude-sonnet-4.x"
const apiKey = "sk-ant-api03-faults-0123456789abcdefghij"
const params = { model: "claude-sonnet-4-6", max_tokens: 64, messages: [{ role: "user" as const, content: "hi" }] }
const day = 86_400_000

/** What one call ended with: "success", the error's tag, or for a give-up error "Tag(last error's tag)". */
const outcomeOf = (exit: Exit.Exit<unknown, unknown>): string => {
  if (Exit.isSuccess(exit)) return "success"
  if (exit.cause._tag !== "Fail") return Exit.isInterrupted(exit) ? "interrupted" : `defect (${exit.cause._tag})`
  const error = exit.cause.error as { readonly _tag: string; readonly lastError?: { readonly _tag: string } }
  return error.lastError === undefined ? error._tag : `${error._tag}(${error.lastError._tag})`
}

const errorOf = (exit: Exit.Exit<unknown, unknown>): any =>
  Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error : undefined

const baseOptions: Omit<ClaudeClient.LayerOptions, "apiKey"> = {
  timeout: "30 seconds",
  retry: { maxRetries: 2, baseDelay: "1 second", maxDelay: "4 seconds" },
  admission: {
    limits: { [pool]: { requestsPerMinute: 600, inputTokensPerMinute: 1_000_000, outputTokensPerMinute: 1_000_000 } }
  }
}

const html = (title: string) =>
  `<!DOCTYPE html><html><head><title>${title}</title></head><body><h1>${title}</h1>${
    "<p>nginx</p>".repeat(500)
  }</body></html>`

const messageBody = Scripted.message().body
const streamed = Scripted.streamEvents({ chunks: ["Hello", ", ", "world", "!"] })
const streamedLength = Scripted.sseText(streamed).length
// a byte offset inside message_start, before any content
const beforeContent = 200
// a byte offset after the content deltas, before message_stop
const afterContent = streamedLength - 60

type Act = "create" | "stream"

interface Run {
  /** the outcome of each call, in order */
  readonly outcomes: ReadonlyArray<string>
  readonly exits: ReadonlyArray<Exit.Exit<unknown, unknown>>
  /** requests that reached the (scripted) wire */
  readonly sent: number
  readonly circuit: string
}

interface VirtualRow {
  readonly fault: string
  readonly script: ReadonlyArray<Scripted.Step>
  readonly options?: Partial<ClaudeClient.LayerOptions>
  /** the calls the caller makes, one after the other; default one createMessage */
  readonly calls?: ReadonlyArray<Act>
  /** what happens while they run (time passing, the clock jumping); default an hour passes */
  readonly during?: (clock: JumpingClock.JumpingClock, sent: Effect.Effect<number>) => Effect.Effect<void>
  readonly expected: {
    readonly outcomes: ReadonlyArray<string>
    readonly sent: number
    readonly circuit?: "Closed" | "Open" | "HalfOpen"
  }
  /** more to check on the run */
  readonly check?: (run: Run) => void
}

const call = (act: Act) =>
  Effect.flatMap(ClaudeClient.ClaudeClient, (client) =>
    act === "create"
      ? Effect.asVoid(client.createMessage(params))
      : Effect.asVoid(Stream.runCollect(client.streamMessage(params))))

// virtual time starts at a real date (a day before it is still after 1970)
const epoch = Date.UTC(2026, 10, 23, 10, 0, 0)

const runVirtual = (row: VirtualRow) =>
  Effect.gen(function*() {
    yield* TestClock.setTime(epoch)
    const jumping = yield* JumpingClock.make
    const body = Effect.gen(function*() {
      const recorder = yield* Scripted.ScriptedHttpClient
      const sent = Effect.map(recorder.requests, (requests) => requests.length)
      const calls: ReadonlyArray<Act> = row.calls ?? ["create"]
      const fiber = yield* Effect.fork(Effect.forEach(calls, (act) => Effect.exit(call(act))))
      yield* (row.during ?? ((clock) => clock.adjust("1 hour")))(jumping, sent)
      const done = yield* Fiber.poll(fiber)
      // a call still running once its time has passed is a hang: the row fails on it
      expect(Option.isSome(done), "every call has ended").toBe(true)
      if (Option.isNone(done)) {
        yield* Fiber.interrupt(fiber)
        return
      }
      const exits = Exit.isSuccess(done.value) ? done.value.value : []
      const circuit = (yield* (yield* CircuitBreaker.CircuitBreaker).state)._tag
      const run: Run = { outcomes: exits.map(outcomeOf), exits, sent: yield* sent, circuit }
      expect(run.outcomes).toEqual(row.expected.outcomes)
      expect(run.sent).toBe(row.expected.sent)
      if (row.expected.circuit !== undefined) expect(run.circuit).toBe(row.expected.circuit)
      for (const exit of exits) {
        // whatever the fault, the key is in no error
        const error = errorOf(exit)
        if (error !== undefined) expect(`${String(error)} ${JSON.stringify(error)}`).not.toContain(apiKey)
      }
      row.check?.(run)
    }).pipe(
      Effect.provide(
        ClaudeClient.layer({ apiKey: Redacted.make(apiKey), ...baseOptions, ...row.options }).pipe(
          Layer.provideMerge(Scripted.layer(row.script))
        )
      )
    )
    return yield* Effect.withClock(body, jumping.clock)
  })

const virtualRows: ReadonlyArray<VirtualRow> = [
  {
    fault: "reset before headers, on every attempt",
    script: [{ disconnect: true }, { disconnect: true }, { disconnect: true }],
    expected: { outcomes: ["MaxRetriesExceededError(ConnectionError)"], sent: 3, circuit: "Closed" }
  },
  {
    fault: "reset before headers, then the API answers",
    script: [{ disconnect: true }, Scripted.message()],
    expected: { outcomes: ["success"], sent: 2 }
  },
  {
    fault: "reset mid-body",
    script: [{ status: 200, body: messageBody, cutAfterBytes: 40 }, Scripted.message()],
    expected: { outcomes: ["success"], sent: 2 }
  },
  {
    fault: "a response that never ends (headers, part of the body, then nothing): the attempt times out",
    script: [{ status: 200, body: messageBody, cutAfterBytes: 40, cutWith: "stall" }, Scripted.message()],
    expected: { outcomes: ["success"], sent: 2 }
  },
  {
    fault: "a response that never ends, on every attempt",
    script: Array.from({ length: 3 }, () => ({ status: 200, body: messageBody, cutAfterBytes: 0, cutWith: "stall" })),
    expected: { outcomes: ["MaxRetriesExceededError(TimeoutError)"], sent: 3 }
  },
  {
    fault: "a stream that stalls after content reached the caller",
    script: [{ events: streamed, cutAfterBytes: afterContent, cutWith: "stall" }],
    calls: ["stream"],
    expected: { outcomes: ["StreamInterruptedError"], sent: 1 },
    check: ({ exits }) => expect(MessageStream.partialText(errorOf(exits[0]!).partial)).toBe("Hello, world!")
  },
  {
    fault: "reset mid-stream, after content reached the caller",
    script: [{ events: streamed, cutAfterBytes: afterContent }],
    calls: ["stream"],
    expected: { outcomes: ["StreamInterruptedError"], sent: 1 },
    check: ({ exits }) => expect(errorOf(exits[0]!).errorType).toBe("connection_error")
  },
  {
    fault: "reset mid-stream, before any content: retried, the caller sees one clean stream",
    script: [{ events: streamed, cutAfterBytes: beforeContent }, { events: streamed }],
    calls: ["stream"],
    expected: { outcomes: ["success"], sent: 2 }
  },
  {
    fault: "event: error (overloaded) before any content: retried",
    script: [{ events: Scripted.streamEvents({ errorAfter: 0 }) }, { events: streamed }],
    calls: ["stream"],
    expected: { outcomes: ["success"], sent: 2 }
  },
  {
    fault: "a 200 with invalid JSON: not retried (it was served)",
    script: [{
      status: 200,
      headers: { "content-type": "application/json" },
      body: "{\"type\":\"message\",\"content\":["
    }],
    expected: { outcomes: ["MalformedResponseError"], sent: 1 }
  },
  {
    fault: "a 200 with an HTML page (a captive portal)",
    script: [{ status: 200, headers: { "content-type": "text/html" }, body: html("Sign in to the Wi-Fi") }],
    expected: { outcomes: ["MalformedResponseError"], sent: 1 }
  },
  {
    fault: "an HTML error page from a proxy (502), on every attempt",
    script: Array.from(
      { length: 3 },
      () => ({ status: 502, headers: { "content-type": "text/html" }, body: html("502") })
    ),
    expected: { outcomes: ["MaxRetriesExceededError(ApiError)"], sent: 3 },
    check: ({ exits }) => {
      const message: string = errorOf(exits[0]!).lastError.message
      expect(message).toMatch(/^HTTP 502: /)
      expect(message.length).toBeLessThanOrEqual(320)
    }
  },
  {
    fault: "an HTML error page (403) from a firewall: not retried",
    script: [{ status: 403, headers: { "content-type": "text/html" }, body: html("Forbidden") }],
    expected: { outcomes: ["PermissionError"], sent: 1 }
  },
  {
    fault: "413 from the edge, not JSON: not retried",
    script: [{ status: 413, headers: { "content-type": "text/plain" }, body: "Request Entity Too Large" }],
    expected: { outcomes: ["RequestTooLargeError"], sent: 1 }
  },
  {
    fault: "retry-after: 999999: fails fast, the circuit stays closed",
    script: [Scripted.error(429, "rate_limit_error", { headers: { "retry-after": "999999" } })],
    expected: { outcomes: ["RetryWaitTooLongError(RateLimitError)"], sent: 1, circuit: "Closed" }
  },
  {
    fault: "retry-after-ms too large to represent: fails fast",
    script: [Scripted.error(429, "rate_limit_error", { headers: { "retry-after-ms": "9".repeat(400) } })],
    expected: { outcomes: ["RetryWaitTooLongError(RateLimitError)"], sent: 1 }
  },
  {
    fault: "negative retry-after: ignored, the backoff decides, and the retry succeeds",
    script: [Scripted.error(429, "rate_limit_error", { headers: { "retry-after": "-5" } }), Scripted.message()],
    during: (clock, sent) =>
      Effect.gen(function*() {
        yield* clock.adjust("1 millis")
        expect(yield* sent).toBe(1)
        // full jitter on the first backoff: within a second
        yield* clock.adjust("1 second")
        expect(yield* sent).toBe(2)
      }),
    expected: { outcomes: ["success"], sent: 2 }
  },
  {
    fault: "x-should-retry: false on a 500: not retried",
    script: [Scripted.error(500, "api_error", { headers: { "x-should-retry": "false" } })],
    expected: { outcomes: ["ApiError"], sent: 1 }
  },
  {
    fault: "a spend limit (429 without retry-after): not retried",
    script: [Scripted.error(429, "rate_limit_error", { details: { error_code: "enforced_spend_limit_reached" } })],
    expected: { outcomes: ["SpendLimitReachedError"], sent: 1, circuit: "Closed" }
  },
  {
    fault: "a storm of 529s opens the circuit: the next attempt is refused without being sent",
    // (with the retry budget, the default, the caller stops at the same point with RetryBudgetExhaustedError)
    options: {
      retry: { maxRetries: 10, baseDelay: "1 second", maxDelay: "4 seconds" },
      admission: { ...baseOptions.admission, retryBudget: false }
    },
    script: Array.from({ length: 5 }, () => Scripted.error(529, "overloaded_error")),
    // the four backoffs take at most 1 + 2 + 4 + 4 s; the circuit's cooldown is 60 s
    during: (clock) => clock.adjust("20 seconds"),
    expected: { outcomes: ["CircuitOpenError"], sent: 5, circuit: "Open" }
  },
  {
    fault: "the API key rejected mid-run: the call fails at once, nothing else is affected",
    script: [
      Scripted.message(),
      Scripted.message(),
      Scripted.error(401, "authentication_error", { message: `invalid x-api-key: ${apiKey}` })
    ],
    calls: ["create", "create", "create"],
    expected: { outcomes: ["success", "success", "AuthenticationError"], sent: 3, circuit: "Closed" },
    check: ({ exits }) => expect(errorOf(exits[2]!).message).not.toContain(apiKey)
  },
  {
    fault: "the clock set forward a day while waiting out a 429 (retry-after 30): sent when the 30 s are up",
    script: [Scripted.error(429, "rate_limit_error", { headers: { "retry-after": "30" } }), Scripted.message()],
    during: (clock, sent) =>
      Effect.gen(function*() {
        yield* clock.adjust("1 second")
        yield* clock.jump(day)
        yield* clock.adjust("30 seconds")
        expect(yield* sent).toBe(2)
      }),
    expected: { outcomes: ["success"], sent: 2 }
  },
  {
    // Admission keeps the server's (wall-clock) times: when the clock goes back it keeps each wait's time left as
    // of the last moment it looked, so the time between then and the jump counts again: at worst twice the wait.
    fault: "the clock set back a day while waiting out a 429 (retry-after 30): a wait of the server's 30 s, not a day",
    script: [Scripted.error(429, "rate_limit_error", { headers: { "retry-after": "30" } }), Scripted.message()],
    during: (clock, sent) =>
      Effect.gen(function*() {
        yield* clock.adjust("1 second")
        yield* clock.jump(-day)
        yield* clock.adjust("20 seconds")
        expect(yield* sent).toBe(1)
        yield* clock.adjust("40 seconds")
        expect(yield* sent).toBe(2)
      }),
    expected: { outcomes: ["success"], sent: 2 }
  },
  {
    fault: "the clock set back a day while a request waits for its bucket to refill",
    options: { admission: { threshold: 0, limits: { [pool]: { requestsPerMinute: 2 } } } },
    script: [Scripted.message(), Scripted.message(), Scripted.message()],
    calls: ["create", "create", "create"],
    during: (clock, sent) =>
      Effect.gen(function*() {
        yield* clock.adjust("1 second")
        expect(yield* sent).toBe(2)
        yield* clock.jump(-day)
        // one request's worth of refill at 2 a minute (at worst twice, as above), not a day
        yield* clock.adjust("62 seconds")
        expect(yield* sent).toBe(3)
      }),
    expected: { outcomes: ["success", "success", "success"], sent: 3 }
  },
  {
    fault: "the clock set back a day while the send rate is cut (after a 529): requests keep flowing",
    options: { retry: false, admission: { ...baseOptions.admission, retryBudget: false } },
    script: [Scripted.error(529, "overloaded_error"), Scripted.message(), Scripted.message()],
    calls: ["create", "create", "create"],
    during: (clock, sent) =>
      Effect.gen(function*() {
        yield* clock.adjust("1 second")
        yield* clock.jump(-day)
        // the cut rate is at least half a request a second
        yield* clock.adjust("10 seconds")
        expect(yield* sent).toBe(3)
      }),
    expected: { outcomes: ["OverloadedError", "success", "success"], sent: 3 }
  },
  {
    fault: "the clock set back a day during an attempt: its timeout still fires",
    script: [{ ...Scripted.message(), latency: "1 hour" }, Scripted.message()],
    during: (clock, sent) =>
      Effect.gen(function*() {
        yield* clock.adjust("1 second")
        yield* clock.jump(-day)
        yield* clock.adjust("30 seconds")
        // timed out at 30 s and retried within the backoff
        yield* clock.adjust("2 seconds")
        expect(yield* sent).toBe(2)
      }),
    expected: { outcomes: ["success"], sent: 2 }
  }
]

/** Rows whose calls and clock jumps interleave: each runs its own steps. */
const circuitRows: ReadonlyArray<{ readonly fault: string; readonly jump: number }> = [
  { fault: "the clock set back a day while the circuit is open", jump: -day },
  { fault: "the clock set forward a day while the circuit is open", jump: day }
]

describe("named faults, in virtual time", () => {
  for (const row of virtualRows) {
    it.effect(row.fault, () => runVirtual(row))
  }

  for (const row of circuitRows) {
    it.effect(`${row.fault}: the time left is within the cooldown, never negative; it half-opens on time`, () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(epoch)
        const jumping = yield* JumpingClock.make
        yield* Effect.gen(function*() {
          const client = yield* ClaudeClient.ClaudeClient
          const breaker = yield* CircuitBreaker.CircuitBreaker
          const recorder = yield* Scripted.ScriptedHttpClient
          // one overload opens it, for 60 s
          expect(outcomeOf(yield* Effect.exit(client.createMessage(params)))).toBe("OverloadedError")
          yield* jumping.adjust("10 seconds")
          yield* jumping.jump(row.jump)
          if (row.jump < 0) {
            const refused = yield* Effect.exit(client.createMessage(params))
            expect(outcomeOf(refused)).toBe("CircuitOpenError")
            const remaining = Duration.toMillis(errorOf(refused).remaining)
            expect(remaining).toBeGreaterThan(0)
            expect(remaining).toBeLessThanOrEqual(50_000)
            expect(String(errorOf(refused).message)).not.toMatch(/\dd/)
            yield* jumping.adjust("50 seconds")
          } else {
            // still open on the timers' clock, though the wall clock says the cooldown is long over
            const refused = yield* Effect.exit(client.createMessage(params))
            expect(outcomeOf(refused)).toBe("CircuitOpenError")
            const remaining = Duration.toMillis(errorOf(refused).remaining)
            expect(remaining).toBeGreaterThanOrEqual(0)
            expect(remaining).toBeLessThanOrEqual(50_000)
            yield* jumping.adjust("50 seconds")
          }
          // 60 s after it opened: the next call is the probe, and it closes the circuit
          expect(outcomeOf(yield* Effect.exit(client.createMessage(params)))).toBe("success")
          expect((yield* breaker.state)._tag).toBe("Closed")
          expect((yield* recorder.requests).length).toBe(2)
        }).pipe(
          Effect.provide(
            ClaudeClient.layer({
              apiKey: Redacted.make(apiKey),
              ...baseOptions,
              retry: false,
              circuitBreaker: { failureThreshold: 1, cooldown: "60 seconds" }
            }).pipe(Layer.provideMerge(Scripted.layer([Scripted.error(529, "overloaded_error"), Scripted.message()])))
          ),
          Effect.withClock(jumping.clock)
        )
      }))
  }
})

// ---------------------------------------------------------------------------------------------------------------
// Loopback: a real socket under the Node HTTP client.

const loopbackOptions: Omit<ClaudeClient.LayerOptions, "apiKey" | "baseUrl"> = {
  timeout: "2 seconds",
  retry: { maxRetries: 2, baseDelay: "10 millis", maxDelay: "50 millis" },
  circuitBreaker: { failureThreshold: 50 }
}

const withClient = <A, E>(
  baseUrl: string,
  options: Omit<ClaudeClient.LayerOptions, "apiKey" | "baseUrl">,
  body: (client: ClaudeClient.ClaudeClient) => Effect.Effect<A, E>
) =>
  Effect.flatMap(ClaudeClient.ClaudeClient, body).pipe(
    Effect.provide(
      ClaudeClient.layer({ apiKey: Redacted.make(apiKey), baseUrl, ...options }).pipe(
        Layer.provide(NodeHttpClient.layerUndici)
      )
    )
  )

const fast = { latency: { base: "5 millis", perOutputToken: 0, jitter: 0 } } as const

interface LoopbackRow {
  readonly fault: string
  readonly run: Effect.Effect<void, unknown, Scope.Scope>
}

const loopbackRows: ReadonlyArray<LoopbackRow> = [
  {
    fault: "connection refused",
    run: Effect.gen(function*() {
      const port = yield* closedPort
      const exit = yield* withClient(
        `http://127.0.0.1:${port}`,
        loopbackOptions,
        (client) => Effect.exit(client.createMessage(params))
      )
      expect(outcomeOf(exit)).toBe("MaxRetriesExceededError(ConnectionError)")
    })
  },
  {
    fault: "reset before headers (the simulator drops every connection)",
    run: Effect.gen(function*() {
      const server = yield* Simulator.SimulatorServer
      const exit = yield* withClient(server.url, loopbackOptions, (client) => Effect.exit(client.createMessage(params)))
      expect(outcomeOf(exit)).toBe("MaxRetriesExceededError(ConnectionError)")
      expect((yield* (yield* Simulator.Simulator).stats).connectionResets).toBe(3)
    }).pipe(Effect.provide(Simulator.layerServer({ ...fast, faults: { connectionResetRate: 1 } })))
  },
  {
    fault: "reset mid-body (headers and part of the body, then the socket destroyed)",
    run: Effect.gen(function*() {
      const url = yield* rawServer((_, response) => {
        response.writeHead(200, { "content-type": "application/json", "content-length": "2000" })
        response.write("{\"id\":\"msg_1\",\"type\":\"message\",")
        setTimeout(() => response.destroy(), 20)
      })
      const exit = yield* withClient(
        url,
        { ...loopbackOptions, retry: false },
        (client) => Effect.exit(client.createMessage(params))
      )
      expect(outcomeOf(exit)).toBe("ConnectionError")
    })
  },
  {
    fault: "reset mid-stream, after content (the simulator cuts the connection after 2 deltas)",
    run: Effect.gen(function*() {
      const server = yield* Simulator.SimulatorServer
      const exit = yield* withClient(
        server.url,
        loopbackOptions,
        (client) => Effect.exit(Stream.runCollect(client.streamMessage(params)))
      )
      expect(outcomeOf(exit)).toBe("StreamInterruptedError")
      expect(errorOf(exit).errorType).toBe("connection_error")
      expect(MessageStream.partialText(errorOf(exit).partial).length).toBeGreaterThan(0)
    }).pipe(
      Effect.provide(Simulator.layerServer({ ...fast, faults: { stream: { cutRate: 1, afterDeltas: 2 } } }))
    )
  },
  {
    fault: "a response that never ends (headers, then silence): the attempt times out",
    run: Effect.gen(function*() {
      const url = yield* rawServer((_, response) => {
        response.writeHead(200, { "content-type": "application/json" })
        response.write("{")
      })
      const exit = yield* withClient(
        url,
        { ...loopbackOptions, timeout: "500 millis", retry: false },
        (client) => Effect.exit(client.createMessage(params))
      )
      expect(outcomeOf(exit)).toBe("TimeoutError")
    })
  },
  {
    fault: "an HTML error page from a proxy (502) on a socket",
    run: Effect.gen(function*() {
      const url = yield* rawServer((_, response) => {
        response.writeHead(502, { "content-type": "text/html" })
        response.end(html("502 Bad Gateway"))
      })
      const exit = yield* withClient(url, loopbackOptions, (client) => Effect.exit(client.createMessage(params)))
      expect(outcomeOf(exit)).toBe("MaxRetriesExceededError(ApiError)")
      expect(errorOf(exit).lastError.message).toMatch(/^HTTP 502: .*502 Bad Gateway/)
    })
  },
  {
    fault: "the server killed and restarted mid-run: calls fail with a typed error while it is down, then succeed",
    run: Effect.gen(function*() {
      const port = yield* closedPort
      const serve = Effect.flatMap(
        Effect.scope,
        (scope) => Layer.buildWithScope(Simulator.layerServer({ ...fast, port }), scope)
      )
      yield* withClient(`http://127.0.0.1:${port}`, {
        ...loopbackOptions,
        circuitBreaker: { failureThreshold: 3, cooldown: "200 millis" }
      }, (client) =>
        Effect.gen(function*() {
          const first = yield* Effect.scoped(Effect.zipRight(serve, Effect.exit(client.createMessage(params))))
          expect(outcomeOf(first)).toBe("success")
          // down: the port refuses connections
          const down = yield* Effect.exit(client.createMessage(params))
          expect(outcomeOf(down)).toBe("MaxRetriesExceededError(ConnectionError)")
          yield* Effect.scoped(Effect.gen(function*() {
            yield* serve
            // back: once the breaker's cooldown has passed, calls go through again
            yield* Effect.sleep("250 millis")
            const back = yield* Effect.exit(client.createMessage(params))
            expect(outcomeOf(back)).toBe("success")
          }))
        }))
    })
  }
]

describe("named faults, on loopback", () => {
  for (const row of loopbackRows) {
    it.scopedLive(row.fault, () => row.run)
  }
})
