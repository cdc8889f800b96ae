import { ESLint } from "eslint"
import { describe, expect, it } from "vitest"

// The simulator wing keeps its own model of the rules; the lint rule is what keeps it so.
const restricted = async (filePath: string, source: string): Promise<ReadonlyArray<string>> => {
  const [result] = await new ESLint().lintText(source, { filePath })
  return (result?.messages ?? []).filter((m) => m.ruleId === "no-restricted-imports").map((m) => m.message)
}

describe("the simulator wing's import boundary (eslint no-restricted-imports)", () => {
  it("the simulated API may import the library's Messages module, and nothing else of it", async () => {
    const file = "src/simulator/api/internal/probe.ts"
    expect(await restricted(file, `import * as Messages from "../../../Messages.js"\nexport const m = Messages\n`))
      .toEqual([])
    for (
      const path of [
        "../../../internal/tokenBucket.js",
        "../../../ClaudeClient.js",
        "../../../RateLimitState.js",
        "../../../RateLimitHeaders.js",
        "../../workload/Workload.js",
        "../../../cli/Commands.js"
      ]
    ) {
      const messages = await restricted(file, `import * as X from "${path}"\nexport const x = X\n`)
      expect([path, messages.length]).toEqual([path, 1])
    }
  }, 60_000)

  it("the workload runner and the CLI use the library and the API only through public modules", async () => {
    for (
      const [file, path] of [
        ["src/simulator/workload/probe.ts", "../../internal/tokenBucket.js"],
        ["src/simulator/workload/probe.ts", "../api/internal/engine.js"],
        ["src/cli/probe.ts", "../internal/backoff.js"],
        ["src/cli/probe.ts", "../simulator/api/internal/wire.js"]
      ] as const
    ) {
      const messages = await restricted(file, `import * as X from "${path}"\nexport const x = X\n`)
      expect([file, path, messages.length]).toEqual([file, path, 1])
    }
    expect(
      await restricted(
        "src/simulator/workload/probe.ts",
        `import * as C from "../../ClaudeClient.js"\nexport const c = C\n`
      )
    )
      .toEqual([])
  }, 60_000)
})
