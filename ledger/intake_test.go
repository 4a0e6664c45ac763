package ledger

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func intakeLedger(t *testing.T) (*Ledger, *testClock) {
	return newTestLedger(t, func(c *Config) {
		c.Policy.TokenSecret = []byte("0123456789abcdef0123456789abcdef")
		c.Lines[0].Link = "https://acme.example/i/{{.Token}}"
		c.Lines[0].Webhook = "https://hooks.example/intake"
		c.Lines[0].Template = "{{.Business}} missed your call. Tell us what you need: {{.Link}} Reply STOP to opt out."
	})
}

func TestSubmitIntake(t *testing.T) {
	l, clock := intakeLedger(t)
	call, err := l.Record(missed("c1", testCaller, clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	text, err := l.Store().Text(call.Text)
	if err != nil {
		t.Fatal(err)
	}
	// The link in the text carries a token for this call.
	i := strings.Index(text.Body, "https://acme.example/i/")
	if i < 0 {
		t.Fatalf("no intake link in %q", text.Body)
	}
	i += len("https://acme.example")
	got, err := VerifyToken([]byte("0123456789abcdef0123456789abcdef"), strings.Fields(text.Body[i+3:])[0], clock.Now())
	if err != nil || got != call.ID {
		t.Fatalf("token names %q, %v; want %s", got, err, call.ID)
	}

	ic, err := l.IntakeCall(call.ID)
	if err != nil || ic.Used != nil || ic.Line.Business != "Acme Plumbing" || ic.Call.Number != testCaller {
		t.Fatalf("IntakeCall = %+v, %v", ic, err)
	}
	fields := []Field{{Name: "name", Label: "Your name", Value: "Ann <b>Lee</b>"}, {Name: "need", Label: "What do you need?", Value: "Leaking\n  sink"}}
	clock.Advance(time.Minute)
	s, err := l.SubmitIntake(call.ID, fields)
	if err != nil {
		t.Fatalf("SubmitIntake: %v", err)
	}
	if s.Number != testCaller || s.Line != "main" || s.Call != call.ID || len(s.Texts) != 2 {
		t.Fatalf("submission %+v", s)
	}
	sms, _ := l.Store().Text(s.Texts[0])
	if sms.Kind != KindForward || sms.To != testStaff || sms.From != testLineNumber ||
		!strings.Contains(sms.Body, "Your name: Ann <b>Lee</b>") || !strings.Contains(sms.Body, "What do you need?: Leaking sink") {
		t.Errorf("staff summary %+v", sms)
	}
	hook, _ := l.Store().Text(s.Texts[1])
	var body WebhookIntake
	if err := json.Unmarshal([]byte(hook.Body), &body); err != nil || hook.Kind != KindWebhook || body.Kind != "intake" ||
		body.From != testCaller || len(body.Fields) != 2 || body.Call != call.ID {
		t.Errorf("webhook %+v %+v %v", hook, body, err)
	}

	// The token is good once.
	again, err := l.SubmitIntake(call.ID, fields)
	if !errors.Is(err, ErrIntakeUsed) || again.Seq != s.Seq {
		t.Errorf("second submission: %+v, %v; want ErrIntakeUsed with the first", again, err)
	}
	if ic, err := l.IntakeCall(call.ID); err != nil || ic.Used == nil || ic.Used.Seq != s.Seq {
		t.Errorf("IntakeCall after use: %+v, %v", ic, err)
	}
	subs, err := l.Store().Submissions(0)
	if err != nil || len(subs) != 1 {
		t.Errorf("Submissions = %d, %v", len(subs), err)
	}
	// It survives a reopen (it was written before SubmitIntake returned).
	path := l.Store().Path()
	if err := l.Store().Close(); err != nil {
		t.Fatal(err)
	}
	st, err := Open(path, StoreOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if subs, err := st.Submissions(0); err != nil || len(subs) != 1 || subs[0].Fields[0].Value != "Ann <b>Lee</b>" {
		t.Errorf("after reopen: %+v, %v", subs, err)
	}
}

func TestSubmitIntake_UnknownAndLineless(t *testing.T) {
	l, clock := intakeLedger(t)
	if _, err := l.SubmitIntake("test:nope", nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown call: %v", err)
	}
	if _, err := l.IntakeCall("test:nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("IntakeCall unknown: %v", err)
	}
	v := missed("c2", testCaller, clock.Now())
	v.Line = "9999"
	if _, err := l.Record(v); err != nil {
		t.Fatal(err)
	}
	if _, err := l.SubmitIntake("test:c2", nil); !errors.Is(err, ErrIntakeNoLine) {
		t.Errorf("call on no line: %v", err)
	}
	// A line without a link has no form.
	plain, clock2 := newTestLedger(t, nil)
	if _, err := plain.Record(missed("c3", testCaller, clock2.Now())); err != nil {
		t.Fatal(err)
	}
	if _, err := plain.SubmitIntake("test:c3", nil); !errors.Is(err, ErrIntakeNoLine) {
		t.Errorf("line without a link: %v", err)
	}
	// A bare PBX id or a sequence number is not a token's call id.
	if _, err := l.IntakeCall("c2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("IntakeCall by bare id: %v", err)
	}
}

func TestIntakeSummary_Cut(t *testing.T) {
	s := IntakeSummary("Acme", "+15557654321", []Field{{Label: "Need", Value: strings.Repeat("x", 2000)}, {Label: "Empty"}})
	if n := len([]rune(s)); n != maxSummary || !strings.HasSuffix(s, "…") || strings.Contains(s, "Empty") {
		t.Errorf("summary of %d runes: %q", n, s[:60])
	}
}

func TestPurge_IntakeAnswers(t *testing.T) {
	l, clock := intakeLedger(t)
	for _, id := range []string{"c1", "c2"} {
		if _, err := l.Record(missed(id, testCaller, clock.Now())); err != nil {
			t.Fatal(err)
		}
		if _, err := l.SubmitIntake("test:"+id, []Field{{Name: "name", Label: "Name", Value: "Ann " + id}}); err != nil {
			t.Fatal(err)
		}
		clock.Advance(48 * time.Hour)
	}
	st, err := l.Store().Purge(clock.Now().Add(-72 * time.Hour))
	if err != nil || st.Intake != 1 {
		t.Fatalf("Purge = %+v, %v; want one intake form", st, err)
	}
	subs, _ := l.Store().Submissions(0)
	if subs[1].Fields[0].Value != "" || !subs[1].Purged || subs[1].Fields[0].Label != "Name" || subs[0].Fields[0].Value != "Ann c2" || subs[0].Purged {
		t.Errorf("after purge: %+v", subs)
	}
	if st, err := l.Store().Purge(clock.Now().Add(-72 * time.Hour)); err != nil || st.Intake != 0 {
		t.Errorf("second purge: %+v %v", st, err)
	}
	// A purged form still counts as used.
	if _, err := l.SubmitIntake("test:c1", nil); !errors.Is(err, ErrIntakeUsed) {
		t.Errorf("purged form's call: %v", err)
	}
}
