package main

// textback compliance: a 10DLC / carrier-registration aid. It prints, from
// the config, what a campaign registration form asks for: what the business
// texts and why, how callers opt in, sample messages rendered from each
// line's own templates, the opt-out and HELP keywords and answers, the
// message frequency and the numbers. textback cannot register anything; an
// admin pastes from this.

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/textback/textback/ledger"
)

// The ledger's built-in texts and words, as the compliance aid shows them.
// They mirror unexported values of package ledger; compliance_test.go
// checks them against what the ledger really sends and matches, so they
// cannot drift apart.
const (
	complianceOptOutConfirmation = "{{.Business}}: you have been unsubscribed and will not receive any more texts from this number. Reply START to resubscribe."
	complianceOptInConfirmation  = "{{.Business}}: you are resubscribed and will get replies from this number again. Reply STOP to opt out."
	complianceDefaultHelp        = "{{.Business}}: these texts answer your call to {{.Line}}. Call us back on {{.Line}}. Reply STOP to opt out."
)

var (
	// complianceOptOutWords are the standard single-word and short opt-out
	// keywords (CTIA, Twilio, Telnyx, AWS); ledger also catches phrasings.
	complianceOptOutWords = []string{"STOP", "STOPALL", "STOP ALL", "UNSUBSCRIBE", "UNSUB", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "OPT OUT", "REMOVE", "ARRET", "TD"}
	// complianceOptInWords are the standard opt-in keywords; YES counts
	// only while the number is opted out.
	complianceOptInWords = []string{"START", "UNSTOP"}
	// complianceHelpWords are the standard help keywords.
	complianceHelpWords = []string{"HELP", "INFO"}
)

// complianceCaller is the caller number sample messages are rendered for.
const complianceCaller = "+15557654321"

// complianceSampleLink is the intake link shown when a line has none.
const complianceSampleLink = "https://intake.example.com/i/TOKEN"

func cmdCompliance(_ context.Context, e *env, args []string) error {
	fs := newFlags(e, "compliance", "[--config FILE] [--line NAME]")
	path := configFlag(fs)
	line := fs.String("line", "", "only this line (default: every line)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: compliance takes no arguments", errUsage)
	}
	cfg, err := loadConfigFlag(*path)
	if err != nil {
		return err
	}
	policy, err := cfg.Policy()
	if err != nil {
		return err
	}
	lines, err := cfg.Lines()
	if err != nil {
		return err
	}
	if _, err := ledger.Validate(ledger.Config{Lines: lines, Policy: policy}); err != nil {
		return err
	}
	if len(lines) == 0 {
		return fmt.Errorf("no lines in the config: the campaign is about the business numbers under lines (see textback.example.yaml)")
	}
	if *line != "" {
		var names []string
		var found []ledger.Line
		for _, l := range lines {
			names = append(names, l.Name)
			if l.Name == *line {
				found = append(found, l)
			}
		}
		if len(found) == 0 {
			return fmt.Errorf("no line %q in the config (lines: %s)", *line, strings.Join(names, ", "))
		}
		lines = found
	}
	var b strings.Builder
	for i, l := range lines {
		if i > 0 {
			b.WriteString("\n" + strings.Repeat("=", 72) + "\n\n")
		}
		if err := writeCompliance(&b, cfg, policy, l); err != nil {
			return err
		}
	}
	_, err = io.WriteString(e.stdout, b.String())
	return err
}

// writeCompliance writes the registration aid for one line.
func writeCompliance(w *strings.Builder, cfg *Config, p ledger.Policy, l ledger.Line) error {
	raw := cfg.LineConfigs[l.Name]
	num, err := ledger.NormalizeNumber(l.Number, l.Country)
	if err != nil {
		return fmt.Errorf("lines.%s.number: %w", l.Name, err)
	}
	number := num.E164
	biz := l.Business
	section := func(title string) { fmt.Fprintf(w, "\n%s\n%s\n", title, strings.Repeat("-", len(title))) }

	fmt.Fprintf(w, "Carrier registration aid (A2P 10DLC / toll-free verification) for line %s: %s, %s\n", l.Name, biz, number)
	fmt.Fprintf(w, "From the config %s, by textback %s. textback cannot register; paste what the form asks for.\n", configName(cfg), versionString())
	if p.Shadow {
		fmt.Fprintln(w, "Note: policy.shadow is on: textback currently decides but sends nothing.")
	}

	section("Campaign description")
	fmt.Fprintf(w, "%s sends one conversational text message to a person whose phone call to %s's business number %s was not answered (a missed call). ", biz, biz, number)
	fmt.Fprintf(w, "The message answers that call: it apologises for missing it and asks what the caller needs, so that a member of staff can help; a person reads and answers every reply. ")
	fmt.Fprintln(w, "Messages are not marketing or promotional: no offers, no discounts, no lists, and callers are never added to any list or shared. Suggested use case: Customer Care.")

	section("How consumers opt in (call to action)")
	fmt.Fprintf(w, "The consumer opts in by calling %s's number %s themselves. Only when that call goes unanswered does the caller receive a text, one reply to their own call, from the same number they dialled. ", biz, number)
	fmt.Fprintln(w, "There is no web form, keyword or list to join. Callers who withhold their number, internal calls and calls the business placed are never texted. "+
		"Every first message says how to opt out (Reply STOP); Msg & data rates may apply.")

	section("Sample messages")
	samples, err := complianceSamples(p, l, number)
	if err != nil {
		return err
	}
	for i, s := range samples {
		fmt.Fprintf(w, "%d. %s:\n%s\n", i+1, s.label, indent(s.body))
	}

	section("Opt-out, opt-in and HELP")
	fmt.Fprintf(w, "Opt-out keywords: %s", strings.Join(complianceOptOutWords, ", "))
	if extra := extraWords(l.Keywords.OptOut, complianceOptOutWords); len(extra) > 0 {
		fmt.Fprintf(w, "; this line also: %s", strings.Join(extra, ", "))
	}
	fmt.Fprintln(w, ". Natural phrasings (\"please stop texting me\", \"remove me from your list\") count too; capitalisation and punctuation do not matter. "+
		"An opt-out takes effect at once, is recorded with its time and words, and is answered by one confirmation, then nothing more:")
	if err := renderInto(w, l.Name+".opt_out_confirmation", complianceOptOutConfirmation, biz, number, ""); err != nil {
		return err
	}
	fmt.Fprintf(w, "Opt-in keywords: %s", strings.Join(complianceOptInWords, ", "))
	if extra := extraWords(l.Keywords.OptIn, complianceOptInWords); len(extra) > 0 {
		fmt.Fprintf(w, "; this line also: %s", strings.Join(extra, ", "))
	}
	fmt.Fprintln(w, " (and YES, only while the number is opted out). Confirmation:")
	if err := renderInto(w, l.Name+".opt_in_confirmation", complianceOptInConfirmation, biz, number, ""); err != nil {
		return err
	}
	fmt.Fprintf(w, "HELP keywords: %s", strings.Join(complianceHelpWords, ", "))
	if extra := extraWords(l.Keywords.Help, complianceHelpWords); len(extra) > 0 {
		fmt.Fprintf(w, "; this line also: %s", strings.Join(extra, ", "))
	}
	help, where := l.Help, "lines."+l.Name+".help"
	if help == "" {
		help, where = complianceDefaultHelp, "the standard help text; set "+where+" to change it"
	}
	fmt.Fprintf(w, ". Answer (%s), at most once per %s per number:\n", where, humanDuration(p.HelpCooldown))
	if err := renderInto(w, l.Name+".help", help, biz, number, ""); err != nil {
		return err
	}

	section("Message frequency")
	if p.Cooldown > 0 {
		fmt.Fprintf(w, "One message per missed call, and at most one per caller every %s (cooldown), however often they call. ", humanDuration(p.Cooldown))
	} else {
		fmt.Fprint(w, "One message per missed call (no cooldown between calls from the same caller). ")
	}
	fmt.Fprintln(w, "Beyond that, only answers to the consumer's own messages (HELP, opt-out/opt-in confirmations) and the conversation with staff. No recurring messages.")
	caps := capsText(p.MaxPerHour, p.MaxPerDay, "across all lines")
	if lc := capsText(l.MaxPerHour, l.MaxPerDay, "for this line"); lc != "" {
		caps = strings.TrimSpace(caps + " " + lc)
	}
	if caps != "" {
		fmt.Fprintln(w, "Volume caps: "+caps)
	}
	if p.QuietStart%(24*60) != p.QuietEnd%(24*60) {
		verb := "held until they end"
		if p.Quiet == ledger.QuietDrop {
			verb = "dropped"
		}
		fmt.Fprintf(w, "Quiet hours %s-%s (line time): a text delayed into them is %s; a text not sent within %s of the call is dropped.\n",
			formatClock(p.QuietStart), formatClock(p.QuietEnd), verb, humanDuration(p.MaxDelay))
	}

	section("Numbers")
	fmt.Fprintf(w, "Sending number: %s (line %s, country %s). Texts go out from the number the consumer called.\n", number, l.Name, l.Country)
	if s := senderNote(cfg, number); s != "" {
		fmt.Fprintln(w, s)
	}
	fmt.Fprintf(w, "Sent through: %s.\n", driverName(cfg))
	if len(raw.Hours.Days) > 0 {
		fmt.Fprintf(w, "Business hours: %s.\n", hoursText(raw.Hours))
	} else {
		fmt.Fprintln(w, "Business hours: none configured (always open).")
	}
	if len(l.Staff) > 0 {
		fmt.Fprintf(w, "Consumers' replies are forwarded to staff at: %s (these numbers receive no campaign messages).\n", strings.Join(l.Staff, ", "))
	}

	if notes := complianceNotes(l, samples); len(notes) > 0 {
		section("Check before submitting")
		for _, n := range notes {
			fmt.Fprintln(w, "- "+n)
		}
	}
	return nil
}

type sample struct{ label, body string }

// complianceSamples renders the line's texts: in and outside business
// hours, with and without the intake link when that changes them.
func complianceSamples(p ledger.Policy, l ledger.Line, number string) ([]sample, error) {
	open, closed, hasHours := sampleTimes(l.Hours)
	tmpl := func(name, text string) (*template.Template, error) {
		t, err := ledger.ParseText(l.Name+"."+name, text)
		if err != nil {
			return nil, fmt.Errorf("lines.%s.%s: %w", l.Name, name, err)
		}
		return t, nil
	}
	main, err := tmpl("template", l.Template)
	if err != nil {
		return nil, err
	}
	after := main
	if l.AfterHours != "" {
		if after, err = tmpl("after_hours", l.AfterHours); err != nil {
			return nil, err
		}
	}
	link, linkNote := complianceSampleLink, "once lines."+l.Name+".link is set"
	if l.Link != "" {
		link = strings.ReplaceAll(l.Link, "{{.Token}}", ledger.SignToken(p.TokenSecret, "sample", open.Add(p.TokenTTL)))
		linkNote = "as sent: lines." + l.Name + ".link is set"
	}
	var out []sample
	add := func(label string, t *template.Template, at time.Time) error {
		d := ledger.TextData{Business: l.Business, Caller: complianceCaller, Line: number, Time: at}
		without, err := ledger.RenderText(t, d)
		if err != nil {
			return fmt.Errorf("lines.%s: %s: %w", l.Name, label, err)
		}
		d.Link = link
		with, err := ledger.RenderText(t, d)
		if err != nil {
			return fmt.Errorf("lines.%s: %s: %w", l.Name, label, err)
		}
		switch {
		case with == without:
			out = append(out, sample{label, without})
		case l.Link != "":
			out = append(out, sample{label + ", with the intake link (" + linkNote + ")", with},
				sample{label + ", without the intake link", without})
		default:
			out = append(out, sample{label + ", without an intake link (as sent)", without},
				sample{label + ", with an intake link (" + linkNote + ")", with})
		}
		return nil
	}
	if !hasHours {
		if err := add("Reply to a missed call (no business hours configured: always this text)", main, open); err != nil {
			return nil, err
		}
		return out, nil
	}
	if err := add("Reply to a missed call during business hours", main, open); err != nil {
		return nil, err
	}
	label := "Reply to a missed call after hours"
	if l.AfterHours == "" {
		label += " (after_hours not set: the same template)"
	}
	if err := add(label, after, closed); err != nil {
		return nil, err
	}
	return out, nil
}

// sampleTimes finds, in the week from a fixed Monday, a time the line is
// open and one it is closed. Without hours every time is open.
func sampleTimes(h ledger.Hours) (open, closed time.Time, hasHours bool) {
	loc := h.Location
	if loc == nil {
		loc = time.UTC
	}
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, loc) // a Monday
	open, closed = start.Add(10*time.Hour), start.Add(20*time.Hour)
	if len(h.Open) == 0 {
		return open, closed, false
	}
	var foundOpen, foundClosed bool
	for t := start; t.Before(start.AddDate(0, 0, 7)); t = t.Add(15 * time.Minute) {
		switch {
		case !foundOpen && h.IsOpen(t):
			// Prefer a time inside the interval, not its first minute.
			open, foundOpen = t, true
			if h.IsOpen(t.Add(time.Hour)) {
				open = t.Add(time.Hour)
			}
		case !foundClosed && !h.IsOpen(t) && t.Hour() >= 18:
			closed, foundClosed = t, true
		}
	}
	if !foundClosed {
		for t := start; t.Before(start.AddDate(0, 0, 7)); t = t.Add(15 * time.Minute) {
			if !h.IsOpen(t) {
				closed = t
				break
			}
		}
	}
	return open, closed, true
}

// renderInto renders a fixed or configured text with sample data, indented.
func renderInto(w io.Writer, name, text, biz, number, link string) error {
	t, err := ledger.ParseText(name, text)
	if err != nil {
		return err
	}
	s, err := ledger.RenderText(t, ledger.TextData{Business: biz, Caller: complianceCaller, Line: number, Link: link, Time: time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)})
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	fmt.Fprintln(w, indent(s))
	return nil
}

// complianceNotes are what carriers commonly reject, found in the samples.
func complianceNotes(l ledger.Line, samples []sample) []string {
	var notes []string
	for _, s := range samples {
		if !strings.Contains(strings.ToUpper(s.body), "STOP") {
			notes = append(notes, fmt.Sprintf("%q does not say how to opt out (\"Reply STOP to opt out\"); carriers expect it in the first message.", s.label))
		}
		if n, enc := ledger.Segments(s.body); n > 1 {
			notes = append(notes, fmt.Sprintf("%q takes %d SMS segments (%s); one is 160 GSM-7 or 70 UCS-2 characters.", s.label, n, enc))
		}
	}
	if l.Help != "" && !strings.Contains(strings.ToUpper(l.Help), "STOP") {
		notes = append(notes, "the HELP answer does not mention STOP; carriers expect the opt-out wording there too.")
	}
	return notes
}

func indent(s string) string {
	return "   " + strings.ReplaceAll(s, "\n", "\n   ")
}

// extraWords are a line's extra keywords, upper-cased, without the
// standard ones.
func extraWords(words, standard []string) []string {
	var out []string
	for _, w := range words {
		if u := strings.ToUpper(strings.TrimSpace(w)); !slices.Contains(standard, u) && !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out
}

func capsText(perHour, perDay int, scope string) string {
	var parts []string
	if perHour > 0 {
		parts = append(parts, fmt.Sprintf("%d per hour", perHour))
	}
	if perDay > 0 {
		parts = append(parts, fmt.Sprintf("%d per day", perDay))
	}
	if len(parts) == 0 {
		return ""
	}
	return "at most " + strings.Join(parts, " and ") + " " + scope + "."
}

// humanDuration writes 24h as "24 hours", 90m as "1h30m".
func humanDuration(d time.Duration) string {
	switch {
	case d > 0 && d%time.Hour == 0:
		if d == time.Hour {
			return "hour"
		}
		return fmt.Sprintf("%d hours", d/time.Hour)
	case d > 0 && d < time.Hour && d%time.Minute == 0:
		return fmt.Sprintf("%d minutes", d/time.Minute)
	}
	return formatDuration(d)
}

func hoursText(h HoursConfig) string {
	var parts []string
	for _, d := range h.keys() {
		parts = append(parts, d+" "+strings.Join(h.Days[d], ", "))
	}
	s := strings.Join(parts, "; ")
	if h.TZ != "" {
		s += " (" + h.TZ + ")"
	}
	return s
}

func driverName(cfg *Config) string {
	switch cfg.Driver.Type {
	case "carrier":
		if c := cfg.Driver.Carrier; c != nil {
			if c.Name != "" {
				return "the carrier " + c.Name + " (HTTP API)"
			}
			return "the carrier " + c.Preset
		}
	case "modem":
		return "a GSM modem's SIM"
	case "console":
		return "nothing yet (driver.type console prints texts to the log)"
	case "", "none":
		return "nothing yet (no driver configured)"
	}
	return cfg.Driver.Type
}

// senderNote says when the carrier sends a line's texts from something
// other than its number (a messaging service).
func senderNote(cfg *Config, number string) string {
	c := cfg.Driver.Carrier
	if cfg.Driver.Type != "carrier" || c == nil {
		return ""
	}
	if s, ok := c.Senders[number]; ok {
		return "The carrier sends this line's texts as " + s + " (driver.carrier.senders)."
	}
	return ""
}

func configName(cfg *Config) string {
	if cfg.file == "" {
		return "(built-in defaults)"
	}
	return cfg.file
}
