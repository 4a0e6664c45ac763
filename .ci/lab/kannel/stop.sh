#!/bin/bash
# Stop the Kannel peer started by start.sh: its recorded pids, and only
# when a recorded pid is still the process start.sh started (pid files
# under /var/tmp outlive their processes, and pids are reused).
RUN=${LAB_STATE:-/var/tmp/textback-lab}/ci-kannel
mark() { case $1 in fakesmsc) echo "fakesmsc -H 127.0.0.1" ;; *) echo "$RUN/kannel.conf" ;; esac; }
ours() { [ -n "$1" ] && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$2"; }
for n in smsbox fakesmsc bearerbox; do
  f=$RUN/$n.pid; [ -f "$f" ] || continue; p=$(cat "$f")
  if ours "$p" "$(mark "$n")"; then
    kill -TERM "$p" 2>/dev/null
    for _ in $(seq 50); do st=$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null); { [ -z "$st" ] || [ "$st" = Z ]; } && break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
  fi
  rm -f "$f"
done
echo "kannel stopped"
