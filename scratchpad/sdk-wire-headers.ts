// Experiment: what the official SDK puts on the wire (found: 1.12 sends "authorization: Bearer", not x-api-key).
// Run: npx tsx scratchpad/sdk-wire-headers.ts
import Anthropic from "@anthropic-ai/sdk"
import { createServer } from "node:http"
const server = createServer((req, res) => {
  let body = ""
  req.on("data", (c) => body += c)
  req.on("end", () => {
    console.log(req.method, req.url, JSON.stringify(req.headers), body.slice(0, 80))
    res.writeHead(400, { "content-type": "application/json" }).end("{}")
  })
}).listen(18556, "127.0.0.1", async () => {
  const a = new Anthropic({ apiKey: "sk-test", baseURL: "http://127.0.0.1:18556", maxRetries: 0 })
  await a.messages.create({ model: "m", max_tokens: 5, messages: [{ role: "user", content: "hi" }] }).catch((e) =>
    console.log("err", e.status)
  )
  server.close()
})
