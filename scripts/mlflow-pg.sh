#!/usr/bin/env bash
# Starts PostgreSQL (the Debian package's cluster) and a real `mlflow server` on
# it, MLflow's documented production setup: PostgreSQL backend store, two
# workers, proxied artifacts. Prints the variables the MLflow-on-PostgreSQL
# tests (host-uploader/tests/mlflow_pg.rs) and scripts/bench-mlflow-pg.sh read:
#
#   eval "$(bash scripts/mlflow-pg.sh PYTHON)"   # PYTHON: a venv with mlflow and psycopg2
#
# Safe to run again on one machine: a running cluster, an existing role or
# database and a server already answering are reused.
# Needs: postgresql (Debian), root or passwordless sudo to start the cluster
# and create the role. Binds 127.0.0.1 only.
set -euo pipefail
py=${1:?usage: mlflow-pg.sh PYTHON (with mlflow and psycopg2)}
port=${RUNLOG_MLFLOW_PG_PORT:-5931}
pgport=${RUNLOG_PG_PORT:-5432}
dir=${RUNLOG_MLFLOW_PG_DIR:-/tmp/runlog-mlflow-pg}
db=runlog_mlflow
dsn="postgresql://runlog:runlog@127.0.0.1:$pgport/$db"
log() { echo "mlflow-pg: $*" >&2; }
# Only the two export lines may reach stdout (the caller evals it): everything
# the tools print (pg_ctlcluster's "Removed stale pid file", psql notices) goes
# to stderr.
exec 3>&1 1>&2

# Closes every descriptor above 2 in the current (sub)shell. The servers
# started below outlive this script and are started as `( close_inherited;
# exec ... )`: one that kept fd 3 (the caller's `$(...)` pipe), or any other
# descriptor the caller's caller left open, would make them wait for the
# server's exit, forever (tests/tests/mlflow_pg_script.rs).
close_inherited() {
  local fd
  for fd in /proc/$BASHPID/fd/*; do
    fd=${fd##*/}
    if [ "$fd" -gt 2 ]; then eval "exec $fd>&-"; fi
  done
}

as_postgres() {
  if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$1"; else sudo -u postgres sh -c "$1"; fi
}

if ! pg_isready -q -h 127.0.0.1 -p "$pgport"; then
  ver=$(pg_lsclusters -h | awk 'NR==1 {print $1}')
  [ -n "$ver" ] || { log "no PostgreSQL cluster (apt-get install postgresql)"; exit 1; }
  log "starting PostgreSQL $ver"
  sudo=(); [ "$(id -u)" = 0 ] || sudo=(sudo)
  (close_inherited; exec "${sudo[@]}" pg_ctlcluster "$ver" main start)
  for _ in $(seq 60); do pg_isready -q -h 127.0.0.1 -p "$pgport" && break; sleep 1; done
fi
pg_isready -q -h 127.0.0.1 -p "$pgport" || { log "PostgreSQL does not answer on $pgport"; exit 1; }

as_postgres "psql -p $pgport -tAc \"SELECT 1 FROM pg_roles WHERE rolname = 'runlog'\" | grep -q 1 ||
  psql -p $pgport -qc \"CREATE ROLE runlog LOGIN PASSWORD 'runlog'\""
as_postgres "psql -p $pgport -tAc \"SELECT 1 FROM pg_database WHERE datname = '$db'\" | grep -q 1 ||
  psql -p $pgport -qc 'CREATE DATABASE $db OWNER runlog'"

if ! curl -sf -m 5 "http://127.0.0.1:$port/health" >/dev/null; then
  mkdir -p "$dir/artifacts"
  log "starting mlflow server on 127.0.0.1:$port (log: $dir/mlflow.log)"
  # MLflow's SQLAlchemy picks psycopg (3) for postgresql://; psycopg2 is what
  # PyPI's psycopg2-binary gives, so the URI names it.
  (
    close_inherited
    exec setsid "$py" -m mlflow server --host 127.0.0.1 --port "$port" --workers 2 \
      --backend-store-uri "postgresql+psycopg2://runlog:runlog@127.0.0.1:$pgport/$db" \
      --serve-artifacts --artifacts-destination "$dir/artifacts"
  ) >"$dir/mlflow.log" 2>&1 </dev/null &
  # setsid made it a process group leader: `kill -- -$(cat mlflow.pid)` stops
  # the server and its workers.
  echo $! >"$dir/mlflow.pid"
  for _ in $(seq 300); do
    curl -sf -m 5 "http://127.0.0.1:$port/health" >/dev/null && break
    sleep 1
  done
  curl -sf -m 5 "http://127.0.0.1:$port/health" >/dev/null ||
    { log "mlflow server did not come up; see $dir/mlflow.log"; tail -20 "$dir/mlflow.log" >&2; exit 1; }
fi
echo "export RUNLOG_MLFLOW_PG_URI=http://127.0.0.1:$port" >&3
echo "export RUNLOG_MLFLOW_PG_DSN=$dsn" >&3
