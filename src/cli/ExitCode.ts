/**
 * The command's exit codes: 0 every request succeeded; 1 bad options, or
 * the run could not start; 2 the run finished with failed requests; 130
 * interrupted (Ctrl-C, after the summary so far was printed).
 *
 * @since 0.2.0
 */
import * as Cause from "effect/Cause"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import { RequestsFailedError } from "./Commands.js"

/**
 * @since 0.2.0
 * @category exit codes
 */
export const of = (exit: Exit.Exit<unknown, unknown>): number => {
  if (Exit.isSuccess(exit)) return 0
  if (Cause.isInterruptedOnly(exit.cause)) return 130
  const failure = Cause.failureOption(exit.cause)
  return Option.isSome(failure) && failure.value instanceof RequestsFailedError ? 2 : 1
}
