# Sourced by scripts/test: make sure a PostgreSQL server answers on 127.0.0.1:5432 and export
# AFINIDAD_TEST_POSTGRES_URL. Uses the one already running when there is one; otherwise installs
# Debian's postgresql, starts its cluster and sets a password for the postgres role.
pg_answers() {
  python3 - <<'PY'
import socket, sys
try:
    socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
except OSError:
    sys.exit(1)
PY
}

if ! pg_answers; then
  echo "ensure-postgres: nothing answers on 127.0.0.1:5432; installing and starting PostgreSQL" >&2
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq postgresql >/dev/null
  fi
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  if [ -z "$version" ]; then
    echo "ensure-postgres: no PostgreSQL cluster found after install" >&2
    return 1
  fi
  [ -d "/etc/postgresql/$version/main" ] || pg_createcluster "$version" main >/dev/null
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || pg_ctlcluster "$version" main start
  for _ in $(seq 1 30); do pg_answers && break; sleep 1; done
  su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null
fi
export AFINIDAD_TEST_POSTGRES_URL=${AFINIDAD_TEST_POSTGRES_URL:-postgresql://postgres:postgres@127.0.0.1:5432/postgres}
