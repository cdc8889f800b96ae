/**
 * Reading the body of a 2xx answer: one JSON value or JSON Lines decoded
 * with a schema, where anything that does not decode (not JSON, another
 * shape, nesting too deep) is the bounded problem text of a
 * `MalformedResponseError`, never a defect.
 *
 * @internal
 */
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as ClaudeError from "../ClaudeError.js"
import type * as Messages from "../Messages.js"

/** Reads a 2xx body: the value, or the problem (bounded text) that makes it a MalformedResponseError. @internal */
export type BodyDecoder<A> = (body: string) => Either.Either<A, string>

// A 200 body is parsed once; a decode failure (not JSON, another shape, nesting too deep to even describe)
// is the problem text of a MalformedResponseError, never a defect.
const parse = <A>(body: string, decode: (json: unknown) => Either.Either<A, string>): Either.Either<A, string> => {
  try {
    return decode(JSON.parse(body))
  } catch (error) {
    return Either.left(error instanceof SyntaxError ? `not JSON (${error.message})` : "nested too deeply to decode")
  }
}

/** A body that is one JSON value of `schema`. @internal */
export const json = <A, I>(schema: Schema.Schema<A, I>): BodyDecoder<A> => {
  const decode = Schema.decodeUnknownEither(schema)
  return (body) => parse(body, (value) => Either.mapLeft(decode(value), ClaudeError.describeParseError))
}

/** A body of JSON Lines, each a value of `schema`. @internal */
export const jsonLines = <A, I>(schema: Schema.Schema<A, I>): BodyDecoder<ReadonlyArray<A>> => {
  const decode = Schema.decodeUnknownEither(schema)
  return (body) => {
    const values: Array<A> = []
    for (const line of body.split("\n")) {
      if (line.trim() === "") continue
      const value = parse(line, (each) => Either.mapLeft(decode(each), ClaudeError.describeParseError))
      if (Either.isLeft(value)) return Either.left(`line ${values.length + 1}: ${value.left}`)
      values.push(value.right)
    }
    return Either.right(values)
  }
}

/** The usage of a JSON answer read as text, if it has one. @internal */
export const usageInBody = (body: string): Messages.Usage | undefined => {
  try {
    const usage = (JSON.parse(body) as { readonly usage?: Messages.Usage } | null)?.usage
    return typeof usage?.input_tokens === "number" && typeof usage.output_tokens === "number" ? usage : undefined
  } catch {
    return undefined
  }
}
