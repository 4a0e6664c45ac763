#!/bin/bash
# Start the Kannel peer of textback's real-peer tests (sms/carrier, TEXTBACK_LAB_KANNEL=1):
# bearerbox, a fakesmsc that receives every MT, and smsbox, all on loopback (ports in kannel.conf).
# Idempotent: returns at once when the peer is already up. Installs the bookworm packages
# kannel and kannel-extras (fakesmsc) when they are missing.
# State (generated config, logs, pid files, fakesmsc's MT log) goes to $LAB_STATE/ci-kannel
# (LAB_STATE defaults to /var/tmp/textback-lab); nothing is written next to this script.
set -euo pipefail
D=$(cd "$(dirname "$0")" && pwd)
RUN=${LAB_STATE:-/var/tmp/textback-lab}/ci-kannel
FAKESMSC=/usr/lib/kannel/test/fakesmsc
STATUS="http://127.0.0.1:13100/status.txt?password=statuspw"
mkdir -p "$RUN"

install_kannel() {
  local sudo=()
  [ "$(id -u)" = 0 ] || { command -v sudo >/dev/null && sudo=(sudo -n); } ||
    { echo "kannel is not installed and this is not root: apt-get install kannel kannel-extras" >&2; exit 1; }
  # keep the packages from starting the system's own bearerbox
  local policy=/usr/sbin/policy-rc.d made=""
  if [ ! -e $policy ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee $policy >/dev/null; "${sudo[@]}" chmod 755 $policy; made=1
  fi
  echo "installing kannel kannel-extras (bookworm)" >&2
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get install -y -q --no-install-recommends kannel kannel-extras >"$RUN/apt.log" 2>&1 ||
    { "${sudo[@]}" apt-get update -q >>"$RUN/apt.log" 2>&1 &&
      "${sudo[@]}" apt-get install -y -q --no-install-recommends kannel kannel-extras >>"$RUN/apt.log" 2>&1; } ||
    { [ -n "$made" ] && "${sudo[@]}" rm -f $policy; echo "apt-get install kannel kannel-extras failed; see $RUN/apt.log" >&2; exit 1; }
  if [ -n "$made" ]; then "${sudo[@]}" rm -f $policy; fi
}
[ -x /usr/sbin/bearerbox ] && [ -x /usr/sbin/smsbox ] && [ -x $FAKESMSC ] || install_kannel

alive() { local st; st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null); [ -n "$st" ] && [ "$st" != Z ]; }
up() { # every process alive, FAKE online and smsbox connected
  local n s
  for n in bearerbox fakesmsc smsbox; do [ -f "$RUN/$n.pid" ] && alive "$(cat "$RUN/$n.pid")" || return 1; done
  s=$(curl -s --max-time 2 "$STATUS") || return 1
  echo "$s" | grep -q "FAKE\[FAKE\].*online" && echo "$s" | grep -q "smsbox:"
}
if up; then echo "kannel already up: sendsms http://127.0.0.1:13113/cgi-bin/sendsms"; exit 0; fi
"$D/stop.sh" >/dev/null 2>&1 || true   # leftovers of a half-started peer

waitport() { for _ in $(seq 100); do ss -ltn "sport = :$1" | grep -q LISTEN && return 0; sleep 0.1; done; echo "kannel: port $1 not up; see $RUN" >&2; return 1; }
for p in 13100 13101 13113 10100 10101; do
  if ss -ltn "sport = :$p" | grep -q LISTEN; then echo "kannel: port $p is taken by another process" >&2; exit 1; fi
done
t0=$(date +%s%N)
sed "s|@RUN@|$RUN|g" "$D/kannel.conf" > "$RUN/kannel.conf"
: > "$RUN/fakesmsc-mt.log"
setsid /usr/sbin/bearerbox -v 1 "$RUN/kannel.conf" </dev/null >"$RUN/bearerbox.out" 2>&1 & echo $! > "$RUN/bearerbox.pid"
waitport 13101; waitport 10100; waitport 10101
# MT sink: prints "Got message N: <from> <to> <type> <text>" for each MT routed to FAKE.
# -m 0 with a dummy message: never send, receive until killed.
setsid $FAKESMSC -H 127.0.0.1 -r 10100 -m 0 "0 0 text unused" </dev/null >"$RUN/fakesmsc-mt.log" 2>&1 & echo $! > "$RUN/fakesmsc.pid"
setsid /usr/sbin/smsbox -v 1 "$RUN/kannel.conf" </dev/null >"$RUN/smsbox.out" 2>&1 & echo $! > "$RUN/smsbox.pid"
waitport 13113
for _ in $(seq 100); do up && break; sleep 0.1; done
up || { echo "kannel did not come up; see $RUN/*.log" >&2; exit 1; }
echo "kannel up in $(( ($(date +%s%N) - t0) / 1000000 )) ms: sendsms http://127.0.0.1:13113/cgi-bin/sendsms, webhooks -> 127.0.0.1:18181"
