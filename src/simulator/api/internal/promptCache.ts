/**
 * The simulator's model of prompt caching: a prefix of the request up to a
 * `cache_control` breakpoint, seen within the last 5 minutes, is read from
 * cache (free for the input-token limit); the prefix up to the last
 * breakpoint is written (counted, as `cache_creation_input_tokens`).
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import type * as Wire from "./wire.js"
import { tokensOf } from "./wire.js"

const ttl = Duration.toMillis(Duration.minutes(5))

/** @internal */
export interface Usage {
  readonly total: number
  readonly cacheRead: number
  readonly cacheCreation: number
  /** records the written prefixes; call only when the request is admitted */
  readonly store: () => void
}

/** @internal */
export interface PromptCache {
  readonly usage: (segments: Wire.ParsedRequest["segments"], now: number) => Usage
}

/** @internal */
export const make = (): PromptCache => {
  const expiries = new Map<string, number>()
  return {
    usage: (segments, now) => {
      let characters = 0
      let key = ""
      let read = 0
      let written = 0
      const toStore: Array<string> = []
      for (const segment of segments) {
        characters += segment.characters
        key += `\u0000${segment.key}`
        if (!segment.cached) continue
        const tokens = tokensOf(characters)
        if ((expiries.get(key) ?? 0) > now) read = tokens
        else toStore.push(key)
        written = tokens
      }
      return {
        total: tokensOf(characters),
        cacheRead: read,
        cacheCreation: Math.max(0, written - read),
        store: () => toStore.forEach((prefix) => expiries.set(prefix, now + ttl))
      }
    }
  }
}
