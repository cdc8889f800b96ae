import { Effect, HashMap, Layer, List, Logger, LogLevel, Ref } from "effect"

export interface CapturedLog {
  readonly level: string
  readonly message: string
  readonly annotations: Record<string, unknown>
}

/**
 * Runs `effect` with every log line captured (at all levels) instead of printed.
 */
export const captureLogs = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const lines = yield* Ref.make(List.empty<CapturedLog>())
    const logger = Logger.make(({ annotations, logLevel, message }) => {
      const text = Array.isArray(message) ? message.map(String).join(" ") : String(message)
      Effect.runSync(Ref.update(
        lines,
        List.prepend({
          level: logLevel.label,
          message: text,
          annotations: Object.fromEntries(HashMap.toEntries(annotations))
        })
      ))
    })
    const result = yield* effect.pipe(
      Effect.provide(Layer.merge(Logger.replace(Logger.defaultLogger, logger), Logger.minimumLogLevel(LogLevel.All)))
    )
    const captured = List.toArray(List.reverse(yield* Ref.get(lines)))
    return [result, captured] as const
  })
