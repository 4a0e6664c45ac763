#!/bin/bash
# Stop what start.sh started, by its recorded process groups only.
# env: LAB_STATE (/var/tmp/textback-lab), GSM_TTY (/tmp/ttyGSM0)
RUN=${LAB_STATE:-/var/tmp/textback-lab}/phonesim
for n in socat-loop phonesim dbus; do
  f=$RUN/$n.pid; [ -f "$f" ] || continue
  p=$(cat "$f"); kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null
  for _ in $(seq 30); do # gone, or a zombie waiting for PID 1 to reap it
    st=$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null); { [ -z "$st" ] || [ "$st" = Z ]; } && break; sleep 0.1; done
  kill -KILL -- "-$p" 2>/dev/null; rm -f "$f"
done
rm -f "${GSM_TTY:-/tmp/ttyGSM0}" "$RUN/mode"
echo "phonesim stopped"
