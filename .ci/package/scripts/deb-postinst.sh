#!/bin/sh
# textback .deb postinst. What dh_installsystemd does for a Debian service:
# enable it on first install (the default config is safe to run: no PBX,
# console driver, shadow mode), start it on install, restart it on upgrade.
# An admin's `systemctl disable` or mask is kept across upgrades.
set -e
if [ "$1" = configure ] || [ "$1" = abort-upgrade ] || [ "$1" = abort-deconfigure ] || [ "$1" = abort-remove ]; then
	if command -v deb-systemd-helper >/dev/null 2>&1; then
		deb-systemd-helper unmask textback.service >/dev/null || true
		# true on first install, and when the admin left it enabled
		if deb-systemd-helper --quiet was-enabled textback.service; then
			deb-systemd-helper enable textback.service >/dev/null || true
		else
			deb-systemd-helper update-state textback.service >/dev/null || true
		fi
	fi
	if [ -d /run/systemd/system ]; then
		systemctl --system daemon-reload >/dev/null || true
		if [ -n "$2" ]; then action=restart; else action=start; fi
		if command -v deb-systemd-invoke >/dev/null 2>&1; then
			deb-systemd-invoke "$action" textback.service >/dev/null || true
		else
			systemctl "$action" textback.service >/dev/null || true
		fi
	fi
fi
exit 0
