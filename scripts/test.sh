#!/usr/bin/env bash
# `npm test`: the whole suite on a fresh clone. Installs dependencies if missing, finds or starts Redis and Postgres,
# generates the Prisma client, type-checks, checks dependency direction, then runs jest (real Redis, real Postgres,
# the provider simulator through the real SDKs), then the chaos suite's quick mode. Arguments go to jest (and skip
# the chaos run), e.g. `npm test -- e2e/test/crash-safety`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

prepare_machine
say "type-checking"
npx --no-install tsc --noEmit -p tsconfig.json
say "checking dependency direction"
npx --no-install tsx scripts/check-deps.ts
say "running jest"
TEST_DATABASE_URL="$PG_ADMIN_URL" TEST_REDIS_URL="$REDIS_URL" npx --no-install jest "$@"
if [ $# -eq 0 ]; then
  say "running the chaos suite (quick mode)"
  TEST_DATABASE_URL="$PG_ADMIN_URL" npx --no-install tsx chaos/src/main.ts --quick
fi
