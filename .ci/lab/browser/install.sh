#!/bin/bash
# The browser tier of textback's tests (cmd/textback/browser_test.go) drives
# Debian's headless Chromium. This installs chromium (and a font, for
# screenshots that show text) when missing, and prints the binary's path:
#   export TEXTBACK_BROWSER=$(bash .ci/lab/browser/install.sh)
# Idempotent: prints the path at once when chromium is installed.
set -euo pipefail
BIN=/usr/bin/chromium
if [ -x "$BIN" ] && fc-list 2>/dev/null | grep -i dejavu >/dev/null; then
  echo "$BIN"; exit 0
fi
sudo=()
[ "$(id -u)" = 0 ] || { command -v sudo >/dev/null && sudo=(sudo -n); } ||
  { echo "chromium is not installed and this is not root: apt-get install chromium fonts-dejavu-core" >&2; exit 1; }
log=${LAB_STATE:-/var/tmp/textback-lab}/browser-apt.log
mkdir -p "$(dirname "$log")"
echo "installing chromium fonts-dejavu-core" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core >"$log" 2>&1 ||
  { "${sudo[@]}" apt-get update -q >>"$log" 2>&1 &&
    "${sudo[@]}" apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core >>"$log" 2>&1; } ||
  { echo "apt-get install chromium failed; see $log" >&2; exit 1; }
[ -x "$BIN" ] || { echo "chromium installed but $BIN is missing" >&2; exit 1; }
echo "$BIN"
