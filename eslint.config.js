import * as effectEslint from "@effect/eslint-plugin"
import js from "@eslint/js"
import tseslint from "typescript-eslint"

const scratchpad = { group: ["**/scratchpad/**", "../scratchpad/*"], message: "scratchpad/ is never imported" }

export default tseslint.config(
  // test-consumer/src/readme-example.ts is the README's example, extracted verbatim by test-consumer/check.sh
  { ignores: ["dist/**", "node_modules/**", "coverage/**", "**/*.d.ts", "test-consumer/src/readme-example.ts"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  ...effectEslint.configs.dprint,
  {
    languageOptions: {
      globals: { console: "readonly", process: "readonly", URL: "readonly", Response: "readonly" }
    },
    rules: {
      "@typescript-eslint/no-explicit-any": "off",
      // Data.TaggedEnum<{ Closed: {} }> is effect's idiom for a case without fields
      "@typescript-eslint/no-empty-object-type": "off",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/array-type": ["error", { default: "generic", readonly: "generic" }],
      "no-restricted-imports": ["error", { patterns: [scratchpad] }],
      "@effect/dprint": ["error", {
        config: {
          indentWidth: 2,
          lineWidth: 120,
          semiColons: "asi",
          quoteStyle: "alwaysDouble",
          trailingCommas: "never",
          "arrowFunction.useParentheses": "force"
        }
      }]
    }
  },
  // The simulator wing keeps its own model of the rules, so it can catch the library's mistakes instead of sharing
  // them: the simulated API may take from the library only the public Messages schemas (to decode requests);
  // the workload runner and the CLI use the library only through its public modules, never src/internal.
  {
    files: ["src/simulator/api/**"],
    rules: {
      "no-restricted-imports": ["error", {
        patterns: [
          scratchpad,
          {
            regex:
              "^(\\.\\./)+(internal/|cli/|testing/|(CircuitBreaker|ClaudeClient|ClaudeError|RateLimitHeaders|RateLimitState|RetryPolicy|index)\\.js$)",
            message: "the simulated API imports nothing from the library but its public Messages module"
          },
          { regex: "^(\\.\\./)+workload/", message: "the simulated API knows nothing of the workloads run on it" }
        ]
      }]
    }
  },
  {
    files: ["src/simulator/workload/**", "src/cli/**"],
    rules: {
      "no-restricted-imports": ["error", {
        patterns: [
          scratchpad,
          {
            regex: "^\\.\\./.*internal/",
            message: "use the library and the simulated API through their public modules, never their internals"
          }
        ]
      }]
    }
  },
  {
    files: ["scratchpad/**"],
    rules: { "@typescript-eslint/no-unused-vars": "off" }
  }
)
