/**
 * Property-based bad input, request parameters: a request the API would refuse (a rule of the Messages API that
 * does not depend on the model: `max_tokens` a positive integer, at least one message, roles and content of the
 * right types, `temperature`, `top_p` in [0, 1], `top_k` a non-negative integer, …) or that cannot be sent as
 * JSON at all is refused with a `RequestValidationError` and nothing is sent; a request the API accepts is sent.
 * Limits that depend on the model (its largest `max_tokens`, its context window) are the API's to check: the
 * client does not know every model's.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer, ManagedRuntime, Redacted } from "effect"
import fc from "fast-check"
import * as ClaudeClient from "../../src/ClaudeClient.js"
import type * as Messages from "../../src/Messages.js"
import * as Scripted from "../../src/testing/ScriptedHttpClient.js"
import { breathe } from "../support/eventLoop.js"

const runs = 10_000

const script: ReadonlyArray<Scripted.Step> = Array.from({ length: runs * 2 }, () => Scripted.message())
const runtime = ManagedRuntime.make(
  ClaudeClient.layer({ apiKey: Redacted.make("sk-ant-params"), retry: false, admission: { enabled: false } }).pipe(
    Layer.provideMerge(Scripted.layer(script))
  )
)
afterAll(() => runtime.dispose())

// the API refuses text that is empty or only whitespace
const nonEmptyText = fc.string({ minLength: 1, maxLength: 40 }).filter((text) => text.trim() !== "")

const textBlock = fc.record({ type: fc.constant("text" as const), text: nonEmptyText })

const message = (role: "user" | "assistant") =>
  fc.record({
    role: fc.constant(role),
    content: fc.oneof(nonEmptyText, fc.array(textBlock, { minLength: 1, maxLength: 3 }))
  })

/** Parameters the Messages API accepts, whatever the model. */
const validParams: fc.Arbitrary<Record<string, unknown>> = fc.record({
  model: fc.constantFrom("claude-sonnet-4-6", "claude-haiku-4-5", "claude-opus-4-6"),
  max_tokens: fc.integer({ min: 1, max: 8_192 }),
  messages: fc.tuple(message("user"), fc.array(fc.oneof(message("user"), message("assistant")), { maxLength: 4 }))
    .map(([first, rest]) => [first, ...rest]),
  system: fc.option(fc.oneof(fc.string({ maxLength: 40 }), fc.array(textBlock, { maxLength: 2 })), { nil: undefined }),
  temperature: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
  top_p: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
  top_k: fc.option(fc.nat({ max: 500 }), { nil: undefined }),
  stop_sequences: fc.option(fc.array(nonEmptyText, { maxLength: 3 }), { nil: undefined }),
  metadata: fc.option(fc.record({ user_id: fc.string({ maxLength: 20 }) }), { nil: undefined })
}, { requiredKeys: ["model", "max_tokens", "messages"] })

const notAnInteger = [0.5, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, "100", null, 2 ** 53 + 2]
const notANumberInUnit = [-0.01, 1.01, 2, -1, Number.NaN, Number.POSITIVE_INFINITY, "0.5", null]

const cyclic = (): Record<string, unknown> => {
  const value: Record<string, unknown> = { a: 1 }
  value.self = value
  return value
}

const throwingGetter = (): Record<string, unknown> =>
  Object.defineProperty({}, "boom", {
    enumerable: true,
    get() {
      throw new Error("getter throws")
    }
  })

/** One change that makes valid parameters something the API refuses, or that cannot be sent as JSON. */
const breakage: fc.Arbitrary<readonly [string, (params: Record<string, unknown>) => Record<string, unknown>]> = fc
  .oneof(
    fc.constantFrom(...[0, -1, -4096, ...notAnInteger]).map((value) =>
      ["max_tokens", (p: Record<string, unknown>) => ({ ...p, max_tokens: value })] as const
    ),
    fc.constant(["max_tokens missing", ({ max_tokens: _, ...p }: Record<string, unknown>) => p] as const),
    fc.constantFrom<ReadonlyArray<unknown>>(
      [],
      [{ role: "system", content: "x" }],
      [{ role: "user", content: 5 }],
      [{ role: "user" }],
      [{ content: "x" }],
      [{ role: "user", content: [{ type: 5 }] }],
      [{ role: "user", content: [{ type: "text", text: 7 }] }],
      [{ role: "user", content: [{ text: "no type" }] }],
      [null],
      ["hello"]
    ).map((messages) => ["messages", (p: Record<string, unknown>) => ({ ...p, messages })] as const),
    fc.constantFrom<unknown>("hello", null, 5, {}).map((messages) =>
      ["messages", (p: Record<string, unknown>) => ({ ...p, messages })] as const
    ),
    fc.constantFrom<unknown>("", "   ", 5, null, undefined).map((model) =>
      ["model", (p: Record<string, unknown>) => ({ ...p, model })] as const
    ),
    fc.constantFrom(...notANumberInUnit).map((temperature) =>
      ["temperature", (p: Record<string, unknown>) => ({ ...p, temperature })] as const
    ),
    fc.constantFrom(...notANumberInUnit).map((top_p) =>
      ["top_p", (p: Record<string, unknown>) => ({ ...p, top_p })] as const
    ),
    fc.constantFrom<unknown>(-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, "5").map((top_k) =>
      ["top_k", (p: Record<string, unknown>) => ({ ...p, top_k })] as const
    ),
    fc.constantFrom<unknown>("stop", [1], [null], 5).map((stop_sequences) =>
      ["stop_sequences", (p: Record<string, unknown>) => ({ ...p, stop_sequences })] as const
    ),
    fc.constantFrom<unknown>(5, [{ type: "text", text: 1 }], [{ type: "image" }], null).map((system) =>
      ["system", (p: Record<string, unknown>) => ({ ...p, system })] as const
    ),
    fc.constantFrom<unknown>("x", { user_id: 5 }, 5).map((metadata) =>
      ["metadata", (p: Record<string, unknown>) => ({ ...p, metadata })] as const
    ),
    fc.constantFrom<unknown>("yes", 1, true).map((stream) =>
      ["stream", (p: Record<string, unknown>) => ({ ...p, stream })] as const
    ),
    // cannot be sent as JSON at all, even in a field the schemas do not know
    fc.constantFrom<() => unknown>(() => 10n, cyclic, throwingGetter).map((make) =>
      ["unsendable", (p: Record<string, unknown>) => ({ ...p, extension: make() })] as const
    )
  )

const send = (params: Record<string, unknown>) =>
  Effect.gen(function*() {
    const recorder = yield* Scripted.ScriptedHttpClient
    const before = (yield* recorder.requests).length
    const client = yield* ClaudeClient.ClaudeClient
    const exit = yield* Effect.exit(client.createMessage(params as unknown as Messages.CreateMessageParams))
    const sent = (yield* recorder.requests).length - before
    return { exit, sent }
  }).pipe(Effect.provide(runtime))

describe("request parameters", () => {
  it.live.prop(
    "the API would refuse them, or they cannot be sent: RequestValidationError, nothing sent",
    [validParams, breakage],
    ([params, [field, apply]]) =>
      Effect.gen(function*() {
        yield* breathe
        const { exit, sent } = yield* send(apply(params))
        expect(sent, field).toBe(0)
        expect(Exit.isFailure(exit), field).toBe(true)
        if (Exit.isFailure(exit)) {
          expect(exit.cause._tag, field).toBe("Fail")
          const error = exit.cause._tag === "Fail" ? exit.cause.error : undefined
          expect(error?._tag, field).toBe("RequestValidationError")
          expect(String(error?.message).length).toBeLessThanOrEqual(700)
        }
      }),
    { timeout: 300_000, fastCheck: { numRuns: runs } }
  )

  it.live.prop(
    "the API accepts them: they are sent, once",
    [validParams],
    ([params]) =>
      Effect.gen(function*() {
        yield* breathe
        const { exit, sent } = yield* send(params)
        expect(sent).toBe(1)
        expect(Exit.isSuccess(exit)).toBe(true)
      }),
    { timeout: 300_000, fastCheck: { numRuns: runs } }
  )
})
