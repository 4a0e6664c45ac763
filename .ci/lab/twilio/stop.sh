#!/bin/bash
# Stop the Prism started by start.sh (its recorded process group only).
f=${LAB_STATE:-/var/tmp/textback-lab}/ci-twilio/prism.pid
if [ -f "$f" ]; then
  p=$(cat "$f")
  kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null
  for _ in $(seq 50); do st=$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null); { [ -z "$st" ] || [ "$st" = Z ]; } && break; sleep 0.1; done
  rm -f "$f"
fi
echo "prism stopped"
