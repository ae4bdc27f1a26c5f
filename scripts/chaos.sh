#!/usr/bin/env bash
# `npm run chaos [-- --messages N --faults N]`: the chaos suite (quick mode by default). See chaos/src/main.ts.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
prepare_machine
exec npx --no-install tsx chaos/src/main.ts "$@"
