/**
 * Test layers for code that uses claude-rate-limiter: `import { ScriptedHttpClient } from "claude-rate-limiter/testing"`.
 * The simulated Anthropic API lives in its own wing (`src/simulator/api`) and is re-exported here.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as ScriptedHttpClient from "./ScriptedHttpClient.js"

/**
 * @since 0.1.0
 */
export * as Simulator from "../simulator/api/Simulator.js"

/**
 * @since 0.1.0
 */
export * as SimulatorConfig from "../simulator/api/SimulatorConfig.js"

/**
 * @since 0.1.0
 */
export * as VirtualTime from "./VirtualTime.js"

/**
 * @since 0.2.0
 */
export * as ModelCatalog from "../simulator/api/ModelCatalog.js"
