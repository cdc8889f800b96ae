/**
 * Where the client sends and how it is configured: the defaults, the check
 * of a base URL, and the options read from the environment
 * (`ANTHROPIC_API_KEY`, `ANTHROPIC_BASE_URL`, `ANTHROPIC_MAX_RETRIES`,
 * `ANTHROPIC_TIMEOUT_MS`).
 *
 * @internal
 */
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type * as ClaudeClient from "../ClaudeClient.js"
import * as ClaudeError from "../ClaudeError.js"

/** @internal */
export const defaultBaseUrl = "https://api.anthropic.com"

/** @internal */
export const defaultAnthropicVersion = "2023-06-01"

/** @internal */
export const parseBaseUrl = (baseUrl: string): Either.Either<string, ClaudeError.InvalidBaseUrlError> => {
  const invalid = (reason: string) =>
    Either.left(new ClaudeError.InvalidBaseUrlError({ baseUrl: ClaudeError.excerpt(baseUrl), reason }))
  let url: URL
  try {
    url = new URL(baseUrl.trim())
  } catch {
    return invalid("not an absolute URL (e.g. https://api.anthropic.com)")
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return invalid(`${url.protocol} is not http: or https:`)
  if (url.username !== "" || url.password !== "") return invalid("credentials in the URL are not sent")
  if (url.search !== "" || url.hash !== "") return invalid("a query or fragment cannot prefix a path")
  return Either.right(url.href.replace(/\/+$/, ""))
}

/** @internal */
export const config: Config.Config<ClaudeClient.Options> = Config.all({
  apiKey: Config.redacted("ANTHROPIC_API_KEY"),
  // blank means unset, as in the official SDK; anything else must be a valid base URL
  baseUrl: Config.option(Config.string("ANTHROPIC_BASE_URL")).pipe(
    Config.mapOrFail((value) =>
      Option.match(Option.filter(value, (url) => url.trim() !== ""), {
        onNone: () => Either.right(Option.none<string>()),
        onSome: (url) =>
          Either.mapBoth(parseBaseUrl(url), {
            onLeft: (error) => ConfigError.InvalidData(["ANTHROPIC_BASE_URL"], `not a valid base URL: ${error.reason}`),
            onRight: () => Option.some(url)
          })
      })
    )
  ),
  maxRetries: Config.option(
    Config.integer("ANTHROPIC_MAX_RETRIES").pipe(Config.validate({
      message: "must be 0 or more",
      validation: (n) => n >= 0
    }))
  ),
  timeoutMs: Config.option(
    Config.integer("ANTHROPIC_TIMEOUT_MS").pipe(Config.validate({
      message: "must be positive",
      validation: (n) => n > 0
    }))
  )
}).pipe(Config.map(({ apiKey, baseUrl, maxRetries, timeoutMs }) => ({
  apiKey,
  baseUrl: Option.getOrUndefined(baseUrl),
  retry: Option.match(maxRetries, { onNone: () => ({}), onSome: (n) => ({ maxRetries: n }) }),
  timeout: Option.getOrUndefined(Option.map(timeoutMs, Duration.millis))
})))
