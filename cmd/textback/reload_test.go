package main

// SIGHUP against a running daemon watching a (fake) Asterisk: a good
// config takes effect for the next call, a bad one is rejected and the old
// one keeps working, and reloads in the middle of a burst of calls lose,
// repeat or mix up nothing. Nothing here is timed: every wait is for a log
// line, with daemonWait as the deadline.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/textback/textback/ari/aritest"
)

// The template every test config starts with (configFor's line main).
const reloadOldTemplate = "Sorry we missed your call to {{.Business}}. What can we help with? Reply STOP to opt out."

// bridgeID is a bridge id in a capture; replayAs renames them with the
// channel ids so that a capture replayed twice makes two unrelated calls.
var bridgeID = regexp.MustCompile(`\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b`)

// replayAs replays a real Asterisk capture as a new call: its channel and
// bridge ids prefixed with prefix, and its caller (testCaller in every
// capture used here) replaced by caller.
func replayAs(t *testing.T, ast *aritest.Server, name, prefix, caller string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(asteriskCaptures, name))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), testCaller) {
		t.Fatalf("%s does not call from %s", name, testCaller)
	}
	s := strings.ReplaceAll(string(b), testCaller, caller)
	s = bridgeID.ReplaceAllString(s, prefix+"$0")
	if _, err := ast.Replay(strings.NewReader(s), prefix); err != nil {
		t.Fatal(err)
	}
}

// replaceConfig writes the config at path atomically (a temporary file
// renamed over it), so the daemon never reads half of it.
func replaceConfig(t *testing.T, path, data string) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// smsBlock is one text the console driver printed.
type smsBlock struct{ to, body string }

// smsBlocks parses the console driver's blocks out of the daemon's stdout
// (a header "── SMS to TO from FROM (...)" and the body indented by three
// spaces).
func smsBlocks(out string) []smsBlock {
	var blocks []smsBlock
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		rest, ok := strings.CutPrefix(l, "── SMS to ")
		if !ok {
			continue
		}
		to, _, _ := strings.Cut(rest, " ")
		var body []string
		for _, b := range lines[i+1:] {
			text, ok := strings.CutPrefix(b, "   ")
			if !ok {
				break
			}
			body = append(body, text)
		}
		blocks = append(blocks, smsBlock{to: to, body: strings.Join(body, "\n")})
	}
	return blocks
}

// textTo returns the body of the one text to number, failing the test
// unless there is exactly one.
func textTo(t *testing.T, d *daemon, number string) string {
	t.Helper()
	var bodies []string
	for _, b := range smsBlocks(d.stdout.String()) {
		if b.to == number {
			bodies = append(bodies, b.body)
		}
	}
	if len(bodies) != 1 {
		t.Fatalf("%d texts to %s, want 1: %q", len(bodies), number, bodies)
	}
	return bodies[0]
}

// connections is how many websockets the daemon opened to the fake
// Asterisk: 1 as long as it never reconnected.
func connections(ast *aritest.Server) int { return ast.Stats().Connections }

// TestReload_GoodConfig: a changed template takes effect for the next
// missed call, without reconnecting to the PBX; the call before the reload
// got the old one.
func TestReload_GoodConfig(t *testing.T) {
	ast, d, _, cfg := asteriskDaemon(t, "")
	src, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(src), reloadOldTemplate) {
		t.Fatal("the test config no longer has the expected template")
	}
	const before, after = "+15557650101", "+15557650102"

	replayAs(t, ast, "a_noanswer.jsonl", "good1-", before)
	d.waitLog("text accepted", 1)
	if got, want := textTo(t, d, before), "Sorry we missed your call to Acme Plumbing. What can we help with? Reply STOP to opt out."; got != want {
		t.Errorf("before the reload: %q, want %q", got, want)
	}

	newTemplate := "{{.Business}} here, sorry we missed you (after the reload). Reply STOP to opt out."
	replaceConfig(t, cfg, strings.Replace(string(src), reloadOldTemplate, newTemplate, 1))
	d.signal(syscall.SIGHUP)
	if got := d.waitLog("config reloaded", 1); got["lines"] != 2.0 {
		t.Errorf("config reloaded: %v", got)
	}

	replayAs(t, ast, "a_noanswer.jsonl", "good2-", after)
	sent := d.waitLog("text accepted", 2)
	if sent["to"] != after {
		t.Errorf("second text: %v, want it to %s", sent, after)
	}
	if got, want := textTo(t, d, after), "Acme Plumbing here, sorry we missed you (after the reload). Reply STOP to opt out."; got != want {
		t.Errorf("after the reload: %q, want %q", got, want)
	}
	if got := textTo(t, d, before); strings.Contains(got, "after the reload") {
		t.Errorf("the text sent before the reload changed: %q", got)
	}
	if n := connections(ast); n != 1 {
		t.Errorf("the daemon connected to Asterisk %d times, want once (a reload keeps the connection)", n)
	}
	if n := len(d.logLines("reload rejected; the running config stays")); n != 0 {
		t.Errorf("%d reloads rejected", n)
	}
	d.stop()
}

// TestReload_BadConfig: configs that do not load (a template naming an
// unknown field, broken YAML, a line without a number) are rejected with an
// error line saying why; the daemon keeps the PBX connection and texts the
// next missed call with the old template.
func TestReload_BadConfig(t *testing.T) {
	ast, d, _, cfg := asteriskDaemon(t, "")
	src, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	good := string(src)
	for i, bad := range []struct{ config, says string }{
		{strings.Replace(good, reloadOldTemplate, "Sorry {{.Bussiness}} missed you. Reply STOP to opt out.", 1), "unknown field .Bussiness"},
		{good + "lines: [\n", "textback.yaml"},
		{strings.Replace(good, `number: "+15555551000"`, `number: ""`, 1), "lines.main"},
	} {
		if bad.config == good {
			t.Fatalf("bad config %d is the good one", i)
		}
		replaceConfig(t, cfg, bad.config)
		d.signal(syscall.SIGHUP)
		rejected := d.waitLog("reload rejected; the running config stays", i+1)
		if rejected["level"] != "error" || !strings.Contains(fmt.Sprint(rejected["error"]), bad.says) {
			t.Errorf("bad config %d: %v, want an error saying %q", i, rejected, bad.says)
		}
		d.running()
	}

	// The old config still works: the next missed call is texted with the
	// old template.
	const caller = "+15557650201"
	replayAs(t, ast, "a_noanswer.jsonl", "bad1-", caller)
	sent := d.waitLog("text accepted", 1)
	if sent["to"] != caller {
		t.Errorf("text accepted: %v, want it to %s", sent, caller)
	}
	if got, want := textTo(t, d, caller), "Sorry we missed your call to Acme Plumbing. What can we help with? Reply STOP to opt out."; got != want {
		t.Errorf("after the rejected reloads: %q, want the old text %q", got, want)
	}
	if n := len(d.logLines("config reloaded")); n != 0 {
		t.Errorf("%d reloads accepted, want none", n)
	}
	if n := connections(ast); n != 1 {
		t.Errorf("the daemon connected to Asterisk %d times, want once", n)
	}

	// Fixed again: the next reload is accepted.
	replaceConfig(t, cfg, good)
	d.signal(syscall.SIGHUP)
	d.waitLog("config reloaded", 1)
	d.stop()
}

// TestReload_DuringBurst: many missed and answered calls (real captures
// replayed with fresh ids and callers) while SIGHUPs keep reloading a
// config whose template alternates. Afterwards every call was decided
// exactly once, every missed call was texted exactly once (one "text
// accepted" and one console block per caller), the answered ones not at
// all, each text is one of the two templates, no reload was rejected and
// the PBX connection was never dropped.
func TestReload_DuringBurst(t *testing.T) {
	// No rate caps: the burst is far over the default 60 texts an hour.
	ast, d, _, cfg := asteriskDaemon(t, "policy: {max_per_hour: 0, max_per_day: 0}\n")
	src, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	templates := []string{
		"Sorry we missed your call to {{.Business}} (config A). Reply STOP to opt out.",
		"Sorry we missed your call to {{.Business}} (config B). Reply STOP to opt out.",
	}
	// The captures dial several DIDs of one office: make them all line
	// main's, so that every missed call is textable, and load that before
	// the burst.
	const aliases = `aliases: ["5551000"]`
	if !strings.Contains(string(src), aliases) {
		t.Fatal("the test config no longer has the expected aliases")
	}
	base := strings.Replace(string(src), aliases, `aliases: ["5551000", "5551001", "5551002", "5551003", "5551004", "5551005", "5551006"]`, 1)
	replaceConfig(t, cfg, base)
	d.signal(syscall.SIGHUP)
	d.waitLog("config reloaded", 1)
	configs := make([]string, len(templates))
	for i, tmpl := range templates {
		configs[i] = strings.Replace(base, reloadOldTemplate, tmpl, 1)
	}
	bodies := map[string]bool{
		"Sorry we missed your call to Acme Plumbing. What can we help with? Reply STOP to opt out.": true, // before the first reload
		"Sorry we missed your call to Acme Plumbing (config A). Reply STOP to opt out.":             true,
		"Sorry we missed your call to Acme Plumbing (config B). Reply STOP to opt out.":             true,
	}

	missed := []string{"a_noanswer.jsonl", "c_caller_cancel.jsonl", "e_voicemail.jsonl", "f_busy.jsonl",
		"i_ivr_abandon.jsonl", "j_queue_noanswer.jsonl", "m_all_dnd.jsonl", "o_local_ringgroup_noanswer.jsonl", "l_queue_abandon.jsonl"}
	answered := []string{"b_answered_ext_hangup.jsonl", "d_second_answers.jsonl", "k_queue_answered.jsonl"}
	captures := append(append([]string(nil), missed...), answered...)
	isMissed := map[string]bool{}
	for _, m := range missed {
		isMissed[m] = true
	}

	const calls = 48
	wantMissed := map[string]bool{} // callers of missed calls
	wantAnswered := 0
	hups := 0
	for i := range calls {
		name := captures[i%len(captures)]
		caller := fmt.Sprintf("+1555765%04d", 1000+i)
		replayAs(t, ast, name, fmt.Sprintf("burst%d-", i), caller)
		if isMissed[name] {
			wantMissed[caller] = true
		} else {
			wantAnswered++
		}
		// A reload every few calls, not waited for: it lands while the
		// daemon is still deciding and sending the calls before it.
		if i%4 == 3 {
			replaceConfig(t, cfg, configs[hups%2])
			d.signal(syscall.SIGHUP)
			hups++
		}
	}

	// Wait for every call to be decided and every missed one texted.
	d.waitLog("missed call", len(wantMissed))
	d.waitLog("answered call", wantAnswered)
	d.waitLog("text accepted", len(wantMissed))
	d.waitLog("config reloaded", 2)
	// One last reload after the burst, to a known config, and wait for it:
	// the reloads are all done before the daemon stops.
	replaceConfig(t, cfg, configs[0])
	reloadsBefore := len(d.logLines("config reloaded"))
	d.signal(syscall.SIGHUP)
	d.waitLog("config reloaded", reloadsBefore+1)
	d.stop()

	// Counted after the daemon stopped: nothing more can come.
	missedLines := d.logLines("missed call")
	if len(missedLines) != len(wantMissed) {
		t.Errorf("%d missed calls logged, want %d", len(missedLines), len(wantMissed))
	}
	if n := len(d.logLines("answered call")); n != wantAnswered {
		t.Errorf("%d answered calls logged, want %d", n, wantAnswered)
	}
	callIDs := map[string]int{}
	for _, l := range missedLines {
		callIDs[fmt.Sprint(l["call"])]++
		if from := fmt.Sprint(l["from"]); !wantMissed[from] {
			t.Errorf("missed call from %s, which was not a missed caller", from)
		}
		if l["action"] != "text" || l["skip"] != nil {
			t.Errorf("a missed call was not texted: %v", l)
		}
	}
	for id, n := range callIDs {
		if n != 1 {
			t.Errorf("call %s decided %d times", id, n)
		}
	}

	sentTo := map[string]int{}
	for _, l := range d.logLines("text accepted") {
		sentTo[fmt.Sprint(l["to"])]++
		if l["kind"] != "callback" {
			t.Errorf("text accepted: %v, want a callback", l)
		}
		if callIDs[fmt.Sprint(l["call"])] != 1 {
			t.Errorf("text accepted for call %v, which is not one missed call", l["call"])
		}
	}
	blocks := smsBlocks(d.stdout.String())
	blocksTo := map[string]int{}
	byBody := map[string]int{}
	for _, b := range blocks {
		blocksTo[b.to]++
		byBody[b.body]++
		if !bodies[b.body] {
			t.Errorf("text to %s: %q is none of the configured templates", b.to, b.body)
		}
	}
	if len(blocks) != len(wantMissed) {
		t.Errorf("%d texts printed, want %d", len(blocks), len(wantMissed))
	}
	var lost, repeated []string
	for caller := range wantMissed {
		if sentTo[caller] == 0 || blocksTo[caller] == 0 {
			lost = append(lost, caller)
		}
		if sentTo[caller] > 1 || blocksTo[caller] > 1 {
			repeated = append(repeated, caller)
		}
	}
	sort.Strings(lost)
	sort.Strings(repeated)
	if len(lost) > 0 {
		t.Errorf("missed callers never texted: %v", lost)
	}
	if len(repeated) > 0 {
		t.Errorf("missed callers texted more than once: %v", repeated)
	}
	for to := range sentTo {
		if !wantMissed[to] {
			t.Errorf("texted %s, who was not a missed caller", to)
		}
	}
	if n := len(d.logLines("reload rejected; the running config stays")); n != 0 {
		t.Errorf("%d reloads rejected during the burst", n)
	}
	if n := connections(ast); n != 1 {
		t.Errorf("the daemon connected to Asterisk %d times, want once", n)
	}
	// Which template each text got depends on how far the daemon was when
	// each reload landed: logged, not asserted.
	t.Logf("%d calls (%d missed, %d answered), %d SIGHUPs sent during the burst, %d reloads logged; texts by template: %v",
		calls, len(wantMissed), wantAnswered, hups, len(d.logLines("config reloaded")), byBody)
}
