# Shared by the scripts in this folder: find or start Redis and Postgres, install dependencies, generate the client.
# Sourced, not run.

: "${REDIS_URL:=redis://127.0.0.1:6379}"
: "${PG_ADMIN_URL:=postgresql://postgres@127.0.0.1:5432/postgres}"

say() { printf '\033[1mnudge:\033[0m %s\n' "$*" >&2; }

redis_up() { node -e '
  const u = new URL(process.argv[1]); const s = require("net").connect(+(u.port || 6379), u.hostname);
  s.setTimeout(1000, () => process.exit(1)); s.on("error", () => process.exit(1));
  s.on("connect", () => s.write("PING\r\n")); s.on("data", (d) => process.exit(String(d).includes("PONG") ? 0 : 1));' "$REDIS_URL"; }

postgres_up() { node -e '
  const u = new URL(process.argv[1]); const s = require("net").connect(+(u.port || 5432), u.hostname);
  s.setTimeout(1000, () => process.exit(1)); s.on("error", () => process.exit(1)); s.on("connect", () => process.exit(0));' "$PG_ADMIN_URL"; }

wait_for() { # name check-fn
  for _ in $(seq 1 60); do "$2" && return 0; sleep 0.5; done
  say "$1 did not come up"; return 1
}

is_local() { case "$1" in *127.0.0.1*|*localhost*) return 0;; *) return 1;; esac; }

# Starts local Redis/Postgres from this machine's binaries when they are not answering. Never installs anything:
# that is .ci/run's job (or yours: see the README).
ensure_services() {
  if ! redis_up; then
    if is_local "$REDIS_URL" && command -v redis-server >/dev/null; then
      say "starting redis-server (noeviction, appendonly)"
      mkdir -p /tmp/nudge-redis
      redis-server --daemonize yes --bind 127.0.0.1 --port "$(node -e 'console.log(new URL(process.argv[1]).port||6379)' "$REDIS_URL")" \
        --maxmemory-policy noeviction --appendonly yes --dir /tmp/nudge-redis --logfile /tmp/nudge-redis/redis.log >/dev/null
      wait_for Redis redis_up || return 1
    else
      say "Redis is not answering at $REDIS_URL. Start one (docker compose up -d redis, or install redis-server) or set REDIS_URL."
      return 1
    fi
  fi
  if ! postgres_up; then
    if is_local "$PG_ADMIN_URL" && command -v pg_ctlcluster >/dev/null && ls /etc/postgresql/*/main >/dev/null 2>&1; then
      say "starting PostgreSQL"
      pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start >/dev/null 2>&1 \
        || pg_ctlcluster "$(ls /etc/postgresql | sort -V | tail -1)" main start
      wait_for PostgreSQL postgres_up || return 1
    else
      say "PostgreSQL is not answering at $PG_ADMIN_URL. Start one (docker compose up -d postgres, or install postgresql) or set the URL."
      return 1
    fi
  fi
}

ensure_dependencies() {
  if [ ! -d node_modules/.bin ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    # `npm ci`, not `npm install`: it installs exactly what the lock says and never rewrites it, so a fresh clone
    # stays clean. That needs a complete lock, one that lists every platform's optional binaries (turbo's,
    # esbuild's, prisma's), not just this machine's; `npm install` would add the missing ones to the lock.
    # After changing a package.json, run `npm install` once and commit package-lock.json with it.
    say "installing dependencies (npm ci)"
    npm ci --no-audit --no-fund --loglevel=error
  fi
}

# Prisma's CLI wants its native schema engine even for `generate`, and downloads it on first use, which fails
# offline. `generate` with the prisma-client generator never runs the engine, so any executable will do.
generate_client() {
  local out
  if ! out=$(PRISMA_SCHEMA_ENGINE_BINARY="${PRISMA_SCHEMA_ENGINE_BINARY:-$(type -P true)}" npx --no-install prisma generate 2>&1); then
    printf '%s\n' "$out" >&2
    say "prisma generate failed"
    return 1
  fi
}

# What every entry point needs before it runs anything: dependencies, Redis and Postgres, the Prisma client.
prepare_machine() {
  ensure_dependencies
  ensure_services
  generate_client
}
