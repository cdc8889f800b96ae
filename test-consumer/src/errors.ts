// What a user writes against the published declarations: every error of ClaudeClientError can be
// caught by its tag, its handler sees that class's own fields, and a tag that does not exist is an error.
import type { Messages } from "claude-rate-limiter"
import { ClaudeClient, ClaudeError } from "claude-rate-limiter"
import { Duration, Effect, Option } from "effect"

declare const call: Effect.Effect<Messages.Message, ClaudeClient.ClaudeClientError, ClaudeClient.ClaudeClient>

const response = (e: ClaudeError.ResponseError): string =>
  `${e._tag} ${e.status} ${e.errorType} ${Option.getOrElse(e.errorCode, () => "-")} ${e.message}`

export const rateLimit = call.pipe(Effect.catchTag("RateLimitError", (e) => Effect.succeed(response(e))))
export const spendLimit = call.pipe(Effect.catchTag("SpendLimitReachedError", (e) => Effect.succeed(e.errorCode)))
export const overloaded = call.pipe(Effect.catchTag("OverloadedError", (e) => Effect.succeed(e.rateLimits)))
export const api = call.pipe(Effect.catchTag("ApiError", (e) => Effect.succeed(e.status)))
export const gatewayTimeout = call.pipe(Effect.catchTag("GatewayTimeoutError", (e) => Effect.succeed(e.requestId)))
export const invalidRequest = call.pipe(Effect.catchTag("InvalidRequestError", (e) => Effect.succeed(e.message)))
export const authentication = call.pipe(Effect.catchTag("AuthenticationError", (e) => Effect.succeed(e.status)))
export const billing = call.pipe(Effect.catchTag("BillingError", (e) => Effect.succeed(e.status)))
export const permission = call.pipe(Effect.catchTag("PermissionError", (e) => Effect.succeed(e.status)))
export const notFound = call.pipe(Effect.catchTag("NotFoundError", (e) => Effect.succeed(e.status)))
export const conflict = call.pipe(Effect.catchTag("ConflictError", (e) => Effect.succeed(e.status)))
export const tooLarge = call.pipe(Effect.catchTag("RequestTooLargeError", (e) => Effect.succeed(e.errorType)))
export const unknownApi = call.pipe(Effect.catchTag("UnknownApiError", (e) => Effect.succeed(e.errorType)))
export const malformed = call.pipe(Effect.catchTag("MalformedResponseError", (e) => Effect.succeed(e.body)))
export const timeout = call.pipe(Effect.catchTag("TimeoutError", (e) => Effect.succeed(e.timeout)))
export const connection = call.pipe(Effect.catchTag("ConnectionError", (e) => Effect.succeed(e.cause)))
export const validation = call.pipe(
  Effect.catchTag("RequestValidationError", (e) => Effect.succeed(e.issues.map((issue) => issue.path)))
)
export const circuitOpen = call.pipe(Effect.catchTag("CircuitOpenError", (e) => Effect.succeed(e.remaining)))
export const maxRetries = call.pipe(
  Effect.catchTag("MaxRetriesExceededError", (e) => Effect.succeed(`${e.attempts} ${e.lastError._tag}`))
)
export const waitTooLong = call.pipe(
  Effect.catchTag("RetryWaitTooLongError", (e) => Effect.succeed(`${e.rule} ${e.lastError._tag}`))
)

export const budgetWait = call.pipe(
  Effect.catchTag("BudgetWaitTooLongError", (e) => Effect.succeed(`${e.pool} ${e.reason}`))
)
export const exceedsLimit = call.pipe(
  Effect.catchTag("RequestExceedsLimitError", (e) => Effect.succeed(`${e.bucket} ${e.cost} > ${e.limit}`))
)
export const spendHold = call.pipe(
  Effect.catchTag("SpendLimitHoldError", (e) => Effect.succeed(`${e.pool} ${Duration.format(e.remaining)}`))
)
export const store = call.pipe(Effect.catchTag("AdmissionStoreError", (e) => Effect.succeed(e.cause)))
export const retryBudget = call.pipe(
  Effect.catchTag("RetryBudgetExhaustedError", (e) => Effect.succeed(`${e.attempts} ${e.lastError._tag}`))
)

// catching one tag removes exactly that error from the channel
export const narrowed: Effect.Effect<
  Messages.Message | string,
  Exclude<ClaudeClient.ClaudeClientError, ClaudeError.RateLimitError>,
  ClaudeClient.ClaudeClient
> = rateLimit

// catchTags with every tag leaves nothing: if ClaudeClientError gains a member, this stops compiling
export const everything: Effect.Effect<unknown, never, ClaudeClient.ClaudeClient> = call.pipe(
  Effect.catchTags({
    RateLimitError: (e) => Effect.succeed(response(e)),
    SpendLimitReachedError: (e) => Effect.succeed(response(e)),
    OverloadedError: (e) => Effect.succeed(response(e)),
    ApiError: (e) => Effect.succeed(response(e)),
    GatewayTimeoutError: (e) => Effect.succeed(response(e)),
    InvalidRequestError: (e) => Effect.succeed(response(e)),
    AuthenticationError: (e) => Effect.succeed(response(e)),
    BillingError: (e) => Effect.succeed(response(e)),
    PermissionError: (e) => Effect.succeed(response(e)),
    NotFoundError: (e) => Effect.succeed(response(e)),
    ConflictError: (e) => Effect.succeed(response(e)),
    RequestTooLargeError: (e) => Effect.succeed(response(e)),
    UnknownApiError: (e) => Effect.succeed(response(e)),
    MalformedResponseError: (e) => Effect.succeed(e.body),
    TimeoutError: (e) => Effect.succeed(e.timeout),
    ConnectionError: (e) => Effect.succeed(e.message),
    RequestValidationError: (e) => Effect.succeed(e.issues),
    CircuitOpenError: (e) => Effect.succeed(e.state),
    MaxRetriesExceededError: (e) => Effect.succeed(e.attempts),
    RetryWaitTooLongError: (e) => Effect.succeed(e.wait),
    BudgetWaitTooLongError: (e) => Effect.succeed(e.predictedWait),
    RequestExceedsLimitError: (e) => Effect.succeed(e.limit),
    SpendLimitHoldError: (e) => Effect.succeed(e.remaining),
    AdmissionStoreError: (e) => Effect.succeed(e.message),
    RetryBudgetExhaustedError: (e) => Effect.succeed(e.attempts)
  })
)

// a tag that does not exist is a type error
// @ts-expect-error "RateLimitErorr" is not a tag of ClaudeClientError
export const typo = call.pipe(Effect.catchTag("RateLimitErorr", () => Effect.void))

export const typoInCatchTags = call.pipe(
  // @ts-expect-error "Overloaded" is not a tag of ClaudeClientError
  Effect.catchTags({ Overloaded: () => Effect.void })
)

// the classification table and the predicates, from the outside
export const retryable: boolean = ClaudeError.isRetryable(
  new ClaudeError.TimeoutError({ timeout: Duration.seconds(1), message: "slow" })
)
export const row: ClaudeError.Classification<"RateLimitError"> = ClaudeError.classification.RateLimitError
export const spend: boolean = ClaudeError.isSpendLimitCode("contract_spend_limit_reached")

// the layer's error channel names an invalid base URL
export const layerError: (e: ClaudeError.InvalidBaseUrlError) => string = (e) => `${e._tag} ${e.baseUrl} ${e.reason}`
export const clientLayer = ClaudeClient.layer
