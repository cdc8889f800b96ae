/**
 * Test layers for code that uses claude-rate-limiter: `import { ScriptedHttpClient } from "claude-rate-limiter/testing"`.
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
export * as Simulator from "./Simulator.js"

/**
 * @since 0.1.0
 */
export * as SimulatorConfig from "./SimulatorConfig.js"

/**
 * @since 0.1.0
 */
export * as VirtualTime from "./VirtualTime.js"
