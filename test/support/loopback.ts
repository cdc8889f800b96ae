import { Effect } from "effect"
import type * as Scope from "effect/Scope"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"

/**
 * A raw HTTP server on 127.0.0.1 answering each request, once its body is read, with `answer` (`index` counts the
 * requests from 0); closed, connections and all, with the scope. Its URL.
 */
export const rawServer = (
  answer: (request: IncomingMessage, response: ServerResponse, index: number) => void
): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<Server>((resume) => {
      let index = 0
      const server = createServer((request, response) => {
        request.resume()
        request.on("end", () => answer(request, response, index++))
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map((server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`))

/** A port on 127.0.0.1 that nothing listens on. */
export const closedPort: Effect.Effect<number> = Effect.async<number>((resume) => {
  const server = createServer()
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as AddressInfo
    server.close(() => resume(Effect.succeed(port)))
  })
})
