/**
 * A turn of the event loop (a `setImmediate`), for long runs that otherwise never leave the microtask queue.
 *
 * Vitest's worker asks its runner for things over an RPC with a fixed 60 s timeout. A test that runs tens of
 * seconds of Effect fibers and fast-check cases without a macrotask leaves the runner's reply unread; once the loop
 * turns, the expired timer fires before the reply is read, and the run fails with `Timeout calling "onTaskUpdate"`
 * although every test passed. A property or loop of many cases calls `breathe` in each.
 */
import { Effect } from "effect"

export const breathe: Effect.Effect<void> = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})
