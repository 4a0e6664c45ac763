package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"
	"github.com/textback/textback/ledger"
	"github.com/textback/textback/sms"
	"github.com/textback/textback/sms/console"
)

// The demo's business and people. The numbers are in the 555 range kept
// for fiction.
const (
	demoLine   = "+15555551000"
	demoDID    = "5551000"
	demoStaff  = "+15555550199"
	demoCaller = "+15557654321"
	demoOther  = "+15559876543"
)

// demoClock is the demo's injected clock: the script moves it forward.
type demoClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *demoClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *demoClock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

func demoConfig(loc *time.Location) ledger.Config {
	p := ledger.DefaultPolicy()
	hours := ledger.Hours{Location: loc, Open: map[time.Weekday][]ledger.Interval{}}
	for d := time.Monday; d <= time.Friday; d++ {
		hours.Open[d] = []ledger.Interval{{Start: 8 * 60, End: 18 * 60}}
	}
	return ledger.Config{
		Policy: p,
		Lines: []ledger.Line{{
			Name:       "main",
			Number:     demoLine,
			Aliases:    []string{demoDID},
			Country:    "US",
			Business:   "Acme Plumbing",
			Template:   "Sorry we missed your call to {{.Business}}. What can we help with? Reply here and a person will answer. Reply STOP to opt out.",
			AfterHours: "Sorry we missed your call to {{.Business}}. We're closed now; reply with what you need and we'll get back to you first thing. Reply STOP to opt out.",
			Help:       "{{.Business}}: these texts answer your call to us. Call {{.Line}} Mon-Fri 8-18. Reply STOP to opt out. Msg & data rates may apply.",
			Staff:      []string{demoStaff},
			Hours:      hours,
		}},
	}
}

// cmdDemo runs the real pipeline (tracker, policy, a bbolt ledger in a
// temporary directory, outbox and dispatcher, inbox) against a scripted PBX
// and the console driver, narrating each step.
func cmdDemo(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "demo", "[--keep DIR]")
	keep := fs.String("keep", "", "write the demo ledger to `DIR` and keep it (default: a temporary directory, removed)")
	quiet := fs.Bool("quiet", false, "do not print the core's log lines")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	// The narration, the core's log (also from the dispatcher's goroutine)
	// and the console driver all write to stdout.
	shared := *e
	shared.stdout = &lockedWriter{w: e.stdout}
	e = &shared
	dir := *keep
	if dir == "" {
		tmp, err := os.MkdirTemp("", "textback-demo-")
		if err != nil {
			return fmt.Errorf("demo state directory: %w", err)
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("demo state directory: %w", err)
	}
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		loc = time.FixedZone("EST", -5*3600)
	}
	// A Tuesday morning, in business hours.
	clock := &demoClock{now: time.Date(2026, 11, 24, 10, 0, 0, 0, loc)}

	log := zerolog.Nop()
	if !*quiet {
		log = zerolog.New(zerolog.ConsoleWriter{Out: e.stdout, NoColor: true, PartsExclude: []string{zerolog.TimestampFieldName}}).
			With().Str("component", "ledger").Logger()
	}
	store, err := ledger.Open(filepath.Join(dir, "textback.db"), ledger.StoreOptions{})
	if err != nil {
		return err
	}
	defer store.Close()
	core, err := ledger.New(store, demoConfig(loc), ledger.Options{Now: clock.Now, Log: log})
	if err != nil {
		return fmt.Errorf("demo config: %w", err)
	}
	driver := console.New(e.stdout)
	dispatcher := ledger.NewDispatcher(core, driver, ledger.DispatcherOptions{Workers: 1})
	dctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- dispatcher.Run(dctx) }()
	var stopOnce sync.Once
	var runErr error
	stopDispatcher := func() error {
		stopOnce.Do(func() { cancel(); runErr = <-done })
		return runErr
	}
	defer stopDispatcher()

	d := &demo{e: e, clock: clock, core: core, tracker: ledger.NewTracker(ledger.TrackerOptions{}), driver: driver}
	if err := d.script(ctx); err != nil {
		return err
	}
	if err := stopDispatcher(); err != nil {
		return fmt.Errorf("dispatcher: %w", err)
	}
	return d.summary(store)
}

// lockedWriter serialises writes from several goroutines to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

type demo struct {
	e       *env
	clock   *demoClock
	core    *ledger.Ledger
	tracker *ledger.Tracker
	driver  sms.Driver
	calls   int
	msgs    int
}

func (d *demo) say(format string, a ...any) {
	fmt.Fprintf(d.e.stdout, "\n▶ %s  %s\n", d.clock.Now().Format("Mon 15:04"), fmt.Sprintf(format, a...))
}

// call plays one inbound call through the tracker and the ledger.
func (d *demo) call(from string, withheld bool, answered bool) error {
	d.calls++
	id := fmt.Sprintf("demo-%d", d.calls)
	ev := func(k ledger.EventKind, hint ledger.Reason, after time.Duration) ledger.Event {
		return ledger.Event{Kind: k, PBX: "demo", Call: id, At: d.clock.Advance(after), From: from, Withheld: withheld, Line: demoDID, Hint: hint}
	}
	script := []ledger.Event{ev(ledger.EventOffered, "", 0), ev(ledger.EventRinging, "", 0)}
	if answered {
		script = append(script, ev(ledger.EventConnected, "", 6*time.Second), ev(ledger.EventCallerHangup, "", 3*time.Minute))
	} else {
		script = append(script, ev(ledger.EventDialEnded, ledger.ReasonNoAnswer, 20*time.Second), ev(ledger.EventCallerHangup, "", time.Second))
	}
	script = append(script, ev(ledger.EventEnded, "", 0))
	for _, e := range script {
		if err := d.core.Observe(d.tracker, e); err != nil {
			return err
		}
	}
	return d.settle()
}

// text delivers an inbound message as a driver would.
func (d *demo) text(from, body string) error {
	d.msgs++
	in := sms.Inbound{Provider: "demo", ProviderID: fmt.Sprintf("demo-msg-%d", d.msgs), From: from, To: demoLine, Body: body, ReceivedAt: d.clock.Now()}
	fmt.Fprintf(d.e.stdout, "   %s texts: %q\n", from, body)
	if err := d.core.Receive(context.Background(), in); err != nil {
		return err
	}
	return d.settle()
}

// settle waits until the dispatcher has handled every queued text, so the
// narration stays in order.
func (d *demo) settle() error {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		texts, err := d.core.Store().Texts(0)
		if err != nil {
			return err
		}
		busy := false
		for _, t := range texts {
			if t.Status == ledger.StatusQueued || t.Status == ledger.StatusSending {
				busy = true
				break
			}
		}
		if !busy {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("demo: the outbox did not drain within 5s")
}

func (d *demo) script(_ context.Context) error {
	steps := []struct {
		say  string
		wait time.Duration
		do   func() error
	}{
		{"A customer calls Acme Plumbing; the ring group rings 20 s and nobody answers. textback texts them.", 0,
			func() error { return d.call(demoCaller, false, false) }},
		{"Another customer calls and the office answers. No text.", 4 * time.Minute,
			func() error { return d.call(demoOther, false, true) }},
		{"The first customer tries again ten minutes later, and misses again: inside the 24 h cooldown, no second text.", 10 * time.Minute,
			func() error { return d.call(demoCaller, false, false) }},
		{"A caller who withheld their number rings out. Nothing to text.", 2 * time.Minute,
			func() error { return d.call("+15551234567", true, false) }},
		{"The customer replies to the text. textback forwards it to the office's staff phone.", 3 * time.Minute,
			func() error {
				return d.text(demoCaller, "Hi, my kitchen sink is leaking under the cabinet. Can someone come today?")
			}},
		{"They ask for HELP. textback answers with the business's help text and tells the staff.", time.Minute,
			func() error { return d.text(demoCaller, "help") }},
		{"They text STOP. The opt-out is recorded and confirmed once.", 5 * time.Minute,
			func() error { return d.text(demoCaller, "Stop!") }},
		{"They text STOP again: already opted out, so no second confirmation.", time.Minute,
			func() error { return d.text(demoCaller, "STOP") }},
		{"Two days later they call and miss again. They opted out: no text.", 48 * time.Hour,
			func() error { return d.call(demoCaller, false, false) }},
		{"They text START to resubscribe, and get one confirmation.", 10 * time.Minute,
			func() error { return d.text(demoCaller, "START") }},
	}
	for _, s := range steps {
		d.clock.Advance(s.wait)
		d.say("%s", s.say)
		if err := s.do(); err != nil {
			return err
		}
	}
	return nil
}

// summary prints the calls table and the demo caller's consent history,
// read back from the ledger.
func (d *demo) summary(store *ledger.Store) error {
	calls, err := store.Calls(0)
	if err != nil {
		return err
	}
	fmt.Fprintln(d.e.stdout, "\n== Calls, as recorded in the ledger (textback calls)")
	writeCalls(d.e.stdout, calls)
	history, err := store.ConsentHistory(demoCaller)
	if err != nil {
		return err
	}
	fmt.Fprintf(d.e.stdout, "\n== Consent history of %s (textback optout show %s)\n", demoCaller, demoCaller)
	writeConsent(d.e.stdout, history)
	fmt.Fprintln(d.e.stdout, "\nThat is the whole loop. Next: read README.md to point textback at your PBX.")
	return nil
}

func writeCalls(w io.Writer, calls []ledger.Call) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tCALL\tFROM\tLINE\tVERDICT\tREASON\tACTION\tWHY")
	for i := len(calls) - 1; i >= 0; i-- {
		c := calls[i]
		why := string(c.Skip)
		if c.Action == ledger.ActionText {
			why = fmt.Sprintf("text #%d", c.Text)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.EndedAt.Format("Jan 02 15:04"), c.ID, orDash(c.From),
			orDash(firstOf(c.Line, c.LineRaw)), c.Outcome, orDash(string(c.Reason)), c.Action, orDash(why))
	}
	tw.Flush()
}

func writeConsent(w io.Writer, history []ledger.ConsentEvent) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tLINE\tSTATE\tSOURCE\tEVIDENCE")
	for _, ev := range history {
		review := ""
		if ev.Review {
			review = " (review)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%q%s\n", ev.At.Format("Jan 02 15:04"), orDash(ev.Line), ev.State, ev.Source, ev.Evidence, review)
	}
	tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func firstOf(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
