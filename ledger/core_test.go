package ledger

import (
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// testClock is an injected clock the test moves by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

const (
	testLineNumber = "+15555551000"
	testDID        = "5551000"
	testCaller     = "+15557654321"
	testStaff      = "+15555550199"
)

func testLine() Line {
	return Line{
		Name:     "main",
		Number:   testLineNumber,
		Aliases:  []string{testDID},
		Country:  "US",
		Business: "Acme Plumbing",
		Template: "Sorry we missed your call to {{.Business}}. What can we help with? Reply STOP to opt out.",
		Help:     "{{.Business}} help: call {{.Line}}. Reply STOP to opt out.",
		Staff:    []string{testStaff},
	}
}

// newTestLedger builds the core on a fresh store with one line ("main")
// and a clock on a Tuesday at 10:00 UTC. edit may change the config.
func newTestLedger(t *testing.T, edit func(*Config)) (*Ledger, *testClock) {
	t.Helper()
	cfg := Config{Lines: []Line{testLine()}, Policy: DefaultPolicy()}
	if edit != nil {
		edit(&cfg)
	}
	clock := &testClock{now: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)}
	return newLedgerAt(t, cfg, clock.Now), clock
}

func newLedgerAt(t *testing.T, cfg Config, now func() time.Time) *Ledger {
	t.Helper()
	l, err := New(openTestStore(t), cfg, Options{Now: now, Log: zerolog.Nop()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return l
}

// missed returns a missed-call verdict from caller on the test line.
func missed(call, from string, at time.Time) Verdict {
	return Verdict{PBX: "test", Call: call, Outcome: Missed, Reason: ReasonNoAnswer, From: from, Line: testDID,
		OfferedAt: at.Add(-20 * time.Second), EndedAt: at, RingTime: 20 * time.Second}
}
