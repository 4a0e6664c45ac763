package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/textback/textback/ledger"
	"github.com/textback/textback/sms"
)

// complianceLine is a line with business hours, an after-hours text, an
// intake link and extra keywords, appended to configFor's line main.
const complianceLine = `    hours:
      tz: America/Chicago
      mon-fri: ["08:00-17:00"]
    after_hours: "{{.Business}} is closed; we call back at 8. Reply STOP to opt out."
    link: "https://intake.example.com/i/{{.Token}}"
    help: "{{.Business}} help desk: call {{.Line}}. Reply STOP to opt out."
    keywords: {opt_out: [BASTA, STOP], help: [AYUDA]}
policy:
  cooldown: 36h
  max_per_hour: 7
  max_per_day: 70
  token_secret: 0123456789abcdef0123456789abcdef
`

// TestCompliance_FromConfig: what textback compliance prints comes from
// the config: the business, the number, each template rendered in and
// outside business hours, with and without the intake link, the line's
// keywords and help text, the cooldown and caps. Changing the template
// and the cooldown changes the output.
func TestCompliance_FromConfig(t *testing.T) {
	dir := t.TempDir()
	template := "Hi, {{.Business}} here: sorry we missed you.{{with .Link}} Tell us more: {{.}}{{end}} Reply STOP to opt out."
	src := strings.Replace(configFor(dir, complianceLine),
		`template: "Sorry we missed your call to {{.Business}}. What can we help with? Reply STOP to opt out."`,
		"template: "+quoteYAML(template), 1)
	cfg := writeFile(t, dir, "textback.yaml", src)
	out := mustRun(t, "compliance", "--config", cfg).stdout

	wants := []string{
		"line main: Acme Plumbing, " + testLine,
		"Acme Plumbing sends one conversational text message",
		"calling Acme Plumbing's number " + testLine,
		"Msg & data rates may apply",
		// business hours, with the link (as sent) and without
		"during business hours, with the intake link (as sent: lines.main.link is set):\n   Hi, Acme Plumbing here: sorry we missed you. Tell us more: https://intake.example.com/i/",
		"during business hours, without the intake link:\n   Hi, Acme Plumbing here: sorry we missed you. Reply STOP to opt out.\n",
		"after hours:\n   Acme Plumbing is closed; we call back at 8. Reply STOP to opt out.\n",
		// keywords: the standard ones and the line's own, once each
		"Opt-out keywords: STOP, STOPALL,", "this line also: BASTA.",
		"HELP keywords: HELP, INFO; this line also: AYUDA.",
		"Opt-in keywords: START, UNSTOP (and YES",
		"Acme Plumbing: you have been unsubscribed",
		"Answer (lines.main.help), at most once per hour per number:\n   Acme Plumbing help desk: call " + testLine + ". Reply STOP to opt out.",
		"at most one per caller every 36 hours (cooldown)",
		"at most 7 per hour and 70 per day across all lines.",
		"Sending number: " + testLine + " (line main, country US)",
		"Business hours: mon-fri 08:00-17:00 (America/Chicago).",
		"forwarded to staff at: " + testStaff,
	}
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("compliance does not say %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "Check before submitting") {
		t.Errorf("notes for a config that has what carriers want:\n%s", out)
	}

	// A new template and cooldown: the output follows them.
	changed := strings.Replace(strings.Replace(src, "sorry we missed you.", "we were on another call.", 1), "cooldown: 36h", "cooldown: 12h", 1)
	writeFile(t, dir, "textback.yaml", changed)
	out2 := mustRun(t, "compliance", "--config", cfg).stdout
	if strings.Contains(out2, "sorry we missed you") || !strings.Contains(out2, "Hi, Acme Plumbing here: we were on another call. Reply STOP to opt out.") {
		t.Errorf("the changed template is not in the output:\n%s", out2)
	}
	if !strings.Contains(out2, "every 12 hours (cooldown)") {
		t.Errorf("the changed cooldown is not in the output:\n%s", out2)
	}

	// A template without opt-out wording is flagged.
	noStop := strings.Replace(src, `{{end}} Reply STOP to opt out."`, `{{end}}"`, 1)
	if noStop == src {
		t.Fatal("the template edit did not apply")
	}
	writeFile(t, dir, "textback.yaml", noStop)
	out3 := mustRun(t, "compliance", "--config", cfg).stdout
	if !strings.Contains(out3, "Check before submitting") || !strings.Contains(out3, "does not say how to opt out") {
		t.Errorf("a template without STOP is not flagged:\n%s", out3)
	}
}

// quoteYAML writes s as a double-quoted YAML string.
func quoteYAML(s string) string { return fmt.Sprintf("%q", s) }

// TestCompliance_Lines: every line is printed; --line picks one; an
// unknown one is an error naming the lines there are.
func TestCompliance_Lines(t *testing.T) {
	cfg, _ := newSetup(t, `  back:
    number: "+15555552000"
    business: Acme Back Office
    template: "Acme back office missed you. Reply STOP to opt out."
`)
	all := mustRun(t, "compliance", "--config", cfg).stdout
	for _, w := range []string{"line back: Acme Back Office, +15555552000", "line main: Acme Plumbing, " + testLine,
		"Acme back office missed you.", "Sorry we missed your call to Acme Plumbing.",
		// no hours: one text, always
		"no business hours configured: always this text", "Business hours: none configured"} {
		if !strings.Contains(all, w) {
			t.Errorf("compliance does not say %q:\n%s", w, all)
		}
	}
	one := mustRun(t, "compliance", "--config", cfg, "--line", "back").stdout
	if !strings.Contains(one, "Acme back office missed you.") || strings.Contains(one, "Acme Plumbing") {
		t.Errorf("--line back:\n%s", one)
	}
	// The standard help text when the line has none.
	if !strings.Contains(one, "the standard help text; set lines.back.help to change it") ||
		!strings.Contains(one, "Acme Back Office: these texts answer your call to +15555552000.") {
		t.Errorf("--line back does not show the standard help:\n%s", one)
	}

	r := textback(t, "compliance", "--config", cfg, "--line", "front")
	wantError(t, r, 1, "compliance", `no line "front" in the config`, "lines: back, main")
	if r.stdout != "" {
		t.Errorf("stdout on error: %q", r.stdout)
	}
	wantError(t, textback(t, "compliance", "--config", cfg, "extra"), 2, "compliance", "takes no arguments")

	// A config without lines has nothing to register.
	empty := writeFile(t, t.TempDir(), "empty.yaml", "log: {format: json}\n")
	wantError(t, textback(t, "compliance", "--config", empty), 1, "compliance", "no lines in the config")
	// A broken template is the config's error, not a sample.
	bad := writeFile(t, t.TempDir(), "bad.yaml", configFor(t.TempDir(), "")+"    after_hours: \"{{.Bussiness}}\"\n")
	wantError(t, textback(t, "compliance", "--config", bad), 1, "compliance", "unknown field .Bussiness")
}

// TestCompliance_MatchesLedger: the keywords and the fixed texts the aid
// shows are what the ledger really matches and sends: HELP, STOP and START
// through a real ledger give texts the aid printed word for word.
func TestCompliance_MatchesLedger(t *testing.T) {
	kw, err := ledger.NewKeywords(ledger.KeywordConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for kind, words := range map[ledger.KeywordKind][]string{
		ledger.KeywordOptOut: complianceOptOutWords,
		ledger.KeywordOptIn:  complianceOptInWords,
		ledger.KeywordHelp:   complianceHelpWords,
	} {
		for _, w := range words {
			if m := kw.Match(w); m.Kind != kind || m.OnlyIfOptedOut {
				t.Errorf("the ledger reads %q as %+v, the aid lists it as %s", w, m, kind)
			}
		}
	}
	if m := kw.Match("YES"); m.Kind != ledger.KeywordOptIn || !m.OnlyIfOptedOut {
		t.Errorf("YES: %+v; the aid says it opts in only while opted out", m)
	}

	cfgPath, path := newSetup(t, "")
	out := mustRun(t, "compliance", "--config", cfgPath).stdout
	cfg, err := LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	coreCfg, err := cfg.core()
	if err != nil {
		t.Fatal(err)
	}
	store, err := ledger.Open(path, ledger.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	core, err := ledger.New(store, coreCfg, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, body := range []string{"HELP", "STOP", "START"} {
		in := sms.Inbound{Provider: "test", ProviderID: fmt.Sprint("m", i), From: testCaller, To: testLine, Body: body, ReceivedAt: time.Now()}
		if err := core.Receive(context.Background(), in); err != nil {
			t.Fatal(err)
		}
	}
	texts, err := store.Texts(0)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[ledger.TextKind]int{}
	for _, tx := range texts {
		kinds[tx.Kind]++
		if tx.Kind == ledger.KindForward {
			continue // the reply, forwarded to staff
		}
		if !strings.Contains(out, "   "+tx.Body+"\n") {
			t.Errorf("the ledger sent %s %q, which the aid does not show:\n%s", tx.Kind, tx.Body, out)
		}
	}
	if kinds[ledger.KindHelp] != 1 || kinds[ledger.KindConfirm] != 2 {
		t.Errorf("texts %v, want one help and two confirmations", kinds)
	}
}
