/**
 * Two small models of the simulated API that are its own, not Anthropic's
 * documentation: acceleration limits (the API documents that sharp ramps
 * trip them, not how) and the length of generated answers.
 *
 * @internal
 */
import type { Config } from "../SimulatorConfig.js"

/** Requests a pool admitted in the current and the previous acceleration window. @internal */
export interface Ramp {
  index: number
  current: number
  previous: number
}

/** @internal */
export const ramp = (): Ramp => ({ index: 0, current: 0, previous: 0 })

/**
 * Whether one more request fits the pool's ramp: at most
 * `max(floor, growth × previous window)` a window. Rolls the windows forward.
 *
 * @internal
 */
export const rampAllows = (
  acceleration: NonNullable<Config["acceleration"]>,
  state: Ramp,
  requestsPerMinute: number,
  elapsedMillis: number
): { readonly ok: boolean; readonly retryAfterMillis: number } => {
  const index = Math.floor(elapsedMillis / acceleration.windowMillis)
  if (index !== state.index) {
    state.previous = index === state.index + 1 ? state.current : 0
    state.current = 0
    state.index = index
  }
  const floor = acceleration.floor ?? Math.max(1, Math.ceil(requestsPerMinute / 12))
  const allowed = Math.max(floor, acceleration.growth * state.previous)
  return {
    ok: state.current + 1 <= allowed,
    retryAfterMillis: (index + 1) * acceleration.windowMillis - elapsedMillis
  }
}

/**
 * The output length of an answer from two uniform draws: a share of
 * `max_tokens`, or lognormal (Box–Muller) capped by `max_tokens`.
 *
 * @internal
 */
export const outputLength = (output: Config["output"], maxTokens: number, draw: number, draw2: number): number => {
  if (output.shape === "share") {
    return Math.min(maxTokens, Math.max(1, Math.round(maxTokens * (output.min + (output.max - output.min) * draw))))
  }
  const normal = Math.sqrt(-2 * Math.log(Math.max(draw, 1e-12))) * Math.cos(2 * Math.PI * draw2)
  return Math.min(maxTokens, Math.max(1, Math.round(output.median * Math.exp(output.sigma * normal))))
}
