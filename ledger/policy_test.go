package ledger

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestLedger_Record_Skips(t *testing.T) {
	at := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		edit func(*Config)
		prep func(t *testing.T, l *Ledger)
		v    func(Verdict) Verdict
		skip Skip
	}{
		{name: "MissedIsTexted", skip: SkipNone},
		{name: "AnsweredIsNotTexted", v: func(v Verdict) Verdict { v.Outcome, v.Reason = Answered, ""; return v }, skip: SkipAnswered},
		{name: "InternalIsNotTexted", v: func(v Verdict) Verdict { v.Outcome, v.Reason = Ignored, ReasonInternal; return v }, skip: SkipInternal},
		{name: "OutboundIsNotTexted", v: func(v Verdict) Verdict { v.Outcome, v.Reason = Ignored, ReasonOutbound; return v }, skip: SkipOutbound},
		{name: "ExpiredIsNotTexted", v: func(v Verdict) Verdict { v.Outcome, v.Reason = Ignored, ReasonExpired; return v }, skip: SkipExpired},
		{name: "WithheldIsNotTexted", v: func(v Verdict) Verdict { v.Withheld = true; return v }, skip: SkipWithheld},
		{name: "AnonymousIsNotTexted", v: func(v Verdict) Verdict { v.From = "anonymous"; return v }, skip: SkipAnonymous},
		{name: "EmptyCallerIsNotTexted", v: func(v Verdict) Verdict { v.From = ""; return v }, skip: SkipAnonymous},
		{name: "UnknownLineIsNotTexted", v: func(v Verdict) Verdict { v.Line = "5559999"; return v }, skip: SkipUnknownLine},
		{name: "GarbageNumberIsInvalid", v: func(v Verdict) Verdict { v.From = "not-a-number"; return v }, skip: SkipInvalid},
		{name: "ShortCodeIsNotTexted", v: func(v Verdict) Verdict { v.From = "22395"; return v }, skip: SkipShortCode},
		{name: "ForeignCallerIsNotTexted", v: func(v Verdict) Verdict { v.From = "+447700900123"; return v }, skip: SkipCountry},
		{name: "AllowedForeignCallerIsTexted", edit: func(c *Config) { c.Policy.Countries = []string{"US", "GB"} },
			v: func(v Verdict) Verdict { v.From = "+447700900123"; return v }, skip: SkipNone},
		{name: "PremiumCallerIsNotTexted", v: func(v Verdict) Verdict { v.From = "+19002345678"; return v }, skip: SkipPremium},
		{name: "CallerThatIsALineIsNotTexted", v: func(v Verdict) Verdict { v.From = testLineNumber; return v }, skip: SkipLineNumber},
		{name: "UntriggeredReasonIsNotTexted", edit: func(c *Config) { c.Policy.Reasons = []Reason{ReasonBusy} }, skip: SkipReason},
		{name: "TriggeredReasonIsTexted", edit: func(c *Config) { c.Policy.Reasons = []Reason{ReasonNoAnswer} }, skip: SkipNone},
		{name: "ShortRingIsNotTexted", edit: func(c *Config) { c.Policy.MinRing = 30 * time.Second }, skip: SkipRingTooShort},
		{name: "OptedOutIsNotTexted", prep: func(t *testing.T, l *Ledger) {
			if _, err := l.OptOut(testCaller, "main", "test"); err != nil {
				t.Fatal(err)
			}
		}, skip: SkipOptedOut},
		{name: "LandlineIsNotTexted", prep: func(t *testing.T, l *Ledger) {
			markNotMobile(t, l, testCaller)
		}, skip: SkipNotMobile},
		{name: "BadTemplateFieldAtRenderIsSkipped", skip: SkipNone}, // templates are checked at load; see TestNew_RejectsBadConfig
		{name: "ShadowModeRecordsWouldSend", edit: func(c *Config) { c.Policy.Shadow = true }, skip: SkipShadow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, _ := newTestLedger(t, tt.edit)
			if tt.prep != nil {
				tt.prep(t, l)
			}
			v := missed("c1", testCaller, at)
			if tt.v != nil {
				v = tt.v(v)
			}
			call, err := l.Record(v)
			if err != nil {
				t.Fatalf("Record: %v", err)
			}
			if call.Skip != tt.skip {
				t.Fatalf("skip = %q (%s), want %q", call.Skip, call.Detail, tt.skip)
			}
			depth, _, err := l.Store().QueueDepth()
			if err != nil {
				t.Fatal(err)
			}
			if tt.skip == SkipNone {
				if call.Action != ActionText || call.Text == 0 || depth != 1 {
					t.Fatalf("action %s text %d queue %d, want a queued text", call.Action, call.Text, depth)
				}
				return
			}
			if call.Action != ActionSkip || depth != 0 {
				t.Fatalf("action %s queue %d, want skip and an empty queue", call.Action, depth)
			}
			if call.Detail == "" {
				t.Errorf("skip %s has no detail", call.Skip)
			}
			stored, err := l.Store().Call(call.ID)
			if err != nil || stored.Skip != tt.skip {
				t.Fatalf("stored call %+v, %v: want the skip reason on disk", stored, err)
			}
		})
	}
}

func markNotMobile(t *testing.T, l *Ledger, number string) {
	t.Helper()
	err := l.store.db.Update(func(tx *bolt.Tx) error {
		ns, err := getNumber(tx, number)
		if err != nil {
			return err
		}
		ns.NotMobile = true
		return putNumber(tx, ns)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Invariant 2: at most one text per missed call, however often the verdict
// is recorded.
func TestLedger_Record_OneTextPerCall(t *testing.T) {
	l, clock := newTestLedger(t, nil)
	v := missed("dup", testCaller, clock.Now())
	first, err := l.Record(v)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		clock.Advance(48 * time.Hour) // past the cooldown: only the call id stops a second text
		again, err := l.Record(v)
		if err != nil {
			t.Fatal(err)
		}
		if again.Seq != first.Seq || again.Text != first.Text {
			t.Fatalf("second Record gave call %d text %d, want the first record %d/%d", again.Seq, again.Text, first.Seq, first.Text)
		}
	}
	texts, err := l.Store().Texts(0)
	if err != nil {
		t.Fatal(err)
	}
	if len(texts) != 1 {
		t.Fatalf("%d texts, want 1", len(texts))
	}
}

// Invariant 4: one text per caller per line per cooldown, across restarts.
func TestLedger_Record_Cooldown(t *testing.T) {
	path := t.TempDir() + "/textback.db"
	cfg := Config{Lines: []Line{testLine()}, Policy: DefaultPolicy()}
	second := testLine()
	second.Name, second.Number, second.Aliases = "second", "+15555552000", []string{"5552000"}
	cfg.Lines = append(cfg.Lines, second)
	clock := &testClock{now: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)}
	open := func() *Ledger {
		st, err := Open(path, StoreOptions{})
		if err != nil {
			t.Fatal(err)
		}
		l, err := New(st, cfg, Options{Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	l := open()
	record := func(call, line string, want Skip) {
		t.Helper()
		v := missed(call, testCaller, clock.Now())
		v.Line = line
		c, err := l.Record(v)
		if err != nil {
			t.Fatal(err)
		}
		if c.Skip != want {
			t.Fatalf("call %s: skip %q (%s), want %q", call, c.Skip, c.Detail, want)
		}
	}
	record("a", testDID, SkipNone)
	clock.Advance(time.Hour)
	record("b", testDID, SkipCooldown)
	record("c", "5552000", SkipNone) // another line has its own cooldown
	l.Store().Close()
	l = open() // a restart keeps the cooldown
	clock.Advance(22 * time.Hour)
	record("d", testDID, SkipCooldown)
	clock.Advance(time.Hour + time.Second)
	record("e", testDID, SkipNone)
	l.Store().Close()
}

func TestLedger_Record_RateCaps(t *testing.T) {
	for _, tt := range []struct {
		name string
		edit func(*Config)
	}{
		{"GlobalPerHour", func(c *Config) { c.Policy.MaxPerHour = 3 }},
		{"GlobalPerDay", func(c *Config) { c.Policy.MaxPerHour, c.Policy.MaxPerDay = 0, 3 }},
		{"LinePerHour", func(c *Config) { c.Lines[0].MaxPerHour = 3 }},
		{"LinePerDay", func(c *Config) { c.Lines[0].MaxPerDay = 3 }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l, clock := newTestLedger(t, tt.edit)
			for i := 0; i < 5; i++ {
				clock.Advance(time.Minute)
				c, err := l.Record(missed(fmt.Sprint("c", i), fmt.Sprintf("+1555765%04d", 1000+i), clock.Now()))
				if err != nil {
					t.Fatal(err)
				}
				want := SkipNone
				if i >= 3 {
					want = SkipRateCap
				}
				if c.Skip != want {
					t.Fatalf("call %d: skip %q (%s), want %q", i, c.Skip, c.Detail, want)
				}
			}
			if strings.HasSuffix(tt.name, "PerHour") {
				clock.Advance(time.Hour)
				c, err := l.Record(missed("later", "+15557659999", clock.Now()))
				if err != nil || c.Skip != SkipNone {
					t.Fatalf("an hour later: %+v %v, want texted", c, err)
				}
			}
		})
	}
}

func TestLedger_Record_Templates(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	l, clock := newTestLedger(t, func(c *Config) {
		c.Lines[0].AfterHours = "{{.Business}} is closed. We will call you back. {{.Link}}"
		c.Lines[0].Link = "https://acme.example/i/{{.Token}}"
		c.Lines[0].Hours = Hours{Location: time.UTC, Open: map[time.Weekday][]Interval{time.Tuesday: {{Start: 9 * 60, End: 17 * 60}}}}
		c.Policy.TokenSecret = secret
	})
	open, err := l.Record(missed("open", testCaller, clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	text, _ := l.Store().Text(open.Text)
	if !strings.HasPrefix(text.Body, "Sorry we missed your call to Acme Plumbing") {
		t.Fatalf("open-hours body %q", text.Body)
	}
	clock.Advance(8 * time.Hour) // 18:00, closed
	closed, err := l.Record(missed("closed", "+15557650000", clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	text, _ = l.Store().Text(closed.Text)
	if !strings.HasPrefix(text.Body, "Acme Plumbing is closed.") {
		t.Fatalf("after-hours body %q", text.Body)
	}
	i := strings.Index(text.Body, "/i/")
	if i < 0 {
		t.Fatalf("no intake link in %q", text.Body)
	}
	call, err := VerifyToken(secret, text.Body[i+3:], clock.Now())
	if err != nil || call != closed.ID {
		t.Fatalf("token names %q, %v; want %s", call, err, closed.ID)
	}
}

func TestNew_RejectsBadConfig(t *testing.T) {
	for _, tt := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"UnknownTemplateField", func(c *Config) { c.Lines[0].Template = "Hi {{.Bussiness}}" }, "lines.main: template"},
		{"BadNumber", func(c *Config) { c.Lines[0].Number = "12" }, "lines.main: number"},
		{"NoBusiness", func(c *Config) { c.Lines[0].Business = "" }, "lines.main: business"},
		{"DuplicateLineNumber", func(c *Config) { c.Lines = append(c.Lines, c.Lines[0]); c.Lines[1].Name = "b" }, "lines.b"},
		{"LinkWithoutToken", func(c *Config) { c.Lines[0].Link = "https://x.example/i" }, "lines.main: link"},
		{"UnknownReason", func(c *Config) { c.Policy.Reasons = []Reason{"nobody"} }, "policy.reasons"},
		{"BadQuietAction", func(c *Config) { c.Policy.Quiet = "later" }, "quiet_hours"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Lines: []Line{testLine()}, Policy: DefaultPolicy()}
			tt.edit(&cfg)
			_, err := Validate(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestValidate_WarnsAboutLongTexts(t *testing.T) {
	cfg := Config{Lines: []Line{testLine()}, Policy: DefaultPolicy()}
	cfg.Lines[0].Template = strings.Repeat("Sorry we missed you. ", 10)
	warnings, err := Validate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "lines.main.template") || !strings.Contains(warnings[0], "segments") {
		t.Fatalf("warnings %q, want one about lines.main.template segments", warnings)
	}
}

// Invariant 1: the opt-out check and the enqueue are one transaction, so
// no text is queued for a number after its opt-out was recorded, however
// the two race.
func TestLedger_OptOutRacesRecord(t *testing.T) {
	for round := 0; round < 20; round++ {
		l, clock := newTestLedger(t, func(c *Config) { c.Policy.MaxPerHour, c.Policy.MaxPerDay = 0, 0 })
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				clock.Advance(25 * time.Hour)
				if _, err := l.Record(missed(fmt.Sprint("r", i), testCaller, clock.Now())); err != nil {
					t.Error(err)
				}
			}
		}()
		go func() {
			defer wg.Done()
			if _, err := l.OptOut(testCaller, "main", "race"); err != nil {
				t.Error(err)
			}
		}()
		wg.Wait()
		history, err := l.Store().ConsentHistory(testCaller)
		if err != nil || len(history) != 1 {
			t.Fatalf("history %v %v", history, err)
		}
		calls, err := l.Store().Calls(0)
		if err != nil {
			t.Fatal(err)
		}
		sawOptOut := false
		for i := len(calls) - 1; i >= 0; i-- { // oldest first
			c := calls[i]
			if c.Skip == SkipOptedOut {
				sawOptOut = true
			} else if sawOptOut && c.Action == ActionText {
				t.Fatalf("call %s texted after an earlier call saw the opt-out", c.ID)
			}
		}
		if ns, _ := l.Store().Number(testCaller); !ns.OptedOut {
			t.Fatal("the number is not opted out at the end")
		}
	}
}
