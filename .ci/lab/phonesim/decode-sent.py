#!/usr/bin/python3
"""An independent decode of what textback really wrote to phonesim.

Reads socat's -x hex log of the phonesim pty ($LAB_STATE/phonesim/socat.log,
LAB_STATE=/var/tmp/textback-lab), finds every AT+CMGS in what was written to
the modem and decodes the PDU-mode submissions with libgammu (Debian
bookworm's python3-gammu; run it with /usr/bin/python3), not with the Go
library the driver encodes with. Concatenated texts are reassembled with
libgammu (LinkSMS, DecodeSMS).

Prints one JSON line per text, in the order its first segment was written:
  to, text, segments, coding, concat_ref, complete (every part was written),
  cmgs        the AT+CMGS=<n> length announced for each part, in part order
  tpdu_octets the octets of each part's TPDU (the PDU less its SMSC field)
  session     the pty session (0 = the first in the log part read) of its
              first part; every open of the tty is a fresh simulated modem
An AT+CMGS cancelled with ESC, or cut off when the pty closed, never reached
phonesim's SMS layer: it is printed as {"mode": "cancelled"} and not decoded.
Exit 1 on any malformed PDU or any AT+CMGS length that differs from its TPDU.

usage: decode-sent.py [LOG] [--from-offset BYTES] [--since-last-session]
  --from-offset: read the log from this byte offset (a test's start)
"""
import binascii, json, os, re, sys, pathlib
import gammu

args = sys.argv[1:]
offset = 0
if "--from-offset" in args:
    i = args.index("--from-offset")
    offset = int(args[i + 1])
    del args[i:i + 2]
files = [a for a in args if not a.startswith("--")]
log = pathlib.Path(files[0] if files else
                   pathlib.Path(os.environ.get("LAB_STATE", "/var/tmp/textback-lab")) / "phonesim" / "socat.log")
with open(log, "rb") as f:
    f.seek(offset)
    data = f.read().decode(errors="replace")

# "> 2026/11/27 04:33:15.000508058  length=10 from=0 to=9" then hex lines;
# ">" is what was written to phonesim; from=0 starts a new pty session.
hdr = re.compile(r"^([<>]) \S+ \S+\s+length=\d+ from=(\d+) to=\d+$")
sessions, cur, d = [], None, None
for line in data.splitlines():
    m = hdr.match(line)
    if m:
        d = m.group(1)
        if d == ">" and (m.group(2) == "0" or cur is None):
            cur = bytearray()
            sessions.append(cur)
        continue
    if d == ">" and cur is not None and line.startswith(" "):
        hexpart = line.strip().split("  ")[0]   # socat -x -v would add the text
        cur += bytes.fromhex(hexpart)
if "--since-last-session" in sys.argv:
    sessions = sessions[-1:]

bad, parts, meta, out = 0, [], [], []
cmgs = re.compile(rb'AT\+CMGS=(\d+|"[^"]*")\r\n?([^\x1a\x1b]*)([\x1a\x1b]?)', re.S)
for sn, s in enumerate(sessions):
    for m in cmgs.finditer(s):
        arg, body, end = m.group(1).decode(), m.group(2), m.group(3)
        if end != b"\x1a":
            out.append((len(parts) - 0.5, {"mode": "cancelled", "session": sn, "cmgs": [int(arg)] if arg.isdigit() else [],
                                           "why": "ESC" if end else "the pty closed"}))
            continue
        if arg.startswith('"'):
            out.append((len(parts) - 0.5, {"mode": "text", "to": arg.strip('"'), "text": body.decode("latin-1")}))
            continue
        try:
            raw = binascii.unhexlify(body.strip())
            tpdu_len = len(raw) - 1 - raw[0]
            sms = gammu.DecodePDU(raw)
            if sms["Type"] != "Submit":
                raise ValueError("not an SMS-SUBMIT: " + sms["Type"])
            if int(arg) != tpdu_len:
                bad += 1
                print(f"AT+CMGS={arg} but the TPDU has {tpdu_len} octets", file=sys.stderr)
            parts.append(sms)
            meta.append({"cmgs": int(arg), "tpdu_octets": tpdu_len, "session": sn})
        except Exception as e:
            bad += 1
            out.append((len(parts) - 0.5, {"mode": "pdu", "error": str(e), "hex": body.decode(errors="replace")}))


def key(p):
    u = p["UDH"]
    return (p["Number"], p["Text"], u["Type"], u.get("ID8bit"), u.get("ID16bit"), u.get("PartNumber"))


unused = {}
for i, p in enumerate(parts):
    unused.setdefault(key(p), []).append(i)

# LinkSMS groups by UDH reference and orders the parts; its dicts are
# copies, so each part is found again by its content for its index.
for group in gammu.LinkSMS([[p] for p in parts]):
    idx = [unused[key(p)].pop(0) for p in group]
    u = group[0]["UDH"]
    total = u.get("AllParts", -1) if u["Type"] != "NoUDH" else 1
    complete = total <= 0 or total == len(group)
    ent = gammu.DecodeSMS(group) if complete else None
    text = "".join(e.get("Buffer") or "" for e in ent["Entries"]) if ent else "".join(p["Text"] for p in group)
    out.append((min(idx), {"mode": "pdu", "to": group[0]["Number"], "text": text, "segments": len(group),
                           "coding": group[0]["Coding"],
                           "concat_ref": (u["ID8bit"] if u["ID8bit"] >= 0 else u["ID16bit"]) if u["Type"] != "NoUDH" else None,
                           "complete": complete,
                           "cmgs": [meta[i]["cmgs"] for i in idx],
                           "tpdu_octets": [meta[i]["tpdu_octets"] for i in idx],
                           "session": meta[min(idx)]["session"]}))
for _, o in sorted(out, key=lambda x: x[0]):
    print(json.dumps(o, ensure_ascii=False))
sys.exit(1 if bad else 0)
