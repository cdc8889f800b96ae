import * as effectEslint from "@effect/eslint-plugin"
import js from "@eslint/js"
import tseslint from "typescript-eslint"

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
      "no-restricted-imports": ["error", {
        patterns: [{ group: ["**/scratchpad/**", "../scratchpad/*"], message: "scratchpad/ is never imported" }]
      }],
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
  {
    files: ["scratchpad/**"],
    rules: { "@typescript-eslint/no-unused-vars": "off" }
  }
)
