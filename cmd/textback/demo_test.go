package main

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/textback/textback/ledger"
)

// demoSteps splits the demo's output into its narrated steps (each starts
// with "▶ ") and what follows the last one (the summary).
func demoSteps(t *testing.T, out string) (steps []string, summary string) {
	t.Helper()
	parts := strings.Split(out, "\n▶ ")
	if len(parts) < 2 {
		t.Fatalf("no narrated steps in the demo's output:\n%s", out)
	}
	steps = parts[1:]
	last := steps[len(steps)-1]
	i := strings.Index(last, "\n== Calls")
	if i < 0 {
		t.Fatalf("no calls table after the last step:\n%s", out)
	}
	steps[len(steps)-1], summary = last[:i], last[i:]
	return steps, summary
}

// tableRows returns the rows of the table under heading in out: the lines
// after its header line, up to the first blank line.
func tableRows(t *testing.T, out, heading string) [][]string {
	t.Helper()
	i := strings.Index(out, heading)
	if i < 0 {
		t.Fatalf("no %q in:\n%s", heading, out)
	}
	lines := strings.Split(out[i:], "\n")[1:]
	var rows [][]string
	for _, l := range lines[1:] { // after the column header
		if strings.TrimSpace(l) == "" {
			break
		}
		rows = append(rows, strings.Fields(l))
	}
	return rows
}

// callRow is one row of writeCalls' table, without the time.
type callRow struct{ call, from, line, verdict, reason, action, why string }

func callRows(t *testing.T, rows [][]string) []callRow {
	t.Helper()
	var out []callRow
	for _, f := range rows {
		if len(f) < 10 { // TIME is three fields: "Nov 24 10:00"
			t.Fatalf("short calls row %q", f)
		}
		out = append(out, callRow{f[3], f[4], f[5], f[6], f[7], f[8], strings.Join(f[9:], " ")})
	}
	return out
}

// demoCalls is the demo's story as its calls table must show it, oldest
// first.
var demoCalls = []callRow{
	{"demo:demo-1", demoCaller, "main", "missed", "noanswer", "text", "text #1"},
	{"demo:demo-2", demoOther, "main", "answered", "-", "skip", "answered"},
	{"demo:demo-3", demoCaller, "main", "missed", "noanswer", "skip", "cooldown"},
	{"demo:demo-4", "+15551234567", "main", "missed", "noanswer", "skip", "withheld"},
	{"demo:demo-5", demoCaller, "main", "missed", "noanswer", "skip", "opted_out"},
}

// checkDemoConsent checks the consent table: the caller opted out by texting
// "Stop!", then back in with "START", both keywords on line main.
func checkDemoConsent(t *testing.T, rows [][]string) {
	t.Helper()
	want := [][]string{
		{"main", "opted_out", "keyword", `"Stop!"`},
		{"main", "opted_in", "keyword", `"START"`},
	}
	var got [][]string
	for _, f := range rows {
		if len(f) < 4 {
			t.Fatalf("short consent row %q", f)
		}
		got = append(got, f[3:])
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("consent history rows:\n got %q\nwant %q", got, want)
	}
}

func TestDemo(t *testing.T) {
	r := mustRun(t, "demo")
	if r.stderr != "" {
		t.Errorf("stderr: %q", r.stderr)
	}
	steps, summary := demoSteps(t, r.stdout)
	if len(steps) != 10 {
		t.Fatalf("%d steps, want 10:\n%s", len(steps), r.stdout)
	}
	const (
		toCaller = "── SMS to " + demoCaller + " from " + demoLine
		toStaff  = "── SMS to " + demoStaff + " from " + demoLine
		anySMS   = "── SMS to "
	)
	// Each step: what it must show, and whether it sends any text.
	for i, step := range []struct {
		name  string
		wants []string
		texts int
	}{
		{"MissedCallTexted", []string{toCaller, "Sorry we missed your call to Acme Plumbing", "action=text", "call=demo:demo-1"}, 1},
		{"AnsweredNotTexted", []string{"answered call", "call=demo:demo-2", "skip=answered"}, 0},
		{"CooldownSkip", []string{"call=demo:demo-3", "skip=cooldown"}, 0},
		{"WithheldSkip", []string{"call=demo:demo-4", "skip=withheld"}, 0},
		{"ReplyForwardedToStaff", []string{toStaff, "Reply to Acme Plumbing from " + demoCaller + ": Hi, my kitchen sink"}, 1},
		{"HelpAnswered", []string{`texts: "help"`, toCaller, "Acme Plumbing: these texts answer your call to us.", "Reply to Acme Plumbing from " + demoCaller + ": help"}, 2},
		{"StopConfirmedOnce", []string{`texts: "Stop!"`, toCaller, "you have been unsubscribed"}, 1},
		{"SecondStopNotConfirmed", []string{`texts: "STOP"`, "kind=kept"}, 0},
		{"OptedOutSkip", []string{"call=demo:demo-5", "skip=opted_out"}, 0},
		{"StartConfirmedOnce", []string{`texts: "START"`, toCaller, "you are resubscribed"}, 1},
	} {
		t.Run(step.name, func(t *testing.T) {
			got := steps[i]
			for _, w := range step.wants {
				if !strings.Contains(got, w) {
					t.Errorf("step %d does not show %q:\n%s", i+1, w, got)
				}
			}
			if n := strings.Count(got, anySMS); n != step.texts {
				t.Errorf("step %d sends %d text(s), want %d:\n%s", i+1, n, step.texts, got)
			}
		})
	}
	if n := strings.Count(r.stdout, "you have been unsubscribed"); n != 1 {
		t.Errorf("%d unsubscribe confirmations for two STOPs, want 1", n)
	}
	if n := strings.Count(r.stdout, "you are resubscribed"); n != 1 {
		t.Errorf("%d resubscribe confirmations, want 1", n)
	}
	if got := callRows(t, tableRows(t, summary, "== Calls")); !reflect.DeepEqual(got, demoCalls) {
		t.Errorf("calls table:\n got %q\nwant %q", got, demoCalls)
	}
	checkDemoConsent(t, tableRows(t, summary, "== Consent history of "+demoCaller))
	if !strings.Contains(summary, "That is the whole loop.") {
		t.Errorf("the demo does not end with its closing line:\n%s", summary)
	}
}

func TestDemo_Quiet(t *testing.T) {
	r := mustRun(t, "demo", "--quiet")
	if strings.Contains(r.stdout, "INF ") || strings.Contains(r.stdout, "component=ledger") {
		t.Errorf("--quiet still prints the core's log lines:\n%s", r.stdout)
	}
	if n := strings.Count(r.stdout, "── SMS to "); n != 6 {
		t.Errorf("%d texts, want 6 (callback, forward, help and its forward, two confirmations):\n%s", n, r.stdout)
	}
	if got := callRows(t, tableRows(t, r.stdout, "== Calls")); !reflect.DeepEqual(got, demoCalls) {
		t.Errorf("calls table:\n got %q\nwant %q", got, demoCalls)
	}
}

// TestDemo_Keep: the ledger demo --keep leaves is a real one that the
// admin commands read back.
func TestDemo_Keep(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo") // demo creates it
	mustRun(t, "demo", "--quiet", "--keep", dir)
	cfg := writeFile(t, t.TempDir(), "textback.yaml", configFor(dir, ""))

	r := mustRun(t, "calls", "--config", cfg)
	if got := callRows(t, tableRows(t, "calls\n"+r.stdout, "calls")); !reflect.DeepEqual(got, demoCalls) {
		t.Errorf("calls:\n got %q\nwant %q\n%s", got, demoCalls, r.stdout)
	}

	r = mustRun(t, "calls", "--config", cfg, "--json", "-n", "0")
	var ids []string
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var c ledger.Call
		if err := json.Unmarshal([]byte(l), &c); err != nil {
			t.Fatalf("calls --json line %q: %v", l, err)
		}
		ids = append(ids, c.ID)
	}
	if want := []string{"demo:demo-5", "demo:demo-4", "demo:demo-3", "demo:demo-2", "demo:demo-1"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("calls --json ids %q, want %q (newest first)", ids, want)
	}

	r = mustRun(t, "optout", "show", "--config", cfg, demoCaller)
	if !strings.HasPrefix(r.stdout, demoCaller+": not opted out\n") {
		t.Errorf("optout show: %q", r.stdout)
	}
	checkDemoConsent(t, tableRows(t, r.stdout, demoCaller+": not opted out"))

	r = mustRun(t, "explain", "--config", cfg, "demo:demo-1")
	for _, w := range []string{"texted: yes, text #1", "text #1 to " + demoCaller + " from " + demoLine + ": sent", "provider id console-1", `body: "Sorry we missed your call to Acme Plumbing.`} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("explain demo:demo-1 does not say %q:\n%s", w, r.stdout)
		}
	}
	r = mustRun(t, "explain", "--config", cfg, "demo-5")
	if !strings.Contains(r.stdout, "texted: no, opted_out: opted out since ") {
		t.Errorf("explain demo-5:\n%s", r.stdout)
	}
}
