#!/bin/bash
# Deliver a mobile-originated SMS to the Kannel peer as if the operator had:
#   inject-mo.sh FROM TO TEXT          (TEXT is UTF-8: sent as GSM text, as 8-bit data when it has line breaks, as UCS-2 when it is not GSM-7)
#   inject-mo.sh --raw "FROM TO TYPE [UDH] DATA"   a raw fakesmsc line (types: text data ucs2 udh)
# A one-shot fakesmsc connects to the FAKEMO link, sends one message and exits.
set -euo pipefail
RUN=${LAB_STATE:-/var/tmp/textback-lab}/ci-kannel; mkdir -p "$RUN"
FAKESMSC=/usr/lib/kannel/test/fakesmsc
[ -x $FAKESMSC ] || { echo "need fakesmsc: start.sh installs kannel-extras" >&2; exit 1; }
if [ "${1:-}" = "--raw" ]; then line=$2; else
  [ $# = 3 ] || { echo "usage: inject-mo.sh FROM TO TEXT | --raw LINE" >&2; exit 2; }
  line=$(python3 - "$1" "$2" "$3" <<'PY'
import sys, urllib.parse
frm, to, text = sys.argv[1:]
gsm = ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
       "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€")
if all(c in gsm for c in text) and "\n" not in text and "\r" not in text:
    print(f"{frm} {to} text {text}")         # a 7-bit text, as a phone sends it
elif all(c in gsm for c in text):
    print(f"{frm} {to} data {urllib.parse.quote_plus(text)}")   # 8-bit: fakesmsc's lines cannot hold a newline
else:
    print(f"{frm} {to} ucs2 {urllib.parse.quote_plus(text.encode('utf-16-be'))}")
PY
)
fi
log=$RUN/fakesmsc-mo.log
$FAKESMSC -H 127.0.0.1 -r 10101 -i 0 -m 1 "$line" >"$log" 2>&1 &
p=$!
for _ in $(seq 50); do grep -q "fakesmsc: sent message" "$log" 2>/dev/null && break; sleep 0.1; done
sleep 0.3; kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true
grep -q "fakesmsc: sent message" "$log" || { echo "inject-mo: fakesmsc did not send; see $log" >&2; exit 1; }
