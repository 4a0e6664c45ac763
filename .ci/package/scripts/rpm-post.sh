#!/bin/sh
# textback .rpm %post. RPM distributions leave a new service disabled unless
# a systemd preset enables it: reload systemd, and restart on upgrade only
# if it was running.
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || :
	if [ "${1:-1}" -ge 2 ]; then
		systemctl try-restart textback.service >/dev/null 2>&1 || :
	fi
fi
exit 0
