#!/usr/bin/env bash
# Generates the Prisma client into packages/db/src/generated (works offline; see generate_client in lib.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
generate_client
