# Shared by scripts/neo4j.sh and scripts/llm.sh (sourced): a local server started in the
# background, known by its pid file.

# The pid in $1 (a pid file) if that process runs and its command line holds $2 (so a pid
# reused by another process is not taken for the server); fails otherwise.
service_pid() {
  local pid
  [[ -f $1 ]] || return 1
  pid=$(<"$1")
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  grep -qa -- "$2" "/proc/$pid/cmdline" 2>/dev/null || return 1
  echo "$pid"
}

# Stop process group $2 of the server named $1: TERM, up to $3 seconds for a clean shutdown,
# then KILL.
service_stop() {
  local name=$1 pid=$2 seconds=$3 i
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < seconds * 2; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "$name (pid $pid) did not stop in ${seconds}s; killing it" >&2
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
  fi
}
