import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { Effect } from "effect"
import * as Simulator from "../../../src/simulator/api/Simulator.js"
import type * as SimulatorConfig from "../../../src/simulator/api/SimulatorConfig.js"

export interface Answer {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: any
}

export const defaultHeaders = { "x-api-key": "sk-ant-sim", "anthropic-version": "2023-06-01" }

/** One request to the in-memory simulator; the body is read whole (JSON parsed when it is JSON). */
export const send = (
  body: unknown,
  options: {
    readonly path?: string
    readonly method?: "GET" | "POST"
    readonly headers?: Record<string, string>
  } = {}
): Effect.Effect<Answer, unknown, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const url = `http://simulator${options.path ?? "/v1/messages"}`
    const request = options.method === "GET"
      ? HttpClientRequest.get(url).pipe(HttpClientRequest.setHeaders(options.headers ?? defaultHeaders))
      : HttpClientRequest.post(url).pipe(
        HttpClientRequest.setHeaders(options.headers ?? defaultHeaders),
        typeof body === "string" ? HttpClientRequest.bodyText(body) : HttpClientRequest.bodyUnsafeJson(body)
      )
    const response = yield* client.execute(request)
    const text = yield* response.text
    let parsed: unknown = text
    try {
      parsed = JSON.parse(text)
    } catch {
      // keep the text
    }
    return { status: response.status, headers: response.headers, body: parsed }
  })

export const message = (content: string | ReadonlyArray<unknown> = "Hello", extra: Record<string, unknown> = {}) => ({
  model: "claude-sonnet-4-6",
  max_tokens: 100,
  messages: [{ role: "user", content }],
  ...extra
})

/** no latency unless a test asks for it, so timelines are about the limits alone */
export const instant: SimulatorConfig.Options = { latency: { base: 0, perOutputToken: 0, jitter: 0 } }

export const withSimulator = <A, E>(
  options: SimulatorConfig.Options,
  body: Effect.Effect<A, E, HttpClient.HttpClient | Simulator.Simulator>
) => body.pipe(Effect.provide(Simulator.layer({ ...instant, ...options })))

export const stats = Effect.flatMap(Simulator.Simulator, (simulator) => simulator.stats)

/** Parses a text/event-stream body into its events. */
export const sseEvents = (text: string): Array<{ readonly event: string; readonly data: any }> =>
  text.split("\n\n").filter((block) => block.trim() !== "").map((block) => {
    const event = /^event: (.*)$/m.exec(block)?.[1] ?? ""
    const data = /^data: (.*)$/m.exec(block)?.[1] ?? "null"
    return { event, data: JSON.parse(data) }
  })
