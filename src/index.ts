/**
 * claude-rate-limiter: keeps traffic to the Anthropic Claude API flowing under rate limits.
 *
 * @since 0.1.0
 */

/**
 * @since 0.2.0
 */
export * as Admission from "./Admission.js"

/**
 * @since 0.2.0
 */
export * as AdmissionStore from "./AdmissionStore.js"

/**
 * @since 0.2.0
 */
export * as AdmissionStoreRedis from "./AdmissionStoreRedis.js"

/**
 * @since 0.1.0
 */
export * as CircuitBreaker from "./CircuitBreaker.js"

/**
 * @since 0.1.0
 */
export * as ClaudeClient from "./ClaudeClient.js"

/**
 * @since 0.1.0
 */
export * as ClaudeError from "./ClaudeError.js"

/**
 * @since 0.2.0
 */
export * as ClaudeFetch from "./ClaudeFetch.js"

/**
 * @since 0.2.0
 */
export * as ClaudeHttpClient from "./ClaudeHttpClient.js"

/**
 * @since 0.2.0
 */
export * as MessageBatches from "./MessageBatches.js"

/**
 * @since 0.1.0
 */
export * as Messages from "./Messages.js"

/**
 * @since 0.2.0
 */
export * as MessageStream from "./MessageStream.js"

/**
 * @since 0.1.0
 */
export * as RateLimitHeaders from "./RateLimitHeaders.js"

/**
 * @since 0.1.0
 */
export * as RateLimitState from "./RateLimitState.js"

/**
 * @since 0.1.0
 */
export * as RetryPolicy from "./RetryPolicy.js"
