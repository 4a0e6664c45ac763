#!/bin/bash
# Stop the Prism started by start.sh: its recorded process group (the
# respawn loop and Prism), and only when the recorded pid is still that
# loop. Pid files under /var/tmp outlive their processes (a reboot, a
# killed session) and pids are reused: a stale pid may name some other
# process by now.
RUN=${LAB_STATE:-/var/tmp/textback-lab}/ci-twilio
f=$RUN/prism.pid
ours() { [ -n "$1" ] && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$RUN/node_modules/.bin/prism"; }
gone() { ! pgrep -g "$1" >/dev/null; }   # no process left in the group
if [ -f "$f" ]; then
  p=$(cat "$f")
  if ours "$p"; then
    kill -TERM -- "-$p" 2>/dev/null
    for _ in $(seq 50); do gone "$p" && break; sleep 0.1; done
    kill -KILL -- "-$p" 2>/dev/null
    for _ in $(seq 50); do gone "$p" && break; sleep 0.1; done
  fi
  rm -f "$f"
fi
echo "prism stopped"
