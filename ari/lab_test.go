package ari

// The real-peer tier: the Source against the lab's Asterisk 22
// (.ci/lab/asterisk/lab.sh), with real SIP calls placed by the lab's
// baresip phones, through aritest.Lab. It runs only when
// TEXTBACK_LAB_ASTERISK is set, and then an unreachable Asterisk fails it;
// it holds the lab's lock, so it never runs at the same time as
// cmd/textback's lab tier:
//
//	.ci/lab/asterisk/lab.sh start
//	TEXTBACK_LAB_ASTERISK=http://127.0.0.1:8088 go test -race -count=1 -run TestLab -v ./ari/

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/textback/textback/ari/aritest"
	"github.com/textback/textback/ledger"
)

// lab drives the lab's phones and reads the Source's events.
type lab struct {
	*aritest.Lab
	t       *testing.T
	src     *Source
	events  chan ledger.Event
	tracker *ledger.Tracker
	logs    *syncBuffer
	// verdicts decided so far, by call
	verdicts map[string]ledger.Verdict
}

// use binds the lab to a subtest.
func (l *lab) use(t *testing.T) {
	l.t = t
	l.Lab = l.Lab.With(t)
}

// next returns the next ledger event, feeding the tracker; it fails the
// test when none comes in time (a hung call, not a timing assertion).
// While it waits it heals the lab's phones (aritest.Lab.HealWhileWaiting).
func (l *lab) next(within time.Duration) ledger.Event {
	l.t.Helper()
	for end := time.Now().Add(within); ; {
		select {
		case e := <-l.events:
			if v, ok := l.tracker.Observe(e); ok {
				l.verdicts[v.Call] = v
			}
			l.t.Logf("event %s call=%s hint=%s leg=%s from=%s line=%s withheld=%v", e.Kind, e.Call, e.Hint, e.Leg, e.From, e.Line, e.Withheld)
			return e
		case <-time.After(min(time.Second, time.Until(end))):
			if time.Now().After(end) {
				l.t.Fatalf("no ledger event for %s; state %+v\nlog:\n%s", within, l.src.State(), l.logs.String())
			}
			l.HealWhileWaiting()
		}
	}
}

// await reads events until one matches.
func (l *lab) await(what string, match func(ledger.Event) bool) ledger.Event {
	l.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if e := l.next(time.Until(deadline)); match(e) {
			return e
		}
	}
	l.t.Fatalf("no %s", what)
	return ledger.Event{}
}

// offered waits for the call to the line to arrive.
func (l *lab) offered(line string) string {
	l.t.Helper()
	e := l.await("call offered on "+line, func(e ledger.Event) bool { return e.Kind == ledger.EventOffered && e.Line == line })
	return e.Call
}

func (l *lab) event(call string, kind ledger.EventKind, legPrefix string) ledger.Event {
	l.t.Helper()
	return l.await(fmt.Sprintf("%s on %s (%s)", kind, call, legPrefix), func(e ledger.Event) bool {
		return e.Call == call && e.Kind == kind && strings.HasPrefix(e.Leg, legPrefix)
	})
}

// verdict waits for the call's verdict, then for the lab to be idle.
func (l *lab) verdict(call string) ledger.Verdict {
	l.t.Helper()
	for {
		if v, ok := l.verdicts[call]; ok {
			l.Idle()
			return v
		}
		l.next(30 * time.Second)
	}
}

func (l *lab) connected(within time.Duration) {
	l.t.Helper()
	for end := time.Now().Add(within); time.Now().Before(end); {
		if l.src.State().Connected {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	l.t.Fatalf("not connected to the lab's Asterisk: %+v\n%s", l.src.State(), l.logs.String())
}

type labWant struct {
	outcome  ledger.Outcome
	reason   ledger.Reason
	from     string
	line     string
	withheld bool
	textable bool
}

func (l *lab) check(name string, v ledger.Verdict, w labWant) {
	l.t.Helper()
	if v.Outcome != w.outcome || v.Reason != w.reason || v.From != w.from || v.Line != w.line || v.Withheld != w.withheld || v.Textable() != w.textable {
		l.t.Errorf("%s: verdict %+v (textable %v), want %+v", name, v, v.Textable(), w)
	} else {
		l.t.Logf("%s: %s %s from=%s line=%s ring=%s", name, v.Outcome, v.Reason, v.From, v.Line, v.RingTime)
	}
}

func TestLab(t *testing.T) {
	lb := aritest.OpenLab(t)
	cfg := Config{
		URL:      lb.URL,
		Username: lb.User,
		Password: lb.Password,
		App:      "textback-labtest",
		Options:  Options{Trunks: []string{lb.Trunk}},
		// short enough that the restart below is noticed and healed fast
		PingInterval: time.Second, ReadTimeout: 3 * time.Second,
		MinBackoff: 200 * time.Millisecond, MaxBackoff: 2 * time.Second,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// Unreachable or misconfigured: fail, never skip.
	info, err := Probe(ctx, cfg)
	if err != nil {
		t.Fatalf("the lab's Asterisk at %s: %v (start it with .ci/lab/asterisk/lab.sh start)", lb.URL, err)
	}
	if !strings.HasPrefix(info.Version, "22.") || !info.CanFilter {
		t.Fatalf("probe: %+v, want Asterisk 22 and a user that may set the event filter", info)
	}
	t.Logf("probe: %+v", info)

	logs := &syncBuffer{}
	src, err := New(cfg, zerolog.New(logs).Level(zerolog.DebugLevel))
	if err != nil {
		t.Fatal(err)
	}
	l := &lab{Lab: lb, t: t, src: src,
		events: make(chan ledger.Event, 1024), tracker: ledger.NewTracker(ledger.TrackerOptions{}), logs: logs,
		verdicts: map[string]ledger.Verdict{}}
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, l.events) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if strings.Contains(logs.String(), cfg.Password) {
			t.Error("the password reached the log")
		}
		if t.Failed() {
			t.Logf("source log:\n%s", logs.String())
		}
	}()
	l.connected(10 * time.Second)
	l.Idle()

	const caller = aritest.LabCaller
	missed := func(r ledger.Reason, line string) labWant {
		return labWant{outcome: ledger.Missed, reason: r, from: caller, line: line, textable: true}
	}
	answered := func(line string) labWant {
		return labWant{outcome: ledger.Answered, from: caller, line: line, textable: true}
	}

	t.Run("Answered", func(t *testing.T) {
		l.use(t)
		l.Dial("carrier", "5551000")
		call := l.offered("5551000")
		l.event(call, ledger.EventRinging, "PJSIP/100-")
		l.UA("100", "accept")
		l.event(call, ledger.EventConnected, "PJSIP/100-")
		l.UA("carrier", "hangup")
		l.check("answered", l.verdict(call), answered("5551000"))
	})
	t.Run("CallerCancels", func(t *testing.T) {
		l.use(t)
		l.Dial("carrier", "5551000")
		call := l.offered("5551000")
		l.event(call, ledger.EventRinging, "PJSIP/10")
		l.UA("carrier", "hangup")
		l.check("caller cancels", l.verdict(call), missed(ledger.ReasonCallerHangup, "5551000"))
	})
	t.Run("Busy", func(t *testing.T) {
		l.use(t)
		l.Dial("carrier", "5551004")
		call := l.offered("5551004")
		l.event(call, ledger.EventRinging, "PJSIP/102-")
		l.UA("102", "hangup") // baresip rejects a ringing call with 486 Busy Here
		l.check("busy", l.verdict(call), missed(ledger.ReasonBusy, "5551004"))
	})
	t.Run("NoAnswer", func(t *testing.T) {
		l.use(t)
		l.Dial("carrier", "5551010")
		call := l.offered("5551010")
		l.check("no answer", l.verdict(call), missed(ledger.ReasonNoAnswer, "5551010"))
	})
	t.Run("Anonymous", func(t *testing.T) {
		l.use(t)
		l.Dial("anon", "5551010")
		call := l.offered("5551010")
		l.check("anonymous", l.verdict(call), labWant{outcome: ledger.Missed, reason: ledger.ReasonNoAnswer, from: "anonymous", line: "5551010"})
	})
	t.Run("Withheld", func(t *testing.T) {
		l.use(t)
		sip := l.WithheldInvite("5551000", "+15559876543")
		call := l.offered("5551000")
		l.event(call, ledger.EventRinging, "PJSIP/10")
		if err := sip.Cancel(); err != nil {
			t.Error(err)
		}
		l.check("withheld", l.verdict(call), labWant{outcome: ledger.Missed, reason: ledger.ReasonCallerHangup, from: "+15559876543", line: "5551000", withheld: true})
	})
	t.Run("Internal", func(t *testing.T) {
		l.use(t)
		l.Dial("100", "101")
		e := l.await("internal call", func(e ledger.Event) bool { return e.Kind == ledger.EventInternal })
		l.WaitChannel("PJSIP/101-", "Ringing") // a hangup before the call rings may find no call
		l.UA("100", "hangup")
		if v := l.verdict(e.Call); v.Outcome != ledger.Ignored || v.Reason != ledger.ReasonInternal {
			t.Errorf("internal call: verdict %+v, want ignored internal", v)
		}
	})
	t.Run("Outbound", func(t *testing.T) {
		l.use(t)
		l.Dial("100", "95550001")
		e := l.await("outbound call", func(e ledger.Event) bool { return e.Kind == ledger.EventInternal && e.Hint == ledger.ReasonOutbound })
		l.WaitChannel("PJSIP/carrier-", "Ringing")
		l.UA("100", "hangup")
		if v := l.verdict(e.Call); v.Outcome != ledger.Ignored || v.Reason != ledger.ReasonOutbound {
			t.Errorf("outbound call: verdict %+v, want ignored outbound", v)
		}
	})
	t.Run("Voicemail", func(t *testing.T) {
		l.use(t)
		l.Dial("carrier", "5551011")
		call := l.offered("5551011")
		l.event(call, ledger.EventPBXAnswered, "PJSIP/carrier-")
		l.UA("carrier", "hangup")
		l.check("voicemail", l.verdict(call), missed(ledger.ReasonVoicemail, "5551011"))
	})
	t.Run("IVRAbandon", func(t *testing.T) {
		l.use(t)
		l.Dial("carrier", "5551003")
		call := l.offered("5551003")
		l.event(call, ledger.EventPBXAnswered, "PJSIP/carrier-")
		l.UA("carrier", "hangup")
		l.check("ivr", l.verdict(call), missed(ledger.ReasonIVRAbandon, "5551003"))
	})
	t.Run("QueueTimeout", func(t *testing.T) {
		l.use(t)
		l.Dial("carrier", "5551012")
		call := l.offered("5551012")
		l.check("queue timeout", l.verdict(call), missed(ledger.ReasonQueueTimeout, "5551012"))
	})
	t.Run("QueueAnswered", func(t *testing.T) {
		l.use(t)
		l.Dial("carrier", "5551002")
		call := l.offered("5551002")
		l.event(call, ledger.EventRinging, "PJSIP/101-")
		l.UA("101", "accept")
		l.event(call, ledger.EventConnected, "PJSIP/101-")
		l.UA("101", "hangup")
		l.check("queue answered", l.verdict(call), answered("5551002"))
	})
	t.Run("LocalRingGroupAnswered", func(t *testing.T) {
		l.use(t)
		l.Dial("carrier", "5551006")
		call := l.offered("5551006")
		l.event(call, ledger.EventRinging, "PJSIP/101-")
		l.UA("101", "accept")
		l.event(call, ledger.EventConnected, "PJSIP/101-")
		l.UA("carrier", "hangup")
		l.check("local ring group answered", l.verdict(call), answered("5551006"))
	})
	t.Run("LocalRingGroupNoAnswer", func(t *testing.T) {
		l.use(t)
		l.Dial("carrier", "5551013")
		call := l.offered("5551013")
		l.check("local ring group no answer", l.verdict(call), missed(ledger.ReasonNoAnswer, "5551013"))
	})
	t.Run("AsteriskRestart", func(t *testing.T) {
		l.use(t)
		before := src.State().Reconnects
		l.RestartAsterisk()
		for end := time.Now().Add(20 * time.Second); ; {
			if st := src.State(); st.Connected && st.Reconnects > before {
				break
			}
			if time.Now().After(end) {
				t.Fatalf("no reconnection after the restart: %+v\n%s", src.State(), logs.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
		// The restart dropped the application and its filter: it is set
		// again.
		var app struct {
			EventsAllowed []struct {
				Type string `json:"type"`
			} `json:"events_allowed"`
		}
		if err := src.rest.do(ctx, "GET", "/applications/"+cfg.App, nil, &app); err != nil || len(app.EventsAllowed) != len(handledTypes)+1 {
			t.Errorf("application after the restart: %+v, %v; want the event filter set again", app, err)
		}
		l.Dial("carrier", "5551000")
		call := l.offered("5551000")
		l.event(call, ledger.EventRinging, "PJSIP/10")
		l.UA("carrier", "hangup")
		l.check("call after the restart", l.verdict(call), missed(ledger.ReasonCallerHangup, "5551000"))
	})
	if st := src.State(); st.Malformed != 0 || len(st.Warnings) != 0 {
		t.Errorf("state %+v: want no malformed event and no warning (channelvars are set)", st)
	}
}
