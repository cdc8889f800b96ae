/**
 * The simulator's own token-count model, from Anthropic's documentation
 * (not the client's estimate, so the client's budgeting is tested against
 * numbers it did not compute itself):
 *
 * - text: "a token approximately represents 3.5 English characters", so a
 *   request's text counts `ceil(characters / charactersPerToken)` tokens
 *   (3.5 by default); non-text blocks and tool definitions count the
 *   characters of their JSON;
 * - images: about 1,600 tokens each (the documented size of a ~1.15
 *   megapixel image, `width × height / 750`);
 * - tools: when a request has tools, the API adds a tool-use system prompt
 *   of 346 tokens (`tool_choice` auto or none) or 313 (any or tool), the
 *   Claude 4 figures of the tool-use documentation;
 * - what a request is charged against ITPM: `input_tokens +
 *   cache_creation_input_tokens`; cache reads are free, except on models
 *   that count them (Claude Haiku 3.5).
 *
 * @internal
 */

/** @internal */
export const defaultCharactersPerToken = 3.5

/** @internal */
export const imageTokens = 1_600

/** @internal */
export const toolSystemPromptTokens = (toolChoice: string | undefined): number =>
  toolChoice === "any" || toolChoice === "tool" ? 313 : 346

/** One piece of a request, in the order the API reads them (tools, system, messages). @internal */
export interface Segment {
  /** characters counted as text */
  readonly characters: number
  /** tokens counted regardless of characters (images) */
  readonly fixedTokens: number
  /** identity of the content, for the prompt cache */
  readonly key: string
  /** a `cache_control` breakpoint ends here */
  readonly cached: boolean
}

/** @internal */
export interface Counter {
  readonly charactersPerToken: number
  /** tokens of the first `characters` characters and `fixedTokens` of a request with or without tools */
  readonly prefix: (characters: number, fixedTokens: number, overhead: number) => number
}

/** @internal */
export const make = (charactersPerToken = defaultCharactersPerToken): Counter => ({
  charactersPerToken,
  prefix: (characters, fixedTokens, overhead) => Math.ceil(characters / charactersPerToken) + fixedTokens + overhead
})

/** Tokens a request's text of `characters` characters counts, with nothing else in it. @internal */
export const ofText = (characters: number, charactersPerToken = defaultCharactersPerToken): number =>
  Math.ceil(characters / charactersPerToken)

/** Characters of text that count `tokens` tokens: the inverse of {@link ofText}. @internal */
export const charactersFor = (tokens: number, charactersPerToken = defaultCharactersPerToken): number =>
  Math.floor(tokens * charactersPerToken)

/** What a request is charged against its input-tokens-per-minute limit. @internal */
export const chargedInput = (
  usage: { readonly input: number; readonly cacheCreation: number; readonly cacheRead: number },
  cacheReadsCount: boolean
): number => usage.input + usage.cacheCreation + (cacheReadsCount ? usage.cacheRead : 0)
