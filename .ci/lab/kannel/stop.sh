#!/bin/bash
# Stop the Kannel peer started by start.sh (its recorded pids only).
RUN=${LAB_STATE:-/var/tmp/textback-lab}/ci-kannel
for n in smsbox fakesmsc bearerbox; do
  f=$RUN/$n.pid; [ -f "$f" ] || continue; p=$(cat "$f")
  kill -TERM "$p" 2>/dev/null
  for _ in $(seq 50); do st=$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null); { [ -z "$st" ] || [ "$st" = Z ]; } && break; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null; rm -f "$f"
done
echo "kannel stopped"
