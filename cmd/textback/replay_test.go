package main

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The traces in testdata, in the order replay is given them.
var replayTraces = []string{
	"testdata/noanswer.jsonl",
	"testdata/answered.jsonl",
	"testdata/voicemail.jsonl",
	"testdata/withheld.jsonl",
	"testdata/internal.jsonl",
	"testdata/interleaved.jsonl",
}

const replayText = "Sorry we missed your call to Acme Plumbing. What can we help with? Reply STOP to opt out."

// replayWant is what replay prints for the traces with the test config's
// line (configFor); replayNoLines changes it for a config without lines.
var replayWant = []replayLine{
	{Trace: "noanswer.jsonl", PBX: "asterisk", Call: "1795711522.0", From: testCaller, Line: testDID,
		Verdict: "missed", Reason: "noanswer", Textable: true, RingMS: 22000, Text: replayText},
	{Trace: "answered.jsonl", PBX: "asterisk", Call: "1795711600.3", From: testOther, Line: testDID,
		Verdict: "answered", Textable: true, RingMS: 6000, Skip: "answered", Detail: "a person answered"},
	{Trace: "voicemail.jsonl", PBX: "asterisk", Call: "1795711700.5", From: "+15557654322", Line: testDID,
		Verdict: "missed", Reason: "voicemail", Textable: true, RingMS: 20000, Text: replayText},
	{Trace: "withheld.jsonl", PBX: "asterisk", Call: "1795711800.7", From: "anonymous", Line: testDID,
		Verdict: "missed", Reason: "noanswer", Textable: false, RingMS: 21000, Skip: "withheld", Detail: "the caller withheld their number"},
	{Trace: "interleaved.jsonl", PBX: "asterisk", Call: "1795712000.11", From: "+15557654323", Line: testDID,
		Verdict: "missed", Reason: "busy", Textable: true, RingMS: 9000, Text: replayText},
	{Trace: "interleaved.jsonl", PBX: "asterisk", Call: "1795712002.13", From: "+15557654324", Line: testLine,
		Verdict: "answered", Textable: true, RingMS: 4000, Skip: "answered", Detail: "a person answered"},
}

// replayNoLines is replayWant as replay decides it without a configured
// line: every missed call with a number is unknown_line.
func replayNoLines() []replayLine {
	want := append([]replayLine(nil), replayWant...)
	for i, w := range want {
		if w.Verdict == "missed" && w.Skip == "" {
			want[i].Skip, want[i].Detail, want[i].Text = "unknown_line", `line "`+w.Line+`" matches no configured line`, ""
		}
	}
	return want
}

// replayLines decodes replay's output strictly: one replayLine per line.
func replayLines(t *testing.T, out string) []replayLine {
	t.Helper()
	var got []replayLine
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if l == "" {
			continue
		}
		var rl replayLine
		dec := json.NewDecoder(strings.NewReader(l))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rl); err != nil {
			t.Fatalf("replay line %q: %v", l, err)
		}
		got = append(got, rl)
	}
	return got
}

func checkReplay(t *testing.T, got, want []replayLine) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d lines, want %d", len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Errorf("line %d:\n got %+v\nwant %+v", i+1, got[i], want[i])
		}
	}
}

func TestReplay(t *testing.T) {
	cfg, ledgerPath := newSetup(t, "")
	r := mustRun(t, append([]string{"replay", "--pbx", "events", "--config", cfg}, replayTraces...)...)
	if r.stderr != "" {
		t.Errorf("stderr: %q", r.stderr)
	}
	checkReplay(t, replayLines(t, r.stdout), replayWant)
	// Replay decides on a ledger of its own: the configured one is not
	// touched.
	if got := fileSum(t, ledgerPath); got != "absent" {
		t.Errorf("replay created the configured ledger %s", ledgerPath)
	}
}

func TestReplay_All(t *testing.T) {
	cfg, _ := newSetup(t, "")
	r := mustRun(t, "replay", "--pbx", "events", "--config", cfg, "--all", "testdata/internal.jsonl", "testdata/noanswer.jsonl")
	want := []replayLine{
		{Trace: "internal.jsonl", PBX: "asterisk", Call: "1795711900.9", From: "101", Line: "102",
			Verdict: "ignored", Reason: "internal", Textable: true, RingMS: 21000, Skip: "internal", Detail: "internal call"},
		replayWant[0],
	}
	checkReplay(t, replayLines(t, r.stdout), want)
}

// TestReplay_OneFileAtATime: each trace alone gives the same line as in
// the whole replay.
func TestReplay_OneFileAtATime(t *testing.T) {
	cfg, _ := newSetup(t, "")
	for _, trace := range replayTraces {
		t.Run(filepath.Base(trace), func(t *testing.T) {
			r := mustRun(t, "replay", "--pbx", "events", "--config", cfg, trace)
			var want []replayLine
			for _, w := range replayWant {
				if w.Trace == filepath.Base(trace) {
					want = append(want, w)
				}
			}
			checkReplay(t, replayLines(t, r.stdout), want)
		})
	}
}

// TestReplay_SameTraceTwice: a call id decided once is not decided again
// (at most one text per call): the second replay of it shows the first
// decision.
func TestReplay_SameTraceTwice(t *testing.T) {
	cfg, _ := newSetup(t, "")
	r := mustRun(t, "replay", "--pbx", "events", "--config", cfg, "testdata/noanswer.jsonl", "testdata/noanswer.jsonl")
	checkReplay(t, replayLines(t, r.stdout), []replayLine{replayWant[0], replayWant[0]})
}

// TestReplay_Cooldown: the cooldown holds within a replay, across traces,
// on the traces' clock.
func TestReplay_Cooldown(t *testing.T) {
	cfg, _ := newSetup(t, "")
	again := writeFile(t, t.TempDir(), "again.jsonl",
		`{"kind":"offered","pbx":"asterisk","call":"1795712122.1","at":"2026-11-24T15:10:00Z","from":"+15557654321","line":"5551000"}
{"kind":"dial_ended","pbx":"asterisk","call":"1795712122.1","at":"2026-11-24T15:10:20Z","hint":"noanswer"}
{"kind":"ended","pbx":"asterisk","call":"1795712122.1","at":"2026-11-24T15:10:21Z"}
`)
	r := mustRun(t, "replay", "--pbx", "events", "--config", cfg, "testdata/noanswer.jsonl", again)
	want := []replayLine{replayWant[0], {Trace: "again.jsonl", PBX: "asterisk", Call: "1795712122.1", From: testCaller, Line: testDID,
		Verdict: "missed", Reason: "noanswer", Textable: true, RingMS: 21000, Skip: "cooldown",
		Detail: "texted on line main at 2026-11-24T15:00:22Z, within the 24h0m0s cooldown"}}
	checkReplay(t, replayLines(t, r.stdout), want)
}

func TestReplay_Stdin(t *testing.T) {
	cfg, _ := newSetup(t, "")
	const trace = `{"kind":"offered","pbx":"freeswitch","call":"5b1c","at":"2026-11-24T15:00:00Z","from":"(555) 765-4321","line":"5551000"}
{"kind":"dial_ended","pbx":"freeswitch","call":"5b1c","at":"2026-11-24T15:00:30Z","hint":"unavailable"}
{"kind":"ended","pbx":"freeswitch","call":"5b1c","at":"2026-11-24T15:00:31Z"}
`
	r := textbackStdin(t, trace, "replay", "--pbx", "events", "--config", cfg, "-")
	if r.code != 0 {
		t.Fatalf("%v", r)
	}
	want := []replayLine{{Trace: "-", PBX: "freeswitch", Call: "5b1c", From: "(555) 765-4321", Line: testDID,
		Verdict: "missed", Reason: "unavailable", Textable: true, RingMS: 31000, Text: replayText}}
	checkReplay(t, replayLines(t, r.stdout), want)
}

func TestReplay_NoConfig(t *testing.T) {
	r := mustRun(t, append([]string{"replay", "--pbx", "events"}, replayTraces...)...)
	checkReplay(t, replayLines(t, r.stdout), replayNoLines())
}

// TestReplay_AsteriskTrunksOnly: the config replay of Asterisk traffic
// needs (its trunks) and nothing else is a valid replay config.
func TestReplay_AsteriskTrunksOnly(t *testing.T) {
	cfg := writeFile(t, t.TempDir(), "replay.yaml", "asterisk: {trunks: [carrier]}\n")
	r := mustRun(t, append([]string{"replay", "--pbx", "events", "--config", cfg}, replayTraces...)...)
	checkReplay(t, replayLines(t, r.stdout), replayNoLines())
}

func TestReplay_BadTrace(t *testing.T) {
	cfg, _ := newSetup(t, "")
	t.Run("Malformed", func(t *testing.T) {
		unchanged(t, "testdata/malformed.jsonl")
		r := textback(t, "replay", "--pbx", "events", "--config", cfg, "testdata/noanswer.jsonl", "testdata/malformed.jsonl", "testdata/answered.jsonl")
		wantError(t, r, 1, "replay", `trace testdata/malformed.jsonl: line 3: field "at": want an RFC 3339 time`)
		// What came before the bad line was decided; nothing after.
		checkReplay(t, replayLines(t, r.stdout), replayWant[:1])
	})
	dir := t.TempDir()
	const offered = `{"kind":"offered","pbx":"asterisk","call":"1","at":"2026-11-24T15:00:00Z","from":"+15557654321","line":"5551000"}`
	for _, tc := range []struct {
		name, line, want string
	}{
		{"NotJSON", `kind=offered call=1`, "line 3: invalid JSON"},
		{"UnknownField", `{"kind":"ended","pbx":"asterisk","call":"1","at":"2026-11-24T15:00:20Z","caller":"x"}`, `line 3: unknown field "caller"`},
		{"UnknownKind", `{"kind":"hangup","pbx":"asterisk","call":"1","at":"2026-11-24T15:00:20Z"}`, `line 3: unknown event kind "hangup"`},
		{"WrongHint", `{"kind":"dial_ended","pbx":"asterisk","call":"1","at":"2026-11-24T15:00:20Z","hint":"voicemail"}`, `line 3: hint "voicemail" does not fit dial_ended`},
		{"NoCall", `{"kind":"ended","pbx":"asterisk","at":"2026-11-24T15:00:20Z"}`, `line 3: missing "call"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			trace := writeFile(t, dir, tc.name+".jsonl", offered+"\n\n"+tc.line+"\n")
			r := textback(t, "replay", "--pbx", "events", "--config", cfg, trace)
			wantError(t, r, 1, "replay", "trace "+trace+": "+tc.want)
			if r.stdout != "" {
				t.Errorf("stdout: %q", r.stdout)
			}
		})
	}
	t.Run("MissingFile", func(t *testing.T) {
		missing := filepath.Join(dir, "nope.jsonl")
		wantError(t, textback(t, "replay", "--pbx", "events", missing), 1, "replay", missing, "no such file or directory")
	})
	t.Run("CallNeverEnds", func(t *testing.T) {
		trace := writeFile(t, dir, "unended.jsonl", offered+"\n")
		r := mustRun(t, "replay", "--pbx", "events", "--config", cfg, trace, "testdata/noanswer.jsonl")
		if want := "textback replay: " + trace + ": 1 call(s) never ended in the trace\n"; r.stderr != want {
			t.Errorf("stderr %q, want %q", r.stderr, want)
		}
		checkReplay(t, replayLines(t, r.stdout), replayWant[:1])
	})
}

// TestReplay_Shadow: with shadow mode the text that would have gone out
// is shown, and the skip says shadow.
func TestReplay_Shadow(t *testing.T) {
	cfg, _ := newSetup(t, "policy: {shadow: true}\n")
	r := mustRun(t, "replay", "--pbx", "events", "--config", cfg, "testdata/noanswer.jsonl")
	want := replayWant[0]
	want.Skip, want.Detail = "shadow", "shadow mode: the text was not sent"
	if got := replayLines(t, r.stdout); !reflect.DeepEqual(got, []replayLine{want}) {
		t.Errorf("shadow replay:\n got %+v\nwant %+v", got, want)
	}
}
