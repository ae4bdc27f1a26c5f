#!/usr/bin/env bash
# Shows the send-protocol holes of issue 6 failing on the code before the fix (7b19af1): each test asserts the
# fixed behaviour, so on the old code every one of them fails, for its hole's reason. Run from the repository root:
#   bash docs/evidence/holes-before-fix.sh
# It checks the old commit out into a scratch worktree, keeps its test databases apart (nudge_oldmain_*: the old
# harness would otherwise drop every nudge_test_* database on this server), runs the file, and removes the worktree.
set -euo pipefail
root=$(git rev-parse --show-toplevel)
dir=$(mktemp -d /tmp/nudge-oldmain.XXXXXX)
trap 'git -C "$root" worktree remove --force "$dir" >/dev/null 2>&1 || true' EXIT
git -C "$root" worktree add -q --detach "$dir" 7b19af1
cd "$dir"
git apply "$root/docs/evidence/holes-before-fix-testing.patch"
cp "$root/docs/evidence/holes-before-fix.test.ts.txt" packages/db/test/holes-before-fix.test.ts
npm install --no-audit --no-fund --loglevel=error >/dev/null   # 7b19af1's lock lacks other platforms' packages: no npm ci
bash scripts/prisma-generate.sh
TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/postgres}" TEST_REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379}" \
  npx --no-install jest packages/db/test/holes-before-fix.test.ts || true
