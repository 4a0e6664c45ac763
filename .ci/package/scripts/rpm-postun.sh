#!/bin/sh
# textback .rpm %postun: forget the removed unit.
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || :
fi
exit 0
