/**
 * What happens to a request once the simulator admitted it: output tokens
 * charged as they are produced, the answer, and its end (completed, failed
 * mid-stream, or abandoned by a client that went away).
 *
 * @internal
 */
import type { Config } from "../SimulatorConfig.js"
import * as Bucket from "./bucket.js"
import type { Admitted } from "./engine.js"
import type * as Stats from "./stats.js"
import * as Wire from "./wire.js"

/** @internal */
export const make = (config: Config, recorder: ReturnType<typeof Stats.makeRecorder>) => {
  const { counters } = recorder

  /** Charges output tokens as they are produced (OTPM counts output as it is generated). */
  const chargeOutput = (admitted: Admitted, tokens: number, now: number) => {
    const { pool } = admitted
    const fresh = Math.max(0, Math.min(tokens, admitted.outputTokens - admitted.charged))
    if (fresh === 0) return
    admitted.charged += fresh
    // a max_tokens reservation already paid for what is produced
    if (admitted.reservedOutput === 0) pool.output = Bucket.take(pool.output, now, fresh)
    counters.outputTokens += fresh
    recorder.minuteOf(now).outputTokens += fresh
  }

  /** Ends an admitted request: completed (`ok`) or not. Idempotent. */
  const settle = (admitted: Admitted, now: number, ok: boolean) => {
    if (admitted.settled) return
    admitted.settled = true
    counters.inFlight--
    if (admitted.reservedOutput > 0) {
      admitted.pool.output = Bucket.give(
        admitted.pool.output,
        now,
        Math.max(0, admitted.reservedOutput - admitted.charged)
      )
    }
    if (ok) {
      counters.succeeded++
      recorder.minuteOf(now).succeeded++
    }
  }

  const complete = (admitted: Admitted, now: number): Wire.WireResponse => {
    chargeOutput(admitted, admitted.outputTokens, now)
    settle(admitted, now, true)
    return Wire.json(
      200,
      Wire.messageBody({
        id: `msg_sim_${admitted.id.slice(8)}`,
        model: admitted.model,
        text: Wire.generatedText(admitted.outputTokens, Number(admitted.id.slice(8)), config.charactersPerToken),
        stopReason: admitted.stopReason,
        inputTokens: admitted.inputTokens,
        outputTokens: admitted.outputTokens,
        cacheCreation: admitted.cacheCreation,
        cacheRead: admitted.cacheRead
      }),
      { ...Wire.rateLimitHeaders(admitted.pool, now, config.roundTokenHeaders), "request-id": admitted.id }
    )
  }

  const abandon = (admitted: Admitted, now: number) => {
    if (admitted.settled) return
    counters.abandoned++
    settle(admitted, now, false)
  }

  const headersOf = (admitted: Admitted, now: number) => ({
    ...Wire.rateLimitHeaders(admitted.pool, now, config.roundTokenHeaders),
    "request-id": admitted.id
  })

  return { chargeOutput, settle, complete, abandon, headersOf }
}
