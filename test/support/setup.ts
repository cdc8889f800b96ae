// Every test starts on a fresh turn of the event loop, so that a file of long synchronous or microtask-only
// tests never keeps vitest's RPC replies unread for its 60 s timeout (see eventLoop.ts).
import { beforeEach } from "vitest"

beforeEach(() => new Promise<void>((resolve) => setImmediate(resolve)))
