#!/usr/bin/env bash
# Local Neo4j 5.x Community server for graphmem, without Docker:
# Neo4j's own in-process server (org.neo4j.test:neo4j-harness) run by a tiny Java launcher
# (scripts/neo4j-launcher, built once with Maven into scripts/neo4j-launcher/target).
#
#   bash scripts/neo4j.sh start|stop|status      (status exits 3 when not running)
#
# Connection defaults (shared with the Python code):
#   URI      bolt://127.0.0.1:7687
#   user     neo4j
#   password graphmem-local      (override with GRAPHMEM_NEO4J_PASSWORD)
# Other env:
#   GRAPHMEM_NEO4J_BOLT_PORT  Bolt port (default 7687)
#   GRAPHMEM_NEO4J_HTTP_PORT  HTTP port (default 7474; 0 disables HTTP)
#   GRAPHMEM_NEO4J_HOME       store, log and pid file (default ~/.cache/graphmem/neo4j-data)
#   GRAPHMEM_NEO4J_START_TIMEOUT  seconds to wait for Bolt (default 120)
#   GRAPHMEM_NEO4J_JAVA_OPTS  JVM options (default "-Xms256m -Xmx1g"; adding
#                             -XX:TieredStopAtLevel=1 starts ~30% faster, runs queries slower)
# Data does NOT persist across restarts: every start begins with a fresh, empty store.
set -euo pipefail
# shellcheck source=scripts/service.sh
source "$(dirname "${BASH_SOURCE[0]}")/service.sh"

LAUNCHER_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/neo4j-launcher
TARGET=$LAUNCHER_DIR/target
NEO4J_HOME_DIR=${GRAPHMEM_NEO4J_HOME:-$HOME/.cache/graphmem/neo4j-data}
PID_FILE=$NEO4J_HOME_DIR/neo4j.pid
LOG_FILE=$NEO4J_HOME_DIR/neo4j.log
BOLT_PORT=${GRAPHMEM_NEO4J_BOLT_PORT:-7687}
HTTP_PORT=${GRAPHMEM_NEO4J_HTTP_PORT:-7474}
START_TIMEOUT=${GRAPHMEM_NEO4J_START_TIMEOUT:-120}
JAVA_OPTS=${GRAPHMEM_NEO4J_JAVA_OPTS:--Xms256m -Xmx1g}
export GRAPHMEM_NEO4J_PASSWORD=${GRAPHMEM_NEO4J_PASSWORD:-graphmem-local}
MAIN_CLASS=graphmem.neo4j.Launcher

# Prints the pid of our running server; fails if there is none.
running_pid() { service_pid "$PID_FILE" "$MAIN_CLASS"; }

bolt_answers() { (exec 3<>"/dev/tcp/127.0.0.1/$BOLT_PORT") 2>/dev/null; }

# Builds the launcher unless target/ is up to date and every classpath jar is still there.
build() {
  local cp=$TARGET/classpath.txt jar
  if [[ -f $cp && $cp -nt $LAUNCHER_DIR/pom.xml && -f $TARGET/classes/${MAIN_CLASS//.//}.class ]] &&
     ! find "$LAUNCHER_DIR/src" -newer "$cp" -type f | grep -q .; then
    local ok=1
    while IFS= read -r jar; do [[ -f $jar ]] || { ok=0; break; }; done < <(tr ':' '\n' <"$cp")
    ((ok)) && return 0
  fi
  echo "building neo4j launcher (the first build downloads jars from Maven Central)..."
  (cd "$LAUNCHER_DIR" && mvn -q -B package)
  touch "$cp"  # build-classpath leaves an unchanged file alone; mark the build as fresh
}

start() {
  local pid deadline
  if pid=$(running_pid); then echo "neo4j already running (pid $pid)"; return 0; fi
  if bolt_answers; then
    echo "error: port $BOLT_PORT is already in use by another process" >&2; return 1
  fi
  build
  mkdir -p "$NEO4J_HOME_DIR"
  rm -rf "$NEO4J_HOME_DIR/db"  # leftover store of an unclean stop
  : >"$LOG_FILE"
  # setsid: own session and process group, so `stop` can signal the whole group.
  # shellcheck disable=SC2086  # JAVA_OPTS is a word list
  setsid java $JAVA_OPTS -XX:+ExitOnOutOfMemoryError \
    -cp "$TARGET/classes:$(<"$TARGET/classpath.txt")" "$MAIN_CLASS" \
    "$NEO4J_HOME_DIR/db" "$BOLT_PORT" "$HTTP_PORT" >"$LOG_FILE" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$PID_FILE"
  deadline=$((SECONDS + START_TIMEOUT))
  until grep -q GRAPHMEM_NEO4J_READY "$LOG_FILE" && bolt_answers; do
    if ! kill -0 "$pid" 2>/dev/null || ((SECONDS >= deadline)); then
      echo "error: neo4j did not come up on bolt://127.0.0.1:$BOLT_PORT within ${START_TIMEOUT}s" \
           "(or it exited); last lines of $LOG_FILE:" >&2
      tail -n 40 "$LOG_FILE" >&2 || true
      stop >/dev/null 2>&1 || true
      return 1
    fi
    sleep 0.5
  done
  echo "neo4j started (pid $pid) on bolt://127.0.0.1:$BOLT_PORT (log: $LOG_FILE)"
}

stop() {
  local pid
  if ! pid=$(running_pid); then
    rm -f "$PID_FILE"; echo "neo4j not running"; return 0
  fi
  service_stop "neo4j" "$pid" 60
  rm -f "$PID_FILE"
  rm -rf "$NEO4J_HOME_DIR/db"
  echo "neo4j stopped (pid $pid)"
}

status() {
  local pid
  if pid=$(running_pid); then
    echo "neo4j running (pid $pid) on bolt://127.0.0.1:$BOLT_PORT"
  else
    echo "neo4j not running"; return 3
  fi
}

case "${1:-}" in
  start | stop | status) "$1" ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
