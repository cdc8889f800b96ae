/**
 * The official SDK with every request sent through claude-rate-limiter: plain TypeScript, no Effect.
 *
 * Against the API:       ANTHROPIC_API_KEY=sk-ant-… npx tsx examples/claude-fetch.ts
 * Against the simulator: npm start -- simulate --port 4000, then
 *                        ANTHROPIC_BASE_URL=http://127.0.0.1:4000 ANTHROPIC_API_KEY=test npx tsx examples/claude-fetch.ts
 */
import Anthropic from "@anthropic-ai/sdk"
import { pathToFileURL } from "node:url"
import { ClaudeFetch } from "../src/index.js"

/** Ten questions at once, then one streamed answer, all through one ClaudeFetch. */
export const main = async (options: { readonly apiKey?: string; readonly baseURL?: string } = {}) => {
  // one per process: every SDK client given it shares its budget
  const claudeFetch = ClaudeFetch.make()
  try {
    // the SDK's own retries off: ClaudeFetch retries with the API's guidance
    const anthropic = new Anthropic({ ...options, fetch: claudeFetch, maxRetries: 0 })

    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) =>
      anthropic.messages.create({
        model: "claude-haiku-4-5",
        max_tokens: 256,
        messages: [{ role: "user", content: `Give me fun fact number ${i + 1}.` }]
      })))

    const stream = anthropic.messages.stream({
      model: "claude-haiku-4-5",
      max_tokens: 256,
      messages: [{ role: "user", content: "Write a haiku about patience." }]
    })
    stream.on("text", (text) => process.stdout.write(text))
    const haiku = await stream.finalMessage()
    return { answers, haiku }
  } catch (error) {
    // a request that got no answer (an open circuit, a wait longer than allowed, …) is the SDK's
    // APIConnectionError; its cause is a ClaudeFetchError, and that one's cause says what happened
    if (error instanceof Anthropic.APIConnectionError && error.cause instanceof ClaudeFetch.ClaudeFetchError) {
      console.error("not sent:", error.cause.message)
    }
    throw error
  } finally {
    await claudeFetch.dispose()
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(({ answers }) => console.log(`\n${answers.length} answers`), () => process.exit(1))
}
