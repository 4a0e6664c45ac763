package ledger

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/textback/textback/sms"
)

func TestClaim_SuppressesAutomaticTexts(t *testing.T) {
	ib := newInbox(t, func(c *Config) { c.Policy.Cooldown = 0 })
	l, clock := ib.l, ib.clock
	if _, err := l.Claim("main", "(555) 765-4321", "ann"); err != nil {
		t.Fatalf("Claim: %v", err)
	}
	call, err := l.Record(missed("c1", testCaller, clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if call.Action != ActionSkip || call.Skip != SkipClaimed || call.Text != 0 {
		t.Errorf("call while claimed: %+v, want skip claimed", call)
	}
	// HELP while claimed: no automatic answer, the staff still hear.
	m := ib.send(testCaller, "HELP")
	texts := ib.texts(m)
	if m.Suppressed != SkipClaimed || len(texts) != 1 || texts[0].Kind != KindForward {
		t.Errorf("HELP while claimed: %+v texts %+v", m, texts)
	}
	// STOP is still confirmed: the law wants it.
	m = ib.send(testCaller, "STOP")
	if texts := ib.texts(m); len(texts) != 1 || texts[0].Kind != KindConfirm {
		t.Errorf("STOP while claimed: %+v", texts)
	}
	if _, err := ib.l.OptIn(testCaller, "main", "test"); err != nil {
		t.Fatal(err)
	}
	// Released: texts resume.
	if _, err := l.Release("main", testCaller, "ann"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	call, err = l.Record(missed("c2", testCaller, clock.Now()))
	if err != nil || call.Action != ActionText {
		t.Errorf("call after release: %+v %v", call, err)
	}
	// A claim lasts ClaimTTL.
	if _, err := l.Claim("main", testCaller, "ann"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(ClaimTTL - time.Minute)
	if call, err := l.Record(missed("c3", testCaller, clock.Now())); err != nil || call.Skip != SkipClaimed {
		t.Errorf("call just before the claim ends: %+v %v", call, err)
	}
	clock.Advance(time.Minute)
	if call, err := l.Record(missed("c4", testCaller, clock.Now())); err != nil || call.Action != ActionText {
		t.Errorf("call after the claim ended: %+v %v", call, err)
	}
	// Marked handled ends a claim too.
	if _, err := l.Claim("main", testCaller, "bob"); err != nil {
		t.Fatal(err)
	}
	st, err := l.MarkHandled("main", testCaller, "bob")
	if err != nil || st.ClaimedBy != "" || st.HandledBy != "bob" {
		t.Errorf("MarkHandled = %+v, %v", st, err)
	}
}

func TestClaim_DropsQueuedCallback(t *testing.T) {
	l, clock := newTestLedger(t, nil)
	call, err := l.Record(missed("c1", testCaller, clock.Now()))
	if err != nil || call.Action != ActionText {
		t.Fatal(call, err)
	}
	if _, err := l.Claim("main", testCaller, "ann"); err != nil {
		t.Fatal(err)
	}
	rec := &recordingSender{}
	d := NewDispatcher(l, rec, DispatcherOptions{})
	claimed, _, err := d.claim(10)
	if err != nil || len(claimed) != 0 {
		t.Fatalf("claimed %+v, %v; want none", claimed, err)
	}
	txt, _ := l.Store().Text(call.Text)
	if txt.Status != StatusDropped {
		t.Errorf("queued callback after a claim: %s (%s)", txt.Status, txt.Error)
	}
}

// recordingSender is an sms.Driver that accepts everything.
type recordingSender struct{ sent []sms.Message }

func (r *recordingSender) Name() string { return "rec" }
func (r *recordingSender) Send(_ context.Context, m sms.Message) (sms.Result, error) {
	r.sent = append(r.sent, m)
	return sms.Result{ProviderID: "p" + m.Key}, nil
}
func (r *recordingSender) Close() error { return nil }

func TestReply(t *testing.T) {
	ib := newInbox(t, nil)
	l := ib.l
	txt, err := l.Reply("main", testCaller, "ann", "  We can come at 3pm.  ")
	if err != nil {
		t.Fatalf("Reply: %v", err)
	}
	if txt.Kind != KindOperator || txt.From != testLineNumber || txt.To != testCaller || txt.Body != "We can come at 3pm." || txt.Status != StatusQueued || !txt.NotBefore.IsZero() {
		t.Errorf("reply text %+v", txt)
	}
	ns, _ := l.Store().Number(testCaller)
	if len(ns.LastText) != 0 {
		t.Errorf("a reply counted for the cooldown: %+v", ns)
	}
	if _, err := l.Reply("main", testCaller, "ann", "  "); err == nil {
		t.Error("empty reply accepted")
	}
	if _, err := l.Reply("nope", testCaller, "ann", "x"); err == nil {
		t.Error("reply on an unknown line accepted")
	}
	if _, err := l.Reply("main", testCaller, "", "x"); err == nil {
		t.Error("reply without an operator accepted")
	}
	ib.send(testCaller, "STOP")
	before, _ := l.Store().Texts(0)
	if _, err := l.Reply("main", testCaller, "ann", "hello?"); !errors.Is(err, ErrOptedOutReply) {
		t.Errorf("reply to an opted-out number: %v, want ErrOptedOutReply", err)
	}
	after, _ := l.Store().Texts(0)
	if len(after) != len(before) {
		t.Errorf("a refused reply queued a text")
	}
}

func TestConversations(t *testing.T) {
	ib := newInbox(t, func(c *Config) {
		c.Policy.TokenSecret = []byte("0123456789abcdef0123456789abcdef")
		c.Lines[0].Link = "https://acme.example/i/{{.Token}}"
	})
	l, clock := ib.l, ib.clock
	if _, err := l.Record(missed("c1", testCaller, clock.Now())); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	if _, err := l.Record(missed("c2", "+15559876543", clock.Now())); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	if _, err := l.SubmitIntake("test:c1", []Field{{Name: "name", Label: "Name", Value: "Ann"}}); err != nil {
		t.Fatal(err)
	}
	ib.send(testCaller, "Are you coming?")
	ib.send(testStaff, "on it") // staff: no conversation

	convs, err := l.Store().Conversations(ConvQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(convs) != 2 || convs[0].Number != testCaller || convs[1].Number != "+15559876543" {
		t.Fatalf("conversations %+v", convs)
	}
	if !convs[0].Unhandled() || convs[0].Last.Kind != EntryMessage {
		t.Errorf("newest conversation %+v", convs[0])
	}
	if got, _ := l.Store().Conversations(ConvQuery{Number: "987-6543"}); len(got) != 1 || got[0].Number != "+15559876543" {
		t.Errorf("search by number: %+v", got)
	}
	if got, _ := l.Store().Conversations(ConvQuery{Line: "other"}); len(got) != 0 {
		t.Errorf("other line: %+v", got)
	}
	clock.Advance(time.Minute)
	if _, err := l.MarkHandled("main", testCaller, "ann"); err != nil {
		t.Fatal(err)
	}
	c, err := l.Store().Conversation("main", testCaller)
	if err != nil {
		t.Fatal(err)
	}
	if c.Unhandled() {
		t.Errorf("handled conversation is unhandled: %+v", c.State)
	}
	kinds := map[EntryKind]int{}
	for i, e := range c.Entries {
		kinds[e.Kind]++
		if i > 0 && e.At.After(c.Entries[i-1].At) {
			t.Errorf("entries not newest first at %d", i)
		}
	}
	want := map[EntryKind]int{EntryCall: 1, EntryText: 1, EntryIntake: 1, EntryMessage: 1, EntryAction: 1}
	for k, n := range want {
		if kinds[k] != n {
			t.Errorf("%s entries: %d, want %d (%v)", k, kinds[k], n, kinds)
		}
	}
	// The caller writes again: unhandled again.
	ib.send(testCaller, "Hello?")
	c, _ = l.Store().Conversation("main", testCaller)
	if !c.Unhandled() {
		t.Error("a new reply after handled did not make it unhandled")
	}
	ib.send(testCaller, "STOP")
	c, _ = l.Store().Conversation("main", testCaller)
	if !c.OptedOut || kinds[EntryConsent] != 0 {
		t.Errorf("opted out %v", c.OptedOut)
	}
	n := 0
	for _, e := range c.Entries {
		if e.Kind == EntryConsent {
			n++
		}
	}
	if n != 1 {
		t.Errorf("consent entries %d, want 1", n)
	}
}
