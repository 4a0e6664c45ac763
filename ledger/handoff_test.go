package ledger

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/textback/textback/sms"
	"github.com/textback/textback/sms/smstest"
)

// gatedDriver holds every Send until the gate opens, then passes it on.
type gatedDriver struct {
	*smstest.Fake
	gate    chan struct{}
	mu      sync.Mutex
	waiting int
}

func (g *gatedDriver) Send(ctx context.Context, m sms.Message) (sms.Result, error) {
	g.mu.Lock()
	g.waiting++
	g.mu.Unlock()
	select {
	case <-g.gate:
	case <-ctx.Done():
		return sms.Result{}, &sms.Error{Outcome: sms.Unknown, Err: ctx.Err()}
	}
	return g.Fake.Send(ctx, m)
}

func (g *gatedDriver) held() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.waiting
}

func waitHandoff(t *testing.T, l *Ledger) *handoff {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if h := l.hand.Load(); h != nil {
			return h
		}
	}
	t.Fatal("the dispatcher never opened its fast lane")
	return nil
}

// TestHandoff_FastLane: with the dispatcher idle, a missed call's text is
// claimed in the write that records the call and sent once, attempt 1,
// without passing through the queue.
func TestHandoff_FastLane(t *testing.T) {
	l := newLedgerAt(t, realClockConfig(nil), time.Now)
	fake := smstest.NewFake()
	startDispatcher(t, l, fake, DispatcherOptions{Workers: 2})
	h := waitHandoff(t, l)
	call, err := l.Record(missed("fast", testCaller, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if h.handed.Load() != 1 {
		t.Fatalf("%d texts handed over, want 1", h.handed.Load())
	}
	txt := waitText(t, l, call.Text)
	if txt.Status != StatusSent || txt.Attempts != 1 || len(fake.Sent()) != 1 {
		t.Fatalf("text %s after %d attempts, %d sends; want sent once", txt.Status, txt.Attempts, len(fake.Sent()))
	}
}

// TestHandoff_BusyLanesUseTheOutbox: a text that finds every lane busy is
// queued and sent by the outbox; every text goes out exactly once.
func TestHandoff_BusyLanesUseTheOutbox(t *testing.T) {
	l := newLedgerAt(t, realClockConfig(nil), time.Now)
	g := &gatedDriver{Fake: smstest.NewFake(), gate: make(chan struct{})}
	startDispatcher(t, l, g, DispatcherOptions{Workers: 1})
	h := waitHandoff(t, l)
	callers := []string{"+15557654301", "+15557654302", "+15557654303"}
	var texts []uint64
	for i, c := range callers {
		call, err := l.Record(missed("busy"+c, c, time.Now()))
		if err != nil {
			t.Fatal(err)
		}
		texts = append(texts, call.Text)
		if i == 0 {
			for g.held() < 1 {
				time.Sleep(time.Millisecond)
			}
		}
	}
	if h.handed.Load() != 1 {
		t.Fatalf("%d texts handed over, want 1 (the lane was busy for the others)", h.handed.Load())
	}
	close(g.gate)
	seen := map[string]int{}
	for _, seq := range texts {
		if txt := waitText(t, l, seq); txt.Status != StatusSent {
			t.Fatalf("text %d: %s", seq, txt.Status)
		}
	}
	for _, m := range g.Sent() {
		seen[m.To]++
	}
	for _, c := range callers {
		if seen[c] != 1 {
			t.Errorf("%s texted %d times, want once", c, seen[c])
		}
	}
}

// TestHandoff_CloseUnclaims: a text handed over but never taken by a lane
// (the dispatcher stopping) goes back to the outbox unsent, and the next
// dispatcher sends it once.
func TestHandoff_CloseUnclaims(t *testing.T) {
	l := newLedgerAt(t, realClockConfig(nil), time.Now)
	h := newHandoff(1) // lanes that never run
	l.hand.Store(h)
	call, err := l.Record(missed("stop", testCaller, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if txt, _ := l.Store().Text(call.Text); txt.Status != StatusSending || txt.Attempts != 1 {
		t.Fatalf("handed text is %s after %d attempts; want sending, 1", txt.Status, txt.Attempts)
	}
	l.closeHandoff(h)
	txt, err := l.Store().Text(call.Text)
	if err != nil {
		t.Fatal(err)
	}
	if txt.Status != StatusQueued || txt.Attempts != 0 {
		t.Fatalf("after close the text is %s after %d attempts; want queued, 0", txt.Status, txt.Attempts)
	}
	if depth, _, err := l.Store().QueueDepth(); err != nil || depth != 1 {
		t.Fatalf("queue depth %d (%v), want 1", depth, err)
	}
	fake := smstest.NewFake()
	startDispatcher(t, l, fake, DispatcherOptions{})
	if txt := waitText(t, l, call.Text); txt.Status != StatusSent || txt.Attempts != 1 || len(fake.Sent()) != 1 {
		t.Fatalf("text %s after %d attempts, %d sends; want sent once", txt.Status, txt.Attempts, len(fake.Sent()))
	}
	// After the close nothing is handed over any more.
	if _, err := l.Record(missed("after", "+15557654399", time.Now())); err != nil {
		t.Fatal(err)
	}
	if h.handed.Load() != 1 {
		t.Fatalf("%d handed over after close", h.handed.Load())
	}
}

// TestDispatcher_StopFinishesSends: stopping the dispatcher while a text is
// with the driver lets that send finish and records its outcome; it does
// not abort the request into an unknown.
func TestDispatcher_StopFinishesSends(t *testing.T) {
	l := newLedgerAt(t, realClockConfig(nil), time.Now)
	g := &gatedDriver{Fake: smstest.NewFake(), gate: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- NewDispatcher(l, g, DispatcherOptions{Workers: 1}).Run(ctx) }()
	waitHandoff(t, l)
	call, err := l.Record(missed("stopping", testCaller, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	for g.held() < 1 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		t.Fatalf("dispatcher returned (%v) with a send in progress", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(g.gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	txt, err := l.Store().Text(call.Text)
	if err != nil {
		t.Fatal(err)
	}
	if txt.Status != StatusSent || len(g.Sent()) != 1 {
		t.Fatalf("text %s (%s), %d sends; want sent once", txt.Status, txt.Error, len(g.Sent()))
	}
}
