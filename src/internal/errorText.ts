/**
 * Text that goes into error messages: bounded, single-line, and scrubbed of
 * secrets. A body can be megabytes long, or be a proxy's error page echoing
 * the request headers (the API key among them); a message is neither.
 *
 * @internal
 */
import * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"

/** @internal */
export const excerptLength = 300

/** @internal */
export const maxMessageLength = 1_000

/**
 * A bounded, single-line excerpt. Only a window of the text is looked at, so
 * the cost does not grow with the body.
 *
 * @internal
 */
export const excerpt = (text: string, maxLength: number = excerptLength): string => {
  const window = text.length > maxLength * 8 ? text.slice(0, maxLength * 8) : text
  const oneLine = window.replace(/\s+/g, " ").trim()
  return oneLine.length > maxLength || window.length < text.length
    ? `${oneLine.slice(0, maxLength)}…`
    : oneLine
}

// Anthropic API keys (and admin keys) look like sk-ant-api03-…, sk-ant-admin01-…
const keyPattern = /sk-ant-[A-Za-z0-9_-]+/g

// Shorter "secrets" (a test key like "any") would scrub ordinary words.
const minimumSecretLength = 8

/** @internal */
export const redactedText = "[redacted]"

/**
 * Replaces every occurrence of the given secrets, and anything shaped like an
 * Anthropic key, by `[redacted]`. Applied to the whole text before it is
 * shortened, so a cut cannot leave part of a secret behind.
 *
 * @internal
 */
export const scrub = (text: string, secrets: ReadonlyArray<Redacted.Redacted<string>> = []): string => {
  let scrubbed = text
  for (const secret of secrets) {
    const value = Redacted.value(secret)
    if (value.length >= minimumSecretLength && scrubbed.includes(value)) {
      scrubbed = scrubbed.split(value).join(redactedText)
    }
  }
  return scrubbed.replace(keyPattern, `sk-ant-${redactedText}`)
}

/**
 * One problem found by a schema: where (`messages[0].role`) and what.
 *
 * @internal
 */
export interface Issue {
  readonly path: string
  readonly message: string
}

const isIdentifier = (key: string): boolean => /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key)

/** `["messages", 0, "content"]` → `messages[0].content`. @internal */
export const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>((text, key) => {
    if (typeof key === "number") return `${text}[${key}]`
    const name = typeof key === "symbol" ? String(key) : key
    if (!isIdentifier(name)) return `${text}[${JSON.stringify(name)}]`
    return text === "" ? name : `${text}.${name}`
  }, "")

const expectedActual = /^Expected ([\s\S]*), actual ([\s\S]*)$/

const issueText = (expected: ReadonlyArray<string>, actual: string): string =>
  `Expected ${excerpt(expected.join(" | "), 120)}, actual ${excerpt(actual, 80)}`

/**
 * The problems in a schema failure, short enough to read: one line each,
 * grouped by path (a union's alternatives become `Expected A | B`), the
 * `undefined` alternative of optional fields left out, and bounded. Never
 * throws: a value too deeply nested to describe is described as such.
 *
 * @internal
 */
export const describeParseError = (error: ParseResult.ParseError): ReadonlyArray<Issue> => {
  let formatted: ReadonlyArray<ParseResult.ArrayFormatterIssue>
  try {
    formatted = ParseResult.ArrayFormatter.formatErrorSync(error)
  } catch {
    return [firstIssue(error.issue)]
  }
  const byPath = new Map<string, { expected: Array<string>; actual: string | undefined; other: Array<string> }>()
  for (const issue of formatted) {
    const path = formatPath(issue.path)
    const group = byPath.get(path) ?? { expected: [], actual: undefined, other: [] }
    byPath.set(path, group)
    const match = expectedActual.exec(issue.message)
    if (match !== null) {
      if (match[1] !== "undefined") group.expected.push(match[1]!)
      group.actual = match[2]!
    } else {
      group.other.push(issue.message)
    }
  }
  return Array.from(byPath, ([path, group]) => ({
    path,
    message: group.other.length > 0
      ? excerpt(group.other.join("; "), 200)
      : issueText(group.expected.length > 0 ? group.expected : ["undefined"], group.actual ?? "")
  }))
}

const kindOf = (value: unknown): string =>
  Array.isArray(value) ? "an array" : value === null ? "null" : typeof value === "object" ? "an object" : typeof value

/**
 * The first problem, found without formatting the value (formatting recurses
 * into it, and a value nested deeper than the stack cannot be formatted).
 */
const firstIssue = (root: ParseResult.ParseIssue): Issue => {
  const path: Array<PropertyKey> = []
  let issue = root
  for (;;) {
    if (issue._tag === "Pointer") {
      path.push(...(Array.isArray(issue.path) ? issue.path : [issue.path]))
      issue = issue.issue
    } else if (issue._tag === "Composite") {
      issue = Array.isArray(issue.issues) ? issue.issues[0] : issue.issues
    } else if (issue._tag === "Refinement" || issue._tag === "Transformation") {
      issue = issue.issue
    } else {
      break
    }
  }
  const message = issue._tag === "Missing"
    ? "is missing"
    : issue._tag === "Unexpected"
    ? "is unexpected"
    : `Expected ${excerpt(String(issue.ast), 120)}, actual ${kindOf(issue.actual)} (nested too deeply to show)`
  return { path: formatPath(path), message }
}

/** `path: message; path: message (and 2 more)`, at most `maxIssues` of them, bounded. @internal */
export const formatIssues = (issues: ReadonlyArray<Issue>, maxIssues = 3): string => {
  const shown = issues.slice(0, maxIssues).map((issue) =>
    issue.path === "" ? issue.message : `${issue.path}: ${issue.message}`
  )
  const more = issues.length > maxIssues ? ` (and ${issues.length - maxIssues} more)` : ""
  return excerpt(shown.join("; "), 600) + more
}
