/**
 * Reading a response's headers as the rate-limit decoders want them: any
 * input (a `Headers` value, a plain record, or something that is not even
 * an object) becomes `Headers` without a defect, and each value read is
 * noted when it was present but unusable, or asked for too long a wait.
 *
 * @internal
 */
import * as Headers from "@effect/platform/Headers"
import * as Option from "effect/Option"

/** Values are `unknown`: a plain record from JavaScript may hold numbers, objects, anything. @internal */
export type HeaderLookup = (name: string) => Option.Option<unknown>

/** Reads header values as the decoders want them, noting what was present but unusable, or too long a wait. @internal */
export class Reading {
  malformed: Array<string> | undefined = undefined
  tooLong: Array<string> | undefined = undefined
  constructor(readonly headers: Headers.Headers) {}

  read<A>(name: string, decoder: (raw: string) => Option.Option<A>): Option.Option<A> {
    // a Headers value has no prototype properties: only the names a response carried
    const raw: unknown = this.headers[name]
    if (raw === undefined) return Option.none()
    const decoded = typeof raw === "string" ? decoder(raw) : Option.none()
    if (Option.isNone(decoded)) (this.malformed ??= []).push(name)
    return decoded
  }

  flagTooLong(name: string): void {
    ;(this.tooLong ??= []).push(name)
  }
}

/** @internal */
export const toHeaders = (input: Headers.Input): Headers.Headers => {
  // `null`, a number or a record whose values throw when read: no headers, rather than a defect
  if (typeof input !== "object" || input === null) return Headers.empty
  // a response's headers already are (lower-case names, string values): no copy
  if (Headers.isHeaders(input)) return input
  try {
    return Headers.fromInput(input)
  } catch {
    return Headers.empty
  }
}

/** @internal */
export const toLookup = (input: Headers.Input): HeaderLookup => {
  const headers = toHeaders(input)
  return (name) => Object.hasOwn(headers, name) ? Option.some<unknown>(headers[name]) : Option.none()
}
