/**
 * A real redis-server for tests: started on a free loopback port in a temp
 * directory (no persistence), stopped when the scope closes. It can be killed
 * (as a crash would) and started again on the same port.
 *
 * Without redis-server installed, Redis tests skip with a visible reason,
 * except under CI (`process.env.CI`), where its absence is a failure.
 */
import { Context, Data, Duration, Effect, Layer, Schedule } from "effect"
import type { Scope } from "effect"
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { createServer, Socket } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"

const findRedisServer = (): string | undefined => {
  try {
    return execFileSync("sh", ["-c", "command -v redis-server"], { encoding: "utf8" }).trim() || undefined
  } catch {
    return undefined
  }
}

/** The path of redis-server, when installed. */
export const redisServerPath: string | undefined = findRedisServer()

/**
 * Why Redis tests are skipped here, or `undefined` when they run. Under CI
 * they always run (and fail without redis-server).
 */
export const skipReason: string | undefined = redisServerPath === undefined && !process.env.CI
  ? "redis-server is not installed (apt-get install -y redis-server); Redis tests skipped"
  : undefined

if (skipReason !== undefined) console.warn(`[redis tests] ${skipReason}`)

export class RedisServerError extends Data.TaggedError("RedisServerError")<{ readonly message: string }> {}

export interface RedisServer {
  readonly port: number
  readonly url: string
  /** Kills the server at once (SIGKILL, as a crash); its data is gone. */
  readonly kill: Effect.Effect<void>
  /** Starts it again on the same port, empty, and waits until it answers PING. */
  readonly restart: Effect.Effect<void, RedisServerError>
}

const freePort = Effect.async<number, RedisServerError>((resume) => {
  const server = createServer()
  server.once("error", (error) => resume(Effect.fail(new RedisServerError({ message: String(error) }))))
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** One PING over a raw socket: succeeds on `+PONG`. */
export const ping = (port: number): Effect.Effect<void, RedisServerError> =>
  Effect.async<void, RedisServerError>((resume) => {
    const socket = new Socket()
    let answer = ""
    const done = (error: string | undefined) => {
      socket.destroy()
      resume(error === undefined ? Effect.void : Effect.fail(new RedisServerError({ message: error })))
    }
    socket.setTimeout(1_000, () => done("PING timed out"))
    socket.once("error", (error) => done(String(error)))
    socket.on("data", (chunk) => {
      answer += chunk.toString()
      if (answer.includes("\r\n")) done(answer.startsWith("+PONG") ? undefined : `unexpected answer ${answer.trim()}`)
    })
    socket.connect(port, "127.0.0.1", () => socket.write("PING\r\n"))
    return Effect.sync(() => socket.destroy())
  })

const waitForPing = (port: number) =>
  ping(port).pipe(
    Effect.retry(Schedule.spaced(Duration.millis(50)).pipe(Schedule.upTo(Duration.seconds(20)))),
    Effect.mapError((error) =>
      new RedisServerError({ message: `redis-server on port ${port} never answered: ${error.message}` })
    )
  )

const exited = (child: ChildProcess): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
    child.once("exit", () => resume(Effect.void))
  })

/** A redis-server on a free loopback port for as long as the scope lives. */
export const redisServer: Effect.Effect<RedisServer, RedisServerError, Scope.Scope> = Effect.gen(function*() {
  const path = redisServerPath
  if (path === undefined) {
    return yield* new RedisServerError({ message: "redis-server is not installed (apt-get install -y redis-server)" })
  }
  const port = yield* freePort
  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "crl-redis-"))),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )
  let child: ChildProcess | undefined
  const kill = Effect.suspend(() => {
    const running = child
    if (running === undefined) return Effect.void
    child = undefined
    running.kill("SIGKILL")
    return exited(running)
  })
  const start = Effect.gen(function*() {
    child = spawn(
      path,
      ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir],
      { stdio: "ignore" }
    )
    yield* Effect.onError(waitForPing(port), () => kill)
  })
  yield* Effect.acquireRelease(start, () => kill)
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill,
    restart: Effect.zipRight(kill, start)
  }
})

/** The redis-server of a test file, shared by its tests (`layer(TestRedis.layer)` from @effect/vitest). */
export class TestRedis extends Context.Tag("test/TestRedis")<TestRedis, RedisServer>() {
  static readonly layer = Layer.scoped(TestRedis, redisServer)
}
