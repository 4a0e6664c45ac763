package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/textback/textback/ledger"
	"github.com/textback/textback/sms"
	"github.com/textback/textback/sms/console"
)

// seeded is what seedLedger put in a ledger.
type seeded struct {
	cfg, path string
	// at is the seed's clock at its start: 10:00 UTC, about three days
	// ago.
	at time.Time
}

// A third caller, opted out by an admin before it calls.
const testOptedOut = "+15557654322"

// seedLedger writes a ledger the way the daemon would, through the core
// with the config's lines, on a clock about three days in the past:
//
//	tb:1  missed call from testCaller, texted (text #1)
//	tb:2  answered call from testOther
//	tb:3  missed call from testCaller ten minutes later: cooldown
//	tb:4  missed call with the number withheld
//	tb:5  missed call from testOptedOut, opted out by an admin: opted_out
//	tb:6  internal call
//
// then testCaller replies (forwarded to staff, text #2) and texts STOP
// (one confirmation, text #3). A dispatcher with the console driver sends
// every text. So: 6 calls, 3 texts all sent, 2 messages, 2 consent
// events, 2 numbers opted out.
func seedLedger(t *testing.T) seeded {
	t.Helper()
	cfgPath, path := newSetup(t, "")
	cfg, err := LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	coreCfg, err := cfg.core()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().UTC().Add(-72 * time.Hour).Truncate(24 * time.Hour).Add(10 * time.Hour)
	clock := &demoClock{now: start}
	store, err := ledger.Open(path, ledger.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	core, err := ledger.New(store, coreCfg, ledger.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	// A dispatcher with the console driver sends each text as the daemon
	// would; settle waits for it after each step.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- ledger.NewDispatcher(core, console.New(io.Discard), ledger.DispatcherOptions{}).Run(ctx)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("seed dispatcher: %v", err)
		}
	}()
	settle := func() {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(2 * time.Millisecond) {
			// (Not Store.Stats: it races with the dispatcher's writes.)
			texts, err := store.Texts(0)
			if err != nil {
				t.Fatal(err)
			}
			busy := false
			for _, x := range texts {
				busy = busy || x.Status == ledger.StatusQueued || x.Status == ledger.StatusSending
			}
			if !busy {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the seed's texts were not sent: %+v", texts)
			}
		}
	}
	if _, err := core.OptOut(testOptedOut, "", "asked in person"); err != nil {
		t.Fatal(err)
	}
	n := 0
	record := func(outcome ledger.Outcome, reason ledger.Reason, from string, withheld bool) {
		t.Helper()
		n++
		end := clock.Advance(5 * time.Minute)
		v := ledger.Verdict{PBX: "tb", Call: strconv.Itoa(n), Outcome: outcome, Reason: reason, From: from, Withheld: withheld,
			Line: testDID, OfferedAt: end.Add(-30 * time.Second), EndedAt: end, RingTime: 20 * time.Second}
		if _, err := core.Record(v); err != nil {
			t.Fatal(err)
		}
		settle()
	}
	record(ledger.Missed, ledger.ReasonNoAnswer, testCaller, false)
	record(ledger.Answered, "", testOther, false)
	record(ledger.Missed, ledger.ReasonNoAnswer, testCaller, false)
	record(ledger.Missed, ledger.ReasonNoAnswer, "+15551234567", true)
	record(ledger.Missed, ledger.ReasonVoicemail, testOptedOut, false)
	record(ledger.Ignored, ledger.ReasonInternal, "101", false)
	for i, body := range []string{"Can someone come today? The sink leaks.", "STOP"} {
		at := clock.Advance(time.Minute)
		in := sms.Inbound{Provider: "test", ProviderID: fmt.Sprint("m", i), From: testCaller, To: testLine, Body: body, ReceivedAt: at}
		if err := core.Receive(context.Background(), in); err != nil {
			t.Fatal(err)
		}
		settle()
	}
	return seeded{cfg: cfgPath, path: path, at: start}
}

func TestOptout(t *testing.T) {
	cfg, path := newSetup(t, "")

	// A US line lets an admin type the number as people write it; flags
	// may come before or after it.
	r := mustRun(t, "optout", "add", "--config", cfg, "(555) 765-4321", "--note", "asked by phone, ticket 42")
	if want := testCaller + " is now opted out\n"; r.stdout != want {
		t.Errorf("add: %q, want %q", r.stdout, want)
	}
	r = mustRun(t, "optout", "--config", cfg, "add", testCaller)
	if want := testCaller + " was already opted out; nothing changed\n"; r.stdout != want {
		t.Errorf("add again: %q, want %q", r.stdout, want)
	}
	r = mustRun(t, "optout", "add", "--config", cfg, "--line", "main", "555.987.6543")
	if want := testOther + " is now opted out\n"; r.stdout != want {
		t.Errorf("add other: %q, want %q", r.stdout, want)
	}

	r = mustRun(t, "optout", "list", "--config", cfg)
	rows := tableRows(t, "list\n"+r.stdout, "list")
	if len(rows) != 2 || rows[0][0] != testCaller || rows[1][0] != testOther {
		t.Errorf("list rows %q:\n%s", rows, r.stdout)
	}
	for _, row := range rows {
		if _, err := time.Parse(time.RFC3339, row[1]); err != nil {
			t.Errorf("list: SINCE %q: %v", row[1], err)
		}
	}
	if r.stderr != "2 number(s) opted out\n" {
		t.Errorf("list stderr %q", r.stderr)
	}

	r = mustRun(t, "optout", "show", "--config", cfg, "(555) 765-4321")
	if !strings.HasPrefix(r.stdout, testCaller+": opted out since ") {
		t.Errorf("show: %q", r.stdout)
	}
	rows = tableRows(t, r.stdout, "opted out since")
	if len(rows) != 1 || !reflect.DeepEqual(rows[0][3:6], []string{"-", "opted_out", "admin"}) ||
		!strings.Contains(strings.Join(rows[0][6:], " "), `"asked by phone, ticket 42"`) {
		t.Errorf("show history %q:\n%s", rows, r.stdout)
	}

	r = mustRun(t, "optout", "remove", testCaller, "--config", cfg, "--note", "called to resubscribe")
	if want := testCaller + " is now opted in\n"; r.stdout != want {
		t.Errorf("remove: %q, want %q", r.stdout, want)
	}
	r = mustRun(t, "optout", "remove", "--config", cfg, testCaller)
	if want := testCaller + " was already opted in; nothing changed\n"; r.stdout != want {
		t.Errorf("remove again: %q, want %q", r.stdout, want)
	}
	r = mustRun(t, "optout", "show", "--config", cfg, testCaller)
	if !strings.HasPrefix(r.stdout, testCaller+": not opted out\n") || len(tableRows(t, r.stdout, "not opted out")) != 2 {
		t.Errorf("show after remove:\n%s", r.stdout)
	}

	wantError(t, textback(t, "optout", "add", "--config", cfg, "12"), 1, "optout")

	st := openLedgerFile(t, path)
	if out, err := st.OptedOut(testCaller); err != nil || out {
		t.Errorf("%s opted out = %v, %v; want false", testCaller, out, err)
	}
	if out, err := st.OptedOut(testOther); err != nil || !out {
		t.Errorf("%s opted out = %v, %v; want true", testOther, out, err)
	}
	type ev struct {
		State            ledger.ConsentState
		Source           ledger.ConsentSource
		Line, Evidence   string
		Number           string
		AtIsSetAndRecent bool
	}
	var got []ev
	for _, n := range []string{testCaller, testOther} {
		h, err := st.ConsentHistory(n)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range h {
			got = append(got, ev{e.State, e.Source, e.Line, e.Evidence, e.Number, time.Since(e.At) < time.Minute})
		}
	}
	want := []ev{
		{ledger.ConsentOptedOut, ledger.SourceAdmin, "", "asked by phone, ticket 42", testCaller, true},
		{ledger.ConsentOptedIn, ledger.SourceAdmin, "", "called to resubscribe", testCaller, true},
		{ledger.ConsentOptedOut, ledger.SourceAdmin, "main", "textback optout command", testOther, true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("consent history:\n got %+v\nwant %+v", got, want)
	}
}

func TestCalls(t *testing.T) {
	s := seedLedger(t)
	unchanged(t, s.path)

	// The table lists the newest calls, the newest last (like a log).
	r := mustRun(t, "calls", "--config", s.cfg)
	got := callRows(t, tableRows(t, "calls\n"+r.stdout, "calls"))
	want := []callRow{
		{"tb:1", testCaller, "main", "missed", "noanswer", "text", "text #1"},
		{"tb:2", testOther, "main", "answered", "-", "skip", "answered"},
		{"tb:3", testCaller, "main", "missed", "noanswer", "skip", "cooldown"},
		{"tb:4", "+15551234567", "main", "missed", "noanswer", "skip", "withheld"},
		{"tb:5", testOptedOut, "main", "missed", "voicemail", "skip", "opted_out"},
		{"tb:6", "101", "main", "ignored", "internal", "skip", "internal"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("calls:\n got %q\nwant %q\n%s", got, want, r.stdout)
	}
	r = mustRun(t, "calls", "--config", s.cfg, "-n", "2")
	if got := callRows(t, tableRows(t, "calls\n"+r.stdout, "calls")); !reflect.DeepEqual(got, want[4:]) {
		t.Errorf("calls -n 2:\n got %q\nwant %q", got, want[4:])
	}

	// JSON: one call per line, newest first.
	r = mustRun(t, "calls", "--config", s.cfg, "--json")
	var calls []ledger.Call
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	for dec.More() {
		var c ledger.Call
		if err := dec.Decode(&c); err != nil {
			t.Fatalf("calls --json: %v\n%s", err, r.stdout)
		}
		calls = append(calls, c)
	}
	if strings.Count(r.stdout, "\n") != len(calls) {
		t.Errorf("calls --json: not one object per line:\n%s", r.stdout)
	}
	if len(calls) != 6 {
		t.Fatalf("calls --json: %d calls, want 6", len(calls))
	}
	for i, c := range calls {
		w := want[len(want)-1-i]
		if c.ID != w.call || string(c.Outcome) != w.verdict || string(c.Action) != w.action || c.Seq != uint64(6-i) {
			t.Errorf("calls --json [%d] = %s seq %d %s %s, want %s %s %s", i, c.ID, c.Seq, c.Outcome, c.Action, w.call, w.verdict, w.action)
		}
	}
	if c := calls[5]; c.Text != 1 || c.Number != testCaller || c.Line != "main" || c.LineRaw != testDID || c.RingTime != 20*time.Second || !c.EndedAt.Equal(s.at.Add(5*time.Minute)) {
		t.Errorf("calls --json tb:1 = %+v", c)
	}
	st := openLedgerFile(t, s.path)
	stored, err := st.Calls(0)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(calls, stored) {
		t.Errorf("calls --json differs from the ledger:\n got %+v\nwant %+v", calls, stored)
	}
}

func TestExplain(t *testing.T) {
	s := seedLedger(t)
	unchanged(t, s.path)
	for _, tc := range []struct {
		id    string
		wants []string
	}{
		{"tb:1", []string{
			"call tb:1 (tb call id 1)\n",
			"  from " + testCaller + "\n",
			`  to line main (the PBX said "5551000")`,
			"rang 20s",
			"  verdict: missed (noanswer)\n",
			"  texted: yes, text #1\n",
			"  text #1 to " + testCaller + " from " + testLine + ": sent after 1 attempt(s), provider id console-1\n",
			`  body: "Sorry we missed your call to Acme Plumbing. What can we help with? Reply STOP to opt out."`,
		}},
		{"tb:3", []string{
			"  verdict: missed (noanswer)\n",
			"  texted: no, cooldown: texted on line main at " + s.at.Add(5*time.Minute).Format(time.RFC3339) + ", within the 24h0m0s cooldown\n",
		}},
		{"4", []string{"call tb:4", ", number withheld", "  texted: no, withheld: the caller withheld their number\n"}},
		{"tb:5", []string{"  verdict: missed (voicemail)\n", "  texted: no, opted_out: opted out since "}},
		{"2", []string{"call tb:2", "  verdict: answered\n", "  texted: no, answered: a person answered\n"}},
		{"tb:6", []string{"  verdict: ignored (internal)\n", "  texted: no, internal: internal call\n"}},
	} {
		t.Run(tc.id, func(t *testing.T) {
			r := mustRun(t, "explain", "--config", s.cfg, tc.id)
			for _, w := range tc.wants {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("does not say %q:\n%s", w, r.stdout)
				}
			}
			if strings.Contains(tc.id, "1") != strings.Contains(r.stdout, "  body: ") {
				t.Errorf("body shown for the wrong call:\n%s", r.stdout)
			}
		})
	}
	t.Run("Unknown", func(t *testing.T) {
		r := textback(t, "explain", "--config", s.cfg, "tb:99")
		wantError(t, r, 1, "explain", `call "tb:99": not found`)
		if r.stdout != "" {
			t.Errorf("stdout: %q", r.stdout)
		}
	})
}

func TestLedgerExport(t *testing.T) {
	s := seedLedger(t)
	unchanged(t, s.path)
	counts := map[string]int{"calls": 6, "consent": 2, "messages": 2, "texts": 3}
	for _, what := range []string{"calls", "consent", "messages", "texts"} {
		for _, format := range []string{"jsonl", "csv"} {
			t.Run(what+"_"+format, func(t *testing.T) {
				r := mustRun(t, "ledger", "export", "--config", s.cfg, "--what", what, "--format", format)
				if want := fmt.Sprintf("%d %s record(s) exported\n", counts[what], what); r.stderr != want {
					t.Errorf("stderr %q, want %q", r.stderr, want)
				}
				if format == "csv" {
					rows, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
					if err != nil {
						t.Fatalf("csv: %v\n%s", err, r.stdout)
					}
					if !reflect.DeepEqual(rows[0], ledger.ExportColumns(what)) {
						t.Errorf("header %q, want %q", rows[0], ledger.ExportColumns(what))
					}
					if len(rows)-1 != counts[what] {
						t.Errorf("%d rows, want %d", len(rows)-1, counts[what])
					}
					for i, row := range rows[1:] {
						if row[0] == "" {
							t.Errorf("row %d has no seq: %q", i+1, row)
						}
					}
					return
				}
				lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
				if len(lines) != counts[what] {
					t.Fatalf("%d lines, want %d:\n%s", len(lines), counts[what], r.stdout)
				}
				for _, l := range lines {
					var rec any
					switch what {
					case "calls":
						rec = new(ledger.Call)
					case "consent":
						rec = new(ledger.ConsentEvent)
					case "messages":
						rec = new(ledger.Message)
					case "texts":
						rec = new(ledger.Text)
					}
					dec := json.NewDecoder(strings.NewReader(l))
					dec.DisallowUnknownFields()
					if err := dec.Decode(rec); err != nil {
						t.Errorf("line %q: %v", l, err)
					}
				}
			})
		}
	}
	t.Run("Since", func(t *testing.T) {
		r := mustRun(t, "ledger", "export", "--config", s.cfg, "--since", "1h")
		if r.stdout != "" || r.stderr != "0 calls record(s) exported\n" {
			t.Errorf("--since 1h:\n%v", r)
		}
		r = mustRun(t, "ledger", "export", "--config", s.cfg, "--what", "texts", "--since", s.at.Format(time.RFC3339))
		if r.stderr != "3 texts record(s) exported\n" {
			t.Errorf("--since %s:\n%v", s.at.Format(time.RFC3339), r)
		}
	})
	t.Run("BadWhat", func(t *testing.T) {
		r := textback(t, "ledger", "export", "--config", s.cfg, "--what", "numbers")
		wantError(t, r, 1, "ledger", `unknown record type "numbers"`)
		if r.stdout != "" {
			t.Errorf("stdout %q", r.stdout)
		}
	})
}

func TestLedgerBackup(t *testing.T) {
	s := seedLedger(t)
	unchanged(t, s.path)
	out := filepath.Join(t.TempDir(), "backup.db")
	r := mustRun(t, "ledger", "backup", "--config", s.cfg, "--out", out)
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("backup of %s written to %s (%d bytes)\n", s.path, out, fi.Size()); r.stdout != want {
		t.Errorf("stdout %q, want %q", r.stdout, want)
	}
	orig, err := openLedgerFile(t, s.path).Calls(0)
	if err != nil {
		t.Fatal(err)
	}
	copied, err := openLedgerFile(t, out).Calls(0)
	if err != nil {
		t.Fatal(err)
	}
	if len(copied) != 6 || !reflect.DeepEqual(orig, copied) {
		t.Errorf("backup calls:\n got %+v\nwant %+v", copied, orig)
	}
	// The backup is a ledger the commands read.
	cfg := writeFile(t, t.TempDir(), "backup.yaml", fmt.Sprintf("ledger: {path: %q}\n", out))
	r = mustRun(t, "explain", "--config", cfg, "tb:1")
	if !strings.Contains(r.stdout, "texted: yes, text #1") {
		t.Errorf("explain on the backup:\n%s", r.stdout)
	}

	r = textback(t, "ledger", "backup", "--config", s.cfg, "--out", s.path)
	wantError(t, r, 1, "ledger", "backup ledger to "+s.path, "that is the ledger itself")
}

func TestLedgerStats(t *testing.T) {
	s := seedLedger(t)
	unchanged(t, s.path)
	r := mustRun(t, "ledger", "stats", "--config", s.cfg)
	var st ledger.Stats
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		t.Fatalf("stats: %v\n%s", err, r.stdout)
	}
	if st.Path != s.path || st.Schema != ledger.SchemaVersion || st.FileBytes <= 0 {
		t.Errorf("path %q schema %d size %d", st.Path, st.Schema, st.FileBytes)
	}
	got := []int{st.Calls, st.Texts, st.Messages, st.ConsentEvents, st.OptedOut, st.Queued, st.Purged, st.TextsByStatus[ledger.StatusSent]}
	if want := []int{6, 3, 2, 2, 2, 0, 0, 3}; !reflect.DeepEqual(got, want) {
		t.Errorf("calls, texts, messages, consent, opted out, queued, purged, sent = %v, want %v", got, want)
	}
}

func TestLedgerPurge(t *testing.T) {
	s := seedLedger(t)
	purge := func(args ...string) ledger.PurgeStats {
		t.Helper()
		r := mustRun(t, append([]string{"ledger", "purge", "--config", s.cfg}, args...)...)
		var ps ledger.PurgeStats
		if err := json.Unmarshal([]byte(r.stdout), &ps); err != nil || strings.Count(r.stdout, "\n") != 1 {
			t.Fatalf("purge output %q: %v", r.stdout, err)
		}
		return ps
	}
	// Nothing is older than the default retention (90 days) or 1000 h.
	if ps := purge(); ps.Texts != 0 || ps.Messages != 0 {
		t.Errorf("purge with the default retention: %+v", ps)
	}
	if ps := purge("--older-than", "1000h"); ps.Texts != 0 || ps.Messages != 0 {
		t.Errorf("purge --older-than 1000h: %+v", ps)
	}
	// Everything seeded is about three days old.
	if ps := purge("--older-than", "24h"); ps.Texts != 3 || ps.Messages != 2 || ps.Pending != 0 {
		t.Errorf("purge --older-than 24h: %+v, want 3 texts and 2 messages", ps)
	}
	if ps := purge("--older-than", "24h"); ps != (ledger.PurgeStats{}) {
		t.Errorf("second purge changed something: %+v", ps)
	}

	st := openLedgerFile(t, s.path)
	texts, err := st.Texts(0)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range texts {
		if x.Body != "" || !x.Purged || x.Status != ledger.StatusSent || x.To == "" {
			t.Errorf("text #%d after purge: %+v", x.Seq, x)
		}
	}
	msgs, err := st.Messages(0)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if m.Body != "" || !m.Purged {
			t.Errorf("message %d after purge: %+v", m.Seq, m)
		}
	}
	// Calls and the consent history are kept whole.
	if calls, err := st.Calls(0); err != nil || len(calls) != 6 || calls[5].Detail != "" || calls[3].Detail == "" {
		t.Errorf("calls after purge: %d, %v", len(calls), err)
	}
	h, err := st.ConsentHistory(testCaller)
	if err != nil || len(h) != 1 || h[0].Evidence != "STOP" {
		t.Errorf("consent history after purge: %+v, %v", h, err)
	}
}

func TestSend(t *testing.T) {
	cfg, path := newSetup(t, "")
	r := mustRun(t, "send", "--config", cfg, "--line", "main", "(555) 765-4321", "Your", "plumber", "is", "on", "the", "way.")
	for _, w := range []string{
		"── SMS to " + testCaller + " from " + testLine,
		"   Your plumber is on the way.\n",
		"text #1 to " + testCaller + ": sent (provider id console-1)\n",
	} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("send does not say %q:\n%s", w, r.stdout)
		}
	}
	mustRun(t, "optout", "add", "--config", cfg, testCaller)
	r = textback(t, "send", "--config", cfg, "--line", "main", testCaller, "hello")
	wantError(t, r, 1, "send", "send: "+testCaller+" opted out on ", "will not text it")
	if strings.Contains(r.stdout, "SMS to") {
		t.Errorf("a text went to an opted-out number:\n%s", r.stdout)
	}
	wantError(t, textback(t, "send", "--config", cfg, "--line", "back", testOther, "hello"), 1, "send", `no line "back"`)

	texts, err := openLedgerFile(t, path).Texts(0)
	if err != nil {
		t.Fatal(err)
	}
	if len(texts) != 1 || texts[0].Kind != ledger.KindManual || texts[0].Status != ledger.StatusSent || texts[0].Body != "Your plumber is on the way." {
		t.Errorf("texts: %+v", texts)
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	const (
		ariPassword = "ARI-pass-9f8e7d6c"
		tokenSecret = "tok-0123456789abcdef-SECRET"
		hookSecret  = "T000-B111-HOOKSECRET"
	)
	tokenFile := writeFile(t, dir, "token-secret", tokenSecret+"\n")
	cfg := writeFile(t, dir, "textback.yaml", fmt.Sprintf(`state_dir: %q
pbx: asterisk
asterisk:
  password: %q
  trunks: [carrier]
driver: {type: console}
policy:
  token_secret_file: %q
lines:
  main:
    number: %q
    aliases: [%q]
    country: US
    business: Acme Plumbing
    template: "Sorry we missed your call to {{.Business}}. We are a family business serving the whole county since 1952: tell us what you need and we will call back. Reply STOP to opt out."
    webhook: "https://hooks.example.com/services/%s"
`, filepath.Join(dir, "state"), ariPassword, tokenFile, testLine, testDID, hookSecret))
	unchanged(t, cfg, tokenFile)

	if err := os.Mkdir(filepath.Join(dir, "state"), 0o700); err != nil {
		t.Fatal(err)
	}
	r := mustRun(t, "check", "--config", cfg)
	for _, secret := range []string{ariPassword, tokenSecret, "0123456789abcdef", hookSecret} {
		if strings.Contains(r.stdout, secret) || strings.Contains(r.stderr, secret) {
			t.Errorf("check shows the secret %q:\n%v", secret, r)
		}
	}
	for _, w := range []string{
		"# effective config (secrets masked)\n",
		"  password: '********'\n",
		"  token_secret: '********'\n",
		"  token_secret_file: " + tokenFile + "\n",
		"    webhook: https://hooks.example.com/********\n",
		"  cooldown: 24h\n", // defaults are shown
		"pbx: asterisk\n",
	} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("stdout does not show %q:\n%s", w, r.stdout)
		}
	}
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if len(lines) != 2 ||
		!strings.HasPrefix(lines[0], "warning: lines.main.template: the text takes 2 SMS segments (gsm7, ") ||
		lines[1] != "config ok: 1 line(s), ledger "+filepath.Join(dir, "state", "textback.db") {
		t.Errorf("stderr: want the segment warning and config ok:\n%s", r.stderr)
	}

	t.Run("StateDirMissing", func(t *testing.T) {
		state := filepath.Join(t.TempDir(), "nope")
		cfg := writeFile(t, t.TempDir(), "textback.yaml", configFor(state, ""))
		r := mustRun(t, "check", "--config", cfg)
		if !strings.Contains(r.stderr, "warning: state directory "+state+" does not exist: textback run cannot create the ledger there") {
			t.Errorf("check does not warn about the missing state directory:\n%s", r.stderr)
		}
		if _, err := os.Stat(state); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("check created the state directory")
		}
	})
	t.Run("NotRunnable", func(t *testing.T) {
		cfg := writeFile(t, t.TempDir(), "textback.yaml", "pbx: none\ndriver: {type: console}\n")
		wantError(t, textback(t, "check", "--config", cfg), 1, "check", "lines: run needs at least one line")
	})
	t.Run("MissingFile", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "nope.yaml")
		wantError(t, textback(t, "check", "--config", missing), 1, "check", "config "+missing+": ", "no such file or directory")
	})
	t.Run("BadSecretFile", func(t *testing.T) {
		dir := t.TempDir()
		src, _ := os.ReadFile(cfg)
		bad := writeFile(t, dir, "textback.yaml", string(bytes.ReplaceAll(src, []byte(tokenFile), []byte(filepath.Join(dir, "missing-secret")))))
		r := textback(t, "check", "--config", bad)
		wantError(t, r, 1, "check", "policy.token_secret_file", filepath.Join(dir, "missing-secret"))
		if strings.Contains(r.stderr, ariPassword) {
			t.Errorf("the error shows a secret: %s", r.stderr)
		}
	})
}
