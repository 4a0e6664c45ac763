// Package smstest holds what tests of sms drivers and of their users share:
// Run, the conformance suite every sms.Driver passes (the console now, HTTP
// carriers and the USB modem later), and Fake, a scripted sms.Driver for the
// core's tests.
//
// The suite judges a driver by what its peer received (an httptest.Server
// standing in for a carrier, a scripted modem, the console's own output),
// not by what the driver claims, and by the one question package sms exists
// to answer: after a failed send, might the message have gone out?
//
// Like package testing, it is for _test.go files only.
package smstest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/textback/textback/sms"
)

// Harness adapts a driver and its peer to the suite. New is called once per
// subtest; Sent and Fault refer to the peer of the driver New returned last.
// Subtests run one after the other, never in parallel, so a harness may keep
// the current peer in a variable its functions share.
type Harness struct {
	// New returns a fresh driver talking to a fresh peer. It registers any
	// cleanup with t.Cleanup and fails t if the peer cannot be started.
	New func(t *testing.T) sms.Driver
	// Sent returns the messages the peer has accepted so far, in arrival
	// order, decoded as the peer saw them (To, From, Body; Key is ignored),
	// so that the suite checks what really arrived, not what the driver
	// claims. A request the peer failed on purpose (see Fault) is not in it.
	// It may be called while no send is in flight only.
	Sent func(t *testing.T) []sms.Message
	// Fault, if non-nil, makes the peer fail the next send in the way f
	// says, and reports whether this peer can. The sends after it succeed
	// again. A nil Fault, or one that returns false, skips that subtest
	// with the reason.
	Fault func(t *testing.T, f Fault) bool
	// MaxBody is the longest body, in characters, the driver supports. The
	// suite sends one that long; 0 means no limit, and the suite tries
	// 1000 characters.
	MaxBody int
}

// Fault is a way the peer fails a send, for Harness.Fault.
type Fault int

const (
	// FaultTemporary: the peer refuses the message in a way that says a
	// later attempt may succeed (HTTP 429 or 503, +CMS ERROR: network
	// busy). The driver must return Outcome Temporary.
	FaultTemporary Fault = iota
	// FaultRejected: the peer refuses the message for good (invalid
	// number, bad credentials). The driver must return Outcome Rejected.
	FaultRejected
	// FaultOptedOut: the peer refuses because the recipient opted out with
	// the carrier (Twilio 21610, Telnyx 40300). The driver must return
	// Outcome OptedOut.
	FaultOptedOut
	// FaultNotMobile: the peer refuses because the recipient cannot receive
	// SMS (a landline). The driver must return Outcome NotMobile.
	FaultNotMobile
	// FaultHang: the peer takes the request and never answers. The driver
	// must return Outcome Unknown soon after ctx ends, never Temporary.
	FaultHang
)

var faultNames = [...]string{"Temporary", "Rejected", "OptedOut", "NotMobile", "Hang"}

// String returns the fault's name as it appears in subtest names
// ("Temporary", "Hang").
func (f Fault) String() string {
	if f < 0 || int(f) >= len(faultNames) {
		return fmt.Sprintf("Fault(%d)", int(f))
	}
	return faultNames[f]
}

// Outcome is the Outcome a driver must report for the fault.
func (f Fault) Outcome() sms.Outcome {
	switch f {
	case FaultTemporary:
		return sms.Temporary
	case FaultRejected:
		return sms.Rejected
	case FaultOptedOut:
		return sms.OptedOut
	case FaultNotMobile:
		return sms.NotMobile
	default:
		return sms.Unknown
	}
}

// Timings of the suite.
const (
	// sendTimeout bounds every send that is expected to complete, so that
	// a hanging driver fails its subtest instead of the whole test binary.
	sendTimeout = 10 * time.Second
	// hangDeadline is the ctx deadline of the FaultHang send.
	hangDeadline = 300 * time.Millisecond
	// hangGrace is how long after its ctx ended a driver may take to
	// return from a hanging send.
	hangGrace = 2 * time.Second
)

// Numbers the suite sends from and to (the 555-01xx range is fictional).
const (
	suiteTo   = "+15555550123"
	suiteFrom = "+15555551000"
)

// Run runs the conformance suite against the driver h builds, as subtests of
// t: SendOne, Newlines, GSMExtension, LongMessage, LongestMessage, Unicode,
// Concurrent, ContextCancelledBeforeSend, ContextExpiredBeforeSend, Name, and
// Fault/Temporary, Fault/Rejected, Fault/OptedOut, Fault/NotMobile and
// Fault/Hang. It blocks until they have all finished.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil || h.Sent == nil {
		t.Fatal("smstest.Harness needs New and Sent")
	}
	s := &suite{h: h}
	t.Run("SendOne", s.sendOne)
	t.Run("Newlines", func(t *testing.T) {
		s.arrivesWhole(t, "Line one\nLine two\n\nLine four, after an empty one.\n", 1)
	})
	t.Run("GSMExtension", func(t *testing.T) {
		// Each of these takes an escape in GSM-7, where encoders go wrong.
		s.arrivesWhole(t, "Quote: 120€ [parts] {labour} ~2h ^ | \\ done", 1)
	})
	t.Run("LongMessage", func(t *testing.T) {
		if h.MaxBody > 0 && h.MaxBody < 500 {
			t.Skipf("the driver supports bodies up to %d characters", h.MaxBody)
		}
		// 500 GSM-7 characters: 4 segments of 153.
		s.arrivesWhole(t, gsmText(500), 4)
	})
	t.Run("LongestMessage", func(t *testing.T) {
		n := h.MaxBody
		if n == 0 {
			n = 1000
		}
		segs := 1
		if n > 160 {
			segs = (n + 152) / 153
		}
		s.arrivesWhole(t, gsmText(n), segs)
	})
	t.Run("Unicode", func(t *testing.T) {
		// Accents precomposed and combining, emoji outside the BMP, a
		// skin-tone modifier, a ZWJ sequence, a flag, CJK: UCS-2, and longer
		// than the 70 units of one segment.
		s.arrivesWhole(t, "Café, naïve façade, Grüße aus Köln, ¿qué tal? Cafe\u0301 😀👍🏽👩‍🔧🇺🇸 日本語のテキスト — «ok»", 2)
	})
	t.Run("Concurrent", s.concurrent)
	t.Run("ContextCancelledBeforeSend", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		s.deadContext(t, ctx, context.Canceled)
	})
	t.Run("ContextExpiredBeforeSend", func(t *testing.T) {
		ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
		defer cancel()
		s.deadContext(t, ctx, context.DeadlineExceeded)
	})
	t.Run("Name", func(t *testing.T) {
		d := h.New(t)
		if name := d.Name(); strings.TrimSpace(name) == "" || name != d.Name() {
			t.Errorf("Name() = %q, want a non-empty constant name", name)
		}
	})
	t.Run("Fault", func(t *testing.T) {
		for f := FaultTemporary; f <= FaultHang; f++ {
			t.Run(f.String(), func(t *testing.T) { s.fault(t, f) })
		}
	})
}

type suite struct {
	h    Harness
	keys atomic.Int64
}

// message returns a text of the suite with body. Each has its own Key, as
// each of the core's texts does: a carrier that honours idempotency keys
// must not take two of the suite's texts for one.
func (s *suite) message(body string) sms.Message {
	return sms.Message{Key: fmt.Sprintf("smstest-%d", s.keys.Add(1)), From: suiteFrom, To: suiteTo, Body: body}
}

// send sends m with the suite's timeout.
func send(t *testing.T, d sms.Driver, m sms.Message) (sms.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), sendTimeout)
	defer cancel()
	return call(t, d, ctx, m)
}

// call calls d.Send and fails t if Send is still blocked hangGrace after
// ctx ended, instead of hanging the test binary. A Send that never returns
// is left behind.
func call(t *testing.T, d sms.Driver, ctx context.Context, m sms.Message) (sms.Result, error) {
	t.Helper()
	type result struct {
		res sms.Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := d.Send(ctx, m)
		done <- result{res, err}
	}()
	select {
	case r := <-done:
		return r.res, r.err
	case <-ctx.Done():
	}
	select {
	case r := <-done:
		return r.res, r.err
	case <-time.After(hangGrace):
		t.Fatalf("Send still blocked %v after its context ended (%v), want it to return soon after", hangGrace, context.Cause(ctx))
		return sms.Result{}, nil
	}
}

func (s *suite) sendOne(t *testing.T) {
	d := s.h.New(t)
	m := s.message("Sorry we missed your call to Acme Plumbing. What can we help with? Reply STOP to opt out.")
	res, err := send(t, d, m)
	if err != nil {
		t.Fatalf("Send: %v (outcome %s), want accepted", err, sms.OutcomeOf(err))
	}
	if res.Segments != 0 && res.Segments != 1 {
		t.Errorf("Result.Segments = %d for a %d-character GSM-7 text, want 1 (or 0: unknown)", res.Segments, len(m.Body))
	}
	got := s.h.Sent(t)
	if len(got) != 1 {
		t.Fatalf("peer received %d messages, want exactly 1: %q", len(got), got)
	}
	checkSame(t, got[0], m)
}

// arrivesWhole sends body and checks that the peer received exactly it, and
// that Segments, when reported, is at least minSegments.
func (s *suite) arrivesWhole(t *testing.T, body string, minSegments int) {
	t.Helper()
	d := s.h.New(t)
	m := s.message(body)
	res, err := send(t, d, m)
	if err != nil {
		t.Fatalf("Send of a %d-character body: %v (outcome %s), want accepted", len([]rune(body)), err, sms.OutcomeOf(err))
	}
	if res.Segments != 0 && res.Segments < minSegments {
		t.Errorf("Result.Segments = %d, want at least %d (or 0: unknown)", res.Segments, minSegments)
	}
	got := s.h.Sent(t)
	if len(got) != 1 {
		t.Fatalf("peer received %d messages, want exactly 1 (a long text is one message, however many segments): %q", len(got), got)
	}
	checkSame(t, got[0], m)
}

func (s *suite) concurrent(t *testing.T) {
	const n = 20
	d := s.h.New(t)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		ids  = map[string]string{} // ProviderID → body
		want []string
	)
	for i := range n {
		body := fmt.Sprintf("Concurrent text %02d of %d.", i+1, n)
		want = append(want, body)
		wg.Go(func() {
			res, err := send(t, d, s.message(body))
			if err != nil {
				t.Errorf("Send %q: %v (outcome %s), want accepted", body, err, sms.OutcomeOf(err))
				return
			}
			if res.ProviderID == "" {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if other, dup := ids[res.ProviderID]; dup {
				t.Errorf("ProviderID %q returned for both %q and %q", res.ProviderID, other, body)
			}
			ids[res.ProviderID] = body
		})
	}
	wg.Wait()
	var bodies []string
	for _, m := range s.h.Sent(t) {
		if m.To != suiteTo || m.From != suiteFrom {
			t.Errorf("peer received %q from %q to %q, want from %q to %q", m.Body, m.From, m.To, suiteFrom, suiteTo)
		}
		bodies = append(bodies, m.Body)
	}
	slices.Sort(bodies)
	if !slices.Equal(bodies, want) {
		t.Errorf("peer received %d texts:\n%q\nwant each of %d exactly once:\n%q", len(bodies), bodies, n, want)
	}
}

// deadContext sends with a ctx that is already done: the driver must not
// touch the peer and must say so with Temporary, wrapping ctx.Err().
func (s *suite) deadContext(t *testing.T, ctx context.Context, ctxErr error) {
	t.Helper()
	d := s.h.New(t)
	_, err := call(t, d, ctx, s.message("This text must not be sent: its context was done."))
	if o := sms.OutcomeOf(err); o != sms.Temporary {
		t.Errorf("Send with a done context: %v, outcome %s; want temporary (nothing was sent, a retry is safe)", err, o)
	}
	if err != nil && !errors.Is(err, ctxErr) {
		t.Errorf("Send with a done context: %v, want it to wrap %v", err, ctxErr)
	}
	if got := s.h.Sent(t); len(got) != 0 {
		t.Errorf("peer received %q after a send with a done context, want nothing", got)
	}
}

func (s *suite) fault(t *testing.T, f Fault) {
	if s.h.Fault == nil {
		t.Skip("the harness has no Fault: its peer cannot fail on purpose")
	}
	d := s.h.New(t)
	if !s.h.Fault(t, f) {
		t.Skipf("the peer cannot produce a %s fault (Harness.Fault returned false)", f)
	}
	want := f.Outcome()
	m := s.message(fmt.Sprintf("This text meets a %s fault.", f))

	timeout := sendTimeout
	if f == FaultHang {
		timeout = hangDeadline
	}
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	_, err := call(t, d, ctx, m) // fails t if a hanging Send outlives ctx by hangGrace
	cancel()

	if o := sms.OutcomeOf(err); o != want {
		t.Errorf("Send against a %s fault: %v, outcome %s; want %s", f, err, o, want)
	}
	// Any error is Unknown; the other outcomes need an *sms.Error, and
	// then errors.Is must match its sentinel.
	var se *sms.Error
	switch {
	case errors.As(err, &se):
		if !errors.Is(err, sentinel(want)) {
			t.Errorf("errors.Is(%v, %v) is false", err, sentinel(want))
		}
	case want != sms.Unknown:
		t.Errorf("Send against a %s fault returned %T %v, want an *sms.Error", f, err, err)
	}
	if f != FaultHang {
		if got := s.h.Sent(t); len(got) != 0 {
			t.Errorf("peer accepted %q although it failed the send", got)
		}
	}

	// The fault was for one send: the driver must recover and send the next.
	next := s.message(fmt.Sprintf("This text follows a %s fault.", f))
	if _, err := send(t, d, next); err != nil {
		t.Fatalf("Send after a %s fault: %v (outcome %s), want accepted", f, err, sms.OutcomeOf(err))
	}
	var arrived []sms.Message
	for _, got := range s.h.Sent(t) {
		if got.Body == next.Body {
			arrived = append(arrived, got)
		}
	}
	if len(arrived) != 1 {
		t.Fatalf("peer received the text after the fault %d times, want once: %q", len(arrived), s.h.Sent(t))
	}
	checkSame(t, arrived[0], next)
}

func sentinel(o sms.Outcome) error {
	switch o {
	case sms.Temporary:
		return sms.ErrTemporary
	case sms.Rejected:
		return sms.ErrRejected
	case sms.OptedOut:
		return sms.ErrOptedOut
	case sms.NotMobile:
		return sms.ErrNotMobile
	default:
		return sms.ErrUnknown
	}
}

// checkSame reports where the message the peer received differs from the
// one sent.
func checkSame(t *testing.T, got, sent sms.Message) {
	t.Helper()
	if got.To != sent.To {
		t.Errorf("peer received To %q, want %q", got.To, sent.To)
	}
	if got.From != sent.From {
		t.Errorf("peer received From %q, want %q", got.From, sent.From)
	}
	if got.Body != sent.Body {
		t.Errorf("peer received body (%d bytes)\n%q\nwant (%d bytes)\n%q", len(got.Body), got.Body, len(sent.Body), sent.Body)
	}
}

// gsmText returns n characters of GSM-7 prose, numbered every sentence so
// that a lost or repeated segment shows.
func gsmText(n int) string {
	var b strings.Builder
	for i := 1; utf8.RuneCountInString(b.String()) < n; i++ {
		fmt.Fprintf(&b, "Sentence %d of a long text, 0-9 & (brackets) @ £ $ ¿? ", i)
	}
	return string([]rune(b.String())[:n])
}
