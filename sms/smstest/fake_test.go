package smstest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/textback/textback/sms"
	"github.com/textback/textback/sms/smstest"
)

// fakeHarness runs the suite against a Fake. The Fake's peer view is the
// sends it accepted; its faults are scripted results.
func fakeHarness() smstest.Harness {
	var fake *smstest.Fake
	return smstest.Harness{
		New: func(t *testing.T) sms.Driver {
			fake = smstest.NewFake()
			return fake
		},
		Sent: func(t *testing.T) []sms.Message { return accepted(fake) },
		Fault: func(t *testing.T, f smstest.Fault) bool {
			fake.Script(smstest.FakeResult{Outcome: f.Outcome(), Code: "smstest", Block: f == smstest.FaultHang})
			return true
		},
	}
}

func accepted(f *smstest.Fake) []sms.Message {
	var ms []sms.Message
	for _, s := range f.Sends() {
		if s.Outcome == sms.Accepted {
			ms = append(ms, s.Message)
		}
	}
	return ms
}

func TestFake_Conformance(t *testing.T) {
	smstest.Run(t, fakeHarness())
}

func TestFake_Script(t *testing.T) {
	fake := smstest.NewFake()
	fake.Script(
		smstest.FakeResult{Outcome: sms.Temporary, RetryAfter: time.Minute},
		smstest.FakeResult{},
		smstest.FakeResult{Outcome: sms.OptedOut, Code: "21610"},
	)
	fake.Script(smstest.FakeResult{Outcome: sms.Unknown})
	type want struct {
		outcome    sms.Outcome
		code, id   string
		retryAfter time.Duration
	}
	wants := []want{
		{outcome: sms.Temporary, retryAfter: time.Minute},
		{outcome: sms.Accepted, id: "fake-1"},
		{outcome: sms.OptedOut, code: "21610"},
		{outcome: sms.Unknown},
		{outcome: sms.Accepted, id: "fake-2"}, // script exhausted
		{outcome: sms.Accepted, id: "fake-3"},
	}
	for i, w := range wants {
		res, err := fake.Send(t.Context(), sms.Message{To: "+15555550123", Body: string(rune('a' + i))})
		if o := sms.OutcomeOf(err); o != w.outcome {
			t.Fatalf("send %d: %v (outcome %s), want %s", i, err, o, w.outcome)
		}
		if res.ProviderID != w.id {
			t.Errorf("send %d: ProviderID %q, want %q", i, res.ProviderID, w.id)
		}
		var se *sms.Error
		if err != nil && (!errors.As(err, &se) || se.Code != w.code || se.RetryAfter != w.retryAfter) {
			t.Errorf("send %d: %#v, want code %q retry after %v", i, err, w.code, w.retryAfter)
		}
	}
	sent := fake.Sent()
	if len(sent) != len(wants) {
		t.Fatalf("Sent() has %d messages, want every one of the %d calls", len(sent), len(wants))
	}
	for i, s := range fake.Sends() {
		if s.Message != sent[i] || s.Outcome != wants[i].outcome || s.ProviderID != wants[i].id {
			t.Errorf("Sends()[%d] = %+v, want message %+v, outcome %s, id %q", i, s, sent[i], wants[i].outcome, wants[i].id)
		}
	}
}

func TestFake_SendWithDoneContextKeepsScript(t *testing.T) {
	fake := smstest.NewFake()
	fake.Script(smstest.FakeResult{Outcome: sms.Rejected})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := fake.Send(ctx, sms.Message{Body: "a"})
	if sms.OutcomeOf(err) != sms.Temporary || !errors.Is(err, context.Canceled) {
		t.Fatalf("Send with a cancelled ctx: %v, want temporary wrapping context.Canceled", err)
	}
	if _, err := fake.Send(t.Context(), sms.Message{Body: "b"}); sms.OutcomeOf(err) != sms.Rejected {
		t.Fatalf("next Send: %v, want the scripted rejection", err)
	}
	if n := len(fake.Sent()); n != 2 {
		t.Fatalf("Sent() has %d messages, want 2: a call with a done ctx is recorded too", n)
	}
}

func TestFake_BlockAndWait(t *testing.T) {
	fake := smstest.NewFake()
	fake.Script(smstest.FakeResult{Outcome: sms.Accepted, Block: true})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := fake.Send(ctx, sms.Message{Body: "blocked"})
		errc <- err
	}()
	if err := fake.Wait(t.Context(), 1); err != nil {
		t.Fatalf("Wait for the blocked send: %v", err)
	}
	select {
	case err := <-errc:
		t.Fatalf("Send returned %v before its ctx ended, want it blocked", err)
	default:
	}
	if s := fake.Sends(); len(s) != 1 || s[0].Outcome != sms.Unknown {
		t.Fatalf("Sends() = %+v, want one send recorded as unknown", s)
	}
	cancel()
	if err := <-errc; sms.OutcomeOf(err) != sms.Unknown || !errors.Is(err, context.Canceled) {
		t.Fatalf("blocked Send after cancel: %v (outcome %s), want unknown wrapping context.Canceled", err, sms.OutcomeOf(err))
	}

	wctx, wcancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer wcancel()
	if err := fake.Wait(wctx, 2); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait for a send that never comes: %v, want context.DeadlineExceeded", err)
	}
}

func TestFake_WaitWakesOnEachSend(t *testing.T) {
	fake := smstest.NewFake()
	const n = 10
	for range n {
		go fake.Send(t.Context(), sms.Message{Body: "x"})
	}
	if err := fake.Wait(t.Context(), n); err != nil {
		t.Fatal(err)
	}
	if got := len(fake.Sent()); got < n {
		t.Fatalf("Wait returned after %d sends, want %d", got, n)
	}
}

func TestFake_Now(t *testing.T) {
	fake := smstest.NewFake()
	at := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	fake.Now = func() time.Time { return at }
	if _, err := fake.Send(t.Context(), sms.Message{}); err != nil {
		t.Fatal(err)
	}
	if s := fake.Sends(); len(s) != 1 || !s[0].At.Equal(at) {
		t.Fatalf("Sends() = %+v, want one at %v", s, at)
	}
	if fake.Name() != "fake" {
		t.Errorf("Name() = %q, want fake", fake.Name())
	}
}
