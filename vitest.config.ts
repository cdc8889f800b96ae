import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    setupFiles: ["test/support/setup.ts"],
    // Real-time tests (loopback server, Redis) get a generous bound; virtual-time tests finish in milliseconds.
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Under CI the same `npm test` also writes a JSON report, from which .ci/run prints "N passed, N failed".
    reporters: process.env.CI ? ["default", ["json", { outputFile: ".vitest-results.json" }]] : ["default"]
  }
})
