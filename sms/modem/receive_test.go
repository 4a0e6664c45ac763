package modem

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestDriver_ReceiveStored(t *testing.T) {
	fm := newFakeModem()
	// Stored while textback was down: found by the sweep at start.
	early := fm.storeText("+15551234567", "STOP")
	rcv := newRecorder()
	_, _ = startFake(t, fm, testConfig(), rcv)
	rcv.waitReceive(t)
	// Arriving later: +CMTI for each segment of a long UCS-2 reply.
	long := strings.Repeat("Réponse longue 👍 ", 8)
	idxs := fm.storeText("+447700900123", long)
	for _, i := range idxs {
		fm.emit(`+CMTI: "SM",` + itoa(i))
	}
	rcv.waitReceive(t)
	got := rcv.inbound()
	if len(got) != 2 || got[0].Body != "STOP" || got[0].From != "+15551234567" || got[1].Body != long || got[1].From != "+447700900123" {
		t.Fatalf("Receiver got %+v, want STOP then the long reply whole", got)
	}
	if got[0].Provider != "modem" || got[0].ProviderID == "" || got[0].ProviderID == got[1].ProviderID || got[0].To != "+15555551000" {
		t.Errorf("Inbound ids: %+v", got)
	}
	waitStored(t, fm, nil)
	_ = early
}

func TestDriver_ReceiveFailureKeepsOnSIM(t *testing.T) {
	fm := newFakeModem()
	rcv := newRecorder()
	rcv.setFail(errors.New("ledger full"))
	cfg := testConfig()
	cfg.HealthInterval = 50 * 1e6 // 50ms: the retry sweep
	idxs := fm.storeText("+15551234567", "HELP")
	_, _ = startFake(t, fm, cfg, rcv)
	rcv.waitReceive(t) // failed
	if got := fm.stored(); !slices.Equal(got, idxs) {
		t.Fatalf("after a failed Receive the SIM holds %v, want %v kept", got, idxs)
	}
	for _, c := range fm.commands() {
		if strings.HasPrefix(c, "AT+CMGD") {
			t.Fatalf("driver sent %s although Receive failed", c)
		}
	}
	rcv.setFail(nil)
	rcv.waitReceive(t) // the next sweep
	for len(rcv.inbound()) == 0 {
		rcv.waitReceive(t)
	}
	waitStored(t, fm, nil)
	if got := rcv.inbound(); got[0].Body != "HELP" {
		t.Errorf("Receiver got %+v", got)
	}
}

func TestDriver_ReceiveDirectAckedAfterReceive(t *testing.T) {
	fm := newFakeModem()
	rcv := newRecorder()
	rcv.setFail(errors.New("ledger down"))
	_, _ = startFake(t, fm, testConfig(), rcv)
	p := deliverPDUs("+15551234567", "STOP")[0]
	fm.emitCMT(p)
	rcv.waitReceive(t)
	if n := fm.cnmaCount(); n != 0 {
		t.Fatalf("+CMT acknowledged %d times although Receive failed", n)
	}
	rcv.setFail(nil)
	fm.emitCMT(p) // the network delivers it again
	rcv.waitReceive(t)
	for i := 0; fm.cnmaCount() == 0; i++ {
		if i == 400 {
			t.Fatal("+CMT not acknowledged after Receive returned nil")
		}
		sleepTick()
	}
	if got := rcv.inbound(); len(got) != 1 || got[0].Body != "STOP" {
		t.Errorf("Receiver got %+v", got)
	}
}

func (f *fakeModem) cnmaCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cnma
}

// waitStored waits until the SIM holds want (the deletes follow Receive).
func waitStored(t *testing.T, fm *fakeModem, want []int) {
	t.Helper()
	for range 400 {
		if slices.Equal(fm.stored(), want) {
			return
		}
		sleepTick()
	}
	t.Fatalf("SIM holds %v, want %v", fm.stored(), want)
}

func TestParseCMGR(t *testing.T) {
	pdu, ok := parseCMGR([]string{"+CMGR: 0,,22", `+CMTI: "SM",3`, "garbage!", "0791447758100650040C914477", "OK"})
	if !ok || pdu != "0791447758100650040C914477" {
		t.Errorf("parseCMGR = %q %v", pdu, ok)
	}
	if _, ok := parseCMGR([]string{"OK"}); ok {
		t.Error("parseCMGR of an empty slot found a PDU")
	}
}

func FuzzTake(f *testing.F) {
	for _, p := range deliverPDUs("+15551234567", strings.Repeat("Réponse 👍 ", 10)) {
		f.Add(p[1])
	}
	f.Add("00")
	f.Add("zz")
	f.Fuzz(func(t *testing.T, hexPDU string) {
		tp, err := decodePDU(hexPDU, 0)
		if err != nil {
			return
		}
		_, _, _, _ = partKey(tp)
		_ = isPart(tp)
		_ = parseCMGL([]string{"+CMGL: 1,0,,3", hexPDU})
		_, _ = parseCMGR([]string{"+CMGR: 0,,3", hexPDU})
	})
}
