/**
 * A live progress line through the platform `Terminal`: done / on the wire /
 * waiting / 429s / retries. On a terminal it redraws in place several times
 * a second; otherwise (CI logs, pipes) it prints a line every few seconds.
 *
 * @since 0.1.0
 */
import * as Terminal from "@effect/platform/Terminal"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Monitor from "../simulator/workload/Monitor.js"

/**
 * @since 0.1.0
 * @category rendering
 */
export const render = (progress: Monitor.Progress, width = 24): string => {
  const share = progress.total === 0 ? 1 : progress.done / progress.total
  const filled = Math.round(width * share)
  return `[${"█".repeat(filled)}${"░".repeat(width - filled)}] ${progress.done}/${progress.total} done · `
    + `${progress.onTheWire} on the wire · ${progress.waiting} waiting · `
    + `${progress.rateLimited} 429s · ${progress.attempts} attempts`
    + (progress.failed > 0 ? ` · ${progress.failed} failed` : "")
}

/**
 * Shows the progress of `monitor` until the scope closes, then prints the
 * final line.
 *
 * @since 0.1.0
 * @category running
 */
export const show = (monitor: Monitor.Monitor): Effect.Effect<void, never, Scope.Scope | Terminal.Terminal> =>
  Effect.gen(function*() {
    const terminal = yield* Terminal.Terminal
    const interactive = yield* terminal.isTTY
    const draw = (last: boolean) =>
      Effect.flatMap(monitor.progress, (progress) => {
        const line = render(progress)
        return terminal.display(interactive ? `\r\u001b[2K${line}${last ? "\n" : ""}` : `${line}\n`)
      }).pipe(Effect.ignore)
    yield* draw(false).pipe(
      Effect.zipRight(Effect.sleep(interactive ? "150 millis" : "3 seconds")),
      Effect.forever,
      Effect.forkScoped
    )
    yield* Effect.addFinalizer(() => draw(true))
  })
