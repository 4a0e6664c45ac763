package modem

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	wsms "github.com/warthog618/sms"
	"github.com/warthog618/sms/encoding/tpdu"

	"github.com/textback/textback/sms"
)

// statusReport returns the PDU-mode hex (empty SMSC) and TPDU length of
// an SMS-STATUS-REPORT for message reference mr.
func statusReport(t *testing.T, mr int, to string, st byte) (string, int) {
	t.Helper()
	tp := tpdu.TPDU{Direction: tpdu.MT}
	tp.SetSmsType(tpdu.SmsStatusReport)
	tp.MR = byte(mr)
	tp.RA = tpdu.NewAddress(tpdu.FromNumber(to))
	tp.SCTS = tpdu.Timestamp{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	tp.DT = tpdu.Timestamp{Time: time.Date(2026, 1, 2, 3, 4, 9, 0, time.UTC)}
	tp.ST = st
	b, err := tp.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("00%X", b), len(b)
}

// mrsOf returns the message references at the end of a ProviderID.
func mrsOf(t *testing.T, id string) []int {
	t.Helper()
	_, refs, ok := strings.Cut(id, ":")
	if !ok {
		t.Fatalf("ProviderID %q has no message references", id)
	}
	var out []int
	for _, r := range strings.Split(refs, ",") {
		out = append(out, atoiT(t, r))
	}
	return out
}

func atoiT(t *testing.T, s string) int {
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return n
}

func srrOf(t *testing.T, hexTPDU string) bool {
	b, err := hex.DecodeString(hexTPDU)
	if err != nil {
		t.Fatal(err)
	}
	tp, err := wsms.Unmarshal(b, wsms.AsMO)
	if err != nil {
		t.Fatal(err)
	}
	return tp.FirstOctet.SRR()
}

func (f *fakeModem) storePDU(p string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.store[f.nextIdx] = p
	f.nextIdx++
	return f.nextIdx - 1
}

func (f *fakeModem) allSegments() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.segments...)
}

func barrier(t *testing.T, d *Driver) {
	t.Helper()
	_ = d.do(t, func(context.Context, *session) error { return nil })
}

// Stored reports (+CDSI, ds 2): texts ask for a report (TP-SRR); the
// Receiver gets one Status per text with the ProviderID Send returned,
// Delivered only when every segment was, Rejected for a permanent error;
// each report is deleted from the SIM after UpdateStatus.
func TestDriver_DeliveryReportsStored(t *testing.T) {
	fm := newFakeModem()
	fm.cnmiTest = "+CNMI: (0-2),(0,1),(0,1,2),(0,1,2),(0,1)"
	rcv := newRecorder()
	d, _ := startFake(t, fm, testConfig(), rcv)
	if !slices.Contains(fm.commands(), "AT+CNMI=2,1,0,2,0") {
		t.Fatalf("no AT+CNMI=2,1,0,2,0 in %q", fm.commands())
	}
	const to = "+15555550123"
	long, err := send(t, d, to, strings.Repeat("A long text in two segments. ", 8))
	if err != nil {
		t.Fatal(err)
	}
	short, err := send(t, d, to, "Short.")
	if err != nil {
		t.Fatal(err)
	}
	for _, seg := range fm.allSegments() {
		if !srrOf(t, seg) {
			t.Errorf("segment %s does not request a status report", seg)
		}
	}
	lm := mrsOf(t, long.ProviderID)
	if len(lm) != 2 {
		t.Fatalf("long text ProviderID %q, want two references", long.ProviderID)
	}
	cdsi := func(mr int, st byte) {
		p, _ := statusReport(t, mr, to, st)
		fm.emit(`+CDSI: "SM",` + itoa(fm.storePDU(p)))
	}
	cdsi(lm[0], 0x00) // first segment delivered: nothing yet
	waitStored(t, fm, nil)
	barrier(t, d)
	if got := rcv.gotStatuses(); len(got) != 0 {
		t.Fatalf("Status after one of two segments: %+v", got)
	}
	cdsi(lm[1], 0x00)
	rcv.waitStatus(t)
	cdsi(mrsOf(t, short.ProviderID)[0], 0x41) // incompatible destination
	rcv.waitStatus(t)
	got := rcv.gotStatuses()
	if len(got) != 2 || got[0].ProviderID != long.ProviderID || !got[0].Delivered ||
		got[1].ProviderID != short.ProviderID || got[1].Delivered || got[1].Outcome != sms.Rejected || got[1].Code != "TP-ST 65" {
		t.Fatalf("Statuses %+v, want the long text delivered, the short one rejected", got)
	}
	waitStored(t, fm, nil)
	// A report for no text of this process is deleted, not recorded.
	cdsi(200, 0x00)
	waitStored(t, fm, nil)
	barrier(t, d)
	if n := len(rcv.gotStatuses()); n != 2 {
		t.Errorf("%d statuses after an unknown report, want 2", n)
	}
}

// Direct reports (+CDS, ds 1 when the modem has no ds 2): acknowledged
// with AT+CNMA only after UpdateStatus returned nil.
func TestDriver_DeliveryReportsDirect(t *testing.T) {
	fm := newFakeModem()
	fm.cnmiTest = "+CNMI: (0,1,2),(0,1),(0,2),(0,1),(0,1)"
	rcv := newRecorder()
	rcv.setFailStatus(fmt.Errorf("ledger down"))
	d, _ := startFake(t, fm, testConfig(), rcv)
	if !slices.Contains(fm.commands(), "AT+CNMI=2,1,0,1,0") {
		t.Fatalf("no AT+CNMI=2,1,0,1,0 in %q", fm.commands())
	}
	const to = "+15555550123"
	res, err := send(t, d, to, "Report me.")
	if err != nil {
		t.Fatal(err)
	}
	p, n := statusReport(t, mrsOf(t, res.ProviderID)[0], to, 0x00)
	fm.emitCMT([2]string{"+CDS: " + itoa(n), p})
	rcv.waitStatus(t) // fails
	barrier(t, d)
	if c := fm.cnmaCount(); c != 0 {
		t.Fatalf("+CDS acknowledged %d times although UpdateStatus failed", c)
	}
	rcv.setFailStatus(nil)
	fm.emitCMT([2]string{"+CDS: " + itoa(n), p}) // the network sends it again
	rcv.waitStatus(t)
	barrier(t, d)
	if c := fm.cnmaCount(); c != 1 {
		t.Errorf("+CDS acknowledged %d times, want once", c)
	}
	if got := rcv.gotStatuses(); len(got) != 1 || got[0].ProviderID != res.ProviderID || !got[0].Delivered {
		t.Errorf("Statuses %+v, want %s delivered", got, res.ProviderID)
	}
}

// Reports off (delivery_reports: false), or a modem whose AT+CNMI=?
// offers no ds: no TP-SRR, ds 0.
func TestDriver_DeliveryReportsOff(t *testing.T) {
	off := false
	for _, c := range []struct {
		name string
		test string
		want *bool
	}{
		{"ConfiguredOff", "+CNMI: (0-2),(0,1),(0,1,2),(0,1,2),(0,1)", &off},
		{"ModemHasNoDs", "+CNMI: (0,1,2,3),(0,1),(0,1,2),(0),(0,1)", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			fm := newFakeModem()
			fm.cnmiTest = c.test
			cfg := testConfig()
			cfg.DeliveryReports = c.want
			d, _ := startFake(t, fm, cfg, newRecorder())
			if _, err := send(t, d, "+15555550123", "No report."); err != nil {
				t.Fatal(err)
			}
			if srrOf(t, fm.allSegments()[0]) {
				t.Error("text requests a status report")
			}
			if !slices.Contains(fm.commands(), "AT+CNMI=2,1,0,0,0") {
				t.Errorf("no AT+CNMI=2,1,0,0,0 in %q", fm.commands())
			}
		})
	}
}

func TestParseCNMIds(t *testing.T) {
	ds, ok := parseCNMIds([]string{"+CNMI: (0-3),(0,1),(0,1,2),(0-2),(0,1)"})
	if !ok || !slices.Equal(ds, []string{"0", "1", "2"}) {
		t.Errorf("parseCNMIds = %q %v", ds, ok)
	}
}
