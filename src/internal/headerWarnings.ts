/**
 * The warnings about rate-limit headers that could not be used (malformed,
 * or asking for too long a wait): a warning naming the header the first
 * time it is seen, debug level after, so that a proxy that mangles one
 * header on every response cannot flood the logs.
 *
 * @internal
 */
import type * as Headers from "@effect/platform/Headers"
import * as Arr from "effect/Array"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import { globalValue } from "effect/GlobalValue"
import * as Option from "effect/Option"
import type { RateLimitSnapshot } from "../RateLimitHeaders.js"
import * as ErrorText from "./errorText.js"
import * as HeaderReading from "./headerReading.js"

/** @internal */
export const currentWarnedHeaders: FiberRef.FiberRef<Set<string>> = globalValue(
  Symbol.for("claude-rate-limiter/RateLimitHeaders/currentWarnedHeaders"),
  () => FiberRef.unsafeMake<Set<string>>(new Set())
)

// Server-controlled text, never a secret of ours (anything shaped like a key is scrubbed all the same),
// shortened so that logs stay bounded; a value that is not a string is described, not read.
const shownValue = (value: unknown): string =>
  typeof value === "string" ? ErrorText.excerpt(ErrorText.scrub(value), 80) : `(not a string: ${typeof value})`

const logOnce = (
  warned: Set<string>,
  key: string,
  message: string,
  annotations: Record<string, unknown>
): Effect.Effect<void> => {
  const firstTime = !warned.has(key)
  warned.add(key)
  return (firstTime ? Effect.logWarning(message) : Effect.logDebug(message)).pipe(Effect.annotateLogs(annotations))
}

/** Logs the snapshot's malformed and too-long headers, with their values as `headers` gave them. @internal */
export const logUnusable = (
  snapshot: RateLimitSnapshot,
  headers: Headers.Input,
  maxPlausibleWait: Duration.Duration
): Effect.Effect<void> =>
  Arr.isEmptyReadonlyArray(snapshot.malformed) && Arr.isEmptyReadonlyArray(snapshot.tooLong)
    ? Effect.void
    : Effect.flatMap(
      FiberRef.get(currentWarnedHeaders),
      (warned) => {
        const lookup = HeaderReading.toLookup(headers)
        const annotations = (name: string) => ({
          header: name,
          value: Option.getOrElse(Option.map(lookup(name), shownValue), () => ""),
          requestId: Option.getOrUndefined(snapshot.requestId)
        })
        return Effect.zipRight(
          Effect.forEach(
            snapshot.malformed,
            (name) => logOnce(warned, name, `Ignoring malformed rate-limit header ${name}`, annotations(name)),
            { discard: true }
          ),
          Effect.forEach(
            snapshot.tooLong,
            (name) =>
              logOnce(
                warned,
                `${name} (too long)`,
                `Rate-limit header ${name} asks for a wait longer than ${Duration.format(maxPlausibleWait)}`,
                annotations(name)
              ),
            { discard: true }
          )
        )
      }
    )
