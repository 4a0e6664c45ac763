#!/bin/bash
# Stop what start.sh started, by its recorded process groups, and only
# when a recorded pid is still the process start.sh started: pid files
# under /var/tmp outlive their processes (a reboot, a killed session) and
# pids are reused, so a stale pid may name some other process by now.
# env: LAB_STATE (/var/tmp/textback-lab), GSM_TTY (/tmp/ttyGSM0)
RUN=${LAB_STATE:-/var/tmp/textback-lab}/phonesim
TTY=${GSM_TTY:-/tmp/ttyGSM0}
mark() { case $1 in dbus) echo "unix:path=/run/phonesim-dbus.sock" ;; phonesim) echo "ofono-phonesim" ;; socat-loop) echo "pty,link=$TTY," ;; esac; }
ours() { [ -n "$1" ] && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$2"; }
gone() { ! pgrep -g "$1" >/dev/null; }   # no process left in the group
for n in socat-loop phonesim dbus; do
  f=$RUN/$n.pid; [ -f "$f" ] || continue
  p=$(cat "$f")
  if ours "$p" "$(mark "$n")"; then
    kill -TERM -- "-$p" 2>/dev/null
    for _ in $(seq 30); do gone "$p" && break; sleep 0.1; done
    kill -KILL -- "-$p" 2>/dev/null
    for _ in $(seq 30); do gone "$p" && break; sleep 0.1; done
  fi
  rm -f "$f"
done
rm -f "$TTY" "$RUN/mode"
echo "phonesim stopped"
