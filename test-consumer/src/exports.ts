// Only what package.json `exports` lists is importable: internals stay internal.
// @ts-expect-error "./dist/internal/errorText.js" is not exported
import type * as _Internal from "claude-rate-limiter/dist/internal/errorText.js"

export type Internal = typeof _Internal
