/**
 * The client itself: each endpoint's parameters checked and encoded before
 * any budget is spent, turned into a call of the pipeline (pool, cost, lane,
 * deadline, span attributes), and its answer decoded.
 *
 * @internal
 */
import * as Headers from "@effect/platform/Headers"
import * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Admission from "../Admission.js"
import * as CircuitBreaker from "../CircuitBreaker.js"
import type * as Api from "../ClaudeClient.js"
import * as ClaudeError from "../ClaudeError.js"
import * as MessageBatches from "../MessageBatches.js"
import * as Messages from "../Messages.js"
import * as BodyDecoder from "./bodyDecoder.js"
import * as ClientConfig from "./clientConfig.js"
import * as ErrorText from "./errorText.js"
import * as Pipeline from "./pipeline.js"
import * as SecretHeaders from "./secretHeaders.js"

/** @internal */
export const TypeId: Api.TypeId = Symbol.for("claude-rate-limiter/ClaudeClient") as Api.TypeId

const messagesPath = "/v1/messages"
const countTokensPath = "/v1/messages/count_tokens"
const countTokensPool = "count_tokens"
const batchesPath = "/v1/messages/batches"
const batchesPool = "message_batches"

// Hostile or broken parameters (a BigInt, a cycle, a throwing getter, nesting deeper than the stack) are a
// RequestValidationError, never a defect: nothing is sent.
const bodyEncoder = <A, I>(schema: Schema.Schema<A, I>) => {
  const encode = Schema.encodeUnknownEither(schema, Messages.encodeOptions)
  return (params: A): Either.Either<string, ClaudeError.RequestValidationError> => {
    try {
      return Either.match(encode(params), {
        onLeft: (error) => Either.left(ClaudeError.requestValidationError(error)),
        onRight: (encoded) => Either.right(JSON.stringify(encoded))
      })
    } catch (reason) {
      return Either.left(ClaudeError.requestValidationError({ reason }))
    }
  }
}

const encodeCreateParams = bodyEncoder(Messages.CreateMessageParams)

const streamRefused = new ClaudeError.RequestValidationError({
  message: "Invalid request parameters (nothing was sent): stream: createMessage reads one message; "
    + "use streamMessage for a stream",
  issues: [{ path: "stream", message: "createMessage reads one message; use streamMessage for a stream" }]
})
const encodeCountParams = bodyEncoder(Messages.CountTokensParams)
const encodeBatchParams = bodyEncoder(MessageBatches.CreateBatchParams)

const decodeMessage = BodyDecoder.json(Messages.Message)
const decodeTokenCount = BodyDecoder.json(Messages.TokenCount)
const decodeBatch = BodyDecoder.json(MessageBatches.MessageBatch)
// the results endpoint answers JSON Lines, one result a line
const decodeBatchResults = BodyDecoder.jsonLines(MessageBatches.BatchResult)

/** @internal */
export const make = (
  options: Api.Options
): Effect.Effect<Api.ClaudeClient, ClaudeError.InvalidBaseUrlError, Api.Dependencies> =>
  Effect.gen(function*() {
    const baseUrl = yield* Either.mapLeft(
      ClientConfig.parseBaseUrl(options.baseUrl ?? ClientConfig.defaultBaseUrl),
      // the key given as the base URL by mistake (two variables swapped) is not repeated in the error
      (error) =>
        new ClaudeError.InvalidBaseUrlError({ ...error, baseUrl: ErrorText.scrub(error.baseUrl, [options.apiKey]) })
    )
    const admission = yield* Admission.Admission
    const breaker = yield* CircuitBreaker.CircuitBreaker
    const secrets = [options.apiKey]
    const timeout = Duration.decode(options.timeout ?? Duration.minutes(10))
    const poolOf = options.pool ?? Admission.modelPool
    const estimateOutputTokens = options.estimateOutputTokens
    // the key is added last, under the tracing of the request: no span or error of the HTTP client holds it
    const http = SecretHeaders.make(yield* HttpClient.HttpClient, { "x-api-key": options.apiKey }).pipe(
      HttpClient.withTracerPropagation(options.tracePropagation ?? false)
    )
    // every request's URL prefix and headers, built once
    const headers = Headers.fromInput({
      "anthropic-version": options.anthropicVersion ?? ClientConfig.defaultAnthropicVersion,
      "content-type": "application/json",
      accept: "application/json",
      ...(options.betas && options.betas.length > 0 ? { "anthropic-beta": options.betas.join(",") } : {})
    })
    const post = (path: string, body: string) =>
      HttpClientRequest.post(baseUrl + path, {
        headers,
        body: HttpBody.text(body, "application/json")
      })
    const get = (path: string) => HttpClientRequest.get(baseUrl + path, { headers })

    const pipeline = Pipeline.make({ http, admission, breaker, timeout, retry: options.retry ?? {}, secrets })

    const messageCall = (
      name: string,
      params: Messages.CreateMessageParams,
      body: string,
      callOptions?: Api.CallOptions
    ) => {
      const pool = poolOf(params.model)
      const inputTokens = Messages.estimateInputTokens(params)
      const outputEstimate = estimateOutputTokens === undefined
        ? admission.outputEstimate(pool, params.max_tokens)
        : Effect.sync(() => Math.max(0, Math.min(params.max_tokens, estimateOutputTokens(params))))
      return Effect.map(outputEstimate, (outputTokens): Pipeline.Call => ({
        name,
        request: post(messagesPath, body),
        pool,
        cost: { requests: 1, inputTokens, outputTokens, tokens: inputTokens + outputTokens },
        lane: callOptions?.lane,
        deadline: callOptions?.deadline,
        attributes: {
          "gen_ai.system": "anthropic",
          "gen_ai.operation.name": "chat",
          "gen_ai.request.model": params.model,
          "gen_ai.request.max_tokens": params.max_tokens
        }
      }))
    }

    // Parameters the API would reject with a 400 are rejected here, before any budget is spent.
    const createMessage = (params: Messages.CreateMessageParams, callOptions?: Api.CallOptions) =>
      Effect.suspend(() => params.stream === true ? Either.left(streamRefused) : encodeCreateParams(params)).pipe(
        Effect.flatMap((body) => messageCall("ClaudeClient.createMessage", params, body, callOptions)),
        Effect.flatMap((call) => pipeline.call(call, decodeMessage, (message) => message.usage))
      )

    const streamMessage = (params: Messages.CreateMessageParams, callOptions?: Api.CallOptions) =>
      Stream.unwrap(
        Effect.suspend(() => encodeCreateParams({ ...params, stream: true })).pipe(
          Effect.flatMap((body) => messageCall("ClaudeClient.streamMessage", params, body, callOptions)),
          Effect.map((call) =>
            pipeline.stream({
              ...call,
              request: call.request.pipe(HttpClientRequest.setHeader("accept", "text/event-stream"))
            })
          )
        )
      )

    const countTokens = (params: Messages.CountTokensParams, callOptions?: Api.CallOptions) =>
      Effect.flatMap(
        Effect.suspend(() => encodeCountParams(params)),
        (body) =>
          pipeline.call(
            {
              name: "ClaudeClient.countTokens",
              request: post(countTokensPath, body),
              pool: countTokensPool,
              cost: { requests: 1 },
              lane: callOptions?.lane,
              deadline: callOptions?.deadline
            },
            decodeTokenCount,
            () => undefined
          )
      )

    const batchCall = (name: string, request: HttpClientRequest.HttpClientRequest, callOptions?: Api.CallOptions) => ({
      name,
      request,
      pool: batchesPool,
      cost: { requests: 1 },
      lane: callOptions?.lane,
      deadline: callOptions?.deadline
    })

    const createBatch = (params: MessageBatches.CreateBatchParams, callOptions?: Api.CallOptions) =>
      Effect.flatMap(
        Effect.suspend(() => encodeBatchParams(params)),
        (body) =>
          pipeline.call(
            batchCall(
              "ClaudeClient.createBatch",
              post(batchesPath, body),
              callOptions
            ),
            decodeBatch,
            () => undefined
          )
      )

    const retrieveBatch = (id: string, callOptions?: Api.CallOptions) =>
      pipeline.call(
        batchCall(
          "ClaudeClient.retrieveBatch",
          get(`${batchesPath}/${encodeURIComponent(id)}`),
          callOptions
        ),
        decodeBatch,
        () => undefined
      )

    const batchResults = (id: string, callOptions?: Api.CallOptions) =>
      pipeline.call(
        batchCall(
          "ClaudeClient.batchResults",
          get(`${batchesPath}/${encodeURIComponent(id)}/results`),
          callOptions
        ),
        decodeBatchResults,
        () => undefined
      )

    const client: Api.ClaudeClient = {
      [TypeId]: TypeId,
      createMessage,
      streamMessage,
      countTokens,
      createBatch,
      retrieveBatch,
      batchResults
    }
    return client
  })
