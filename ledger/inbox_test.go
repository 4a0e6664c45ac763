package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/textback/textback/sms"
)

// inbox is a test harness: it delivers messages as a driver would and
// reports the texts each one queued.
type inbox struct {
	t     *testing.T
	l     *Ledger
	clock *testClock
	n     int
}

func newInbox(t *testing.T, edit func(*Config)) *inbox {
	l, clock := newTestLedger(t, edit)
	return &inbox{t: t, l: l, clock: clock}
}

// send delivers body from number and returns the message as recorded.
func (ib *inbox) send(from, body string) Message {
	ib.t.Helper()
	ib.n++
	ib.clock.Advance(time.Minute)
	in := sms.Inbound{Provider: "test", ProviderID: fmt.Sprint("m", ib.n), From: from, To: testLineNumber, Body: body}
	if err := ib.l.Receive(context.Background(), in); err != nil {
		ib.t.Fatalf("Receive(%q): %v", body, err)
	}
	msgs, err := ib.l.Store().Messages(1)
	if err != nil || len(msgs) != 1 || msgs[0].Body != body {
		ib.t.Fatalf("newest message %+v %v, want %q", msgs, err, body)
	}
	return msgs[0]
}

func (ib *inbox) texts(m Message) []Text {
	ib.t.Helper()
	var out []Text
	for _, seq := range m.Texts {
		txt, err := ib.l.Store().Text(seq)
		if err != nil {
			ib.t.Fatal(err)
		}
		out = append(out, txt)
	}
	return out
}

func TestInbox_OptOutConfirmedOnce(t *testing.T) {
	ib := newInbox(t, nil)
	m := ib.send(testCaller, "Stop!")
	texts := ib.texts(m)
	if m.Kind != MsgOptOut || len(texts) != 1 || texts[0].Kind != KindConfirm || !texts[0].Exempt || texts[0].To != testCaller {
		t.Fatalf("STOP: kind %s texts %+v, want one exempt confirmation to the caller", m.Kind, texts)
	}
	if !strings.Contains(texts[0].Body, "unsubscribed") || !strings.Contains(texts[0].Body, "Acme Plumbing") {
		t.Errorf("confirmation %q", texts[0].Body)
	}
	for _, again := range []string{"STOP", "unsubscribe", "stop please"} {
		m = ib.send(testCaller, again)
		if m.Kind != MsgKeep || len(m.Texts) != 0 {
			t.Fatalf("%q while opted out: kind %s, %d texts; want kept, no second confirmation", again, m.Kind, len(m.Texts))
		}
	}
	h, err := ib.l.Store().ConsentHistory(testCaller)
	if err != nil || len(h) != 1 || h[0].Source != SourceKeyword || h[0].Evidence != "Stop!" || h[0].State != ConsentOptedOut || h[0].Line != "main" {
		t.Fatalf("history %+v %v, want one keyword opt-out with the raw text", h, err)
	}
}

func TestInbox_StartAndYes(t *testing.T) {
	ib := newInbox(t, nil)
	// YES while subscribed is a reply for staff, not a consent change.
	m := ib.send(testCaller, "yes")
	if m.Kind != MsgReply {
		t.Fatalf("YES while subscribed: %s, want reply", m.Kind)
	}
	ib.send(testCaller, "STOP")
	m = ib.send(testCaller, "Yes")
	texts := ib.texts(m)
	if m.Kind != MsgOptIn || len(texts) != 1 || texts[0].Kind != KindConfirm || texts[0].Exempt {
		t.Fatalf("YES while opted out: %s %+v, want opt-in with one confirmation", m.Kind, texts)
	}
	ib.send(testCaller, "stop")
	if m = ib.send(testCaller, "START"); m.Kind != MsgOptIn || len(m.Texts) != 1 {
		t.Fatalf("START: %s, %d texts", m.Kind, len(m.Texts))
	}
	if m = ib.send(testCaller, "unstop"); m.Kind != MsgKeep || len(m.Texts) != 0 {
		t.Fatalf("UNSTOP while subscribed: %s, %d texts; want nothing", m.Kind, len(m.Texts))
	}
	h, _ := ib.l.Store().ConsentHistory(testCaller)
	var states []string
	for _, e := range h {
		states = append(states, string(e.State))
	}
	if got := strings.Join(states, ","); got != "opted_out,opted_in,opted_out,opted_in" {
		t.Fatalf("history %s", got)
	}
}

func TestInbox_Help(t *testing.T) {
	ib := newInbox(t, nil)
	m := ib.send(testCaller, "HELP")
	texts := ib.texts(m)
	if m.Kind != MsgHelp || len(texts) != 2 || texts[0].Kind != KindHelp || !strings.Contains(texts[0].Body, "Acme Plumbing help") {
		t.Fatalf("HELP: %s %+v, want the help text and a forward to staff", m.Kind, texts)
	}
	if texts[1].Kind != KindForward || texts[1].To != testStaff || !strings.Contains(texts[1].Body, testCaller) {
		t.Fatalf("HELP forward: %+v, want the caller's message forwarded to staff", texts[1])
	}
	// A second HELP within the help cooldown is recorded but not answered:
	// two automated systems must not talk to each other forever.
	if m = ib.send(testCaller, "info"); m.Kind != MsgHelp || len(m.Texts) != 0 {
		t.Fatalf("second HELP: %s, %d texts; want no answer", m.Kind, len(m.Texts))
	}
	ib.clock.Advance(2 * time.Hour)
	if m = ib.send(testCaller, "help"); len(m.Texts) != 2 {
		t.Fatalf("HELP after the cooldown: %d texts, want the help text and a forward", len(m.Texts))
	}
}

func TestInbox_ForwardsRepliesToStaff(t *testing.T) {
	ib := newInbox(t, func(c *Config) { c.Lines[0].Webhook = "https://crm.example/hook" })
	m := ib.send(testCaller, "Can someone come <today>? \"urgent\"")
	texts := ib.texts(m)
	if m.Kind != MsgReply || len(texts) != 2 {
		t.Fatalf("reply: %s %+v, want a staff SMS and a webhook", m.Kind, texts)
	}
	sms, hook := texts[0], texts[1]
	if sms.Kind != KindForward || sms.To != testStaff || sms.From != testLineNumber || !strings.Contains(sms.Body, testCaller) || !strings.Contains(sms.Body, "<today>") {
		t.Fatalf("staff text %+v", sms)
	}
	var body WebhookReply
	if err := json.Unmarshal([]byte(hook.Body), &body); err != nil {
		t.Fatalf("webhook body %q: %v", hook.Body, err)
	}
	if hook.Kind != KindWebhook || hook.To != "https://crm.example/hook" || body.From != testCaller || body.Body != m.Body || body.ID != "test:"+m.ProviderID || body.Line != "main" {
		t.Fatalf("webhook %+v body %+v", hook, body)
	}
}

func TestInbox_NeverAnswersALineOrStaff(t *testing.T) {
	ib := newInbox(t, nil)
	if m := ib.send(testLineNumber, "Sorry we missed your call"); m.Kind != MsgLoop || len(m.Texts) != 0 {
		t.Fatalf("from the line itself: %s, %d texts; want loop, nothing queued", m.Kind, len(m.Texts))
	}
	if m := ib.send(testLineNumber, "HELP"); m.Kind != MsgLoop || len(m.Texts) != 0 {
		t.Fatalf("HELP from the line itself: %s, %d texts", m.Kind, len(m.Texts))
	}
	if m := ib.send(testStaff, "on my way"); m.Kind != MsgStaff || len(m.Texts) != 0 {
		t.Fatalf("from staff: %s, %d texts; want recorded only", m.Kind, len(m.Texts))
	}
}

func TestInbox_ProbableOptOutIsFlagged(t *testing.T) {
	ib := newInbox(t, nil)
	m := ib.send(testCaller, "please don't text me")
	if m.Kind != MsgOptOut || !m.Review {
		t.Fatalf("probable opt-out: %s review %v", m.Kind, m.Review)
	}
	h, _ := ib.l.Store().ConsentHistory(testCaller)
	if len(h) != 1 || !h[0].Review {
		t.Fatalf("history %+v, want one opt-out flagged for review", h)
	}
}

func TestInbox_Dedupe(t *testing.T) {
	ib := newInbox(t, nil)
	in := sms.Inbound{Provider: "twilio", ProviderID: "SM1", From: testCaller, To: testLineNumber, Body: "STOP"}
	for i := 0; i < 3; i++ {
		if err := ib.l.Receive(context.Background(), in); err != nil {
			t.Fatal(err)
		}
	}
	msgs, _ := ib.l.Store().Messages(0)
	texts, _ := ib.l.Store().Texts(0)
	if len(msgs) != 1 || len(texts) != 1 {
		t.Fatalf("%d messages, %d texts after a triple delivery; want 1 and 1", len(msgs), len(texts))
	}
	// The same id from another provider is another message.
	in.Provider = "telnyx"
	if err := ib.l.Receive(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if msgs, _ = ib.l.Store().Messages(0); len(msgs) != 2 {
		t.Fatalf("%d messages, want 2", len(msgs))
	}
}

func TestInbox_RejectsMessagesWithoutID(t *testing.T) {
	ib := newInbox(t, nil)
	err := ib.l.Receive(context.Background(), sms.Inbound{Provider: "x", From: testCaller, Body: "hi"})
	if err == nil {
		t.Fatal("a message without a provider id was accepted: it could not be deduplicated")
	}
}

func TestInbox_DeliveryReports(t *testing.T) {
	ib := newInbox(t, nil)
	l := ib.l
	call, err := l.Record(missed("c", testCaller, ib.clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	d := NewDispatcher(l, nil, DispatcherOptions{})
	claimed, _, err := d.claim(1)
	if err != nil || len(claimed) != 1 {
		t.Fatal(claimed, err)
	}
	if err := l.recordOutcome(claimed[0], sms.Result{ProviderID: "SM9"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := l.UpdateStatus(context.Background(), sms.Status{Provider: "twilio", ProviderID: "SM9", Outcome: sms.OptedOut, Code: "21610"}); err != nil {
		t.Fatal(err)
	}
	txt, _ := l.Store().Text(call.Text)
	ns, _ := l.Store().Number(testCaller)
	if txt.Status != StatusFailed || txt.Code != "21610" || !ns.OptedOut {
		t.Fatalf("after an opted-out report: text %s %s, opted out %v", txt.Status, txt.Code, ns.OptedOut)
	}
	if err := l.UpdateStatus(context.Background(), sms.Status{Provider: "twilio", ProviderID: "nope", Delivered: true}); err != nil {
		t.Fatalf("a report for an unknown id: %v, want nil", err)
	}
}
