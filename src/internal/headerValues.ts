/**
 * Decoders of single rate-limit header values, each an `effect/Schema`
 * compiled once (every response of every request goes through them). A
 * decoder answers `None` for a value that cannot be trusted. Waits are
 * decoded whatever their size (`Duration.infinity` when the number
 * overflows): whether a wait is too long is for the caller to say, and a
 * wait too long is not the same as no wait.
 *
 * @internal
 */
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

const IntegerHeader = Schema.compose(
  Schema.String.pipe(Schema.pattern(/^\s*\d+\s*$/)),
  Schema.NumberFromString
).pipe(Schema.int(), Schema.between(0, Number.MAX_SAFE_INTEGER))

const Rfc3339Header = Schema.compose(
  Schema.Trim.pipe(Schema.pattern(/^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/)),
  Schema.DateTimeUtc
)

// Digits only, so never negative or NaN; so many digits that the number overflows is Infinity, on purpose.
const NonNegativeNumberHeader = Schema.compose(
  Schema.String.pipe(Schema.pattern(/^\s*\d+(\.\d+)?\s*$/)),
  Schema.NumberFromString
)

// RFC 9110 IMF-fixdate, e.g. "Wed, 21 Oct 2015 07:28:00 GMT"
const HttpDateHeader = Schema.transformOrFail(
  Schema.Trim.pipe(Schema.pattern(/^[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/)),
  Schema.DateTimeUtcFromSelf,
  {
    strict: true,
    // DateTime.make reads strings as ISO 8601 only; the pattern above already pinned the IMF-fixdate shape
    decode: (value, _, ast) =>
      Option.match(DateTime.make(Date.parse(value)), {
        onNone: () => ParseResult.fail(new ParseResult.Type(ast, value, "not an HTTP-date")),
        onSome: (date) => ParseResult.succeed(DateTime.toUtc(date))
      }),
    encode: (date) => ParseResult.succeed(DateTime.toDateUtc(date).toUTCString())
  }
)

const BooleanHeader = Schema.transform(
  Schema.Trim.pipe(Schema.compose(Schema.Lowercase), Schema.compose(Schema.Literal("true", "false"))),
  Schema.Boolean,
  { strict: true, decode: (value) => value === "true", encode: (value) => (value ? "true" : "false") }
)

const RequestIdHeader = Schema.Trim.pipe(Schema.nonEmptyString(), Schema.maxLength(512))

// Decoders are compiled once: every response of every request goes through them.
type Decoder<A> = (raw: string) => Either.Either<A, ParseResult.ParseError>

const decodeInteger: Decoder<number> = Schema.decodeUnknownEither(IntegerHeader)
const decodeRfc3339: Decoder<DateTime.Utc> = Schema.decodeUnknownEither(Rfc3339Header)
const decodeNonNegative: Decoder<number> = Schema.decodeUnknownEither(NonNegativeNumberHeader)
const decodeHttpDate: Decoder<DateTime.Utc> = Schema.decodeUnknownEither(HttpDateHeader)
const decodeBoolean: Decoder<boolean> = Schema.decodeUnknownEither(BooleanHeader)
const decodeRequestId: Decoder<string> = Schema.decodeUnknownEither(RequestIdHeader)

const valid = <A>(decoder: Decoder<A>) => (raw: string): Option.Option<A> => Either.getRight(decoder(raw))

// The shapes the API sends, checked without a full decode: every response of every request comes this way.
// Anything else goes through the schema, which decides (and says what is wrong).
const plainInteger = /^\d{1,15}$/
const plainRfc3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/

const decodeIntegerSchema = valid(decodeInteger)
const decodeRfc3339Schema = valid(decodeRfc3339)

/** @internal */
export const integer = (raw: string): Option.Option<number> =>
  plainInteger.test(raw) ? Option.some(Number(raw)) : decodeIntegerSchema(raw)

/** @internal */
export const rfc3339 = (raw: string): Option.Option<DateTime.Utc> => {
  if (plainRfc3339.test(raw)) {
    const millis = Date.parse(raw)
    // a well-formed string may still name no instant (month 13): the schema says so
    if (Number.isFinite(millis)) return Option.some(DateTime.unsafeMake(millis))
  }
  return decodeRfc3339Schema(raw)
}

/**
 * `retry-after`: seconds, else an HTTP-date measured from `now` (one in the
 * past means no wait).
 *
 * @internal
 */
export const retryAfterAt = (now: DateTime.Utc) => (raw: string): Option.Option<Duration.Duration> => {
  const seconds = Either.getRight(decodeNonNegative(raw))
  return Option.isSome(seconds)
    ? Option.some(Duration.seconds(seconds.value))
    : Option.map(
      Either.getRight(decodeHttpDate(raw)),
      (date) => Duration.millis(Math.max(0, DateTime.distance(now, date)))
    )
}

/** `retry-after-ms`. @internal */
export const millis = (raw: string): Option.Option<Duration.Duration> =>
  Option.map(Either.getRight(decodeNonNegative(raw)), Duration.millis)

/** @internal */
export const boolean = valid(decodeBoolean)

/** @internal */
export const requestId = valid(decodeRequestId)
