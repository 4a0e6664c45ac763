#!/bin/sh
# textback .deb prerm: stop the service when the package is removed.
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
	if command -v deb-systemd-invoke >/dev/null 2>&1; then
		deb-systemd-invoke stop textback.service >/dev/null || true
	else
		systemctl stop textback.service >/dev/null || true
	fi
fi
exit 0
