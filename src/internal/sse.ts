/**
 * Server-sent events, as the Messages API streams them: a byte stream cut
 * anywhere becomes a sequence of `{ event, data }` records. Decoding is
 * incremental and bounded: a line longer than `maxLineLength` is an error,
 * not unbounded memory.
 *
 * @internal
 */

/** @internal */
export interface ServerSentEvent {
  /** the `event:` field, or "message" when absent */
  readonly event: string
  readonly data: string
}

/** @internal */
export class LineTooLongError extends Error {
  constructor(readonly length: number) {
    super(`a server-sent event line longer than ${length} characters`)
  }
}

/**
 * An incremental parser: feed it text chunks, get complete events. `end`
 * returns an event left without its terminating blank line (a cut stream),
 * which callers must treat as incomplete.
 *
 * @internal
 */
export class Parser {
  private buffer = ""
  private event = ""
  private data: Array<string> = []
  private sawField = false

  constructor(readonly maxLineLength: number = 16 * 1024 * 1024) {}

  feed(chunk: string): Array<ServerSentEvent> {
    const events: Array<ServerSentEvent> = []
    this.buffer += chunk
    let start = 0
    for (;;) {
      const newline = this.nextLineBreak(start)
      if (newline === -1) break
      // a "\r" at the very end may be the first half of "\r\n": decide when more arrives
      if (this.buffer.charCodeAt(newline) === 13 && newline + 1 === this.buffer.length) break
      const line = this.buffer.slice(start, newline)
      const crlf = this.buffer.charCodeAt(newline) === 13 && this.buffer.charCodeAt(newline + 1) === 10
      start = newline + (crlf ? 2 : 1)
      const event = this.line(line)
      if (event !== undefined) events.push(event)
    }
    this.buffer = this.buffer.slice(start)
    if (this.buffer.length > this.maxLineLength) throw new LineTooLongError(this.maxLineLength)
    return events
  }

  /** Whether a partial event (or line) is pending: the stream ended mid-event. */
  get pending(): boolean {
    return this.buffer.length > 0 || this.sawField
  }

  private nextLineBreak(from: number): number {
    for (let i = from; i < this.buffer.length; i++) {
      const c = this.buffer.charCodeAt(i)
      if (c === 10 || c === 13) return i
    }
    return -1
  }

  private line(line: string): ServerSentEvent | undefined {
    if (line === "") {
      if (!this.sawField) return undefined
      const event = { event: this.event === "" ? "message" : this.event, data: this.data.join("\n") }
      this.event = ""
      this.data = []
      this.sawField = false
      return event
    }
    if (line.startsWith(":")) return undefined
    const colon = line.indexOf(":")
    const field = colon === -1 ? line : line.slice(0, colon)
    let value = colon === -1 ? "" : line.slice(colon + 1)
    if (value.startsWith(" ")) value = value.slice(1)
    if (field === "event") {
      this.event = value
      this.sawField = true
    } else if (field === "data") {
      this.data.push(value)
      this.sawField = true
    }
    return undefined
  }
}
