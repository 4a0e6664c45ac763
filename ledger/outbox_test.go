package ledger

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/textback/textback/sms"
	"github.com/textback/textback/sms/smstest"
)

// startDispatcher runs a dispatcher until the test ends.
func startDispatcher(t *testing.T, l *Ledger, d sms.Driver, o DispatcherOptions) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- NewDispatcher(l, d, o).Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("dispatcher: %v", err)
		}
	})
}

// waitText waits until text seq leaves the queued and sending states.
func waitText(t *testing.T, l *Ledger, seq uint64) Text {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		txt, err := l.Store().Text(seq)
		if err != nil {
			t.Fatal(err)
		}
		if txt.Status != StatusQueued && txt.Status != StatusSending {
			return txt
		}
		if time.Now().After(deadline) {
			t.Fatalf("text %d still %s after 10s", seq, txt.Status)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func realClockConfig(edit func(*Config)) Config {
	cfg := Config{Lines: []Line{testLine()}, Policy: DefaultPolicy()}
	cfg.Policy.RetryBase, cfg.Policy.RetryMax = 5*time.Millisecond, 20*time.Millisecond
	if edit != nil {
		edit(&cfg)
	}
	return cfg
}

func TestDispatcher_Outcomes(t *testing.T) {
	tests := []struct {
		name    string
		script  []smstest.FakeResult
		status  TextStatus
		sends   int
		optOut  bool
		landing bool
	}{
		{name: "Accepted", status: StatusSent, sends: 1},
		{name: "TemporaryIsRetried", script: []smstest.FakeResult{{Outcome: sms.Temporary}, {Outcome: sms.Temporary}}, status: StatusSent, sends: 3},
		{name: "RetryAfterIsHonoured", script: []smstest.FakeResult{{Outcome: sms.Temporary, RetryAfter: 30 * time.Millisecond}}, status: StatusSent, sends: 2},
		{name: "GivesUpAfterMaxAttempts", script: []smstest.FakeResult{{Outcome: sms.Temporary}, {Outcome: sms.Temporary}, {Outcome: sms.Temporary}}, status: StatusFailed, sends: 3},
		{name: "RejectedIsNotRetried", script: []smstest.FakeResult{{Outcome: sms.Rejected, Code: "21211"}}, status: StatusFailed, sends: 1},
		{name: "CarrierOptOutIsRecorded", script: []smstest.FakeResult{{Outcome: sms.OptedOut, Code: "21610"}}, status: StatusFailed, sends: 1, optOut: true},
		{name: "LandlineIsRemembered", script: []smstest.FakeResult{{Outcome: sms.NotMobile, Code: "21614"}}, status: StatusFailed, sends: 1, landing: true},
		{name: "UnknownIsNotRetried", script: []smstest.FakeResult{{Outcome: sms.Unknown}}, status: StatusUnknown, sends: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLedgerAt(t, realClockConfig(func(c *Config) { c.Policy.MaxAttempts = 3 }), time.Now)
			fake := smstest.NewFake()
			fake.Script(tt.script...)
			startDispatcher(t, l, fake, DispatcherOptions{})
			call, err := l.Record(missed("c", testCaller, time.Now()))
			if err != nil {
				t.Fatal(err)
			}
			txt := waitText(t, l, call.Text)
			if txt.Status != tt.status {
				t.Fatalf("status %s (%s), want %s", txt.Status, txt.Error, tt.status)
			}
			if n := len(fake.Sent()); n != tt.sends || txt.Attempts != tt.sends {
				t.Fatalf("%d sends, %d attempts recorded, want %d", n, txt.Attempts, tt.sends)
			}
			if len(tt.script) > 0 && tt.script[0].Code != "" && txt.Code != tt.script[0].Code {
				t.Errorf("code %q, want %q", txt.Code, tt.script[0].Code)
			}
			ns, err := l.Store().Number(testCaller)
			if err != nil {
				t.Fatal(err)
			}
			if ns.OptedOut != tt.optOut || ns.NotMobile != tt.landing {
				t.Fatalf("number state %+v, want opted out %v, not mobile %v", ns, tt.optOut, tt.landing)
			}
			if tt.optOut {
				h, _ := l.Store().ConsentHistory(testCaller)
				if len(h) != 1 || h[0].Source != SourceCarrier || h[0].Evidence != "21610" {
					t.Fatalf("consent history %+v, want one carrier opt-out with code 21610", h)
				}
			}
			if got := fake.Sent()[0]; got.To != testCaller || got.From != testLineNumber || !strings.Contains(got.Body, "Acme Plumbing") {
				t.Fatalf("sent %+v", got)
			}
		})
	}
}

// A text queued before an opt-out is dropped, not sent (invariant 1 at
// send time).
func TestDispatcher_DropsTextToNumberOptedOutMeanwhile(t *testing.T) {
	l := newLedgerAt(t, realClockConfig(nil), time.Now)
	call, err := l.Record(missed("c", testCaller, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.OptOut(testCaller, "", "called the office"); err != nil {
		t.Fatal(err)
	}
	fake := smstest.NewFake()
	startDispatcher(t, l, fake, DispatcherOptions{})
	txt := waitText(t, l, call.Text)
	if txt.Status != StatusDropped || len(fake.Sent()) != 0 {
		t.Fatalf("status %s, %d sends; want dropped and nothing sent", txt.Status, len(fake.Sent()))
	}
}

// Invariant 2 after a crash: a text left `sending` becomes `unknown` and
// is never resent.
func TestDispatcher_RecoverMarksSendingUnknown(t *testing.T) {
	l := newLedgerAt(t, realClockConfig(nil), time.Now)
	call, err := l.Record(missed("c", testCaller, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	d := NewDispatcher(l, nil, DispatcherOptions{})
	claimed, _, err := d.claim(10) // as if the process died right after the claim
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	fake := smstest.NewFake()
	startDispatcher(t, l, fake, DispatcherOptions{})
	txt := waitText(t, l, call.Text)
	if txt.Status != StatusUnknown {
		t.Fatalf("status %s, want unknown", txt.Status)
	}
	time.Sleep(20 * time.Millisecond)
	if n := len(fake.Sent()); n != 0 {
		t.Fatalf("%d sends after recovery, want 0", n)
	}
}

func TestDispatcher_QuietHours(t *testing.T) {
	for _, action := range []QuietAction{QuietHold, QuietDrop} {
		t.Run(string(action), func(t *testing.T) {
			clock := &testClock{now: time.Date(2026, 11, 24, 20, 50, 0, 0, time.UTC)}
			l := newLedgerAt(t, realClockConfig(func(c *Config) { c.Policy.Quiet = action }), clock.Now)
			call, err := l.Record(missed("c", testCaller, clock.Now()))
			if err != nil {
				t.Fatal(err)
			}
			clock.Advance(20 * time.Minute) // the send was delayed (driver down) into 21:10
			d := NewDispatcher(l, smstest.NewFake(), DispatcherOptions{})
			claimed, next, err := d.claim(10)
			if err != nil || len(claimed) != 0 {
				t.Fatalf("claimed %v, %v; want nothing during quiet hours", claimed, err)
			}
			txt, _ := l.Store().Text(call.Text)
			switch action {
			case QuietHold:
				want := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
				if txt.Status != StatusQueued || !txt.NotBefore.Equal(want) || !next.Equal(want) {
					t.Fatalf("status %s not before %s (next %s), want held until %s", txt.Status, txt.NotBefore, next, want)
				}
				clock.now = want.Add(time.Minute)
				claimed, _, err = d.claim(10)
				if err != nil || len(claimed) != 1 {
					t.Fatalf("after quiet hours claimed %v %v, want the held text", claimed, err)
				}
			case QuietDrop:
				if txt.Status != StatusDropped || !strings.Contains(txt.Error, "quiet") {
					t.Fatalf("status %s (%s), want dropped for quiet hours", txt.Status, txt.Error)
				}
			}
		})
	}
}

func TestDispatcher_CallbackAtNightWithinGraceIsSent(t *testing.T) {
	clock := &testClock{now: time.Date(2026, 11, 24, 23, 0, 0, 0, time.UTC)}
	l := newLedgerAt(t, realClockConfig(nil), clock.Now)
	if _, err := l.Record(missed("c", testCaller, clock.Now())); err != nil {
		t.Fatal(err)
	}
	claimed, _, err := NewDispatcher(l, nil, DispatcherOptions{}).claim(10)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claimed %v %v: a text answering a call seconds ago goes out even at night", claimed, err)
	}
}

func TestDispatcher_DropsStaleCallback(t *testing.T) {
	clock := &testClock{now: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)}
	l := newLedgerAt(t, realClockConfig(nil), clock.Now)
	call, err := l.Record(missed("c", testCaller, clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(3 * time.Hour)
	if claimed, _, err := NewDispatcher(l, nil, DispatcherOptions{}).claim(10); err != nil || len(claimed) != 0 {
		t.Fatalf("claimed %v %v", claimed, err)
	}
	if txt, _ := l.Store().Text(call.Text); txt.Status != StatusDropped || !strings.Contains(txt.Error, "stale") {
		t.Fatalf("status %s (%s), want dropped as stale", txt.Status, txt.Error)
	}
}

func TestDispatcher_HangingDriverGivesUnknown(t *testing.T) {
	l := newLedgerAt(t, realClockConfig(nil), time.Now)
	fake := smstest.NewFake()
	fake.Script(smstest.FakeResult{Block: true})
	startDispatcher(t, l, fake, DispatcherOptions{SendTimeout: 50 * time.Millisecond})
	call, err := l.Record(missed("c", testCaller, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if txt := waitText(t, l, call.Text); txt.Status != StatusUnknown {
		t.Fatalf("status %s, want unknown after the send timed out", txt.Status)
	}
}

func TestLedger_SendManual(t *testing.T) {
	l := newLedgerAt(t, realClockConfig(nil), time.Now)
	fake := smstest.NewFake()
	seq, err := l.SendManual("main", "(555) 765-4321", "Test from the office")
	if err != nil {
		t.Fatal(err)
	}
	txt, err := l.SendNow(context.Background(), fake, seq)
	if err != nil || txt.Status != StatusSent || len(fake.Sent()) != 1 || fake.Sent()[0].To != testCaller {
		t.Fatalf("text %+v err %v sent %v", txt, err, fake.Sent())
	}
	if _, err := l.OptOut(testCaller, "", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := l.SendManual("main", testCaller, "again"); err == nil || !strings.Contains(err.Error(), "opted out") {
		t.Fatalf("SendManual to an opted-out number: %v, want a refusal", err)
	}
	if _, err := l.SendManual("nope", testCaller, "x"); err == nil {
		t.Fatal("SendManual from an unknown line succeeded")
	}
}
