package smstest

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/textback/textback/sms"
)

// FakeResult is what Fake does with one send.
type FakeResult struct {
	// Outcome is the send's outcome. Accepted returns a nil error and
	// ProviderID "fake-N"; any other outcome returns an *sms.Error with it.
	Outcome sms.Outcome
	// Code and RetryAfter go into the *sms.Error.
	Code       string
	RetryAfter time.Duration
	// Block makes the send block until its ctx is done and then return
	// Outcome Unknown, whatever Outcome says: a carrier that took the
	// request and never answered.
	Block bool
}

// FakeSend is one call of Fake.Send, as Fake recorded it.
type FakeSend struct {
	Message sms.Message
	// At is when Send was called, by Fake.Now.
	At time.Time
	// Outcome is what Send returned or, for a send still blocked, will
	// return: Accepted for a nil error.
	Outcome sms.Outcome
	// ProviderID is the id Send returned with Accepted, empty otherwise.
	ProviderID string
}

// Fake is a scripted sms.Driver for tests of the code that uses drivers.
// It records every call of Send and answers each with the next FakeResult
// queued by Script, or with Accepted when none is queued. Its methods are
// safe for concurrent use. Create it with NewFake; the zero value is not
// usable.
type Fake struct {
	// Now stamps FakeSend.At; NewFake sets it to time.Now. Replace it
	// before the first Send, not during sends.
	Now func() time.Time

	mu       sync.Mutex
	script   []FakeResult
	sends    []FakeSend
	accepted int
	// changed is closed and replaced whenever a send is recorded.
	changed chan struct{}
}

var _ sms.Driver = (*Fake)(nil)

// NewFake returns a Fake with an empty script: every send is Accepted.
func NewFake() *Fake {
	return &Fake{Now: time.Now, changed: make(chan struct{})}
}

// Name returns "fake".
func (f *Fake) Name() string { return "fake" }

// Script queues results for the next sends, in order, after any already
// queued. A send takes one result; when the queue is empty, sends are
// Accepted. A send whose ctx is already done does not take a result.
func (f *Fake) Script(results ...FakeResult) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script = append(f.script, results...)
}

// Send records m and answers with the next scripted result. It follows the
// sms.Driver contract: when ctx is already done it returns Temporary wrapping
// ctx.Err() (and records the call); a Block result blocks until ctx is done,
// then returns Unknown wrapping ctx.Err(). It does not block otherwise.
func (f *Fake) Send(ctx context.Context, m sms.Message) (sms.Result, error) {
	f.mu.Lock()
	rec := FakeSend{Message: m, At: f.Now()}
	var r FakeResult
	dead := ctx.Err() != nil
	switch {
	case dead:
		r = FakeResult{Outcome: sms.Temporary}
	case len(f.script) > 0:
		r = f.script[0]
		f.script = f.script[1:]
	}
	rec.Outcome = r.Outcome
	if r.Block {
		rec.Outcome = sms.Unknown
	}
	if rec.Outcome == sms.Accepted {
		f.accepted++
		rec.ProviderID = "fake-" + strconv.Itoa(f.accepted)
	}
	f.sends = append(f.sends, rec)
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()

	switch {
	case dead:
		return sms.Result{}, &sms.Error{Outcome: sms.Temporary, Message: "fake: not sent", Err: ctx.Err()}
	case r.Block:
		<-ctx.Done()
		return sms.Result{}, &sms.Error{Outcome: sms.Unknown, Code: r.Code, Message: "fake: no answer", Err: ctx.Err()}
	case rec.Outcome == sms.Accepted:
		return sms.Result{ProviderID: rec.ProviderID}, nil
	default:
		return sms.Result{}, &sms.Error{Outcome: r.Outcome, Code: r.Code, Message: "scripted by smstest.Fake", RetryAfter: r.RetryAfter}
	}
}

// Sent returns the message of every call of Send so far, in call order,
// whatever its outcome: a text tried three times appears three times.
func (f *Fake) Sent() []sms.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	ms := make([]sms.Message, len(f.sends))
	for i, s := range f.sends {
		ms[i] = s.Message
	}
	return ms
}

// Sends returns every call of Send so far, in call order, with when it
// happened and how it ended.
func (f *Fake) Sends() []FakeSend {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.sends)
}

// Wait blocks until Send has been called at least n times (counting sends
// still blocked), or ctx is done, when it returns ctx.Err().
func (f *Fake) Wait(ctx context.Context, n int) error {
	for {
		f.mu.Lock()
		done, changed := len(f.sends) >= n, f.changed
		f.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
