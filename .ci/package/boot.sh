#!/usr/bin/env bash
# Boot a clean Debian 12 with systemd as its PID 1 and take the textback
# .deb through what an admin does with it: dpkg -i (the service starts),
# systemctl status / reload / stop, the watchdog, journalctl; then edit
# /etc/textback/textback.yaml to watch the lab's Asterisk and send through
# the lab's Kannel, and see a real missed call texted.
#
#   bash .ci/package/boot.sh [PKGDIR]     default: $LAB_STATE/package
#
# The machine is systemd-nspawn --boot on $LAB_STATE/bookworm-boot (made once:
# a copy of verify.sh's bookworm-root, or its own debootstrap), booted with
# --volatile=overlay: every run starts from the same clean root and leaves it
# untouched. It shares the host's network (the lab's Asterisk and Kannel are
# on the host's loopback), so textback's ports 8380 and 8381 must be free.
# Needs root. Exits non-zero on the first failed check, naming it.
set -euo pipefail
export PATH="$PATH:/usr/local/go/bin"
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
LAB_STATE=${LAB_STATE:-/var/tmp/textback-lab}
pkgdir=$(cd "${1:-$LAB_STATE/package}" && pwd)
R=$LAB_STATE/bookworm-boot
LOGS=$LAB_STATE/boot-logs
KANNEL_MT=$LAB_STATE/ci-kannel/fakesmsc-mt.log
started=$(date +%s)

log() { printf '[boot %(%T)T] %s\n' -1 "$*" >&2; }
fail() { log "FAIL: $*"; [ -n "${init:-}" ] && in_box journalctl -u textback --no-pager 2>/dev/null | tail -n 20 >&2; exit 1; }
ok() { log "ok: $*"; }
# grep -q quits at the first match; under pipefail the writer's SIGPIPE would
# then fail the pipeline. has reads all its input.
has() { grep "$@" >/dev/null; }
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

[ "$(id -u)" = 0 ] || fail "boot.sh needs root (systemd-nspawn)"
deb=$(ls "$pkgdir"/textback_*.deb 2>/dev/null | head -n1) || true
[ -n "$deb" ] || fail "no textback_*.deb in $pkgdir: run .ci/package/build.sh first"
want_version=$(cat "$pkgdir/VERSION" 2>/dev/null || true)
mkdir -p "$LOGS"
command -v systemd-nspawn >/dev/null || {
	log "installing systemd-container (systemd-nspawn) on the host"
	apt-get install -y -qq -o DPkg::Lock::Timeout=300 systemd-container >"$LOGS/apt.log" 2>&1 ||
		{ apt-get update -qq && apt-get install -y -qq -o DPkg::Lock::Timeout=300 systemd-container >>"$LOGS/apt.log" 2>&1; } ||
		fail "apt-get install systemd-container: see $LOGS/apt.log"
}

# one boot.sh at a time (whatever this script starts must not inherit the
# lock: 8>&-)
exec 8>"$LAB_STATE/boot.lock"
flock -w 300 8 || fail "another boot.sh holds $LAB_STATE/boot.lock"

# --- the machine's root, made once -------------------------------------------
INCLUDE=systemd,procps
if [ "$(cat "$R/.textback-boot" 2>/dev/null)" != "bookworm minbase $INCLUDE" ]; then
	rm -rf "$R.tmp"
	src=$LAB_STATE/bookworm-root
	if [ "$(cat "$src/.textback-root" 2>/dev/null)" = "bookworm minbase $INCLUDE" ]; then
		log "copying $src -> $R"
		# verify.sh installs into that root under this lock: copy it between runs
		( exec 9>"$LAB_STATE/bookworm-root.lock"; flock -w 300 9 && cp -a "$src" "$R.tmp" ) || fail "copy $src"
		chroot "$R.tmp" dpkg --purge textback >/dev/null 2>&1 || true
	else
		command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }
		mirror=${MIRROR:-$(grep -hsE '^(URIs:|deb[[:space:]])' /etc/apt/sources.list /etc/apt/sources.list.d/* |
			grep -oE 'https?://[^ ]*/debian/?' | grep -v security | head -n1 || true)}
		mirror=${mirror:-http://deb.debian.org/debian}
		log "debootstrap --variant=minbase --include=$INCLUDE bookworm -> $R ($mirror)"
		debootstrap --variant=minbase --include=$INCLUDE bookworm "$R.tmp" "$mirror" >"$LOGS/debootstrap.log" 2>&1 ||
			fail "debootstrap: see $LOGS/debootstrap.log"
	fi
	# a plain Debian 12: packages may start their services
	rm -f "$R.tmp/usr/sbin/policy-rc.d"
	echo textback-boot >"$R.tmp/etc/hostname"
	printf '127.0.0.1\tlocalhost\n127.0.1.1\ttextback-boot\n' >"$R.tmp/etc/hosts"
	: >"$R.tmp/etc/machine-id"
	rm -rf "$R.tmp/etc/textback" "$R.tmp/var/lib/textback" "$R.tmp/var/lib/private/textback" "$R.tmp/var/log/journal/"*
	echo "bookworm minbase $INCLUDE" >"$R.tmp/.textback-boot"
	rm -rf "$R" && mv "$R.tmp" "$R"
	log "root ready in $(($(date +%s) - started))s"
fi

# --- boot ----------------------------------------------------------------------
for port in 8380 8381; do
	! ss -Hltn "sport = :$port" | has . || fail "port $port is in use on the host; textback in the machine needs it (ss -ltnp 'sport = :$port')"
done
nspawn=""
init=""
shutdown() {
	[ -n "$nspawn" ] || return 0
	kill -TERM "$nspawn" 2>/dev/null || true # nspawn asks the machine to power off
	for _ in $(seq 100); do kill -0 "$nspawn" 2>/dev/null || return 0; sleep 0.1; done
	kill -KILL "$nspawn" 2>/dev/null || true
}
trap shutdown EXIT
t0=$(date +%s%N)
setsid systemd-nspawn --quiet --directory="$R" --machine=textback-boot --volatile=overlay \
	--register=no --keep-unit --console=pipe --bind-ro="$pkgdir:/mnt/package" \
	--boot </dev/null >"$LOGS/nspawn.log" 2>&1 8>&- &
nspawn=$!
for _ in $(seq 100); do
	init=$(pgrep -P "$nspawn" 2>/dev/null | head -n1 || true)
	[ -n "$init" ] && [ "$(cat "/proc/$init/comm" 2>/dev/null)" = systemd ] && break
	init=""
	kill -0 "$nspawn" 2>/dev/null || { cat "$LOGS/nspawn.log" >&2; fail "systemd-nspawn exited"; }
	sleep 0.1
done
[ -n "$init" ] || fail "no systemd in the machine after 10 s: $LOGS/nspawn.log"
in_box() { nsenter --target "$init" --all /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME=/root TERM=dumb SYSTEMD_PAGER= "$@"; }
# systemd's private socket appears a moment after it starts
for _ in $(seq 100); do [ -S "/proc/$init/root/run/systemd/private" ] && break; sleep 0.1; done
state=$(in_box timeout 60 systemctl is-system-running --wait 2>&1) || true
[ "$state" = running ] || { in_box systemctl --failed --no-pager >&2 || true; fail "the machine is $state, not running"; }
ok "booted Debian $(cat "$R/etc/debian_version") with $(in_box systemctl --version | head -n1) as PID 1 in $(ms "$t0") ms"

unit_prop() { in_box systemctl show textback --value -p "$1"; }
journal() { in_box journalctl -u textback --no-pager -o cat "$@"; }
wait_journal() { # PATTERN SECONDS: wait for a journal line of textback's matching PATTERN
	local i
	for i in $(seq $(($2 * 10))); do journal | has -E "$1" && return 0; sleep 0.1; done
	return 1
}

# --- dpkg -i: installed, enabled, started --------------------------------------
t0=$(date +%s%N)
in_box dpkg -i "/mnt/package/$(basename "$deb")" >"$LOGS/dpkg-i.log" 2>&1 || { cat "$LOGS/dpkg-i.log" >&2; fail "dpkg -i"; }
ok "dpkg -i $(basename "$deb") in $(ms "$t0") ms"
[ "$(in_box systemctl is-enabled textback)" = enabled ] || fail "textback.service is not enabled after dpkg -i"
[ "$(unit_prop ActiveState)" = active ] || fail "textback is $(unit_prop ActiveState) after dpkg -i, want active (postinst starts it)"
ok "enabled and active after dpkg -i"
t0=$(date +%s%N)
in_box systemctl restart textback || fail "systemctl restart textback"
ok "systemctl restart textback: active (READY=1 received) in $(ms "$t0") ms"
in_box systemctl status textback --no-pager >"$LOGS/status-default.out" 2>&1 || true
grep -q 'Status: "no PBX (pbx: none); console: ready"' "$LOGS/status-default.out" ||
	{ cat "$LOGS/status-default.out" >&2; fail "systemctl status does not show the STATUS line"; }
ok "systemctl status: $(grep -o 'Status: .*' "$LOGS/status-default.out")"
got=$(in_box textback version)
[ -z "$want_version" ] || [ "$got" = "textback $want_version" ] || fail "textback version says '$got', want 'textback $want_version'"
in_box textback status >"$LOGS/textback-status.out" 2>&1 || { cat "$LOGS/textback-status.out" >&2; fail "textback status"; }
head -n1 "$LOGS/textback-status.out" | has ': ready$' || { cat "$LOGS/textback-status.out" >&2; fail "textback status is not ready"; }
ok "textback status: $(head -n1 "$LOGS/textback-status.out")"
pid=$(unit_prop MainPID)
user=$(in_box ps -o user= -p "$pid")
[ "$user" != root ] || fail "textback runs as root"
rss=$(in_box awk '/^VmRSS/ {print $2}' "/proc/$pid/status") # the machine's PID namespace
ok "running as dynamic user $user, idle RSS $((rss / 1024)) MiB"
journal | has '^INF textback starting ' || { journal | tail -n 5 >&2; fail "journalctl -u textback: no readable 'INF textback starting' line"; }
ok "journalctl -u textback: $(journal | grep -m1 '^INF textback starting' | cut -c1-110)..."

# --- reload: good, then bad --------------------------------------------------------
conf=/proc/$init/root/etc/textback/textback.yaml
in_box systemctl reload textback || fail "systemctl reload textback"
wait_journal '^INF config reloaded' 10 || fail "no 'config reloaded' after systemctl reload"
cp "$conf" "$LOGS/textback.yaml.orig"
echo 'no_such_key: 1' >>"$conf"
in_box systemctl reload textback || fail "systemctl reload textback (bad config)"
wait_journal '^ERR reload rejected' 10 || fail "a bad config was not rejected on reload"
[ "$(unit_prop ActiveState)" = active ] && [ "$(unit_prop MainPID)" = "$pid" ] || fail "a rejected reload did not keep the daemon running"
cp "$LOGS/textback.yaml.orig" "$conf"
ok "systemctl reload: $(journal | grep -m1 '^INF config reloaded'); bad config: $(journal | grep -m1 '^ERR reload rejected' | cut -c1-90)..."

# --- the watchdog: pings, and a hung daemon is killed and restarted ---------------
mkdir -p "/proc/$init/root/etc/systemd/system/textback.service.d"
printf '[Service]\nWatchdogSec=2s\nRestartSec=1s\n' >"/proc/$init/root/etc/systemd/system/textback.service.d/watchdog-test.conf"
in_box systemctl daemon-reload
in_box systemctl restart textback || fail "restart with WatchdogSec=2s"
w1=$(unit_prop WatchdogTimestampMonotonic)
sleep 2.5
w2=$(unit_prop WatchdogTimestampMonotonic)
[ "$w2" -gt "$w1" ] || fail "no WATCHDOG=1 within 2.5 s under WatchdogSec=2s"
pid=$(unit_prop MainPID)
restarts=$(unit_prop NRestarts)
in_box kill -STOP "$pid"
t0=$(date +%s%N)
for _ in $(seq 100); do [ "$(unit_prop NRestarts)" -gt "$restarts" ] && [ "$(unit_prop ActiveState)" = active ] && break; sleep 0.1; done
[ "$(unit_prop NRestarts)" -gt "$restarts" ] || fail "a stopped (hung) daemon was not restarted by the watchdog"
in_box journalctl -u textback --no-pager | has 'Watchdog timeout' || fail "no 'Watchdog timeout' in the journal"
ok "watchdog: pings every <2 s; a hung daemon (SIGSTOP) killed and restarted in $(ms "$t0") ms (pid $pid -> $(unit_prop MainPID))"
rm -f "/proc/$init/root/etc/systemd/system/textback.service.d/watchdog-test.conf"
in_box systemctl daemon-reload

# --- stop ---------------------------------------------------------------------------
in_box systemctl restart textback || fail "systemctl restart textback"
t0=$(date +%s%N)
in_box systemctl stop textback || fail "systemctl stop textback"
took=$(ms "$t0")
[ "$(unit_prop Result)" = success ] && [ "$(unit_prop ExecMainStatus)" = 0 ] ||
	fail "systemctl stop: Result=$(unit_prop Result) status=$(unit_prop ExecMainStatus)"
journal | tail -n 6 | has '^INF textback stopping' || fail "no 'textback stopping' line at the stop"
ok "systemctl stop: clean (Result=success, exit 0) in $took ms"

# --- go live: edit the one config file ----------------------------------------------
# The lab's Asterisk 22 (ARI on 127.0.0.1:8088) and Kannel (sendsms on
# 127.0.0.1:13113, MT to a fake SMSC that logs each text): the config an
# admin writes from contrib/examples/asterisk-kannel.yaml, secrets as
# systemd credentials.
bash "$repo/.ci/lab/asterisk/lab.sh" start >"$LOGS/lab-asterisk.log" 2>&1 8>&- || { tail "$LOGS/lab-asterisk.log" >&2; fail "lab.sh start"; }
bash "$repo/.ci/lab/kannel/start.sh" >"$LOGS/lab-kannel.log" 2>&1 8>&- || { tail "$LOGS/lab-kannel.log" >&2; fail "kannel start.sh"; }
tag=boot$(od -An -N8 -tx1 /dev/urandom | tr -d " \n")
cat >"$conf" <<EOF
# textback, gone live (written by .ci/package/boot.sh)
state_dir: /var/lib/textback
pbx: asterisk
asterisk:
  url: http://127.0.0.1:8088
  username: lab
  password_file: ari-password
  app: textback-boot
  trunks: [carrier]
driver:
  type: carrier
  carrier:
    preset: kannel
    url: http://127.0.0.1:13113
    public_url: http://127.0.0.1:8380/carrier
    kannel:
      username: textback
      password_file: kannel-password
      webhook_token: $tag
lines:
  main:
    number: "+15555551010"
    aliases: ["5551010"]
    country: US
    business: Acme $tag
    template: "Sorry we missed your call to {{.Business}}. Reply STOP to opt out."
EOF
( umask 077; printf labpass >"/proc/$init/root/etc/textback/ari-password"; printf labsecret >"/proc/$init/root/etc/textback/kannel-password" )
mkdir -p "/proc/$init/root/etc/systemd/system/textback.service.d"
printf '[Service]\nLoadCredential=ari-password:/etc/textback/ari-password\nLoadCredential=kannel-password:/etc/textback/kannel-password\n' \
	>"/proc/$init/root/etc/systemd/system/textback.service.d/credentials.conf"
in_box systemctl daemon-reload
in_box textback check --pbx >"$LOGS/check-live.out" 2>&1 || { cat "$LOGS/check-live.out" >&2; fail "textback check --pbx on the live config"; }
ok "textback check --pbx: $(grep '^pbx ok' "$LOGS/check-live.out")"
t0=$(date +%s%N)
in_box systemctl start textback || fail "systemctl start textback (live config)"
ok "systemctl start textback (Asterisk + Kannel): active in $(ms "$t0") ms: $(unit_prop StatusText)"
unit_prop StatusText | has '^watching Asterisk ' || fail "STATUS does not say it watches Asterisk"

# A real missed call: the lab's carrier phone calls 5551010 (a ring group
# that gives up after 3 s). The lab's lock keeps other tiers' calls out.
exec 7>"$LAB_STATE/asterisk/test.lock"
flock -w 300 7 || fail "the Asterisk lab's test.lock is held by another tier"
mt_before=$(wc -l <"$KANNEL_MT" 2>/dev/null || echo 0)
t0=$(date +%s%N)
bash "$repo/.ci/lab/asterisk/lab.sh" ua carrier dial sip:5551010@127.0.10.1 >"$LOGS/dial.out" 2>&1 7>&- 8>&- || { cat "$LOGS/dial.out" >&2; fail "lab.sh ua carrier dial"; }
wait_journal '^INF text accepted' 30 || fail "no 'text accepted' in the journal within 30 s of the call"
for _ in $(seq 100); do tail -n "+$((mt_before + 1))" "$KANNEL_MT" | has "$tag" && break; sleep 0.1; done
tail -n "+$((mt_before + 1))" "$KANNEL_MT" | has "$tag" || fail "the text never reached Kannel's SMSC ($KANNEL_MT)"
ok "missed call texted in $(ms "$t0") ms from the dial: SMSC got $(tail -n "+$((mt_before + 1))" "$KANNEL_MT" | grep -m1 "$tag" | cut -c1-120)"
for _ in $(seq 100); do bash "$repo/.ci/lab/asterisk/lab.sh" cli 'core show channels count' 7>&- 8>&- | has '^0 active channels' && break; sleep 0.1; done
exec 7>&-
call=$(journal | sed -nE 's/^INF missed call .*call=([^ ]+).*/\1/p' | tail -n1)
[ -n "$call" ] || fail "no 'missed call' line in the journal"
journal | grep -F "call=$call" >"$LOGS/call.log"
log "journalctl -u textback | grep call=$call:"
sed 's/^/    /' "$LOGS/call.log" >&2

# The admin commands, with the daemon running (they ask it on admin.listen)
in_box textback calls -n 1 >"$LOGS/calls.out" 2>&1 || { cat "$LOGS/calls.out" >&2; fail "textback calls while the daemon runs"; }
has -F "$call" "$LOGS/calls.out" || { cat "$LOGS/calls.out" >&2; fail "textback calls does not list $call"; }
in_box textback explain "$call" >"$LOGS/explain.out" 2>&1 || { cat "$LOGS/explain.out" >&2; fail "textback explain $call while the daemon runs"; }
has 'texted: yes' "$LOGS/explain.out" || { cat "$LOGS/explain.out" >&2; fail "textback explain: not texted"; }
ok "while running: textback calls; explain $call: $(grep -m1 'text #1 to' "$LOGS/explain.out" | sed 's/^ *//')"
in_box textback optout add 555-765-4321 --note "boot.sh" >"$LOGS/optout.out" 2>&1 &&
	in_box textback optout show +15557654321 >>"$LOGS/optout.out" 2>&1 || { cat "$LOGS/optout.out" >&2; fail "textback optout add/show while the daemon runs"; }
has -E 'opted_out +admin' "$LOGS/optout.out" || { cat "$LOGS/optout.out" >&2; fail "optout show: no admin opt-out in the history"; }
journal | has 'INF consent .*source=admin' || fail "no consent line in the journal for the admin's opt-out"
ok "while running: $(head -n1 "$LOGS/optout.out")"
in_box textback ledger backup --out /root/textback-backup.db >"$LOGS/backup.out" 2>&1 || { cat "$LOGS/backup.out" >&2; fail "textback ledger backup while the daemon runs"; }
ok "while running: $(cat "$LOGS/backup.out")"
in_box textback ledger stats >"$LOGS/stats.out" 2>&1 || { cat "$LOGS/stats.out" >&2; fail "textback ledger stats while the daemon runs"; }
in_box textback ledger export --what consent --format csv >"$LOGS/consent.csv" 2>"$LOGS/export.err" || { cat "$LOGS/export.err" >&2; fail "textback ledger export while the daemon runs"; }
has -E '^[0-9]+,.*,\+15557654321,.*,opted_out,admin,boot\.sh,' "$LOGS/consent.csv" || { cat "$LOGS/consent.csv" >&2; fail "the consent export lacks the admin's opt-out"; }
ok "while running: ledger stats; ledger export --what consent: $(cat "$LOGS/export.err")"

in_box systemctl stop textback || fail "systemctl stop textback (live)"
[ "$(unit_prop Result)" = success ] || fail "systemctl stop (live): Result=$(unit_prop Result)"
ok "stopped clean"
log "all checks passed in $(($(date +%s) - started))s"
