package modem

import (
	"strings"
	"testing"
)

// FuzzReplyLines feeds arbitrary modem reply lines (a garbled serial line,
// an indication in the middle of a reply, a modem's own dialect) to every
// parser of modem output. None may panic, and what they return must be
// usable: PDUs are hex, indexes and counts are in range.
func FuzzReplyLines(f *testing.F) {
	for _, s := range []string{
		"+CMGR: 0,,22\n0791447758100650040C914477\nOK",
		"+CMGL: 1,0,,3\n0011\n+CMGL: 2,1,,3\n0022\nOK",
		"+CMGR: 0,,3\n+CMTI: \"SM\",3\ngarbage!\n00ff",
		"+CSQ: 17,99\nOK", "+CSQ: 99,99", "+CSQ: -4,0",
		"+CREG: 0,1", "+CREG: 2,5,\"00C3\",\"0010\"", "+COPS: 0,0,\"Operator\",7",
		"+CPMS: \"SM\",3,30,\"SM\",3,30,\"SM\",3,30", "+CPMS: ,",
		"+CNMI: (0-2),(0-3),(0,2),(0-2),(0,1)", "+CNMI: (0,1,2),(0,1),(0),(0,2),(0)", "+CNMI: ((",
		"+CMGL: -1,0,,3\n00", "+CMGL:\n", "\x00\xff\r\n",
	} {
		f.Add(s, "500")
	}
	f.Add("", "memory full")
	f.Fuzz(func(t *testing.T, raw, cms string) {
		info := strings.Split(raw, "\n")
		if pdu, ok := parseCMGR(info); ok && !isHex(pdu) {
			t.Errorf("parseCMGR returned a non-hex PDU %q", pdu)
		}
		for _, l := range parseCMGL(info) {
			if l.idx < 0 || !isHex(l.pdu) {
				t.Errorf("parseCMGL returned %+v", l)
			}
		}
		if n, dbm := parseCSQ(info); n != -1 && (n < 0 || n > 31 || dbm < -113 || dbm > -51) {
			t.Errorf("parseCSQ = %d, %d dBm", n, dbm)
		}
		if st, registered := parseCREG(info); st == "" || registered && st != "home" && st != "roaming" {
			t.Errorf("parseCREG = %q, %v", st, registered)
		}
		_ = parseCOPS(info)
		_, _ = parseCPMS(info)
		_, _ = parseCNMIds(info)
		if code := parseCMS(cms); code < -1 {
			t.Errorf("parseCMS(%q) = %d", cms, code)
		} else {
			_ = cmsOutcome(code)
		}
	})
}
