// Package ledger is textback's PBX-neutral core: it turns call events into
// verdicts (Tracker), decides whether and how to text a caller (the policy,
// applied inside the bbolt write that records the verdict), keeps the outbox
// and its dispatcher, and handles replies (keywords, consent history,
// forwarding to staff).
//
// It knows nothing of Asterisk, FreeSWITCH, carriers or modems: adapters
// feed it Events, drivers implement sms.Driver and hand it sms.Inbound
// messages. Everything it decides is on disk before it acts on it.
package ledger

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"text/template"
	"time"

	"github.com/rs/zerolog"
)

// Config is what the core needs to decide: the lines, the policy, and the
// clock. cmd/textback builds it from the YAML config.
type Config struct {
	Lines  []Line
	Policy Policy
}

// Options are the parts of the core that do not change on reload.
type Options struct {
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Log receives the core's decisions, one line per call or message.
	Log zerolog.Logger
	// ShowNumber formats phone numbers for logs (masking); default
	// identity.
	ShowNumber func(string) string
}

// Ledger is the core: the store plus the rules. Safe for concurrent use.
type Ledger struct {
	store *Store
	rules atomic.Pointer[rules]
	now   func() time.Time
	log   zerolog.Logger
	show  func(string) string
	// wake is signalled (non-blocking) whenever the outbox gains due work.
	wake chan struct{}
	// hand is the dispatcher's fast lane while it runs (see handoff).
	hand atomic.Pointer[handoff]
}

// rules is the compiled, immutable form of a Config.
type rules struct {
	policy   Policy
	lines    []*compiledLine
	byName   map[string]*compiledLine
	byRaw    map[string]*compiledLine // aliases and numbers as given
	byNumber map[string]*compiledLine // E.164
	staff    map[string]map[string]bool
	reasons  map[Reason]bool // nil: all
}

type compiledLine struct {
	Line
	number     Number
	template   *template.Template
	afterHours *template.Template
	help       *template.Template
	confirmOut *template.Template
	confirmIn  *template.Template
	keywords   *Keywords
	countries  map[string]bool
}

// New builds the core on an open store. It validates cfg and fails with an
// error naming the offending line or field.
func New(store *Store, cfg Config, o Options) (*Ledger, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ShowNumber == nil {
		o.ShowNumber = func(s string) string { return s }
	}
	l := &Ledger{store: store, now: o.Now, log: o.Log, show: o.ShowNumber, wake: make(chan struct{}, 1)}
	r, warnings, err := compile(cfg)
	if err != nil {
		return nil, err
	}
	for _, w := range warnings {
		l.log.Warn().Msg(w)
	}
	l.rules.Store(r)
	return l, nil
}

// Reload replaces the lines and policy. A bad config is rejected and the
// old one stays in force. Queued texts are not touched.
func (l *Ledger) Reload(cfg Config) error {
	r, warnings, err := compile(cfg)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		l.log.Warn().Msg(w)
	}
	l.rules.Store(r)
	l.signal()
	return nil
}

// Store returns the underlying store.
func (l *Ledger) Store() *Store { return l.store }

// Lines returns the configured lines by name.
func (l *Ledger) Lines() []Line {
	r := l.rules.Load()
	out := make([]Line, len(r.lines))
	for i, cl := range r.lines {
		out[i] = cl.Line
	}
	return out
}

// Validate checks a Config as New would, without a store, and returns the
// warnings it would log (texts longer than one SMS segment).
func Validate(cfg Config) (warnings []string, err error) {
	_, warnings, err = compile(cfg)
	return warnings, err
}

func compile(cfg Config) (*rules, []string, error) {
	p := cfg.Policy
	if p.Cooldown < 0 || p.MinRing < 0 || p.MaxDelay < 0 {
		return nil, nil, errors.New("policy: durations must not be negative")
	}
	if p.RetryBase <= 0 {
		p.RetryBase = DefaultPolicy().RetryBase
	}
	if p.RetryMax < p.RetryBase {
		p.RetryMax = p.RetryBase
	}
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultPolicy().MaxAttempts
	}
	if p.Quiet == "" {
		p.Quiet = QuietHold
	}
	if p.Quiet != QuietHold && p.Quiet != QuietDrop {
		return nil, nil, fmt.Errorf("policy.quiet_hours.action: %q is not hold or drop", p.Quiet)
	}
	if p.TokenTTL <= 0 {
		p.TokenTTL = DefaultPolicy().TokenTTL
	}
	r := &rules{
		policy:   p,
		byName:   map[string]*compiledLine{},
		byRaw:    map[string]*compiledLine{},
		byNumber: map[string]*compiledLine{},
		staff:    map[string]map[string]bool{},
	}
	if len(p.Reasons) > 0 {
		r.reasons = map[Reason]bool{}
		for _, reason := range p.Reasons {
			if !isMissedReason(reason) {
				return nil, nil, fmt.Errorf("policy.reasons: unknown reason %q", reason)
			}
			r.reasons[reason] = true
		}
	}
	var warnings []string
	for _, ln := range cfg.Lines {
		cl, w, err := compileLine(ln, p)
		if err != nil {
			return nil, nil, fmt.Errorf("lines.%s: %w", ln.Name, err)
		}
		warnings = append(warnings, w...)
		if _, dup := r.byName[ln.Name]; dup {
			return nil, nil, fmt.Errorf("lines.%s: defined twice", ln.Name)
		}
		if other, dup := r.byNumber[cl.number.E164]; dup {
			return nil, nil, fmt.Errorf("lines.%s: number %s is also line %s", ln.Name, cl.number.E164, other.Name)
		}
		r.byName[ln.Name] = cl
		r.byNumber[cl.number.E164] = cl
		for _, raw := range append([]string{ln.Number}, ln.Aliases...) {
			if other, dup := r.byRaw[raw]; dup && other != cl {
				return nil, nil, fmt.Errorf("lines.%s: alias %q is also used by line %s", ln.Name, raw, other.Name)
			}
			r.byRaw[raw] = cl
		}
		r.lines = append(r.lines, cl)
		staff := map[string]bool{}
		for _, s := range cl.Staff {
			staff[s] = true
		}
		r.staff[ln.Name] = staff
	}
	sort.Slice(r.lines, func(i, j int) bool { return r.lines[i].Name < r.lines[j].Name })
	return r, warnings, nil
}

func isMissedReason(r Reason) bool {
	for _, m := range MissedReasons {
		if m == r {
			return true
		}
	}
	return false
}

func compileLine(ln Line, p Policy) (*compiledLine, []string, error) {
	if ln.Name == "" {
		return nil, nil, errors.New("a line needs a name")
	}
	num, err := NormalizeNumber(ln.Number, ln.Country)
	if err != nil {
		return nil, nil, fmt.Errorf("number: %w", err)
	}
	if ln.Country == "" {
		ln.Country = num.Region
	}
	ln.Number = num.E164
	cl := &compiledLine{Line: ln, number: num, countries: map[string]bool{}}
	cl.Staff = make([]string, len(ln.Staff))
	for i, s := range ln.Staff {
		sn, err := NormalizeNumber(s, ln.Country)
		if err != nil {
			return nil, nil, fmt.Errorf("staff[%d]: %w", i, err)
		}
		cl.Staff[i] = sn.E164
	}
	if len(p.Countries) > 0 {
		for _, c := range p.Countries {
			cl.countries[strings.ToUpper(c)] = true
		}
	} else {
		cl.countries[num.Region] = true
	}
	if ln.Business == "" {
		return nil, nil, errors.New("business: a line needs the business name its texts sign with")
	}
	if ln.Template == "" {
		return nil, nil, errors.New("template: a line needs the text to send")
	}
	if ln.AfterHours == "" {
		cl.AfterHours = ln.Template
	}
	if ln.Help == "" {
		cl.Help = "{{.Business}}: these texts answer your call to {{.Line}}. Call us back on {{.Line}}. Reply STOP to opt out."
	}
	if ln.Link != "" && !strings.Contains(ln.Link, "{{.Token}}") {
		return nil, nil, errors.New("link: the intake link needs {{.Token}} where the per-call token goes")
	}
	if ln.Link != "" && len(p.TokenSecret) == 0 {
		return nil, nil, errors.New("link: an intake link needs policy.token_secret to sign its tokens")
	}
	if cl.template, err = ParseText(ln.Name+".template", ln.Template); err != nil {
		return nil, nil, fmt.Errorf("template: %w", err)
	}
	if cl.afterHours, err = ParseText(ln.Name+".after_hours", cl.AfterHours); err != nil {
		return nil, nil, fmt.Errorf("after_hours: %w", err)
	}
	if cl.help, err = ParseText(ln.Name+".help", cl.Help); err != nil {
		return nil, nil, fmt.Errorf("help: %w", err)
	}
	if cl.confirmOut, err = ParseText(ln.Name+".opt_out_confirmation", optOutConfirmation); err != nil {
		return nil, nil, fmt.Errorf("opt-out confirmation: %w", err)
	}
	if cl.confirmIn, err = ParseText(ln.Name+".opt_in_confirmation", optInConfirmation); err != nil {
		return nil, nil, fmt.Errorf("opt-in confirmation: %w", err)
	}
	if cl.keywords, err = NewKeywords(ln.Keywords); err != nil {
		return nil, nil, fmt.Errorf("keywords: %w", err)
	}
	var warnings []string
	sample := TextData{Business: ln.Business, Caller: "+15557654321", Line: num.E164, Time: time.Date(2026, 1, 2, 15, 4, 0, 0, time.UTC)}
	if ln.Link != "" {
		sample.Link = strings.ReplaceAll(ln.Link, "{{.Token}}", SignToken(p.TokenSecret, "asterisk:1795711522.0", sample.Time.Add(p.TokenTTL)))
	}
	checks := []struct {
		name string
		t    *template.Template
	}{{"template", cl.template}, {"after_hours", cl.afterHours}, {"help", cl.help}}
	for _, c := range checks {
		name, t := c.name, c.t
		if name == "after_hours" && ln.AfterHours == "" {
			continue // the same text as template
		}
		body, err := RenderText(t, sample)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", name, err)
		}
		if n, enc := Segments(body); n > 1 {
			warnings = append(warnings, fmt.Sprintf("lines.%s.%s: the text takes %d SMS segments (%s, %d characters); one segment is 160 GSM-7 or 70 UCS-2 characters", ln.Name, name, n, enc, len([]rune(body))))
		}
	}
	return cl, warnings, nil
}

// lineFor finds the line a PBX's line value or an inbound message's To
// names.
func (r *rules) lineFor(raw string) *compiledLine {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil
	}
	if cl := r.byRaw[raw]; cl != nil {
		return cl
	}
	for _, cl := range r.lines {
		if n, err := NormalizeNumber(raw, cl.Country); err == nil && n.E164 == cl.number.E164 {
			return cl
		}
	}
	return nil
}

// isLineNumber reports whether an E.164 number is one of the lines.
func (r *rules) isLineNumber(e164 string) bool {
	_, ok := r.byNumber[e164]
	return ok
}

// signal wakes the dispatcher without blocking.
func (l *Ledger) signal() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}
