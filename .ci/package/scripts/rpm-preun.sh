#!/bin/sh
# textback .rpm %preun: on erase (not upgrade), disable and stop the service.
if [ "${1:-0}" -eq 0 ] && [ -d /run/systemd/system ]; then
	systemctl --no-reload disable --now textback.service >/dev/null 2>&1 || :
fi
exit 0
