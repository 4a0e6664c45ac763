#!/bin/bash
# lab.sh - textback's Asterisk lab: a real Asterisk 22 (Debian sid) in a chroot,
# plus baresip SIP phones, everything on loopback. Used by ari/lab_test.go.
# Idempotent: safe to re-run; `start` is fast (well under a second) when all runs.
#
#   lab.sh start          provision if needed (debootstrap sid + apt), sync config,
#                         start Asterisk and the 5 baresip UAs
#   lab.sh stop           stop UAs and Asterisk (mounts stay)
#   lab.sh stop --umount  ... and unmount /proc from the chroot
#   lab.sh restart-asterisk   stop and start Asterisk only (the UAs stay)
#   lab.sh status         what runs, what listens
#   lab.sh provision      only provision + sync config (no start)
#   lab.sh sync           copy conf/ into the chroot; reload Asterisk if it changed
#   lab.sh cli 'core show channels'      run an Asterisk CLI command
#   lab.sh ua <carrier|anon|100|101|102> <command> [params]   baresip ctrl_tcp command
#   lab.sh env            print the environment the lab test tier needs
#
# Addresses (dedicated 127.0.10.x so nothing collides with other labs on 127.0.0.1):
#   Asterisk  SIP 127.0.10.1:5060/udp  RTP 127.0.10.1:30000-30999  ARI/HTTP 127.0.0.1:8088
#   carrier   127.0.10.2:5060 (the ITSP/trunk, caller +15557654321, ctrl_tcp 127.0.10.2:4444)
#   anon      127.0.10.3:5060 (same trunk, caller "Anonymous" <anonymous>, ctrl_tcp 127.0.10.3:4444)
#   phone 100 127.0.10.100:5060, 101 127.0.10.101:5060, 102 127.0.10.102:5060 (ctrl :4444)
#   ARI users: lab / labpass (read_only = no), labro / labpass (read_only = yes)
#   trunk endpoint: carrier; DIDs: see conf/asterisk/extensions.conf
# env: LAB_STATE (default /var/tmp/textback-lab; this lab lives in $LAB_STATE/asterisk),
#      LAB (overrides the whole dir), MIRROR (Debian mirror; default: from the host's apt sources)
# Nothing is written next to this script: all state is under $LAB.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB=${LAB:-${LAB_STATE:-/var/tmp/textback-lab}/asterisk}
R=$LAB/root
LOGS=$LAB/logs
CONF=$HERE/conf
# the Debian mirror this machine already uses: first Debian archive URI in its apt sources
host_mirror() {
	{ grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{for (i = 2; i <= NF; i++) print $i}'
	  grep -hsE '^deb[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | sed -E 's/\[[^]]*\]//' | awk '{print $2}'
	} | grep -v security | grep -m1 -E '/debian/?$' || true
}
PKGS="asterisk asterisk-modules baresip-core procps iproute2"
UAS="carrier anon 100 101 102"

log() { printf '[lab %(%T)T] %s\n' -1 "$*" >&2; }
# run a command inside the chroot with a clean environment
in_chroot() { chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME=/root TERM=dumb "$@"; }
is_mounted() { awk -v m="$1" '$2==m {f=1} END {exit !f}' /proc/mounts; }
# a PID is "ours" only if it is alive and its root directory is our chroot
ours() { [ -n "${1:-}" ] && [ -d "/proc/$1" ] && [ "$(readlink "/proc/$1/root" 2>/dev/null)" = "$R" ]; }

need_root() { [ "$(id -u)" = 0 ] || { log "the lab needs root (chroot, mount)"; exit 1; }; }

# one lab.sh at a time changes the lab (start/stop/sync/provision); the
# daemons it starts must not inherit the lock (9>&-)
lock() {
	mkdir -p "$LAB"
	exec 9>"$LAB/lab.lock"
	flock -w 600 9 || { log "another lab.sh holds $LAB/lab.lock"; exit 1; }
}

mount_fs() {
	# Only /proc is needed (apt/dpkg, asterisk, baresip); debootstrap's static /dev nodes suffice.
	is_mounted "$R/proc" || mount -t proc proc "$R/proc"
}

umount_fs() {
	local m
	for m in "$R/dev/pts" "$R/proc"; do
		if is_mounted "$m"; then umount "$m" && log "unmounted $m"; fi
	done
}

provisioned() { [ -f "$LAB/provisioned" ] && [ "$(cat "$LAB/provisioned")" = "$PKGS" ] && [ -x "$R/usr/sbin/asterisk" ]; }

provision() {
	mkdir -p "$LOGS"
	if provisioned; then mount_fs; return 0; fi
	if [ ! -x "$R/usr/bin/apt-get" ]; then
		local mirror=${MIRROR:-$(host_mirror)}
		[ -n "$mirror" ] || { log "no Debian mirror in /etc/apt/sources*; set MIRROR to one"; return 1; }
		command -v debootstrap >/dev/null || { log "installing debootstrap on the host"; apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }
		mkdir -p "$R"
		log "debootstrap sid -> $R (log: $LOGS/debootstrap.log)"
		debootstrap --variant=minbase sid "$R" "$mirror" >"$LOGS/debootstrap.log" 2>&1 || { log "debootstrap failed: see $LOGS/debootstrap.log"; return 1; }
	fi
	mount_fs
	# the mirror snapshot's InRelease is past Valid-Until relative to this clock
	echo 'Acquire::Check-Valid-Until "false";' >"$R/etc/apt/apt.conf.d/99lab-no-valid-until"
	# never let maintainer scripts start daemons inside the chroot
	printf '#!/bin/sh\nexit 101\n' >"$R/usr/sbin/policy-rc.d"
	chmod +x "$R/usr/sbin/policy-rc.d"
	local missing=0 p
	for p in $PKGS; do
		in_chroot dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || missing=1
	done
	if [ $missing = 1 ]; then
		log "apt-get install $PKGS (log: $LOGS/install.log)"
		cp /etc/resolv.conf "$R/etc/resolv.conf" # DNS for the mirror during install only
		# apt wants a pty for its term.log: bind the host's for the install only
		is_mounted "$R/dev/pts" || mount --bind /dev/pts "$R/dev/pts"
		if ! in_chroot sh -c "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $PKGS && apt-get clean" \
			>"$LOGS/install.log" 2>&1; then
			umount "$R/dev/pts"; log "apt-get failed: see $LOGS/install.log"; return 1
		fi
		umount "$R/dev/pts"
	fi
	# runtime: no DNS, names from /etc/hosts only (Asterisk resolves the hostname at start)
	echo 'nameserver 127.0.0.1' >"$R/etc/resolv.conf"
	printf '127.0.0.1\tlocalhost %s\n::1\tlocalhost ip6-localhost\n' "$(hostname)" >"$R/etc/hosts"
	echo "$PKGS" >"$LAB/provisioned"
}

conf_sum() { (cd "$CONF" && find . -type f | LC_ALL=C sort | xargs cat | md5sum | cut -d' ' -f1); }

# sync_config copies conf/ into the chroot when it changed since the last sync;
# it prints "changed" when it did.
sync_config() {
	local sum
	sum=$(conf_sum)
	if [ -f "$LAB/conf.sum" ] && [ "$(cat "$LAB/conf.sum")" = "$sum" ] && [ -f "$R/etc/asterisk/ari.conf" ]; then return 0; fi
	if [ ! -d "$R/etc/asterisk.dist" ]; then mv "$R/etc/asterisk" "$R/etc/asterisk.dist"; fi
	mkdir -p "$R/etc/asterisk"
	find "$R/etc/asterisk" -maxdepth 1 -type f -delete
	cp "$CONF"/asterisk/*.conf "$R/etc/asterisk/"
	mkdir -p "$R/run/asterisk" "$R/var/log/asterisk" "$R/var/spool/asterisk/voicemail/default"
	local ua ip
	for ua in $UAS; do
		ip=$(ua_ip "$ua")
		mkdir -p "$R/var/lib/lab-baresip/$ua"
		sed -e "s/@IP@/$ip/g" -e "s/@UA@/$ua/g" "$CONF/baresip/config.in" >"$R/var/lib/lab-baresip/$ua/config"
		cp "$CONF/baresip/accounts.$ua" "$R/var/lib/lab-baresip/$ua/accounts"
	done
	echo "$sum" >"$LAB/conf.sum"
	log "synced $CONF into $R"
	echo changed
}

ua_ip() { case "$1" in carrier) echo 127.0.10.2 ;; anon) echo 127.0.10.3 ;; 100 | 101 | 102) echo "127.0.10.$1" ;; *) echo "unknown UA $1" >&2; return 1 ;; esac; }

ast_pid() { cat "$LOGS/asterisk.pid" 2>/dev/null || true; }
ast_running() { ours "$(ast_pid)"; }

start_asterisk() {
	if ast_running; then return 0; fi
	mkdir -p "$R/run/asterisk"
	local t0 i
	t0=$(date +%s.%N)
	setsid chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME=/root \
		/usr/sbin/asterisk -f >>"$LOGS/asterisk.console.log" 2>&1 </dev/null 9>&- &
	echo $! >"$LOGS/asterisk.pid"
	for i in $(seq 1 150); do
		if in_chroot asterisk -rx 'core waitfullybooted' >/dev/null 2>&1; then
			log "asterisk fully booted in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}')s (pid $(ast_pid), log $LOGS/asterisk.console.log)"
			return 0
		fi
		ast_running || { log "asterisk exited at start: see $LOGS/asterisk.console.log"; return 1; }
		sleep 0.2
	done
	log "asterisk did not boot in 30s"; return 1
}

stop_asterisk() {
	local pid i
	if ast_running; then
		pid=$(ast_pid)
		in_chroot asterisk -rx 'core stop now' >/dev/null 2>&1 || true
		for i in $(seq 1 50); do ours "$pid" || break; sleep 0.1; done
		if ours "$pid"; then kill "$pid" || true; sleep 1; fi
		if ours "$pid"; then kill -9 "$pid" || true; sleep 0.2; fi
		log "stopped asterisk (pid $pid)"
	fi
	rm -f "$LOGS/asterisk.pid"
}

registered() { [ "$(in_chroot asterisk -rx 'pjsip show contacts' 2>/dev/null | grep -c 'Contact:  10[012]/')" = 3 ]; }

start_uas() {
	local ua pid started=0 i
	for ua in $UAS; do
		pid=$(cat "$LOGS/ua-$ua.pid" 2>/dev/null || true)
		if ours "$pid"; then continue; fi
		setsid chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME=/root \
			baresip -f "/var/lib/lab-baresip/$ua" >>"$LOGS/ua-$ua.log" 2>&1 </dev/null 9>&- &
		echo $! >"$LOGS/ua-$ua.pid"
		started=1
	done
	# the phones register at start; after an Asterisk restart their (astdb) contacts come back
	for i in $(seq 1 50); do
		if registered; then
			[ $started = 0 ] || log "phones 100,101,102 registered"
			return 0
		fi
		sleep 0.2
	done
	log "warning: not all phones registered:"; in_chroot asterisk -rx 'pjsip show contacts' >&2 || true
}

stop_uas() {
	local ua pid i
	for ua in $UAS; do
		pid=$(cat "$LOGS/ua-$ua.pid" 2>/dev/null || true)
		if ours "$pid"; then
			kill "$pid" || true
			for i in $(seq 1 25); do ours "$pid" || break; sleep 0.2; done
			if ours "$pid"; then kill -9 "$pid" || true; sleep 0.2; fi
			log "stopped UA $ua (pid $pid)"
		fi
		rm -f "$LOGS/ua-$ua.pid"
	done
}

status() {
	if ast_running; then echo "asterisk: running pid $(ast_pid)"; else echo "asterisk: stopped"; fi
	local ua pid
	for ua in $UAS; do
		pid=$(cat "$LOGS/ua-$ua.pid" 2>/dev/null || true)
		if ours "$pid"; then echo "ua $ua: running pid $pid"; else echo "ua $ua: stopped"; fi
	done
	echo "listening sockets of our processes:"
	ss -lntup 2>/dev/null | awk 'NR==1 || /"(asterisk|baresip)"/'
	if ast_running; then in_chroot asterisk -rx 'pjsip show contacts' | grep -E 'Contact:' || true; fi
}

# baresip ctrl_tcp: netstring-framed JSON {"command":..,"params":..,"token":..}
ua_cmd() {
	local ua=$1 cmd=$2; shift 2
	local params="$*" ip json
	ip=$(ua_ip "$ua")
	json=$(printf '{"command":"%s","params":"%s","token":"lab"}' "$cmd" "$params")
	exec 3<>"/dev/tcp/$ip/4444"
	printf '%d:%s,' "${#json}" "$json" >&3
	# print each netstring payload (response + any events) on its own line
	timeout "${UA_WAIT:-0.5}" cat <&3 | perl -e 'local $/; $_ = <STDIN> // ""; while (/\G(\d+):/gc) { my $n = $1; print substr($_, pos($_), $n), "\n"; pos($_) += $n + 1; }' || true
	exec 3>&- 3<&-
}

start() {
	need_root; lock
	provision
	local changed
	changed=$(sync_config)
	if [ -n "$changed" ] && ast_running; then
		# ari.conf (channelvars), the dialplan and pjsip all reload in place
		in_chroot asterisk -rx 'core reload' >/dev/null
		in_chroot asterisk -rx 'module reload res_ari.so' >/dev/null || true
		log "asterisk reloaded the new config"
	fi
	# a phone reads its config only when it starts
	if [ -n "$changed" ]; then stop_uas; fi
	start_asterisk
	start_uas
}

case "${1:-}" in
start) start ;;
provision) need_root; lock; provision; sync_config >/dev/null ;;
sync) need_root; lock; mount_fs; if [ -n "$(sync_config)" ] && ast_running; then in_chroot asterisk -rx 'core reload'; fi ;;
stop) need_root; lock; stop_uas; stop_asterisk; if [ "${2:-}" = --umount ]; then umount_fs; fi ;;
restart-asterisk) need_root; lock; stop_asterisk; start_asterisk; start_uas ;;
status) status ;;
cli) shift; in_chroot asterisk -rx "$*" ;;
ua) shift; ua_cmd "$@" ;;
env) printf 'TEXTBACK_LAB_ASTERISK=http://127.0.0.1:8088\nTEXTBACK_LAB_ASTERISK_USER=lab\nTEXTBACK_LAB_ASTERISK_PASSWORD=labpass\nTEXTBACK_LAB_ASTERISK_TRUNK=carrier\nTEXTBACK_LAB_ASTERISK_SCRIPT=%s\n' "$HERE/lab.sh" ;;
*) sed -n '2,27p' "$0"; exit 2 ;;
esac
