#!/usr/bin/env bash
# Headless Chromium for graphmem's `browser` tests (tests/test_ui.py), from Debian's packages:
# installed once per machine when it is missing (as root, or through sudo). The tests drive it
# with Playwright for Python (a dev dependency) and never download a browser of their own.
#
#   bash scripts/browser.sh           install Chromium unless $GRAPHMEM_CHROMIUM exists
#
# Env:
#   GRAPHMEM_CHROMIUM   the browser the tests launch (default /usr/bin/chromium)
set -euo pipefail

CHROMIUM=${GRAPHMEM_CHROMIUM:-/usr/bin/chromium}
if [[ -x $CHROMIUM ]]; then
  exit 0
fi
if [[ $CHROMIUM != /usr/bin/chromium ]]; then
  echo "error: GRAPHMEM_CHROMIUM=$CHROMIUM is not an executable" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "error: no $CHROMIUM and no apt-get to install it: install Chromium, set" \
       "GRAPHMEM_CHROMIUM to it, or skip the browser tests (GRAPHMEM_SKIP_BROWSER=1)" >&2
  exit 1
fi
SUDO=
if [[ $(id -u) != 0 ]]; then
  command -v sudo >/dev/null || { echo "error: installing Chromium needs root (or sudo)" >&2; exit 1; }
  SUDO=sudo
fi
echo "installing Chromium from Debian's packages (once per machine)..."
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium >/dev/null
"$CHROMIUM" --version
