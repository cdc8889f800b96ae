/**
 * The models the simulated API knows, in one table: each model's family
 * (limits are pooled by family), its maximum output (`max_tokens` above it
 * is a 400), its context window (a prompt above it is a 400), and whether
 * cache reads count toward its input-tokens-per-minute limit. A model not
 * in the catalog (nor in `SimulatorConfig.Options.models`) is a 404
 * `not_found_error`, as the API answers.
 *
 * Figures from Anthropic's models overview at the time of writing; add or
 * override entries with `SimulatorConfig.Options.models`.
 *
 * @since 0.2.0
 */

/**
 * @since 0.2.0
 * @category models
 */
export interface Model {
  readonly id: string
  /** other ids of the same model (dated snapshots, `-latest` aliases) */
  readonly aliases?: ReadonlyArray<string> | undefined
  /** the pool its limits are shared in */
  readonly family: string
  readonly maxOutputTokens: number
  readonly contextWindow: number
  /** Claude Haiku 3.5 counts cache reads toward ITPM; newer models do not. Default false. */
  readonly cacheReadsCountTowardInputLimit?: boolean | undefined
}

/**
 * @since 0.2.0
 * @category constants
 */
export const models: ReadonlyArray<Model> = [
  { id: "claude-opus-4-6", family: "opus", maxOutputTokens: 128_000, contextWindow: 200_000 },
  {
    id: "claude-opus-4-5",
    aliases: ["claude-opus-4-5-20251101"],
    family: "opus",
    maxOutputTokens: 64_000,
    contextWindow: 200_000
  },
  {
    id: "claude-opus-4-1",
    aliases: ["claude-opus-4-1-20250805"],
    family: "opus",
    maxOutputTokens: 32_000,
    contextWindow: 200_000
  },
  {
    id: "claude-opus-4-0",
    aliases: ["claude-opus-4-20250514"],
    family: "opus",
    maxOutputTokens: 32_000,
    contextWindow: 200_000
  },
  { id: "claude-sonnet-4-6", family: "sonnet", maxOutputTokens: 64_000, contextWindow: 200_000 },
  {
    id: "claude-sonnet-4-5",
    aliases: ["claude-sonnet-4-5-20250929"],
    family: "sonnet",
    maxOutputTokens: 64_000,
    contextWindow: 200_000
  },
  {
    id: "claude-sonnet-4-0",
    aliases: ["claude-sonnet-4-20250514"],
    family: "sonnet",
    maxOutputTokens: 64_000,
    contextWindow: 200_000
  },
  {
    id: "claude-3-7-sonnet-latest",
    aliases: ["claude-3-7-sonnet-20250219"],
    family: "sonnet",
    maxOutputTokens: 64_000,
    contextWindow: 200_000
  },
  {
    id: "claude-haiku-4-5",
    aliases: ["claude-haiku-4-5-20251001"],
    family: "haiku",
    maxOutputTokens: 64_000,
    contextWindow: 200_000
  },
  {
    id: "claude-3-5-haiku-latest",
    aliases: ["claude-3-5-haiku-20241022"],
    family: "haiku",
    maxOutputTokens: 8_192,
    contextWindow: 200_000,
    cacheReadsCountTowardInputLimit: true
  },
  { id: "claude-3-haiku-20240307", family: "haiku", maxOutputTokens: 4_096, contextWindow: 200_000 }
]

/**
 * Looks a model up by id or alias.
 *
 * @since 0.2.0
 * @category getters
 */
export const find = (catalog: ReadonlyArray<Model>, id: string): Model | undefined =>
  catalog.find((model) => model.id === id || (model.aliases ?? []).includes(id))
