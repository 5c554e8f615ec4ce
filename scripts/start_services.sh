#!/usr/bin/env bash
# Start (or reuse) the servers of gradebot's distributed backend on this machine, for tests, benchmarks and a
# single-machine trial: Debian's redis-server (Celery broker) and PostgreSQL (store + nbgrader gradebook).
#
#   scripts/start_services.sh [start]      install what is missing (apt-get), start both, print the URLs
#   scripts/start_services.sh stop         stop both (data stays in the state dir)
#   scripts/start_services.sh restart-redis   stop redis (SHUTDOWN NOSAVE: no final snapshot) and start it again
#   scripts/start_services.sh kill-redis      SIGKILL redis (a crash), do not start it again
#   scripts/start_services.sh status       exit 0 if both answer
#
# Idempotent: a server that already answers on its port is left alone. Both listen on 127.0.0.1 only, on
# non-default ports, with their data under a state dir:
#   GRADEBOT_SERVICES_DIR (default /tmp/gradebot-services), GRADEBOT_REDIS_PORT (6390), GRADEBOT_PG_PORT (5440).
# Redis keeps an append-only file fsync'd on every write (appendfsync always), so a restart loses no queued job.
# On success the last lines are shell assignments to eval:
#   GRADEBOT_BROKER_URL=redis://127.0.0.1:6390/0
#   GRADEBOT_DB_URL=postgresql://gradebot:gradebot@127.0.0.1:5440/gradebot
# Runs as root (apt-get; PostgreSQL's initdb/pg_ctl run as the `postgres` user through runuser).
set -euo pipefail

STATE="${GRADEBOT_SERVICES_DIR:-/tmp/gradebot-services}"
REDIS_PORT="${GRADEBOT_REDIS_PORT:-6390}"
PG_PORT="${GRADEBOT_PG_PORT:-5440}"
PG_USER=gradebot
PG_PASSWORD=gradebot
PG_DB=gradebot
CMD="${1:-start}"

log() { echo "[start_services] $*" >&2; }
die() { echo "[start_services] ERROR: $*" >&2; exit 1; }

as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

ensure_packages() {
  local missing=()
  command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || missing+=(redis-server)
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "missing Debian packages ${missing[*]}: run as root or apt-get install -y ${missing[*]}"
  log "installing ${missing[*]} (apt-get)"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  # Debian's postinst may start the packaged default cluster/redis on the default ports; we do not use them
}

pg_bin() {
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)"
  [ -n "$d" ] || die "no PostgreSQL binaries under /usr/lib/postgresql/*/bin"
  echo "$d"
}

redis_up() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }

start_redis() {
  if redis_up; then log "redis already answers on 127.0.0.1:$REDIS_PORT"; return 0; fi
  mkdir -p "$STATE/redis"
  log "starting redis-server on 127.0.0.1:$REDIS_PORT (data $STATE/redis)"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --protected-mode yes \
    --dir "$STATE/redis" --appendonly yes --appendfsync always --save "" \
    --daemonize yes --pidfile "$STATE/redis/redis.pid" --logfile "$STATE/redis/redis.log" >&2 9>&-
  for _ in $(seq 1 100); do redis_up && return 0; sleep 0.1; done
  tail -n 20 "$STATE/redis/redis.log" >&2 || true
  die "redis-server did not answer on port $REDIS_PORT"
}

stop_redis() {
  if redis_up; then
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    for _ in $(seq 1 100); do redis_up || break; sleep 0.1; done
  fi
}

kill_redis() {
  local pid
  pid="$(cat "$STATE/redis/redis.pid" 2>/dev/null || true)"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$STATE/redis/redis.pid"
}

pg_up() { "$(pg_bin)/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" >/dev/null 2>&1; }

start_pg() {
  local bin data sock
  bin="$(pg_bin)"
  data="$STATE/pg/data"
  sock="$STATE/pg/sock"
  mkdir -p "$STATE"
  chmod 755 "$STATE"
  if [ ! -f "$data/PG_VERSION" ]; then
    log "initdb $data"
    mkdir -p "$STATE/pg" "$sock"
    [ "$(id -u)" -eq 0 ] && chown -R postgres:postgres "$STATE/pg"
    local pw
    pw="$(mktemp)"; echo "$PG_PASSWORD" > "$pw"; chmod 644 "$pw"
    as_postgres "$bin/initdb" -D "$data" -U postgres --pwfile="$pw" --auth-local=peer \
      --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$STATE/pg/initdb.log" 2>&1 \
      || { rm -f "$pw"; cat "$STATE/pg/initdb.log" >&2; die "initdb failed"; }
    rm -f "$pw"
  fi
  if pg_up; then
    log "postgresql already answers on 127.0.0.1:$PG_PORT"
  else
    log "starting postgresql on 127.0.0.1:$PG_PORT (data $data)"
    # fsync stays on (default): a committed submission survives a crash
    as_postgres "$bin/pg_ctl" -D "$data" -l "$STATE/pg/postgres.log" -w -t 60 start \
      -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $sock -c max_connections=200" >&2 9>&- \
      || { tail -n 30 "$STATE/pg/postgres.log" >&2; die "pg_ctl start failed"; }
  fi
  # role and database (idempotent), over the unix socket as the postgres superuser
  local psql=("$bin/psql" -h "$sock" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA)
  if [ "$(as_postgres "${psql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname='$PG_USER'")" != "1" ]; then
    # CREATEDB: tests and benchmarks make a fresh database per run
    as_postgres "${psql[@]}" -c "CREATE ROLE $PG_USER LOGIN CREATEDB PASSWORD '$PG_PASSWORD'" >&2
  fi
  if [ "$(as_postgres "${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname='$PG_DB'")" != "1" ]; then
    as_postgres "${psql[@]}" -c "CREATE DATABASE $PG_DB OWNER $PG_USER" >&2
  fi
}

stop_pg() {
  local data="$STATE/pg/data"
  if [ -f "$data/postmaster.pid" ]; then
    as_postgres "$(pg_bin)/pg_ctl" -D "$data" -m fast -w stop >&2 || true
  fi
}

print_urls() {
  echo "GRADEBOT_BROKER_URL=redis://127.0.0.1:$REDIS_PORT/0"
  echo "GRADEBOT_DB_URL=postgresql://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB"
}

case "$CMD" in
  start)
    ensure_packages
    mkdir -p "$STATE"
    # two callers at once: the second waits, then finds both running (the servers must not inherit fd 9)
    exec 9>"$STATE/.lock"; flock 9
    start_redis
    start_pg
    print_urls
    ;;
  stop)
    stop_redis
    stop_pg
    ;;
  restart-redis)
    stop_redis
    start_redis
    print_urls
    ;;
  kill-redis)
    kill_redis
    ;;
  status)
    redis_up && pg_up
    ;;
  *)
    die "unknown command $CMD: use start | stop | restart-redis | kill-redis | status"
    ;;
esac
