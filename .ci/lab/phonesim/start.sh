#!/bin/bash
# Start the phonesim peer of textback's real-peer modem tests (sms/modem,
# TEXTBACK_LAB_PHONESIM=<tty>): ofono-phonesim (Debian sid, in a sid chroot),
# headless (Qt offscreen platform; -gui is needed for the SMS-injection D-Bus
# API, served by a private session dbus-daemon), and a socat bridge exposing
# it as a pseudo serial port. Every open of the tty is a fresh simulated
# modem (like re-plugging it); socat -x logs every byte to $RUN/socat.log.
#
#   usage: start.sh [--pin-locked]     (--pin-locked: the SIM needs PIN 2468)
#   env:   LAB_STATE   (/var/tmp/textback-lab) state: $LAB_STATE/phonesim
#          PHONESIM_LOCK_HELD=1 the caller holds $LAB_STATE/phonesim/test.lock
#          SID_CHROOT  ($LAB_STATE/sid-chroot) provisioned when missing (~45 s)
#          GSM_TTY     (/tmp/ttyGSM0) the pty link the tests open
#          PHONESIM_PORT (12345)
#
# Installs the host packages it needs when missing (as root: socat, and
# python3-gammu for decode-sent.py). Idempotent: returns at once when the
# peer is already up in the same mode; restarts it when the mode (plain /
# --pin-locked) differs. Prints the tty.
# Nothing is written next to this script; sid packages never go on the host.
set -euo pipefail
D=$(cd "$(dirname "$0")" && pwd)
STATE=${LAB_STATE:-/var/tmp/textback-lab}
C=${SID_CHROOT:-$STATE/sid-chroot}
PORT=${PHONESIM_PORT:-12345}
TTY=${GSM_TTY:-/tmp/ttyGSM0}
RUN=$STATE/phonesim
mkdir -p "$RUN"
MODE=plain
CFG=phonesim.xml
case "${1:-}" in
  --pin-locked) MODE=pin; CFG=phonesim-pin.xml ;;
  "") ;;
  *) echo "usage: $0 [--pin-locked]" >&2; exit 2 ;;
esac

# Host packages (bookworm): socat for the pty; python3-gammu (libgammu) for
# decode-sent.py, the tests' independent decode of what was really sent.
host_pkg() { # package, then the check that it is there
  local pkg=$1; shift
  "$@" >/dev/null 2>&1 && return 0
  [ "$(id -u)" = 0 ] || { echo "need $pkg on the host: apt-get install $pkg" >&2; exit 1; }
  echo "installing $pkg on the host" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$pkg" >>"$RUN/apt.log" 2>&1 ||
    { apt-get update -q >>"$RUN/apt.log" 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$pkg" >>"$RUN/apt.log" 2>&1; } ||
    { echo "apt-get install $pkg failed; see $RUN/apt.log" >&2; exit 1; }
  "$@" >/dev/null 2>&1 || { echo "$pkg installed but not usable; see $RUN/apt.log" >&2; exit 1; }
}
host_pkg socat command -v socat
host_pkg python3-gammu /usr/bin/python3 -c 'import gammu'

alive() { local st; st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null); [ -n "$st" ] && [ "$st" != Z ]; }
up() {
  local n
  for n in dbus phonesim socat-loop; do [ -f "$RUN/$n.pid" ] && alive "$(cat "$RUN/$n.pid")" || return 1; done
  ss -ltn "sport = :$PORT" | grep -q LISTEN && [ -e "$TTY" ]
}
# A restart (a dead peer, another mode) waits for the test holding the lab's
# lock (sms/modem and cmd/textback tiers; one may have the SIM PIN-locked).
# Tests that restart it themselves hold the lock and say so.
if [ "${PHONESIM_LOCK_HELD:-}" != 1 ] && ! { up && [ "$(cat "$RUN/mode" 2>/dev/null)" = "$MODE" ]; }; then
  exec env PHONESIM_LOCK_HELD=1 flock -o "$RUN/test.lock" bash "$0" "$@"
fi
if up; then
  if [ "$(cat "$RUN/mode" 2>/dev/null)" = "$MODE" ]; then
    echo "phonesim already up ($CFG), tty $TTY"; exit 0
  fi
  "$D/stop.sh" >/dev/null
fi
"$D/stop.sh" >/dev/null 2>&1 || true   # leftovers of a half-dead peer

if [ ! -x "$C/usr/bin/ofono-phonesim" ] || [ ! -x "$C/usr/bin/dbus-daemon" ]; then
  echo "provisioning the sid chroot $C (about 45 s; log $RUN/provision.log)" >&2
  SID_CHROOT=$C bash "$D/provision.sh" >"$RUN/provision.log" 2>&1 ||
    { tail -n 20 "$RUN/provision.log" >&2; echo "provisioning failed; see $RUN/provision.log" >&2; exit 1; }
fi

python3 "$D/mkconfig.py" "$D/default.xml.orig" "$RUN/phonesim.xml" >/dev/null   # also writes phonesim-pin.xml
mountpoint -q "$C/proc" || mount -t proc proc "$C/proc"
mkdir -p "$C/opt/peers/scripts"
cp "$RUN/$CFG" "$C/opt/peers/phonesim.xml"
rm -f "$C/run/phonesim-dbus.sock"
t0=$(date +%s%N)
setsid chroot "$C" dbus-daemon --session --address=unix:path=/run/phonesim-dbus.sock \
  --nofork --nopidfile </dev/null >"$RUN/dbus.log" 2>&1 &
echo $! >"$RUN/dbus.pid"
for _ in $(seq 50); do [ -S "$C/run/phonesim-dbus.sock" ] && break; sleep 0.1; done
setsid chroot "$C" env -i PATH=/usr/bin:/bin HOME=/root XDG_RUNTIME_DIR=/tmp \
  DBUS_SESSION_BUS_ADDRESS=unix:path=/run/phonesim-dbus.sock QT_QPA_PLATFORM=offscreen \
  ofono-phonesim -gui -p "$PORT" /opt/peers/phonesim.xml </dev/null >"$RUN/phonesim.log" 2>&1 &
echo $! >"$RUN/phonesim.pid"
for _ in $(seq 100); do ss -ltn "sport = :$PORT" | grep -q LISTEN && break; sleep 0.1; done
ss -ltn "sport = :$PORT" | grep -q LISTEN || { echo "phonesim did not listen on :$PORT; see $RUN/phonesim.log" >&2; exit 1; }
# One phonesim TCP session per open of the pty (wait-slave), respawned after each close.
: >"$RUN/socat.log"
setsid bash -c "while :; do socat -d -x pty,link=$TTY,raw,echo=0,wait-slave tcp:127.0.0.1:$PORT; sleep 0.1; done" \
  </dev/null >>"$RUN/socat.log" 2>&1 &
echo $! >"$RUN/socat-loop.pid"
for _ in $(seq 50); do [ -e "$TTY" ] && break; sleep 0.1; done
[ -e "$TTY" ] || { echo "socat made no $TTY; see $RUN/socat.log" >&2; exit 1; }
echo "$MODE" >"$RUN/mode"
echo "phonesim up ($CFG) on 127.0.0.1:$PORT, tty $TTY, byte log $RUN/socat.log, in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
