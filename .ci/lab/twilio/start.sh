#!/bin/bash
# Start the Twilio peer of textback's real-peer tests (sms/carrier, TEXTBACK_LAB_TWILIO=http://127.0.0.1:4010):
# Stoplight Prism 5.14.2 (the last release that runs on node 20) mocking Twilio's 2010-04-01 API from
# twilio-messages.json, Twilio's own OpenAPI spec cut down to the paths textback calls (trim-spec.py).
# Prism validates every request against the spec (path, Basic auth, form fields) and answers the
# spec's example; --errors turns an invalid request into a 4xx instead of a warning.
#   start.sh            env: PRISM_PORT (4010)
# Idempotent: returns at once when this Prism is already up. The first run installs Prism with
# `npm ci` (package-lock.json, the registry of this machine's npm config) into the state dir:
# $LAB_STATE/ci-twilio (LAB_STATE defaults to /var/tmp/textback-lab); later starts take about 2 s.
set -euo pipefail
D=$(cd "$(dirname "$0")" && pwd)
RUN=${LAB_STATE:-/var/tmp/textback-lab}/ci-twilio
PORT=${PRISM_PORT:-4010}
mkdir -p "$RUN"
alive() { local st; st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null); [ -n "$st" ] && [ "$st" != Z ]; }
listening() { ss -ltn "sport = :$PORT" | grep -q LISTEN; }
if [ -f "$RUN/prism.pid" ] && alive "$(cat "$RUN/prism.pid")" && listening && cmp -s "$D/twilio-messages.json" "$RUN/spec.json"; then
  echo "prism already up on http://127.0.0.1:$PORT"; exit 0
fi
"$D/stop.sh" >/dev/null 2>&1 || true
if [ ! -x "$RUN/node_modules/.bin/prism" ] || ! cmp -s "$D/package-lock.json" "$RUN/package-lock.json"; then
  command -v npm >/dev/null || { echo "need node 20 and npm for Prism 5.14.2" >&2; exit 1; }
  echo "installing @stoplight/prism-cli 5.14.2 into $RUN (npm ci)" >&2
  cp "$D/package.json" "$D/package-lock.json" "$RUN/"
  (cd "$RUN" && npm ci --no-audit --no-fund >"$RUN/npm-install.log" 2>&1) || { echo "npm ci failed; see $RUN/npm-install.log" >&2; exit 1; }
fi
if listening; then echo "prism: port $PORT is taken by another process" >&2; exit 1; fi
cp "$D/twilio-messages.json" "$RUN/spec.json"
t0=$(date +%s%N)
# Prism runs in a respawn loop, its own process group (stop.sh kills the
# group): a Prism that exits is logged with its status ("prism exited with
# 143": SIGTERM) and started again, so one death of the peer, whatever its
# cause, costs a test at most a few seconds of waiting.
: >"$RUN/prism.log"
setsid bash -c "while :; do \"\$0\" mock -h 127.0.0.1 -p $PORT --errors \"$RUN/spec.json\"; echo \"prism exited with \$? at \$(date -Is)\"; sleep 0.5; done" \
  "$RUN/node_modules/.bin/prism" </dev/null >>"$RUN/prism.log" 2>&1 &
echo $! > "$RUN/prism.pid"
for _ in $(seq 300); do listening && break; sleep 0.1; done
listening || { echo "prism is not listening; see $RUN/prism.log" >&2; exit 1; }
echo "prism up on http://127.0.0.1:$PORT in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
