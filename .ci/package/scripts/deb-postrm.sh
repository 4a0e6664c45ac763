#!/bin/sh
# textback .deb postrm. The ledger (/var/lib/textback, with the opt-out and
# consent history) is left in place even on purge: it is the business's
# record, and systemd created it, not the package.
set -e
if [ -d /run/systemd/system ]; then
	systemctl --system daemon-reload >/dev/null || true
fi
if command -v deb-systemd-helper >/dev/null 2>&1; then
	if [ "$1" = remove ]; then
		deb-systemd-helper mask textback.service >/dev/null || true
	fi
	if [ "$1" = purge ]; then
		deb-systemd-helper purge textback.service >/dev/null || true
		deb-systemd-helper unmask textback.service >/dev/null || true
	fi
fi
exit 0
