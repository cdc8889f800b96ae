/**
 * The simulator's model of prompt caching: a prefix of the request up to a
 * `cache_control` breakpoint, seen within the last 5 minutes, is read from
 * cache; the prefix up to the last breakpoint is written (counted as
 * `cache_creation_input_tokens`).
 *
 * @internal
 */
import type * as TokenCount from "./tokenCount.js"

const ttl = 5 * 60_000

/** @internal */
export interface Usage {
  /** every input token of the request: input + cache reads + cache writes */
  readonly total: number
  readonly cacheRead: number
  readonly cacheCreation: number
  /** records the written prefixes; call only when the request is admitted */
  readonly store: () => void
}

/** @internal */
export interface PromptCache {
  readonly usage: (segments: ReadonlyArray<TokenCount.Segment>, overhead: number, now: number) => Usage
}

/** @internal */
export const make = (counter: TokenCount.Counter): PromptCache => {
  const expiries = new Map<string, number>()
  return {
    usage: (segments, overhead, now) => {
      let characters = 0
      let fixed = 0
      let key = ""
      let read = 0
      let written = 0
      const toStore: Array<string> = []
      for (const segment of segments) {
        characters += segment.characters
        fixed += segment.fixedTokens
        if (!segment.cached) continue
        // the key is built only up to breakpoints: long prompts without cache_control cost nothing here
        key = segments.slice(0, segments.indexOf(segment) + 1).map((s) => s.key).join("\u0000")
        const tokens = counter.prefix(characters, fixed, overhead)
        if ((expiries.get(key) ?? 0) > now) read = tokens
        else toStore.push(key)
        written = tokens
      }
      return {
        total: counter.prefix(characters, fixed, overhead),
        cacheRead: read,
        cacheCreation: Math.max(0, written - read),
        store: () => toStore.forEach((prefix) => expiries.set(prefix, now + ttl))
      }
    }
  }
}
