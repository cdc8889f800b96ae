/**
 * Everything a program tells the outside world, captured so a test can look for a secret in it: its log lines (as
 * effect's own loggers would print them, and the raw annotations and causes an exporter would get) and its spans
 * (names, attributes, events, and how each ended), each rendered every way a tool might render it.
 */
import { Cause, Effect, Exit, HashMap, Inspectable, Layer, List, Logger, LogLevel, Option, Tracer } from "effect"
import type { Context } from "effect"
import { inspect } from "node:util"

/** A span as recorded: what an exporter would see of it. */
export interface RecordedSpan {
  readonly name: string
  readonly kind: Tracer.SpanKind
  readonly attributes: Map<string, unknown>
  readonly events: Array<{ readonly name: string; readonly attributes: Record<string, unknown> }>
  exit: Exit.Exit<unknown, unknown> | undefined
}

/** A log line as recorded, with the renderings effect's own loggers give it (made where the line was logged). */
export interface RecordedLog {
  readonly level: string
  readonly message: unknown
  readonly annotations: Record<string, unknown>
  readonly cause: Cause.Cause<unknown>
  readonly rendered: ReadonlyArray<string>
}

/** Every rendering of a value a logger, an exporter or a developer might produce. */
export const renderings = (value: unknown): ReadonlyArray<string> => {
  const out: Array<string> = []
  const attempt = (render: () => string) => {
    try {
      out.push(render())
    } catch (error) {
      out.push(`(rendering threw: ${String(error)})`)
    }
  }
  attempt(() => String(value))
  attempt(() => JSON.stringify(value) ?? "undefined")
  attempt(() => Inspectable.stringifyCircular(value))
  attempt(() => inspect(value, { depth: Infinity }))
  attempt(() => inspect(value, { depth: Infinity, showHidden: true, getters: true }))
  if (Cause.isCause(value)) attempt(() => Cause.pretty(value, { renderErrorCause: true }))
  if (Exit.isExit(value) && Exit.isFailure(value)) attempt(() => Cause.pretty(value.cause, { renderErrorCause: true }))
  if (value instanceof Error) {
    attempt(() => value.message)
    attempt(() => value.stack ?? "")
    attempt(() => Cause.pretty(Cause.fail(value), { renderErrorCause: true }))
  }
  return out
}

/** Every rendering of a recorded span: its attributes, events and end, one by one and as a whole. */
export const renderSpan = (span: RecordedSpan): ReadonlyArray<string> => [
  span.name,
  ...Array.from(span.attributes, ([key, value]) => `${key}=${renderings(value).join(" ")}`),
  ...span.events.flatMap((event) => [event.name, ...renderings(event.attributes)]),
  ...(span.exit === undefined ? [] : renderings(span.exit)),
  ...renderings(Object.fromEntries(span.attributes))
]

/** Every rendering of a recorded log line. */
export const renderLog = (log: RecordedLog): ReadonlyArray<string> => [
  ...log.rendered,
  ...renderings(log.message),
  ...renderings(log.annotations),
  ...renderings(log.cause)
]

export interface Captured {
  readonly spans: ReadonlyArray<RecordedSpan>
  readonly logs: ReadonlyArray<RecordedLog>
  /** every rendering of every span and log line */
  readonly texts: () => ReadonlyArray<string>
}

/**
 * Runs `effect` with every span recorded (a tracer of its own, whatever the program asks of it) and every log line
 * captured at all levels, and returns its exit with what it told.
 */
export const capture = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const spans: Array<RecordedSpan> = []
    let logs = List.empty<RecordedLog>()
    const tracer = Tracer.make({
      span: (name, parent, context, links, startTime, kind) => {
        const recorded: RecordedSpan = { name, kind, attributes: new Map(), events: [], exit: undefined }
        spans.push(recorded)
        const span: Tracer.Span = {
          _tag: "Span",
          name,
          spanId: `span-${spans.length}`,
          traceId: parent._tag === "Some" ? parent.value.traceId : `trace-${spans.length}`,
          parent,
          context: context as Context.Context<never>,
          status: { _tag: "Started", startTime },
          attributes: recorded.attributes,
          links: Array.from(links),
          sampled: true,
          kind,
          end: (_endTime, exit) => {
            recorded.exit = exit
          },
          attribute: (key, value) => {
            recorded.attributes.set(key, value)
          },
          event: (eventName, _startTime, attributes) => {
            recorded.events.push({ name: eventName, attributes: attributes ?? {} })
          },
          addLinks: () => {}
        }
        return span
      },
      context: (f) => f()
    })
    const logger = Logger.make((options) => {
      const rendered = [Logger.stringLogger, Logger.logfmtLogger, Logger.jsonLogger, Logger.structuredLogger].map((
        format
      ) => renderings(format.log(options)).join("\n"))
      logs = List.prepend(logs, {
        level: options.logLevel.label,
        message: options.message,
        annotations: Object.fromEntries(HashMap.toEntries(options.annotations)),
        cause: options.cause,
        rendered
      })
    })
    const exit = yield* Effect.exit(effect).pipe(
      Effect.withTracer(tracer),
      Effect.provide(Layer.merge(Logger.replace(Logger.defaultLogger, logger), Logger.minimumLogLevel(LogLevel.All)))
    )
    const recordedLogs = List.toArray(List.reverse(logs))
    const captured: Captured = {
      spans,
      logs: recordedLogs,
      texts: () => [...spans.flatMap(renderSpan), ...recordedLogs.flatMap(renderLog)]
    }
    return [exit, captured] as const
  })

/** The texts among `texts` that contain `secret`, each cut to a window around it (for a readable failure). */
export const leaks = (texts: ReadonlyArray<string>, secret: string): ReadonlyArray<string> =>
  texts.filter((text) => text.includes(secret)).map((text) => {
    const at = text.indexOf(secret)
    return text.slice(Math.max(0, at - 200), at + secret.length + 50)
  })

/** The first failure of an exit, if any. */
export const failureOf = <A, E>(exit: Exit.Exit<A, E>): Option.Option<E> =>
  Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
