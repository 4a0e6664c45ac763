#!/bin/bash
# Build (once) the Debian sid chroot that hosts ofono-phonesim (a sid-only
# package): debootstrap minbase sid + ofono-phonesim dbus, about 45 s, ~600 MB.
# start.sh runs it when the chroot is missing. Never installs sid packages on the host.
#   env: SID_CHROOT ($LAB_STATE/sid-chroot), LAB_STATE (/var/tmp/textback-lab),
#        MIRROR (default: the first Debian mirror in the host's apt sources)
set -euo pipefail
C=${SID_CHROOT:-${LAB_STATE:-/var/tmp/textback-lab}/sid-chroot}
[ "$(id -u)" = 0 ] || { echo "provisioning the sid chroot needs root (debootstrap, chroot)" >&2; exit 1; }
host_mirror() {
  { grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{for (i = 2; i <= NF; i++) print $i}'
    grep -hsE '^deb[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | sed -E 's/\[[^]]*\]//' | awk '{print $2}'
  } | grep -v security | grep -m1 -E '/debian/?$' || true
}
MIRROR=${MIRROR:-$(host_mirror)}
[ -n "$MIRROR" ] || { echo "no Debian mirror in /etc/apt/sources*; set MIRROR" >&2; exit 1; }
command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap; }
if [ ! -x "$C/usr/bin/apt-get" ]; then
  mkdir -p "$C"
  debootstrap --variant=minbase sid "$C" "$MIRROR"
fi
printf '#!/bin/sh\nexit 101\n' >"$C/usr/sbin/policy-rc.d"; chmod +x "$C/usr/sbin/policy-rc.d"
echo 'Acquire::Check-Valid-Until "false";' >"$C/etc/apt/apt.conf.d/99novalid" # mirror snapshot older than the clock
echo 'APT::Install-Recommends "false";' >"$C/etc/apt/apt.conf.d/99norec"
mountpoint -q "$C/proc" || mount -t proc proc "$C/proc"
if ! chroot "$C" dpkg -s ofono-phonesim dbus >/dev/null 2>&1; then
  mountpoint -q "$C/dev/pts" || mount --bind /dev/pts "$C/dev/pts" # apt's term.log wants a pty; install only
  rc=0
  chroot "$C" sh -c 'apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y ofono-phonesim dbus procps && apt-get clean' || rc=$?
  umount "$C/dev/pts"
  [ $rc = 0 ] || exit $rc
fi
chroot "$C" sh -c 'test -s /etc/machine-id || dbus-uuidgen > /etc/machine-id'
echo "sid chroot ready: $C ($(chroot "$C" dpkg-query -W ofono-phonesim))"
