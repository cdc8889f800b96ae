import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Fiber, Layer, TestClock } from "effect"
import { ClaudeClient, Messages } from "../src/index.js"
import { ScriptedHttpClient } from "../src/testing/index.js"
import { captureLogs } from "./support/logs.js"

// The README's example program, with the scripted API in place of NodeHttpClient.layerUndici.
const program = Effect.gen(function*() {
  const claude = yield* ClaudeClient.ClaudeClient
  const message = yield* claude.createMessage({
    model: "claude-sonnet-4-6",
    max_tokens: 1024,
    messages: [{ role: "user", content: "Hello, Claude" }]
  })
  yield* Effect.log(Messages.text(message))
}).pipe(
  Effect.catchTags({
    MaxRetriesExceededError: (e) => Effect.logError(`gave up after ${e.attempts} attempts`),
    RetryWaitTooLongError: (e) => Effect.logError(`the API asked to wait ${Duration.format(e.wait)}`)
  })
)

const env = ConfigProvider.fromMap(new Map([["ANTHROPIC_API_KEY", "sk-ant-readme"]]))

describe("README example", () => {
  it.effect("runs: one 429, then the message is logged", () =>
    Effect.gen(function*() {
      const MainLive = ClaudeClient.layerConfig.pipe(
        Layer.provide(ScriptedHttpClient.layer([
          ScriptedHttpClient.error(429, "rate_limit_error", { headers: { "retry-after": "2" } }),
          ScriptedHttpClient.message({ text: "Hello! How can I help?" })
        ]))
      )
      const [, logs] = yield* captureLogs(Effect.gen(function*() {
        const fiber = yield* Effect.fork(program.pipe(Effect.provide(MainLive)))
        yield* TestClock.adjust("10 seconds")
        yield* Fiber.join(fiber)
      }))
      expect(logs.map((line) => line.message)).toContain("Hello! How can I help?")
    }).pipe(Effect.withConfigProvider(env)))

  it.effect("gives up with the typed error the README catches", () =>
    Effect.gen(function*() {
      const MainLive = ClaudeClient.layerConfig.pipe(
        Layer.provide(
          ScriptedHttpClient.layer(Array.from({ length: 3 }, () => ScriptedHttpClient.error(529, "overloaded_error")))
        )
      )
      const [, logs] = yield* captureLogs(Effect.gen(function*() {
        const fiber = yield* Effect.fork(program.pipe(Effect.provide(MainLive)))
        yield* TestClock.adjust("10 minutes")
        yield* Fiber.join(fiber)
      }))
      expect(logs.map((line) => line.message)).toContain("gave up after 3 attempts")
    }).pipe(Effect.withConfigProvider(ConfigProvider.fromMap(
      new Map([
        ["ANTHROPIC_API_KEY", "sk-ant-readme"],
        ["ANTHROPIC_MAX_RETRIES", "2"]
      ])
    ))))

  it.effect("a retry-after of 999999 s is caught as RetryWaitTooLongError after one send", () =>
    Effect.gen(function*() {
      const MainLive = ClaudeClient.layerConfig.pipe(
        Layer.provideMerge(ScriptedHttpClient.layer([
          ScriptedHttpClient.error(429, "rate_limit_error", { headers: { "retry-after": "999999" } })
        ]))
      )
      const [sends, logs] = yield* captureLogs(Effect.gen(function*() {
        const fiber = yield* Effect.fork(program.pipe(
          Effect.zipRight(Effect.flatMap(ScriptedHttpClient.ScriptedHttpClient, (recorder) => recorder.sendTimes)),
          Effect.provide(MainLive)
        ))
        yield* TestClock.adjust("10 minutes")
        return yield* Fiber.join(fiber)
      }))
      expect(sends).toEqual([0])
      expect(logs.map((line) => line.message)).toContain("the API asked to wait 11d 13h 46m 39s")
    }).pipe(Effect.withConfigProvider(env)))
})
