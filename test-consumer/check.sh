#!/usr/bin/env bash
# Type-checks test-consumer/src against claude-rate-limiter exactly as npm installs it: the tarball of
# `npm pack` (whose `prepare` builds dist) unpacked into test-consumer/node_modules, resolved by name
# through package.json `exports`, with skipLibCheck off. Dependencies (effect, @effect/platform, …)
# resolve from the repository's node_modules, one level up, as a user's would from their own.
# The README's example is extracted verbatim into src/readme-example.ts first.
set -euo pipefail
cd "$(dirname "$0")"

version=$(node -p 'require("../package.json").version')
rm -rf .pack node_modules/claude-rate-limiter src/readme-example.ts
mkdir -p .pack node_modules
(cd .. && npm pack --loglevel=warn --pack-destination test-consumer/.pack >/dev/null)
tar -xzf ".pack/claude-rate-limiter-${version}.tgz" -C .pack
mv .pack/package node_modules/claude-rate-limiter
rm -rf .pack

# the first ```ts block under "## Example"
awk '/^## Example/ { section = 1 } section && /^```ts/ { inside = 1; next } inside && /^```/ { exit } inside' \
  ../README.md > src/readme-example.ts
if [ ! -s src/readme-example.ts ]; then
  echo "no \`\`\`ts block found under '## Example' in README.md" >&2
  exit 1
fi

npx tsc -p tsconfig.json
echo "consumer type-check passed: $(ls src | tr '\n' ' ')"
