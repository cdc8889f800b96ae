#!/usr/bin/env node
/**
 * The `claude-rate-limiter` command (also `npm start`).
 *
 * Exit codes: see `ExitCode`.
 *
 * @since 0.1.0
 */
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { cli } from "./Commands.js"
import * as ExitCode from "./ExitCode.js"

cli(process.argv).pipe(
  Effect.provide(NodeContext.layer),
  // One clear line per failure; @effect/cli has already printed invalid arguments on stderr.
  Effect.tapErrorCause((cause) =>
    Cause.isInterruptedOnly(cause)
      ? Effect.void
      : Cause.failureOption(cause).pipe(
        (failure) =>
          failure._tag === "Some" && ValidationError.isValidationError(failure.value)
            ? Effect.void
            : failure._tag === "Some" && failure.value instanceof Error
            ? Console.error(`error: ${failure.value.message}`)
            : Console.error(Cause.pretty(cause))
      )
  ),
  // no pretty logger of runMain's own: the CLI installs exactly one, on stderr
  NodeRuntime.runMain({
    disableErrorReporting: true,
    disablePrettyLogger: true,
    teardown: (exit, onExit) => onExit(ExitCode.of(exit))
  })
)
