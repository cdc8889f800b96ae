/**
 * Runs an effect in virtual time, as fast as the CPU allows: every
 * `Effect.sleep` (and so every timeout, retry wait and simulated latency)
 * completes the moment nothing else can run, with the clock jumped forward
 * to its wake-up time. An hour of rate-limited traffic against the in-memory
 * `Simulator` takes seconds, and the timeline is the one real time would
 * give.
 *
 * Unlike `TestClock`, nothing has to advance the clock by hand: a driver
 * runs the effect's fibers on a scheduler of its own, and when that
 * scheduler is idle (across two event-loop turns, so promises have settled)
 * it wakes the earliest sleepers. The effect must not wait for real I/O:
 * if it does, the run fails with {@link StalledError} rather than hang.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import type * as Scheduler from "effect/Scheduler"

/**
 * The effect stopped making progress while waiting for something outside
 * virtual time (real I/O, a real timer).
 *
 * @since 0.1.0
 * @category errors
 */
export class StalledError extends Data.TaggedError("StalledError")<{ readonly virtualTime: Duration.Duration }> {
  override get message(): string {
    return `Virtual time stalled after ${Duration.format(this.virtualTime)}: the effect waits for real I/O or timers`
  }
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Result<A, E> {
  readonly exit: Exit.Exit<A, E>
  /** virtual time from the start to the end of the effect */
  readonly elapsed: Duration.Duration
}

interface Sleeper {
  readonly wakeAt: number
  readonly sequence: number
  /** dropped when the sleep is cancelled: it holds the sleeping fiber's continuation */
  wake: (() => void) | undefined
}

// A binary min-heap of sleepers by wake time, then by order of sleeping.
class SleeperHeap {
  private readonly items: Array<Sleeper> = []
  get size() {
    return this.items.length
  }
  push(sleeper: Sleeper) {
    this.items.push(sleeper)
    let i = this.items.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!this.before(i, parent)) break
      this.swap(i, parent)
      i = parent
    }
  }
  peek(): Sleeper | undefined {
    return this.items[0]
  }
  pop(): Sleeper | undefined {
    const top = this.items[0]
    const last = this.items.pop()
    if (top === undefined || last === undefined || this.items.length === 0) return top
    this.items[0] = last
    let i = 0
    for (;;) {
      const left = 2 * i + 1
      const right = left + 1
      let smallest = i
      if (left < this.items.length && this.before(left, smallest)) smallest = left
      if (right < this.items.length && this.before(right, smallest)) smallest = right
      if (smallest === i) break
      this.swap(i, smallest)
      i = smallest
    }
    return top
  }
  private before(a: number, b: number) {
    const x = this.items[a]!
    const y = this.items[b]!
    return x.wakeAt < y.wakeAt || (x.wakeAt === y.wakeAt && x.sequence < y.sequence)
  }
  private swap(a: number, b: number) {
    const x = this.items[a]!
    this.items[a] = this.items[b]!
    this.items[b] = x
  }
}

class QueueScheduler implements Scheduler.Scheduler {
  private tasks: Array<Scheduler.Task> = []
  get idle() {
    return this.tasks.length === 0
  }
  scheduleTask(task: Scheduler.Task) {
    this.tasks.push(task)
  }
  shouldYield(fiber: Parameters<Scheduler.Scheduler["shouldYield"]>[0]) {
    return fiber.currentOpCount > fiber.getFiberRef(FiberRef.currentMaxOpsBeforeYield)
      ? fiber.getFiberRef(FiberRef.currentSchedulingPriority)
      : false
  }
  flush() {
    while (this.tasks.length > 0) {
      const batch = this.tasks
      this.tasks = []
      for (const task of batch) task()
    }
  }
}

/**
 * Runs `effect` in virtual time starting at `start` (epoch millis; default:
 * the real time now) and returns how it ended and how much virtual time it
 * took. The effect keeps the caller's context, logger and other FiberRefs.
 * Never fails itself; a stall ends the run with a failed exit holding
 * {@link StalledError}.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { VirtualTime } from "claude-rate-limiter/testing"
 *
 * const result = Effect.runPromise(VirtualTime.run(Effect.sleep("1 hour")))
 * // resolves at once; result.elapsed is 1 hour
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const run = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  options: {
    readonly start?: number | undefined
    /** Real time to wait, while nothing sleeps in virtual time, before declaring a stall. Default 5 seconds. */
    readonly stallAfter?: Duration.DurationInput | undefined
  } = {}
): Effect.Effect<Result<A, E | StalledError>, never, R> =>
  Effect.suspend(() => {
    const start = options.start ?? Date.now()
    const stallAfterMillis = Duration.toMillis(options.stallAfter ?? Duration.seconds(5))
    let now = start
    let sequence = 0
    const sleepers = new SleeperHeap()
    const scheduler = new QueueScheduler()
    const clock: Clock.Clock = {
      [Clock.ClockTypeId]: Clock.ClockTypeId,
      unsafeCurrentTimeMillis: () => now,
      currentTimeMillis: Effect.sync(() => now),
      // virtual time moves in whole milliseconds (a sleep of a fraction wakes at the next one), so this is exact
      unsafeCurrentTimeNanos: () => BigInt(now) * 1_000_000n,
      currentTimeNanos: Effect.sync(() => BigInt(now) * 1_000_000n),
      sleep: (duration) =>
        Effect.async<void>((resume) => {
          const sleeper: Sleeper = {
            wakeAt: now + Math.ceil(Math.max(0, Duration.toMillis(duration))),
            sequence: sequence++,
            wake: () => resume(Effect.void)
          }
          sleepers.push(sleeper)
          // A cancelled sleeper stays in the heap until its time comes (a request's 10-minute
          // timeout, say); letting go of its continuation now keeps the heap from holding
          // every finished request's fiber until then.
          return Effect.sync(() => {
            sleeper.wake = undefined
          })
        })
    }

    // Wakes every sleeper due at the earliest wake time; false when nobody sleeps.
    const advance = (): boolean => {
      let next = sleepers.peek()
      while (next !== undefined && next.wake === undefined) {
        sleepers.pop()
        next = sleepers.peek()
      }
      if (next === undefined) return false
      now = Math.max(now, next.wakeAt)
      while (sleepers.peek() !== undefined && sleepers.peek()!.wakeAt <= now) {
        sleepers.pop()!.wake?.()
      }
      return true
    }

    // Forked from the caller, so the effect keeps its context, logger, tracer and every other
    // FiberRef; only its scheduler (inherited by every fiber it forks) and its clock are virtual.
    const forked = Effect.locally(
      Effect.forkDaemon(Effect.withClock(effect, clock)),
      FiberRef.currentScheduler,
      scheduler
    )
    return Effect.flatMap(forked, (fiber) =>
      Effect.async<Result<A, E | StalledError>>((resume) => {
        let quietTurns = 0
        let stalledSince: number | undefined
        let stopped = false
        const finish = (exit: Exit.Exit<A, E | StalledError>) => {
          stopped = true
          resume(Effect.succeed({ exit, elapsed: Duration.millis(now - start) }))
        }
        const step = () => {
          if (stopped) return
          scheduler.flush()
          const exit = fiber.unsafePoll()
          if (exit !== null) return finish(exit)
          if (!scheduler.idle) {
            quietTurns = 0
          } else if (++quietTurns >= 2) {
            quietTurns = 0
            if (advance()) {
              stalledSince = undefined
            } else {
              stalledSince ??= Date.now()
              if (Date.now() - stalledSince > stallAfterMillis) {
                fiber.unsafeInterruptAsFork(fiber.id())
                scheduler.flush()
                return finish(
                  Exit.failCause(Cause.fail(new StalledError({ virtualTime: Duration.millis(now - start) })))
                )
              }
              // nothing sleeps in virtual time: give real I/O a moment
              setTimeout(step, 1)
              return
            }
          }
          setImmediate(step)
        }
        setImmediate(step)
        return Effect.sync(() => {
          stopped = true
          fiber.unsafeInterruptAsFork(fiber.id())
          scheduler.flush()
        })
      }))
  })
