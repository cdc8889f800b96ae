import { Chunk, Deferred, Effect, Fiber, Stream } from "effect"

/**
 * Starts collecting the first `count` elements of `stream` and returns once
 * the subscription is live (its first element arrived), so nothing emitted
 * afterwards can be missed. Join the returned effect for the elements.
 */
export const collectFirst = <A>(stream: Stream.Stream<A>, count: number) =>
  Effect.gen(function*() {
    const subscribed = yield* Deferred.make<void>()
    const fiber = yield* stream.pipe(
      Stream.tap(() => Deferred.succeed(subscribed, undefined)),
      Stream.take(count),
      Stream.runCollect,
      Effect.fork
    )
    yield* Deferred.await(subscribed)
    return Effect.map(Fiber.join(fiber), Chunk.toArray)
  })
