import * as NodeContext from "@effect/platform-node/NodeContext"
import { describe, expect, it } from "@effect/vitest"
import type { Console } from "effect"
import { Cause, Effect, Exit, Option } from "effect"
import { execFile, spawn } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import type { AddressInfo } from "node:net"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { cli } from "../../src/cli/Commands.js"
import * as ExitCode from "../../src/cli/ExitCode.js"

interface Ran {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
  /** the message main.ts prints on stderr for a failure other than invalid options */
  readonly error?: string | undefined
}

// The command in this process: what it prints through Console, and the exit code main.ts would give.
const run = (args: ReadonlyArray<string>): Effect.Effect<Ran> =>
  Effect.gen(function*() {
    const stdout: Array<string> = []
    const stderr: Array<string> = []
    const base = yield* Effect.console
    const captured: Console.Console = {
      ...base,
      log: (...parts) => Effect.sync(() => void stdout.push(parts.join(" "))),
      error: (...parts) => Effect.sync(() => void stderr.push(parts.join(" ")))
    }
    const exit = yield* cli(["node", "claude-rate-limiter", ...args]).pipe(
      Effect.provide(NodeContext.layer),
      Effect.withConsole(captured),
      Effect.exit
    )
    const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
    return {
      code: ExitCode.of(exit),
      stdout: stdout.join("\n"),
      stderr: stderr.join("\n"),
      error: Option.isSome(failure) && failure.value instanceof Error ? failure.value.message : undefined
    }
  })

// The command as users run it, for what only a process shows (stdout vs stderr, signals); few, small, bounded.
const subprocess = (args: ReadonlyArray<string>, env: Record<string, string> = {}): Promise<Ran> =>
  new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "src/cli/main.ts", ...args],
      { timeout: 120_000, env: { ...process.env, ...env, FORCE_COLOR: "0" } },
      (error, stdout, stderr) => resolve({ code: error ? (error.code as number | null) ?? 1 : 0, stdout, stderr })
    )
  })

describe("forecast, in process (virtual time)", () => {
  it.live("answers for 300 requests at Tier 1 in virtual time, with the JSON alone on stdout", () =>
    Effect.gen(function*() {
      const ran = yield* run(["forecast", "--requests", "300", "--concurrency", "16", "--json"])
      expect(ran.code).toBe(0)
      const report = JSON.parse(ran.stdout)
      expect(report).toMatchObject({ mode: "forecast", requests: 300, completed: 300, succeeded: 300 })
      // 50 requests a minute after a full bucket of 50: 250 more need 5 minutes
      expect(report.wallSeconds).toBeGreaterThan(5 * 60)
      expect(report.wallSeconds).toBeLessThan(5 * 60 + 30)
    }))

  it.live("replays exactly from --seed", () =>
    Effect.gen(function*() {
      const args = ["forecast", "--requests", "80", "--overloaded-rate", "0.2", "--json"]
      const first = yield* run([...args, "--seed", "7"])
      const second = yield* run([...args, "--seed", "7"])
      expect(second.stdout).toBe(first.stdout)
      expect((yield* run([...args, "--seed", "8"])).stdout).not.toBe(first.stdout)
    }))

  it.live("prints the table with the limits it ran against", () =>
    Effect.gen(function*() {
      const ran = yield* run(["forecast", "--requests", "20", "--rpm", "20"])
      expect(ran.code).toBe(0)
      expect(ran.stdout).toContain("in virtual time against 20 RPM / 30,000 ITPM / 8,000 OTPM")
      expect(ran.stdout).toMatch(/succeeded\s+│ 20/)
    }))

  it.live("a run with failed requests exits 2 after printing its summary", () =>
    Effect.gen(function*() {
      const ran = yield* run(["forecast", "--requests", "10", "--spend-limit-after", "4", "--json"])
      expect(ran.code).toBe(2)
      expect(JSON.parse(ran.stdout)).toMatchObject({ succeeded: 4, failed: 6 })
    }))

  it.live("a workload more concurrent than the simulated cap says so", () =>
    Effect.gen(function*() {
      const ran = yield* run(["forecast", "--requests", "10", "--concurrency", "30", "--json"])
      expect(ran.stderr).toContain(
        "note: the workload keeps up to 30 requests in flight but the simulated API allows 20"
      )
      expect(JSON.parse(ran.stdout).warnings).toHaveLength(1)
    }))

  it.live("--ramp-limit turns the acceleration limits on", () =>
    Effect.gen(function*() {
      const ran = yield* run(["forecast", "--requests", "20", "--concurrency", "20", "--ramp-limit", "--json"])
      expect(JSON.parse(ran.stdout).simulator.rateLimitedByErrorCode.ramp_limit_exceeded).toBeGreaterThan(0)
    }))

  it.live("--scenario runs a scenario file's lanes", () =>
    Effect.gen(function*() {
      const ran = yield* run(["forecast", "--scenario", "scenarios/two-apps-one-key.json", "--json"])
      const report = JSON.parse(ran.stdout)
      expect(report.scenario).toBe("two applications on one key")
      expect(report.lanes.map((lane: { name: string }) => lane.name)).toEqual(["chat", "nightly-summaries"])
      expect(report.completed).toBe(90)
    }))
})

describe("every option is validated, with one line naming it and exit code 1", () => {
  const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
    [["--rpm", "0"], "--rpm"],
    [["--rpm", "-5"], "--rpm"],
    [["--threshold", "5"], "--threshold"],
    [["--threshold", "-1"], "--threshold"],
    [["--latency", "-100"], "--latency"],
    [["--max-retries", "-1"], "--max-retries"],
    [["--outage", "0-10:999"], "--outage"],
    [["--outage", "10-0"], "--outage"],
    [["--prompt-tokens", "lots"], "--prompt-tokens"],
    [["--overloaded-rate", "1.5"], "--overloaded-rate"],
    [["--requests", "2.5"], "--requests"],
    [["--output-tokens", "share:2-3"], "--output-tokens"],
    [["simulate", "--port", "99999"], "--port"],
    [["simulate", "--port", "-1"], "--port"]
  ]
  for (const [args, option] of cases) {
    it.live(args.join(" "), () =>
      Effect.gen(function*() {
        const ran = yield* run(args[0] === "simulate" ? args : ["forecast", ...args])
        expect(ran.code).toBe(1)
        const lines = ran.stderr.trim().split("\n").filter((line) => line.trim() !== "")
        expect(lines).toHaveLength(1)
        expect(lines[0]).toContain(option)
        expect(ran.stdout).toBe("")
      }))
  }

  it.live("a scenario file that does not decode names the file and the field", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "scenario-"))
      const file = join(dir, "bad.json")
      writeFileSync(file, JSON.stringify({ name: "x", lanes: [] }))
      const ran = yield* run(["forecast", "--scenario", file])
      expect(ran.code).toBe(1)
      expect(ran.error).toBe(`scenario ${file}: lanes.0: is missing`)
      const missing = yield* run(["forecast", "--scenario", join(dir, "nope.json")])
      expect(missing.code).toBe(1)
      expect(missing.error).toContain(`scenario ${join(dir, "nope.json")}: `)
      const conflicting = yield* run(["forecast", "--scenario", file, "--requests", "5"])
      expect(conflicting.error).toBe("--scenario describes the workload itself: drop --requests")
    }))
})

describe("the claude-rate-limiter command, as a process", () => {
  it("runs a small workload against the embedded simulator: --json writes only JSON to stdout, logs once on stderr", async () => {
    const ran = await subprocess([
      "--requests",
      "6",
      "--concurrency",
      "3",
      "--latency",
      "20",
      "--overloaded-rate",
      "0.5",
      "--verbose",
      "--json"
    ])
    const report = JSON.parse(ran.stdout)
    expect(report).toMatchObject({ mode: "simulator", requests: 6, completed: 6 })
    expect(report.limits).toEqual({ requestsPerMinute: 50, inputTokensPerMinute: 30_000, outputTokensPerMinute: 8_000 })
    const retries = ran.stderr.split("\n").filter((line) => line.includes("Retrying after attempt"))
    expect(retries.length).toBe(report.retries)
    expect(new Set(retries).size).toBe(retries.length)
    expect(report.retries).toBeGreaterThan(0)
    expect(ran.code).toBe(report.failed > 0 ? 2 : 0)
  })

  it("prints the table and a progress line", async () => {
    const ran = await subprocess(["--requests", "4", "--latency", "20", "--overloaded-rate", "0"])
    expect(ran.code).toBe(0)
    expect(ran.stdout).toContain("against the embedded simulator (50 RPM / 30,000 ITPM / 8,000 OTPM")
    expect(ran.stdout).toMatch(/succeeded\s+│ 4/)
    expect(ran.stdout).toContain("4/4 done")
  })

  it("--live without ANTHROPIC_API_KEY fails with a clear message and sends nothing", async () => {
    const ran = await subprocess(["--live", "--requests", "1"], { ANTHROPIC_API_KEY: "" })
    expect(ran.code).toBe(1)
    expect(ran.stderr).toContain("ANTHROPIC_API_KEY is not set")
  })

  it("Ctrl-C prints the summary so far and exits 130", async () => {
    const child = spawn(process.execPath, [
      "--import",
      "tsx",
      "src/cli/main.ts",
      "--requests",
      "50",
      "--concurrency",
      "2",
      "--latency",
      "300",
      "--overloaded-rate",
      "0"
    ], { env: { ...process.env, FORCE_COLOR: "0" } })
    try {
      let output = ""
      child.stdout.on("data", (chunk: Buffer) => {
        output += chunk.toString()
      })
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no progress: ${output}`)), 60_000)
        const poll = setInterval(() => {
          if (/\b[1-9]\d*\/50 done/.test(output)) {
            clearTimeout(timer)
            clearInterval(poll)
            resolve()
          }
        }, 50)
      })
      const code = new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)))
      child.kill("SIGINT")
      expect(await code).toBe(130)
      expect(output).toMatch(/requests\s+│ \d+ of 50 \(interrupted\)/)
    } finally {
      child.kill("SIGKILL")
    }
  })

  it("simulate serves on 127.0.0.1 until stopped, prints its URLs, and reports what it served", async () => {
    const child = spawn(process.execPath, [
      "--import",
      "tsx",
      "src/cli/main.ts",
      "simulate",
      "--port",
      "0",
      "--latency",
      "5"
    ], { env: { ...process.env, FORCE_COLOR: "0" } })
    try {
      let output = ""
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no URL printed: ${output}`)), 60_000)
        child.stdout.on("data", (chunk: Buffer) => {
          output += chunk.toString()
          const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)
          if (match && output.includes("Stats (JSON)")) {
            clearTimeout(timer)
            resolve(match[1]!)
          }
        })
      })
      expect(output).toContain(`Stats (JSON): ${url}/_simulator/stats`)
      const response = await fetch(`${url}/v1/messages`, {
        method: "POST",
        headers: { "x-api-key": "any", "anthropic-version": "2023-06-01", "content-type": "application/json" },
        body: JSON.stringify({ model: "claude-haiku-4-5", max_tokens: 20, messages: [{ role: "user", content: "hi" }] })
      })
      expect(response.status).toBe(200)
      expect(response.headers.get("anthropic-ratelimit-requests-limit")).toBe("50")
      expect(await (await fetch(`${url}/_simulator/stats`)).json()).toMatchObject({ requests: 1, succeeded: 1 })
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
      const ran = await subprocess(["simulate", "--port", String(port)])
      expect(ran.code).toBe(1)
      expect(ran.stderr).toContain(`cannot listen on 127.0.0.1:${port}`)
      expect(ran.stderr).toContain("EADDRINUSE")
    } finally {
      await new Promise<void>((resolve) => busy.close(() => resolve()))
    }
  })
})
