#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on loopback for the tests.
#   .ci/postgres.sh          install (if needed) and start it; prints the URL
#   .ci/postgres.sh status   exit 0 if it is running
#   .ci/postgres.sh stop     stop it if it is running (the data directory stays for the next start)
# Idempotent: works on a fresh machine and on one where it already ran.
set -euo pipefail
PGROOT=${PGROOT:-/tmp/taskforce-pg}
PORT=${PGPORT:-55432}
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)

running() {
  [ -n "$BIN" ] && [ -f "$PGROOT/data/PG_VERSION" ] \
    && runuser -u postgres -- "$BIN/pg_ctl" -D "$PGROOT/data" status >/dev/null 2>&1
}

case "${1:-start}" in
  status)
    running
    exit
    ;;
  stop)
    if running; then
      runuser -u postgres -- "$BIN/pg_ctl" -D "$PGROOT/data" -m fast -w stop >&2
    fi
    exit 0
    ;;
  start) ;;
  *)
    echo "usage: $0 [start|status|stop]" >&2
    exit 2
    ;;
esac

if [ -z "$BIN" ] || [ ! -x "$BIN/initdb" ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >&2
  BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi
# initdb refuses root: the cluster belongs to the postgres user.
install -d -o postgres -g postgres -m 700 "$PGROOT"
if [ ! -f "$PGROOT/data/PG_VERSION" ]; then
  runuser -u postgres -- "$BIN/initdb" -D "$PGROOT/data" -U postgres -A trust -E UTF8 \
    --locale=C.UTF-8 --no-sync >&2
fi
if ! running; then
  runuser -u postgres -- "$BIN/pg_ctl" -D "$PGROOT/data" -l "$PGROOT/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -k $PGROOT -c fsync=off" start >&2
fi
runuser -u postgres -- psql -h 127.0.0.1 -p "$PORT" -U postgres -tAc \
  "SELECT 1 FROM pg_database WHERE datname='taskforce_test'" | grep -q 1 \
  || runuser -u postgres -- psql -h 127.0.0.1 -p "$PORT" -U postgres -qc "CREATE DATABASE taskforce_test" >&2
echo "postgresql+psycopg://postgres@127.0.0.1:$PORT/taskforce_test"
