/**
 * The one place where command-line options become the client's options
 * (`ClaudeClient.LayerOptions`, less where it connects). When the client's
 * options change, this function is what changes.
 *
 * @since 0.2.0
 */
import type * as Runner from "../simulator/workload/Runner.js"

/**
 * What the command line says about the client.
 *
 * @since 0.2.0
 * @category models
 */
export interface ClientArgs {
  /** `--max-retries` */
  readonly maxRetries: number | undefined
  /** `--threshold`: the share of each bucket kept in reserve */
  readonly threshold: number | undefined
  /** `--wait-for-circuit` */
  readonly waitForCircuit: boolean
}

/**
 * @since 0.2.0
 * @category conversions
 */
export const clientOptions = (args: ClientArgs): Runner.ClientOptions => ({
  retry: {
    ...(args.maxRetries === undefined ? {} : { maxRetries: args.maxRetries }),
    retryOnOpenCircuit: args.waitForCircuit
  },
  admission: args.threshold === undefined ? {} : { threshold: args.threshold }
})
