#!/usr/bin/env bash
# Vendors the graph view's drawing library into the package: Cytoscape.js (MIT; its licence
# is the header of the file) from the npm registry, at a pinned version checked against the
# registry's published integrity hash. The result, graphmem/server/ui/cytoscape.min.js, is
# committed (an install from git or a wheel needs no npm), so run this only to change the
# version: edit VERSION and INTEGRITY (`npm view cytoscape@X dist.integrity`), run it, commit.
# Nothing is fetched when graphmem runs.
#
#   bash scripts/vendor_ui.sh          (needs npm, tar, python3)
set -euo pipefail

PACKAGE=cytoscape
VERSION=3.34.4
INTEGRITY=sha512-msY99tMY8iWTg+sIPGfSqDcPNOt4xcj+v/K/7qUFaCUxxlqnMkUYLBjRUzn9W5CU/R2hrmtJa5+UtovrEM2ctg==
FILE=dist/cytoscape.min.js

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEST=$ROOT/graphmem/server/ui/cytoscape.min.js
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

cd "$WORK"
npm pack --silent "$PACKAGE@$VERSION" >/dev/null
TARBALL=$PACKAGE-$VERSION.tgz
GOT=$(python3 -c 'import base64, hashlib, sys
print("sha512-" + base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' "$TARBALL")
if [ "$GOT" != "$INTEGRITY" ]; then
  echo "vendor_ui: $TARBALL does not match the pinned integrity hash" >&2
  echo "  expected $INTEGRITY" >&2
  echo "  got      $GOT" >&2
  exit 1
fi
tar -xzf "$TARBALL" "package/$FILE" package/package.json
grep -q "\"version\": \"$VERSION\"" package/package.json
grep -q "Copyright (c) .* The Cytoscape Consortium" "package/$FILE"  # the licence travels with it
cp "package/$FILE" "$DEST"
echo "vendored $PACKAGE $VERSION into ${DEST#"$ROOT"/} ($(wc -c <"$DEST") bytes)"
