/**
 * Watches one run from outside the client under test: every call (when it
 * started and ended, its lane, how it ended, what the API counted for it)
 * and every HTTP attempt the client sent through the run's `HttpClient`
 * (when, and the status it got). Any `ClaudeClient` layer can be probed, so
 * every strategy is measured the same way.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import type * as Admission from "../../src/Admission.js"
import * as ClaudeClient from "../../src/ClaudeClient.js"

export interface Call {
  readonly lane: Admission.Lane | undefined
  readonly startedAt: number
  readonly endedAt: number
  /** `"ok"`, or the tag of the error the call failed with */
  readonly result: string
  /** what the API counted against its buckets (zero for a failed call) */
  readonly inputTokens: number
  readonly outputTokens: number
}

export interface Attempt {
  readonly sentAt: number
  readonly endedAt: number
  /** 0 when there was no answer */
  readonly status: number
}

export interface Probe {
  readonly calls: Array<Call>
  readonly attempts: Array<Attempt>
  /** The client layer, its calls recorded, over an `HttpClient` whose attempts are recorded. */
  readonly wrap: (
    inner: Layer.Layer<ClaudeClient.ClaudeClient, never, HttpClient.HttpClient>
  ) => Layer.Layer<ClaudeClient.ClaudeClient, never, HttpClient.HttpClient>
}

export const make = (): Probe => {
  const calls: Array<Call> = []
  const attempts: Array<Attempt> = []

  const recordAttempts = Layer.effect(
    HttpClient.HttpClient,
    Effect.map(
      HttpClient.HttpClient,
      (client) =>
        HttpClient.transform(
          client,
          (response) =>
            Effect.flatMap(Clock.currentTimeMillis, (sentAt) =>
              Effect.onExit(response, (exit) =>
                Effect.map(Clock.currentTimeMillis, (endedAt) => {
                  attempts.push({ sentAt, endedAt, status: Exit.isSuccess(exit) ? exit.value.status : 0 })
                })))
        )
    )
  )

  const wrap = (inner: Layer.Layer<ClaudeClient.ClaudeClient, never, HttpClient.HttpClient>) =>
    Layer.effect(
      ClaudeClient.ClaudeClient,
      Effect.map(ClaudeClient.ClaudeClient, (client): ClaudeClient.ClaudeClient => ({
        ...client,
        createMessage: (params, options) =>
          Effect.flatMap(Clock.currentTimeMillis, (startedAt) =>
            Effect.onExit(client.createMessage(params, options), (exit) =>
              Effect.map(Clock.currentTimeMillis, (endedAt) => {
                const usage = Exit.isSuccess(exit) ? exit.value.usage : undefined
                calls.push({
                  lane: options?.lane,
                  startedAt,
                  endedAt,
                  result: Exit.isSuccess(exit)
                    ? "ok"
                    : Exit.isInterrupted(exit)
                    ? "Interrupted"
                    : exit.cause._tag === "Fail"
                    ? exit.cause.error._tag
                    : "Defect",
                  inputTokens: usage === undefined
                    ? 0
                    : usage.input_tokens + (usage.cache_creation_input_tokens ?? 0),
                  outputTokens: usage?.output_tokens ?? 0
                })
              })))
      }))
    ).pipe(Layer.provide(Layer.provide(inner, recordAttempts)))

  return { calls, attempts, wrap }
}
