#!/usr/bin/env bash
# `npm run demo`: installs what is missing, finds or starts Redis and Postgres, then runs the demo fleet.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
prepare_machine
exec npx --no-install tsx apps/demo/src/main.ts
