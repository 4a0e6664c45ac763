#!/usr/bin/env bash
# Install the textback .deb into a throwaway Debian 12 root and check it.
#
#   bash .ci/package/verify.sh [PKGDIR]     default: $LAB_STATE/package
#
# The root ($LAB_STATE/bookworm-root: debootstrap --variant=minbase bookworm
# plus systemd, for systemd-analyze, and procps) is made once and reused; each run starts
# by purging the previous textback from it. The .rpm is checked by its file
# list. Needs root (debootstrap, chroot, mount). Exits non-zero on the first
# failed check, naming it.
set -euo pipefail
export PATH="$PATH:/usr/local/go/bin"
here=$(cd "$(dirname "$0")" && pwd)
LAB_STATE=${LAB_STATE:-/var/tmp/textback-lab}
pkgdir=${1:-$LAB_STATE/package}
R=$LAB_STATE/bookworm-root
LOGS=$LAB_STATE/package-logs
started=$(date +%s)

log() { printf '[verify %(%T)T] %s\n' -1 "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }
ok() { log "ok: $*"; }
in_root() { chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME=/root TERM=dumb "$@"; }
is_mounted() { awk -v m="$1" '$2==m {f=1} END {exit !f}' /proc/mounts; }
host_mirror() {
	{ grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{for (i = 2; i <= NF; i++) print $i}'
	  grep -hsE '^deb[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | sed -E 's/\[[^]]*\]//' | awk '{print $2}'
	} | grep -v security | grep -m1 -E '/debian/?$' || true
}

[ "$(id -u)" = 0 ] || fail "verify.sh needs root (debootstrap, chroot, mount)"
deb=$(ls "$pkgdir"/textback_*.deb 2>/dev/null | head -n1) || true
rpm=$(ls "$pkgdir"/textback-*.rpm 2>/dev/null | head -n1) || true
[ -n "$deb" ] || fail "no textback_*.deb in $pkgdir: run .ci/package/build.sh first"
want_version=$(cat "$pkgdir/VERSION" 2>/dev/null || true)
mkdir -p "$LOGS"

# one verify.sh at a time in the root
exec 9>"$LAB_STATE/bookworm-root.lock"
flock -w 300 9 || fail "another verify.sh holds $LAB_STATE/bookworm-root.lock"

# --- the Debian 12 root --------------------------------------------------------
# systemd: systemd-analyze. procps: /bin/kill (the unit's ExecReload; the
# package depends on it; a standard Debian 12 install has it).
INCLUDE=systemd,procps
if [ "$(cat "$R/.textback-root" 2>/dev/null)" != "bookworm minbase $INCLUDE" ]; then
	mirror=${MIRROR:-$(host_mirror)}
	mirror=${mirror:-http://deb.debian.org/debian}
	command -v debootstrap >/dev/null || { log "installing debootstrap on the host"; apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }
	log "debootstrap --variant=minbase --include=$INCLUDE bookworm -> $R ($mirror; log: $LOGS/debootstrap.log)"
	rm -rf "$R.tmp"
	debootstrap --variant=minbase --include=$INCLUDE bookworm "$R.tmp" "$mirror" >"$LOGS/debootstrap.log" 2>&1 ||
		fail "debootstrap failed: see $LOGS/debootstrap.log"
	# never let maintainer scripts start daemons inside the root
	printf '#!/bin/sh\nexit 101\n' >"$R.tmp/usr/sbin/policy-rc.d"
	chmod +x "$R.tmp/usr/sbin/policy-rc.d"
	echo "bookworm minbase $INCLUDE" >"$R.tmp/.textback-root"
	is_mounted "$R/proc" && umount "$R/proc"
	rm -rf "$R" && mv "$R.tmp" "$R"
	log "root ready in $(($(date +%s) - started))s"
else
	log "reusing $R"
fi

cleanup() {
	is_mounted "$R/proc" && umount "$R/proc" || true
}
trap cleanup EXIT
is_mounted "$R/proc" || mount -t proc proc "$R/proc"

# a clean slate: no textback from an earlier run (purge drops the conffile too)
in_root dpkg --purge textback >/dev/null 2>&1 || true
rm -rf "$R/etc/textback" "$R/var/lib/textback" "$R/var/lib/private/textback" "$R/tmp/textback"*

# --- install -------------------------------------------------------------------
cp "$deb" "$R/tmp/textback.deb"
in_root dpkg -i /tmp/textback.deb >"$LOGS/dpkg-i.log" 2>&1 || { cat "$LOGS/dpkg-i.log" >&2; fail "dpkg -i $(basename "$deb")"; }
rm -f "$R/tmp/textback.deb"
ok "dpkg -i $(basename "$deb")"
in_root dpkg-query -W -f='${Status}\n' textback | grep -qx 'install ok installed' || fail "dpkg does not list textback as installed"

# --- files ---------------------------------------------------------------------
for f in /usr/bin/textback /lib/systemd/system/textback.service /etc/textback/textback.yaml \
	/usr/share/doc/textback/textback.example.yaml /usr/share/doc/textback/examples/modem.conf \
	/usr/share/doc/textback/README.md /usr/share/doc/textback/contrib/asterisk/ari.conf \
	/usr/share/doc/textback/contrib/freeswitch/event_socket.conf.xml /usr/share/doc/textback/contrib/carrier/twilio.yaml \
	/usr/share/doc/textback/contrib/udev/99-textback-modem.rules /usr/share/man/man1/textback.1.gz; do
	[ -f "$R$f" ] || fail "$f is not installed"
done
[ -x "$R/usr/bin/textback" ] || fail "/usr/bin/textback is not executable"
# the dynamic user reads the config: it must be world-readable
[ "$(stat -c %a "$R/etc/textback/textback.yaml")" = 644 ] || fail "/etc/textback/textback.yaml is mode $(stat -c %a "$R/etc/textback/textback.yaml"), want 644"
[ "$(stat -c %a "$R/etc/textback")" = 755 ] || fail "/etc/textback is mode $(stat -c %a "$R/etc/textback"), want 755"
zcat "$R/usr/share/man/man1/textback.1.gz" | sed -n 1p | grep -q '^\.TH TEXTBACK 1 ' || fail "/usr/share/man/man1/textback.1.gz is not textback(1)"
ok "files in place ($(in_root dpkg -L textback | wc -l) paths, textback(1) among them)"

conffiles=$(in_root dpkg-query -W -f='${Conffiles}\n' textback)
grep -q '^ /etc/textback/textback.yaml [0-9a-f]\{32\}$' <<<"$conffiles" || fail "/etc/textback/textback.yaml is not a conffile: $conffiles"
ok "conffile: $(echo $conffiles)"

grep -qx 'ExecStart=/usr/bin/textback run --config /etc/textback/textback.yaml' "$R/lib/systemd/system/textback.service" ||
	fail "the unit's ExecStart is not /usr/bin/textback: $(grep ExecStart= "$R/lib/systemd/system/textback.service")"
ok "unit: $(grep '^ExecStart=' "$R/lib/systemd/system/textback.service")"
# postinst enables it, as dh_installsystemd would (see scripts/deb-postinst.sh)
[ -L "$R/etc/systemd/system/multi-user.target.wants/textback.service" ] || fail "postinst did not enable textback.service"
ok "enabled: multi-user.target.wants/textback.service"

# --- the binary ----------------------------------------------------------------
got=$(in_root textback version) || fail "textback version failed"
if [ -n "$want_version" ]; then
	[ "$got" = "textback $want_version" ] || fail "textback version says '$got', want 'textback $want_version'"
else
	[[ $got =~ ^textback\ [^d] ]] || fail "textback version says '$got' (not stamped)"
fi
ok "$got"

in_root textback check --offline --config /etc/textback/textback.yaml >"$LOGS/check.out" 2>"$LOGS/check.err" ||
	{ cat "$LOGS/check.err" >&2; fail "textback check --offline on the installed config"; }
ok "textback check --offline: $(tail -n1 "$LOGS/check.err")"
# the shipped default must be demo-safe: no PBX, console driver, shadow mode
grep -qx 'pbx: none' "$LOGS/check.out" || fail "installed config: pbx is not none"
grep -A1 -x 'driver:' "$LOGS/check.out" | grep -qx '  type: console' || fail "installed config: driver is not console"
grep -qx '  shadow: true' "$LOGS/check.out" || fail "installed config: policy.shadow is not true"
ok "default config is demo-safe (pbx none, console driver, shadow)"

in_root sh -c 'cd /tmp && timeout 60 textback demo' >"$LOGS/demo.out" 2>&1 || { tail -n 20 "$LOGS/demo.out" >&2; fail "textback demo in the root"; }
ok "textback demo ($(wc -l <"$LOGS/demo.out") lines; last: $(tail -n1 "$LOGS/demo.out" | cut -c1-100))"

# What `systemctl start textback` does with the default config, short of
# systemd: run as the service would (ExecStart, StateDirectory made, a notify
# socket) and wait for READY=1.
if command -v python3 >/dev/null; then
	mkdir -p "$R/var/lib/textback" "$R/run/textback-verify"
	sock=$R/run/textback-verify/notify
	rm -f "$sock"
	python3 - "$sock" >"$LOGS/notify.out" 2>&1 <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(30)
try:
    while True:
        m = s.recv(4096).decode()
        print(m.replace("\n", " "), flush=True)
        if "READY=1" in m.split("\n"):
            break
except socket.timeout:
    print("timeout", flush=True)
PY
	listener=$!
	for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
	# in its own network namespace, so the admin listener (127.0.0.1:8381)
	# cannot collide with a textback on the host
	netns=(unshare -n sh -c 'ip link set lo up 2>/dev/null; exec "$@"' sh)
	unshare -n true 2>/dev/null || netns=()
	"${netns[@]}" chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 NOTIFY_SOCKET=/run/textback-verify/notify \
		textback run --config /etc/textback/textback.yaml >"$LOGS/run.out" 2>&1 &
	daemon=$!
	wait "$listener" || true
	kill -TERM "$daemon" 2>/dev/null || true
	wait "$daemon" || true
	rm -rf "$R/run/textback-verify" "$R/var/lib/textback"
	grep -q 'READY=1' "$LOGS/notify.out" || { cat "$LOGS/run.out" "$LOGS/notify.out" >&2; fail "textback run with the installed config did not send READY=1"; }
	ok "textback run with the installed config: $(tr '\n' ' ' <"$LOGS/notify.out")"
else
	log "skip: no python3 on the host for the READY=1 check"
fi

# --- the unit ------------------------------------------------------------------
in_root systemd-analyze verify /lib/systemd/system/textback.service >"$LOGS/verify.out" 2>&1 ||
	{ cat "$LOGS/verify.out" >&2; fail "systemd-analyze verify textback.service"; }
[ ! -s "$LOGS/verify.out" ] || { cat "$LOGS/verify.out" >&2; fail "systemd-analyze verify textback.service is not clean"; }
ok "systemd-analyze verify: clean ($(in_root systemd-analyze --version | head -n1))"

in_root systemd-analyze security --offline=true --threshold=20 /lib/systemd/system/textback.service >"$LOGS/security.out" 2>&1 ||
	{ tail -n 5 "$LOGS/security.out" >&2; fail "systemd-analyze security --offline=true"; }
exposure=$(sed -nE 's/.*Overall exposure level for textback.service: ([0-9.]+).*/\1/p' "$LOGS/security.out")
[ -n "$exposure" ] || { tail -n 5 "$LOGS/security.out" >&2; fail "no exposure figure from systemd-analyze security"; }
awk -v e="$exposure" 'BEGIN {exit !(e <= 2.0)}' || fail "systemd-analyze security exposure $exposure > 2.0"
ok "systemd-analyze security: exposure $exposure ($(grep -o 'Overall exposure level.*' "$LOGS/security.out" | sed 's/.*: [0-9.]* //'))"

# the modem drop-in too, on top of the unit
mkdir -p "$R/etc/systemd/system/textback.service.d"
cp "$R/usr/share/doc/textback/examples/modem.conf" "$R/etc/systemd/system/textback.service.d/modem.conf"
in_root systemd-analyze verify textback.service >"$LOGS/verify-modem.out" 2>&1 && [ ! -s "$LOGS/verify-modem.out" ] ||
	{ rm -rf "$R/etc/systemd/system/textback.service.d"; cat "$LOGS/verify-modem.out" >&2; fail "systemd-analyze verify with examples/modem.conf"; }
modem_exposure=$(in_root systemd-analyze security --offline=true --threshold=100 textback.service 2>&1 | sed -nE 's/.*Overall exposure level for textback.service: ([0-9.]+).*/\1/p')
rm -rf "$R/etc/systemd/system/textback.service.d"
ok "with examples/modem.conf: verify clean, exposure ${modem_exposure:-?}"

# --- reinstall over an edited config: the admin's edit stays, no prompt ----------
echo '# edited by verify.sh' >>"$R/etc/textback/textback.yaml"
cp "$deb" "$R/tmp/textback.deb"
in_root dpkg -i /tmp/textback.deb </dev/null >"$LOGS/dpkg-reinstall.log" 2>&1 || { cat "$LOGS/dpkg-reinstall.log" >&2; fail "dpkg -i over an installed textback"; }
rm -f "$R/tmp/textback.deb"
tail -n1 "$R/etc/textback/textback.yaml" | grep -qx '# edited by verify.sh' || fail "reinstalling replaced the edited /etc/textback/textback.yaml"
ok "reinstall keeps the edited config"

# --- remove and purge ------------------------------------------------------------
in_root dpkg -r textback >"$LOGS/dpkg-r.log" 2>&1 || { cat "$LOGS/dpkg-r.log" >&2; fail "dpkg -r textback"; }
[ ! -e "$R/usr/bin/textback" ] || fail "dpkg -r left /usr/bin/textback"
[ -f "$R/etc/textback/textback.yaml" ] || fail "dpkg -r removed the conffile (it should stay until purge)"
in_root dpkg --purge textback >"$LOGS/dpkg-purge.log" 2>&1 || { cat "$LOGS/dpkg-purge.log" >&2; fail "dpkg --purge textback"; }
[ ! -e "$R/etc/textback/textback.yaml" ] || fail "dpkg --purge left /etc/textback/textback.yaml"
[ ! -e "$R/etc/systemd/system/multi-user.target.wants/textback.service" ] || fail "dpkg --purge left the unit enabled"
ok "dpkg -r keeps the config, --purge removes it and the enablement"

# --- the .rpm --------------------------------------------------------------------
if [ -z "$rpm" ]; then
	fail "no textback-*.rpm in $pkgdir"
fi
want_rpm="/etc/textback/textback.yaml /usr/bin/textback /usr/share/man/man1/textback.1.gz /usr/lib/systemd/system/textback.service /usr/share/doc/textback/README.md /usr/share/doc/textback/contrib/asterisk/ari.conf /usr/share/doc/textback/examples/modem.conf /usr/share/doc/textback/textback.example.yaml"
if command -v rpm >/dev/null; then
	list=$(rpm -qpl "$rpm" 2>/dev/null) || fail "rpm -qpl $(basename "$rpm")"
	for f in $want_rpm; do grep -qx "$f" <<<"$list" || fail "the .rpm lacks $f"; done
	rpm -qpc "$rpm" 2>/dev/null | grep -qx /etc/textback/textback.yaml || fail "the .rpm does not mark /etc/textback/textback.yaml as config"
	ok "rpm -qpl: $(wc -l <<<"$list") paths, config marked"
elif command -v go >/dev/null; then
	# no rpm on a Debian host: read the header with .ci/package/tools/rpmls
	list=$(go -C "$here/tools" run ./rpmls "$rpm") || fail "rpmls $(basename "$rpm")"
	for f in $want_rpm; do grep -q "^$f " <<<"$list" || fail "the .rpm lacks $f"; done
	grep -qx '/etc/textback/textback.yaml 100644 config(noreplace)' <<<"$list" || fail "the .rpm does not mark /etc/textback/textback.yaml config(noreplace) 0644"
	ok "rpmls $(head -n1 <<<"$list" | cut -c3-): $(grep -vc '^#' <<<"$list") paths, textback.yaml config(noreplace)"
else
	log "skip: neither rpm nor go on the host: the .rpm's file list is not checked"
fi

log "all checks passed in $(($(date +%s) - started))s"
