#!/usr/bin/env bash
# `npm run bench`: throughput, latency and memory of the reminder pipeline next to plain BullMQ, in one run on this
# machine (so the ratios hold even when the machine is noisy). Prints a table as it goes and, as its last line, one
# JSON object with every figure. Flags: --quick (smoke check, under a minute), --messages N, --appointments N, ...
# (see bench/src/bench-config.ts).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

prepare_machine
PG_ADMIN_URL="$PG_ADMIN_URL" REDIS_URL="$REDIS_URL" npx --no-install tsx bench/src/main.ts "$@"
