/**
 * A live progress line on stderr: done / in flight / waiting for budget /
 * 429s seen / retries. On a terminal it redraws in place several times a
 * second; otherwise (CI logs, pipes) it prints a line every few seconds.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Monitor from "../simulator/workload/Monitor.js"
import * as Report from "../simulator/workload/Report.js"

/**
 * @since 0.1.0
 * @category rendering
 */
export const render = (progress: Monitor.Progress, retries: number, width = 24): string => {
  const share = progress.total === 0 ? 1 : progress.done / progress.total
  const filled = Math.round(width * share)
  return `[${"█".repeat(filled)}${"░".repeat(width - filled)}] ${progress.done}/${progress.total} done · `
    + `${progress.inFlight} in flight · ${progress.waiting} waiting for budget · `
    + `${progress.rateLimited} 429s · ${retries} retries`
    + (progress.failed > 0 ? ` · ${progress.failed} failed` : "")
}

/**
 * Shows the progress of `monitor` until the scope closes, then prints the
 * final line. `retriesBefore` is the retry count when the run began (the
 * metric counts for the whole process).
 *
 * @since 0.1.0
 * @category running
 */
export const show = (
  monitor: Monitor.Monitor,
  retriesBefore: number,
  stream: NodeJS.WriteStream = process.stderr
): Effect.Effect<void, never, Scope.Scope> => {
  const interactive = stream.isTTY === true
  const line = Effect.zipWith(
    monitor.progress,
    Report.retryTotals,
    (progress, totals) => render(progress, totals.retries - retriesBefore)
  )
  const draw = Effect.flatMap(line, (text) =>
    Effect.sync(() => {
      if (interactive) stream.write(`\r\u001b[2K${text}`)
      else stream.write(`${text}\n`)
    }))
  return Effect.gen(function*() {
    yield* draw.pipe(
      Effect.zipRight(Effect.sleep(interactive ? "150 millis" : "3 seconds")),
      Effect.forever,
      Effect.forkScoped
    )
    yield* Effect.addFinalizer(() =>
      Effect.flatMap(
        line,
        (text) => Effect.sync(() => stream.write(interactive ? `\r\u001b[2K${text}\n` : `${text}\n`))
      )
    )
  })
}
