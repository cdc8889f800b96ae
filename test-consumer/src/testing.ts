// claude-rate-limiter/testing, imported the way a user's tests do (README "Testing your code").
import { ClaudeClient, RateLimitHeaders } from "claude-rate-limiter"
import { ScriptedHttpClient, Simulator, VirtualTime } from "claude-rate-limiter/testing"
import { Effect, Layer, Redacted, TestClock } from "effect"

const Api = ScriptedHttpClient.layer([
  ScriptedHttpClient.error(429, "rate_limit_error", { headers: { "retry-after": "2" } }),
  ScriptedHttpClient.message({ text: "Hello!" })
])

const Client = ClaudeClient.layer({ apiKey: Redacted.make("sk-ant-any") }).pipe(Layer.provideMerge(Api))

export const scripted = Effect.gen(function*() {
  const claude = yield* ClaudeClient.ClaudeClient
  const fiber = yield* Effect.fork(
    claude.createMessage({ model: "claude-sonnet-4-6", max_tokens: 16, messages: [{ role: "user", content: "Hi" }] })
  )
  yield* TestClock.adjust("10 seconds")
  const recorder = yield* ScriptedHttpClient.ScriptedHttpClient
  return [fiber, yield* recorder.sendTimes] as const
}).pipe(Effect.provide(Client))

export const simulated = ClaudeClient.layer({ apiKey: Redacted.make("any") }).pipe(
  Layer.provideMerge(Simulator.layer({ limits: { requestsPerMinute: 50 }, seed: 7 }))
)

export const virtual = VirtualTime.run(Effect.sleep("1 hour"))

export const snapshot = RateLimitHeaders.decode({ "retry-after": "999999" }).pipe(
  Effect.map((decoded) => decoded.tooLong)
)
