import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { execFile, spawn } from "node:child_process"
import type { AddressInfo } from "node:net"
import { createServer } from "node:net"
import * as Report from "../../src/simulator/workload/Report.js"
import * as Run from "../../src/simulator/workload/Runner.js"
import * as Workload from "../../src/simulator/workload/Workload.js"

interface Ran {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

// The CLI as users run it; every run is a small workload, bounded by a timeout.
const cli = (args: ReadonlyArray<string>, env: Record<string, string> = {}): Promise<Ran> =>
  new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "src/cli/main.ts", ...args],
      { timeout: 60_000, env: { ...process.env, ...env, FORCE_COLOR: "0" } },
      (error, stdout, stderr) => resolve({ code: error ? (error.code as number | null) ?? 1 : 0, stdout, stderr })
    )
  })

const options = (overrides: Partial<Run.Options> = {}): Run.Options => ({
  workload: { ...Workload.defaultWorkload, requests: 30, concurrency: 4, promptTokens: { min: 100, max: 100 } },
  simulator: { limits: { requestsPerMinute: 10 }, latency: { base: "500 millis", perOutputToken: 0, jitter: 0 } },
  retry: {},
  rateLimitState: { threshold: 0 },
  watch: undefined,
  ...overrides
})

describe("workload", () => {
  it.effect("prompt sizes and max_tokens are drawn uniformly from their ranges, the same for the same seed", () =>
    Effect.gen(function*() {
      const workload = {
        ...Workload.defaultWorkload,
        requests: 200,
        promptTokens: { min: 10, max: 20 },
        maxTokens: { min: 100, max: 300 }
      }
      const shapes = yield* Workload.shapes(workload)
      const all = shapes.map((shape) => Workload.params(workload.model, shape))
      expect(all).toHaveLength(200)
      const prompts = all.map((params) => (params.messages[0]!.content as string).length / 4)
      const maxTokens = all.map((params) => params.max_tokens)
      expect(Math.min(...prompts)).toBe(10)
      expect(Math.max(...prompts)).toBe(20)
      expect(maxTokens.every((n) => n >= 100 && n <= 300)).toBe(true)
      expect(new Set(maxTokens).size).toBeGreaterThan(50)
      expect(yield* Workload.shapes(workload)).toEqual(shapes)
      expect(yield* Workload.shapes({ ...workload, seed: 2 })).not.toEqual(shapes)
    }))
})

describe("forecast (in process, virtual time)", () => {
  it.live("30 requests at 10 RPM: the 10-request burst, then one every 6 s; no 429s; the budget fully used", () =>
    Effect.gen(function*() {
      const report = yield* Run.forecast(options())
      expect(report.mode).toBe("forecast")
      expect(report.succeeded).toBe(30)
      expect(report.rateLimitedResponses).toBe(0)
      // the 30th request can start at (30 - 10) / 10 per minute = 120 s, and takes 0.5 s
      expect(report.wallSeconds).toBeGreaterThanOrEqual(120.5)
      expect(report.wallSeconds).toBeLessThan(125)
      expect(report.limits).toEqual({
        requestsPerMinute: 10,
        inputTokensPerMinute: 30_000,
        outputTokensPerMinute: 8_000
      })
      expect(report.utilization!.requests).toBeGreaterThan(0.95)
      expect(report.simulator?.succeeded).toBe(30)
    }))

  it.live("is deterministic for a seed", () =>
    Effect.gen(function*() {
      const faulty = options({ simulator: { ...options().simulator, faults: { overloadedRate: 0.2 } } })
      const first = yield* Run.forecast(faulty)
      const second = yield* Run.forecast(faulty)
      expect({ ...second, simulator: null }).toEqual({ ...first, simulator: null })
      expect(first.otherErrorResponses).toBeGreaterThan(0)
      expect(first.retries).toBe(first.otherErrorResponses)
    }))

  it("the table shows every figure of the summary", () => {
    const report = Report.make({
      mode: "simulator",
      workload: Workload.defaultWorkload,
      result: {
        outcomes: [
          { result: "ok", finishedAtMillis: 1_000, latencyMillis: 1_000, inputTokens: 500, outputTokens: 100 },
          {
            result: "MaxRetriesExceededError",
            finishedAtMillis: 2_000,
            latencyMillis: 2_000,
            inputTokens: 0,
            outputTokens: 0
          }
        ],
        wallMillis: 60_000
      },
      progress: {
        total: 2,
        done: 2,
        failed: 1,
        inFlight: 0,
        waiting: 0,
        attempts: 7,
        rateLimited: 4,
        otherErrorStatuses: 2,
        proactiveWaitMillis: 3_000
      },
      retries: { retries: 5, waitSecondsAfter429: 12, waitSecondsAfterOther: 3 },
      limits: { requestsPerMinute: 50, inputTokensPerMinute: 30_000, outputTokensPerMinute: 8_000 },
      simulator: null
    })
    const table = Report.table(report)
    for (
      const expected of [
        /failed\s+│ 1 MaxRetriesExceededError/,
        /HTTP attempts\s+│ 7/,
        /429s received\s+│ 4/,
        /other error answers\s+│ 2/,
        /retries\s+│ 5/,
        /waited for budget before sending\s+│ 3\.0 s in all, 1\.5 s per request/,
        /waited after 429s\s+│ 12\.0 s/,
        /waited after other errors\s+│ 3\.0 s/,
        /limits: RPM \/ ITPM \/ OTPM\s+│ 50 \/ 30,000 \/ 8,000/,
        /budget used: requests \/ in \/ out\s+│ 1\.0 % \/ 0\.8 % \/ 0\.6 %/
      ]
    ) expect(table).toMatch(expected)
    expect(report.perMinute).toEqual({ requests: 1, inputTokens: 500, outputTokens: 100 })
  })
})

describe("the claude-rate-limiter command", () => {
  it("runs a small workload against the embedded simulator and prints the summary as JSON", async () => {
    const ran = await cli(["--requests", "6", "--concurrency", "3", "--latency", "20", "--json"])
    expect(ran.code).toBe(0)
    const report = JSON.parse(ran.stdout)
    expect(report).toMatchObject({ mode: "simulator", requests: 6, succeeded: 6 })
    expect(report.limits).toEqual({ requestsPerMinute: 50, inputTokensPerMinute: 30_000, outputTokensPerMinute: 8_000 })
  })

  it("prints the table and a progress line", async () => {
    const ran = await cli(["--requests", "4", "--latency", "20", "--overloaded-rate", "0"])
    expect(ran.code).toBe(0)
    expect(ran.stdout).toContain("against the embedded simulator (50 RPM / 30,000 ITPM / 8,000 OTPM")
    expect(ran.stdout).toMatch(/succeeded\s+│ 4/)
    expect(ran.stderr).toContain("4/4 done")
  })

  it("forecast answers for 2 000 requests in virtual time", async () => {
    const ran = await cli(["forecast", "--requests", "2000", "--concurrency", "16", "--json"])
    expect(ran.code).toBe(0)
    const report = JSON.parse(ran.stdout)
    expect(report).toMatchObject({ mode: "forecast", requests: 2000 })
    expect(report.succeeded).toBeGreaterThan(1990)
    // at 50 requests per minute, 2 000 requests need about 40 minutes
    expect(report.wallSeconds).toBeGreaterThan(38 * 60)
  })

  it("--live without ANTHROPIC_API_KEY fails with a clear message and sends nothing", async () => {
    const ran = await cli(["--live", "--requests", "1"], { ANTHROPIC_API_KEY: "" })
    expect(ran.code).not.toBe(0)
    expect(ran.stderr).toContain("ANTHROPIC_API_KEY is not set")
  })

  it("rejects a malformed option with a non-zero exit", async () => {
    const ran = await cli(["--prompt-tokens", "lots"])
    expect(ran.code).not.toBe(0)
    expect(ran.stdout + ran.stderr).toContain("--prompt-tokens")
  })

  it("simulate serves on 127.0.0.1 until stopped, and reports what it served", async () => {
    const child = spawn(process.execPath, [
      "--import",
      "tsx",
      "src/cli/main.ts",
      "simulate",
      "--port",
      "0",
      "--latency",
      "5"
    ], {
      env: { ...process.env, FORCE_COLOR: "0" }
    })
    try {
      let output = ""
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no URL printed: ${output}`)), 20_000)
        child.stdout.on("data", (chunk: Buffer) => {
          output += chunk.toString()
          const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)
          if (match) {
            clearTimeout(timer)
            resolve(match[1]!)
          }
        })
      })
      const response = await fetch(`${url}/v1/messages`, {
        method: "POST",
        headers: { "x-api-key": "any", "anthropic-version": "2023-06-01", "content-type": "application/json" },
        body: JSON.stringify({ model: "claude-haiku-4-5", max_tokens: 20, messages: [{ role: "user", content: "hi" }] })
      })
      expect(response.status).toBe(200)
      expect(response.headers.get("anthropic-ratelimit-requests-limit")).toBe("50")
      const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()))
      child.kill("SIGINT")
      await exited
      expect(output).toContain("Served 1 requests: 1 succeeded")
    } finally {
      child.kill("SIGKILL")
    }
  })

  it("simulate on a port that is taken says which port and why", async () => {
    const busy = createServer()
    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve))
    try {
      const port = (busy.address() as AddressInfo).port
      const ran = await cli(["simulate", "--port", String(port)])
      expect(ran.code).not.toBe(0)
      expect(ran.stderr).toContain(`cannot listen on 127.0.0.1:${port}`)
      expect(ran.stderr).toContain("EADDRINUSE")
    } finally {
      await new Promise<void>((resolve) => busy.close(() => resolve()))
    }
  })
})
