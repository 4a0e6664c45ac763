package modem

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	wsms "github.com/warthog618/sms"
	"github.com/warthog618/sms/encoding/tpdu"
)

// fakeClock is the Driver's clock in tests that wait for partial_timeout.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func withClock(c *fakeClock) func(*Driver) { return func(d *Driver) { d.now = c.now } }

// multipartOf encodes body from sender as SMS-DELIVER segments with
// concatenation reference ref: the PDU-mode hex of each (empty SMSC) and
// the text each carries alone.
func multipartOf(t *testing.T, from, body string, ref int) (pdus, texts []string) {
	t.Helper()
	segs, err := wsms.Encode([]byte(body), wsms.AsDeliver, wsms.From(from), refOption{newCounter(ref - 1), newCounter(0)})
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) < 2 {
		t.Fatalf("%q is a single segment", body)
	}
	for i := range segs {
		b, err := segs[i].MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		txt, err := wsms.Decode([]*tpdu.TPDU{&segs[i]})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, r, _ := segs[i].ConcatInfo(); r != ref {
			t.Fatalf("segment has reference %d, want %d", r, ref)
		}
		pdus = append(pdus, fmt.Sprintf("00%X", b))
		texts = append(texts, string(txt))
	}
	return pdus, texts
}

// indicate stores nothing: it emits +CMTI for idx and waits until the
// driver has read and handled it (indications and barrier reach Run's
// goroutine by different channels: the AT+CMGR shows it took this one).
func indicate(t *testing.T, fm *fakeModem, d *Driver, idx int) {
	t.Helper()
	cmd := "AT+CMGR=" + itoa(idx)
	count := func() (n int) {
		for _, c := range fm.commands() {
			if c == cmd {
				n++
			}
		}
		return n
	}
	before := count()
	fm.emit(`+CMTI: "SM",` + itoa(idx))
	for i := 0; count() == before; i++ {
		if i == 400 {
			t.Fatalf("the driver did not read index %d after its +CMTI", idx)
		}
		sleepTick()
	}
	barrier(t, d) // AT+CMGR was sent from the handler: it has now returned
}

// cmgdCounts counts the AT+CMGD commands the fake received, by index.
func (f *fakeModem) cmgdCounts() map[int]int {
	n := map[int]int{}
	for _, c := range f.commands() {
		if v, ok := strings.CutPrefix(c, "AT+CMGD="); ok {
			var i int
			if _, err := fmt.Sscan(v, &i); err == nil {
				n[i]++
			}
		}
	}
	return n
}

// wantDeletedOnce fails unless each of idxs got exactly one AT+CMGD and
// no other index got any.
func wantDeletedOnce(t *testing.T, fm *fakeModem, idxs ...int) {
	t.Helper()
	got := fm.cmgdCounts()
	want := map[int]int{}
	for _, i := range idxs {
		want[i] = 1
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("AT+CMGD per index %v, want %v (each part once)", got, want)
	}
}

func wantNothingYet(t *testing.T, fm *fakeModem, rcv *recorder, d *Driver) {
	t.Helper()
	barrier(t, d)
	if got := rcv.inbound(); len(got) != 0 {
		t.Fatalf("Receiver got %+v before the text was whole or due", got)
	}
	if n := fm.cmgdCounts(); len(n) != 0 {
		t.Fatalf("AT+CMGD %v before the text was recorded", n)
	}
}

// expireNow runs the partial_timeout check on Run's goroutine.
func expireNow(t *testing.T, d *Driver) {
	t.Helper()
	if err := d.do(t, func(ctx context.Context, s *session) error { return s.rx.expire(ctx) }); err != nil {
		t.Fatalf("expire: %v", err)
	}
}

const threeParts = "Part of a long reply that needs three segments to arrive whole. " +
	"Part of a long reply that needs three segments to arrive whole. " +
	"Part of a long reply that needs three segments to arrive whole. " +
	"Part of a long reply that needs three segments to arrive whole. " +
	"Part of a long reply that needs three segments to arrive whole. " +
	"Part of a long reply that needs three segments to arrive whole. The end."

// Parts stored and indicated 3, 1, 2: one text, whole and in order,
// nothing before the last part, every part deleted once after Receive.
func TestDriver_MultipartOutOfOrder(t *testing.T) {
	fm := newFakeModem()
	rcv := newRecorder()
	d, _ := startFake(t, fm, testConfig(), rcv)
	pdus, _ := multipartOf(t, "+447700900123", threeParts, 7)
	if len(pdus) != 3 {
		t.Fatalf("%d segments, want 3", len(pdus))
	}
	idx := make([]int, 3)
	for _, i := range []int{2, 0} {
		idx[i] = fm.storePDU(pdus[i])
		indicate(t, fm, d, idx[i])
	}
	wantNothingYet(t, fm, rcv, d)
	idx[1] = fm.storePDU(pdus[1])
	fm.emit(`+CMTI: "SM",` + itoa(idx[1]))
	rcv.waitReceive(t)
	if got := rcv.inbound(); len(got) != 1 || got[0].Body != threeParts || got[0].From != "+447700900123" {
		t.Fatalf("Receiver got %+v, want the three parts whole, in order", got)
	}
	waitStored(t, fm, nil)
	barrier(t, d)
	wantDeletedOnce(t, fm, idx...)
}

// A part read again (the same index by a re-sweep and a repeated +CMTI,
// and a second copy of it stored at another index) counts once: the text
// is whole, not doubled, and each index is deleted exactly once.
func TestDriver_MultipartDuplicateFromSweep(t *testing.T) {
	fm := newFakeModem()
	rcv := newRecorder()
	d, _ := startFake(t, fm, testConfig(), rcv)
	body := strings.Repeat("Two segments, the first one read many times. ", 5)
	pdus, _ := multipartOf(t, "+15551234567", body, 42)
	if len(pdus) != 2 {
		t.Fatalf("%d segments, want 2", len(pdus))
	}
	a := fm.storePDU(pdus[0])
	indicate(t, fm, d, a)
	if err := d.do(t, func(ctx context.Context, s *session) error { return s.rx.sweep(ctx) }); err != nil {
		t.Fatalf("sweep: %v", err)
	}
	indicate(t, fm, d, a)
	b := fm.storePDU(pdus[0]) // the network delivered it twice
	indicate(t, fm, d, b)
	wantNothingYet(t, fm, rcv, d)
	c := fm.storePDU(pdus[1])
	fm.emit(`+CMTI: "SM",` + itoa(c))
	rcv.waitReceive(t)
	if got := rcv.inbound(); len(got) != 1 || got[0].Body != body {
		t.Fatalf("Receiver got %+v, want the text once, whole", got)
	}
	waitStored(t, fm, nil)
	barrier(t, d)
	wantDeletedOnce(t, fm, a, b, c)
}

// Part 2 of 3 never arrives: partial_timeout after the first part (not
// the last), the text is recorded with the gap marked, and the two stored
// parts are deleted, once each.
func TestDriver_MultipartGapAfterTimeout(t *testing.T) {
	fm := newFakeModem()
	rcv := newRecorder()
	clk := newFakeClock()
	cfg := testConfig()
	cfg.HealthInterval = 50 * time.Millisecond
	cfg.PartialTimeout = 24 * time.Hour
	d, _ := startFake(t, fm, cfg, rcv, withClock(clk))
	pdus, texts := multipartOf(t, "+15557654321", threeParts, 200)
	first := fm.storePDU(pdus[0])
	indicate(t, fm, d, first)
	clk.advance(12 * time.Hour)
	third := fm.storePDU(pdus[2])
	indicate(t, fm, d, third)
	clk.advance(12*time.Hour - time.Nanosecond)
	expireNow(t, d)
	wantNothingYet(t, fm, rcv, d)

	clk.advance(time.Nanosecond) // 24h after the first part
	rcv.waitReceive(t)           // from a health check
	want := texts[0] + gapMarker + texts[2]
	got := rcv.inbound()
	if len(got) != 1 || got[0].Body != want || got[0].From != "+15557654321" {
		t.Fatalf("Receiver got %+v, want %q", got, want)
	}
	waitStored(t, fm, nil)
	expireNow(t, d)
	if n := len(rcv.inbound()); n != 1 {
		t.Errorf("text recorded %d times, want once", n)
	}
	wantDeletedOnce(t, fm, first, third)
}

// Receive fails: nothing is deleted; a later health check hands the
// whole text over again (its parts read again by the retry sweep count
// once), and only then are the parts deleted, once each.
func TestDriver_MultipartReceiveFails(t *testing.T) {
	fm := newFakeModem()
	rcv := newRecorder()
	rcv.setFail(errors.New("ledger full"))
	cfg := testConfig()
	cfg.HealthInterval = 50 * time.Millisecond
	d, _ := startFake(t, fm, cfg, rcv)
	body := strings.Repeat("Réponse en deux parties 👍 ", 4)
	pdus, _ := multipartOf(t, "+15551112222", body, 9)
	var idxs []int
	for _, p := range pdus {
		idxs = append(idxs, fm.storePDU(p))
		fm.emit(`+CMTI: "SM",` + itoa(idxs[len(idxs)-1]))
	}
	rcv.waitReceive(t) // failed
	rcv.waitReceive(t) // failed again, at a health check
	barrier(t, d)
	if n := fm.cmgdCounts(); len(n) != 0 {
		t.Fatalf("AT+CMGD %v although Receive failed", n)
	}
	if got := fm.stored(); !slices.Equal(got, idxs) {
		t.Fatalf("SIM holds %v, want %v kept", got, idxs)
	}
	rcv.setFail(nil)
	for len(rcv.inbound()) == 0 {
		rcv.waitReceive(t)
	}
	waitStored(t, fm, nil)
	barrier(t, d)
	if got := rcv.inbound(); len(got) != 1 || got[0].Body != body {
		t.Fatalf("Receiver recorded %+v, want the text once, whole", got)
	}
	wantDeletedOnce(t, fm, idxs...)
}

// waitReopened waits until the modem was opened n times and the driver is
// ready on the new link.
func waitReopened(t *testing.T, fm *fakeModem, d *Driver, n int) {
	t.Helper()
	for range 800 {
		if fm.openCount() >= n && d.Status().State == StateReady {
			return
		}
		sleepTick()
	}
	t.Fatalf("modem opened %d times, state %s; want %d opens and ready", fm.openCount(), d.Status().State, n)
}

// +CMT parts straddling an unplug: the first is acknowledged at once and
// kept by the Driver, the second completes the text on the new link.
func TestDriver_MultipartAcrossReconnect(t *testing.T) {
	fm := newFakeModem()
	rcv := newRecorder()
	d, _ := startFake(t, fm, testConfig(), rcv)
	body := strings.Repeat("Sent directly, split across a replug. ", 6)
	pdus, _ := multipartOf(t, "+15553334444", body, 77)
	if len(pdus) != 2 {
		t.Fatalf("%d segments, want 2", len(pdus))
	}
	cmt := func(p string) { fm.emitCMT([2]string{fmt.Sprintf("+CMT: ,%d", len(p)/2-1), p}) }
	cmt(pdus[0])
	for i := 0; fm.cnmaCount() == 0; i++ { // acknowledged at once
		if i == 400 {
			t.Fatal("first +CMT part not acknowledged")
		}
		sleepTick()
	}
	barrier(t, d)
	if n := fm.cnmaCount(); n != 1 {
		t.Fatalf("first +CMT part acknowledged %d times, want once", n)
	}
	fm.unplug()
	waitReopened(t, fm, d, 2)
	if got := rcv.inbound(); len(got) != 0 {
		t.Fatalf("Receiver got %+v before the second part", got)
	}
	cmt(pdus[1])
	rcv.waitReceive(t)
	if got := rcv.inbound(); len(got) != 1 || got[0].Body != body {
		t.Fatalf("Receiver got %+v, want the text whole after the reconnect", got)
	}
	barrier(t, d)
	if n := fm.cnmaCount(); n != 2 {
		t.Errorf("+CMT parts acknowledged %d times, want 2 (once each)", n)
	}
}

// A stored part read again by the sweep of a new link is the same part:
// its partial_timeout still counts from its first reading, and it is
// deleted once.
func TestDriver_MultipartTimerSurvivesReconnect(t *testing.T) {
	fm := newFakeModem()
	rcv := newRecorder()
	clk := newFakeClock()
	d, _ := startFake(t, fm, testConfig(), rcv, withClock(clk))
	pdus, texts := multipartOf(t, "+15553334444", threeParts, 5)
	second := fm.storePDU(pdus[1])
	indicate(t, fm, d, second)
	clk.advance(23 * time.Hour)
	fm.unplug()
	waitReopened(t, fm, d, 2) // its sweep read the part again
	clk.advance(time.Hour - time.Nanosecond)
	expireNow(t, d)
	wantNothingYet(t, fm, rcv, d)
	clk.advance(time.Nanosecond)
	expireNow(t, d)
	want := gapMarker + texts[1] + gapMarker
	if got := rcv.inbound(); len(got) != 1 || got[0].Body != want {
		t.Fatalf("Receiver got %+v, want %q 24h after the first reading", got, want)
	}
	waitStored(t, fm, nil)
	wantDeletedOnce(t, fm, second)
}

// textback restarts between the parts: the first stays on the SIM (not
// recorded, not deleted), and the new process's sweep at start
// reassembles it with the second.
func TestDriver_MultipartAfterRestart(t *testing.T) {
	fm := newFakeModem()
	rcv1 := newRecorder()
	d1, _, stop := runFake(t, fm, testConfig(), rcv1)
	body := strings.Repeat("Half before a restart, half after. ", 6)
	pdus, _ := multipartOf(t, "+15556667777", body, 13)
	a := fm.storePDU(pdus[0])
	indicate(t, fm, d1, a)
	wantNothingYet(t, fm, rcv1, d1)
	stop()
	if got := fm.stored(); !slices.Equal(got, []int{a}) {
		t.Fatalf("SIM holds %v after the stop, want the first part %d kept", got, a)
	}
	b := fm.storePDU(pdus[1]) // arrived while textback was down
	rcv2 := newRecorder()
	d2, _ := startFake(t, fm, testConfig(), rcv2)
	rcv2.waitReceive(t)
	if got := rcv2.inbound(); len(got) != 1 || got[0].Body != body {
		t.Fatalf("Receiver got %+v after the restart, want the text whole", got)
	}
	waitStored(t, fm, nil)
	barrier(t, d2)
	wantDeletedOnce(t, fm, a, b)
}

// A UCS-2 surrogate pair split across parts survives when both parts
// are in and is dropped, not mangled, at a gap.
func TestMultipartBody(t *testing.T) {
	var segs []tpdu.TPDU
	body := strings.Repeat("x", 66) + "😀" + strings.Repeat("y", 60)
	// Split by hand: UCS-2 parts of 134 octets (67 units) put the emoji's
	// high surrogate at the end of part 1 and its low one at the start of
	// part 2.
	u := utf16be(body)
	for i, chunk := range [][]byte{u[:134], u[134:]} {
		tp := tpdu.TPDU{Direction: tpdu.MT}
		tp.SetSmsType(tpdu.SmsDeliver)
		tp.DCS = 0x08
		tp.UDH = tpdu.UserDataHeader{{ID: 0, Data: []byte{3, 2, byte(i + 1)}}}
		tp.UD = chunk
		segs = append(segs, tp)
	}
	p := &multipart{total: 2, parts: map[int]*tpdu.TPDU{1: &segs[0], 2: &segs[1]}}
	if got, err := p.body(); err != nil || got != body {
		t.Errorf("body of both parts = %q, %v; want %q", got, err, body)
	}
	p = &multipart{total: 2, parts: map[int]*tpdu.TPDU{1: &segs[0]}}
	if got, err := p.body(); err != nil || got != strings.Repeat("x", 66)+gapMarker {
		t.Errorf("body with part 2 missing = %q, %v", got, err)
	}
}

func utf16be(s string) []byte {
	var out []byte
	for _, r := range s {
		if r >= 0x10000 {
			r -= 0x10000
			hi, lo := 0xD800+(r>>10), 0xDC00+(r&0x3FF)
			out = append(out, byte(hi>>8), byte(hi), byte(lo>>8), byte(lo))
			continue
		}
		out = append(out, byte(r>>8), byte(r))
	}
	return out
}

func TestConfig_PartialTimeout(t *testing.T) {
	err := Config{Device: "/dev/x", PartialTimeout: -time.Hour}.Validate()
	if err == nil || !strings.Contains(err.Error(), "modem.partial_timeout") {
		t.Errorf("Validate with a negative partial_timeout: %v", err)
	}
	if c := (Config{Device: "/dev/x"}).withDefaults(); c.PartialTimeout != 24*time.Hour {
		t.Errorf("default partial_timeout %v, want 24h", c.PartialTimeout)
	}
}
