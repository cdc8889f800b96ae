#!/usr/bin/env node
// The command line runs on @effect/cli and @effect/platform-node, optional peer dependencies: library
// users need neither. Say what to install instead of failing on a missing module.
import { createRequire } from "node:module"

const require = createRequire(import.meta.url)
const missing = ["@effect/cli", "@effect/platform-node"].filter((name) => {
  try {
    require.resolve(`${name}/package.json`)
    return false
  } catch {
    return true
  }
})
if (missing.length > 0) {
  console.error(
    `claude-rate-limiter: the command line needs ${missing.join(" and ")} (optional peer dependencies of `
      + "the library); install the command line's stack with\n"
      + "  npm install @effect/cli@~0.77.2 @effect/platform-node@~0.108.2"
  )
  process.exit(1)
}
await import("../dist/cli/main.js")
