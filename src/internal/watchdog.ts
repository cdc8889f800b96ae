/**
 * Per-attempt timeouts for one client, kept by a single watchdog fiber
 * instead of a race per attempt (`Effect.timeout` forks a sleeper, races two
 * fibers and merges their fiber refs on every call: it cost more than
 * admission, the breaker and the retry policy together).
 *
 * Every attempt of a client has the same timeout, so deadlines arrive in
 * order and wait in a FIFO queue. The watchdog sleeps (through `Clock`)
 * until the oldest deadline, interrupts what ran past it, and stops when
 * nothing is left to watch, so no timer keeps a process alive.
 *
 * @internal
 */
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"

interface Entry {
  readonly deadline: number
  readonly fiber: Fiber.RuntimeFiber<unknown, unknown>
  done: boolean
  timedOut: boolean
}

/** @internal */
export interface Watchdog {
  /** Runs `effect` in a child fiber; past the timeout it is interrupted and the call fails with `onTimeout()`. */
  readonly timeout: <A, E, R, E2>(effect: Effect.Effect<A, E, R>, onTimeout: () => E2) => Effect.Effect<A, E | E2, R>
}

// Deadlines are kept on the monotonic clock (`process.hrtime` under the default Clock): a wall clock set back a day
// must not give an attempt a day longer.
const monotonicMillis = (clock: Clock.Clock): number => Number(clock.unsafeCurrentTimeNanos() / 1_000_000n)

/** @internal */
export const make = (timeout: Duration.Duration): Watchdog => {
  const timeoutMillis = Duration.toMillis(timeout)
  let entries: Array<Entry> = []
  let head = 0
  let running: Fiber.RuntimeFiber<void> | undefined

  const pending = () => {
    while (head < entries.length && entries[head]!.done) head++
    if (head > 1024 && head * 2 > entries.length) {
      entries = entries.slice(head)
      head = 0
    }
    return entries[head]
  }

  const watch: Effect.Effect<void> = Effect.suspend(() => {
    const next = pending()
    if (next === undefined) {
      running = undefined
      return Effect.void
    }
    return Effect.clockWith((clock) => {
      const now = monotonicMillis(clock)
      return next.deadline > now
        ? Effect.zipRight(Effect.sleep(Duration.millis(next.deadline - now)), watch)
        : Effect.zipRight(
          Effect.suspend(() => {
            next.done = true
            next.timedOut = true
            return Fiber.interruptFork(next.fiber)
          }),
          watch
        )
    })
  })

  const register = (fiber: Fiber.RuntimeFiber<unknown, unknown>, now: number): Effect.Effect<Entry> =>
    Effect.suspend(() => {
      const entry: Entry = { deadline: now + timeoutMillis, fiber, done: false, timedOut: false }
      entries.push(entry)
      if (running !== undefined) return Effect.succeed(entry)
      return Effect.map(Effect.forkDaemon(Effect.interruptible(watch)), (fiber) => {
        running = fiber
        return entry
      })
    })

  const finish = (entry: Entry): Effect.Effect<void> =>
    Effect.suspend(() => {
      entry.done = true
      // nothing left to watch: stop sleeping, so no timer outlives the last request
      if (pending() === undefined && running !== undefined) {
        const watcher = running
        running = undefined
        return Fiber.interruptFork(watcher)
      }
      return Effect.void
    })

  const timeoutOf = <A, E, R, E2>(effect: Effect.Effect<A, E, R>, onTimeout: () => E2): Effect.Effect<A, E | E2, R> =>
    Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(
        Effect.fork(restore(effect)),
        (fiber) =>
          Effect.flatMap(Effect.clockWith((clock) => register(fiber, monotonicMillis(clock))), (entry) =>
            restore(Fiber.await(fiber)).pipe(
              Effect.onInterrupt(() =>
                Fiber.interrupt(fiber)
              ),
              Effect.ensuring(finish(entry)),
              Effect.flatMap((exit): Effect.Effect<A, E | E2> =>
                Exit.isFailure(exit) && entry.timedOut && Exit.isInterrupted(exit) ? Effect.fail(onTimeout()) : exit
              )
            ))
      )
    )

  return { timeout: timeoutOf }
}
