/**
 * The naive handler: catch a 429, sleep one second, try again, at most five
 * times. Any other error (a 529, a 500, a lost connection) goes straight to
 * the caller. No headers read.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Strategy from "./strategy.js"

export const maxRetries = 5

export const policy: Strategy.Policy = {
  name: "naive",
  retryDelay: (failure, retry) =>
    Effect.succeed(
      failure.status === 429 && retry <= maxRetries ? Option.some(Duration.seconds(1)) : Option.none()
    )
}
