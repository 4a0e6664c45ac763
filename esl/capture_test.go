package esl_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/textback/textback/esl"
	"github.com/textback/textback/ledger"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// expectedRow is one row of testdata/expected.tsv: a trunk call in a
// capture and its verdict.
type expectedRow struct {
	Trace, Verdict, From, Textable string
}

func (r expectedRow) String() string {
	return fmt.Sprintf("%s %s from=%q textable=%s", r.Trace, r.Verdict, r.From, r.Textable)
}

// readExpected reads testdata/expected.tsv.
func readExpected(t *testing.T) (rows []expectedRow, traces []string) {
	t.Helper()
	f, err := os.Open("testdata/expected.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cols := strings.Split(line, "\t")
		if len(cols) < 4 {
			t.Fatalf("expected.tsv: short row %q", line)
		}
		traces = append(traces, cols[0])
		if cols[1] == "" {
			continue // a trace with no trunk call
		}
		rows = append(rows, expectedRow{Trace: cols[0], Verdict: cols[1], From: cols[2], Textable: cols[3]})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows, traces
}

// rowOf turns a verdict into the expected.tsv form.
func rowOf(trace string, v ledger.Verdict) expectedRow {
	r := expectedRow{Trace: trace, Verdict: string(v.Outcome), From: v.From, Textable: "-"}
	if v.Outcome == ledger.Missed {
		r.Textable = "no"
		if v.Textable() {
			r.Textable = "yes"
		}
	}
	return r
}

// decide runs a capture through ReadCapture and a fresh tracker, and
// returns every verdict and the events emitted.
func decide(t *testing.T, capture []byte, o esl.Options) ([]ledger.Verdict, []ledger.Event) {
	t.Helper()
	tr := ledger.NewTracker(ledger.TrackerOptions{})
	var verdicts []ledger.Verdict
	var events []ledger.Event
	err := esl.ReadCapture(bytes.NewReader(capture), o, func(e ledger.Event) error {
		events = append(events, e)
		if v, ok := tr.Observe(e); ok {
			verdicts = append(verdicts, v)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("ReadCapture: %v", err)
	}
	if n := tr.Len(); n != 0 {
		t.Errorf("%d call(s) never ended", n)
	}
	return verdicts, events
}

// trunkRows are the expected.tsv rows of the verdicts that are not Ignored.
func trunkRows(trace string, vs []ledger.Verdict) []expectedRow {
	var rows []expectedRow
	for _, v := range vs {
		if v.Outcome != ledger.Ignored {
			rows = append(rows, rowOf(trace, v))
		}
	}
	return rows
}

func readCapture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReadCapture_Expected(t *testing.T) {
	rows, traces := readExpected(t)
	if len(traces) == 0 {
		t.Fatal("expected.tsv lists no traces")
	}
	files, _ := filepath.Glob("testdata/*.esl")
	if len(files) != len(traces) {
		t.Errorf("testdata has %d captures, expected.tsv lists %d", len(files), len(traces))
	}
	for _, trace := range traces {
		t.Run(strings.TrimSuffix(trace, ".esl"), func(t *testing.T) {
			verdicts, events := decide(t, readCapture(t, trace), esl.Options{})
			var want []expectedRow
			for _, r := range rows {
				if r.Trace == trace {
					want = append(want, r)
				}
			}
			got := trunkRows(trace, verdicts)
			if !slices.Equal(got, want) {
				t.Errorf("verdicts:\n got %v\nwant %v", got, want)
			}
			if len(verdicts) == 0 {
				t.Errorf("no verdict at all (an internal call is still Ignored)")
			}
			checkGolden(t, trace, events)
		})
	}
}

// checkGolden compares the events of a capture with
// testdata/golden/TRACE.jsonl (textback's own event lines, which `textback
// replay --pbx events` reads), or rewrites it with -update. The golden
// events must also pass ledger.ReadEvents' strict checks.
func checkGolden(t *testing.T, trace string, events []ledger.Event) {
	t.Helper()
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# %s through esl.ReadCapture with default options\n", trace)
	enc := json.NewEncoder(&buf)
	for _, e := range events {
		if err := enc.Encode(e); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join("testdata", "golden", strings.TrimSuffix(trace, ".esl")+".jsonl")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update after reviewing the output)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("events differ from %s (go test -update rewrites it):\n got:\n%s\nwant:\n%s", path, buf.Bytes(), want)
	}
	n := 0
	if err := ledger.ReadEvents(bytes.NewReader(want), func(ledger.Event) error { n++; return nil }); err != nil {
		t.Errorf("%s: ledger.ReadEvents: %v", path, err)
	}
	if n != len(events) {
		t.Errorf("%s: ReadEvents read %d events, want %d", path, n, len(events))
	}
}

// eventFrames splits a capture into its frames, keeping event frames apart
// from the others.
func eventFrames(t *testing.T, capture []byte) (events, others []esl.Frame) {
	t.Helper()
	r := esl.NewReader(bytes.NewReader(capture))
	for {
		f, err := r.ReadFrame()
		if err == io.EOF {
			return events, others
		}
		if err != nil {
			t.Fatal(err)
		}
		if f.ContentType() == esl.TypeEventPlain {
			events = append(events, f)
		} else {
			others = append(others, f)
		}
	}
}

func join(frames []esl.Frame) []byte {
	var b []byte
	for i := range frames {
		b = frames[i].Append(b)
	}
	return b
}

// TestReadCapture_Shuffled: the events of each call delivered in any order
// (eslgo's goroutine per event; a reconnect) give the same verdicts.
func TestReadCapture_Shuffled(t *testing.T) {
	rows, traces := readExpected(t)
	for _, trace := range traces {
		events, _ := eventFrames(t, readCapture(t, trace))
		var want []expectedRow
		for _, r := range rows {
			if r.Trace == trace {
				want = append(want, r)
			}
		}
		for seed := range uint64(20) {
			t.Run(fmt.Sprintf("%s/%d", strings.TrimSuffix(trace, ".esl"), seed), func(t *testing.T) {
				t.Parallel()
				shuffled := slices.Clone(events)
				rand.New(rand.NewPCG(seed, 4)).Shuffle(len(shuffled), func(i, j int) {
					shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
				})
				verdicts, _ := decide(t, join(shuffled), esl.Options{})
				if got := trunkRows(trace, verdicts); !slices.Equal(got, want) {
					t.Errorf("verdicts:\n got %v\nwant %v", got, want)
				}
			})
		}
	}
	// Reversed: every call's CHANNEL_HANGUP_COMPLETE comes before its start.
	for _, trace := range traces {
		events, _ := eventFrames(t, readCapture(t, trace))
		slices.Reverse(events)
		verdicts, _ := decide(t, join(events), esl.Options{})
		var want []expectedRow
		for _, r := range rows {
			if r.Trace == trace {
				want = append(want, r)
			}
		}
		if got := trunkRows(trace, verdicts); !slices.Equal(got, want) {
			t.Errorf("%s reversed: verdicts:\n got %v\nwant %v", trace, got, want)
		}
	}
}

// TestReadCapture_Interleaved: every capture's calls at once, their events
// interleaved at random, give each call its own verdict.
func TestReadCapture_Interleaved(t *testing.T) {
	rows, traces := readExpected(t)
	var all []esl.Frame
	owner := map[string]string{} // A-leg UUID -> trace
	for _, trace := range traces {
		events, _ := eventFrames(t, readCapture(t, trace))
		all = append(all, events...)
		verdicts, _ := decide(t, join(events), esl.Options{})
		for _, v := range verdicts {
			owner[v.Call] = trace
		}
	}
	for seed := range uint64(5) {
		shuffled := slices.Clone(all)
		rand.New(rand.NewPCG(seed, 9)).Shuffle(len(shuffled), func(i, j int) {
			shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
		})
		verdicts, _ := decide(t, join(shuffled), esl.Options{})
		var got []expectedRow
		for _, v := range verdicts {
			if v.Outcome != ledger.Ignored {
				got = append(got, rowOf(owner[v.Call], v))
			}
		}
		cmp := func(a, b expectedRow) int { return strings.Compare(a.Trace, b.Trace) }
		slices.SortFunc(got, cmp)
		want := slices.Clone(rows)
		slices.SortFunc(want, cmp)
		if !slices.Equal(got, want) {
			t.Errorf("seed %d: verdicts:\n got %v\nwant %v", seed, got, want)
		}
	}
}

func TestReadCapture_RoundTripBytes(t *testing.T) {
	// The parser keeps every frame byte for byte: the fake server replays
	// what FreeSWITCH sent, not an approximation.
	_, traces := readExpected(t)
	for _, trace := range traces {
		capture := readCapture(t, trace)
		events, others := eventFrames(t, capture)
		if len(events) == 0 || len(others) == 0 {
			t.Fatalf("%s: %d event frames, %d others", trace, len(events), len(others))
		}
		var out []byte
		r := esl.NewReader(bytes.NewReader(capture))
		for {
			f, err := r.ReadFrame()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			out = f.Append(out)
		}
		if !bytes.Equal(out, capture) {
			t.Errorf("%s: frames do not write back byte for byte", trace)
		}
	}
}

func TestReadCapture_Errors(t *testing.T) {
	good := readCapture(t, "a_noanswer.esl")
	cases := []struct {
		name, input string
		want        error
		wantMsg     string
	}{
		{"NegativeLength", "Content-Length: -1\nContent-Type: text/event-plain\n\n", esl.ErrMalformed, "frame 1 at byte 0: negative Content-Length"},
		{"HugeLength", "Content-Length: 99999999999999999999\nContent-Type: text/event-plain\n\n", esl.ErrTooLarge, "over the"},
		{"NotANumber", "Content-Length: 12a\nContent-Type: text/event-plain\n\n", esl.ErrMalformed, "not a number"},
		{"NoColon", "Content-Type: auth/request\n\ngarbage line\n\n", esl.ErrMalformed, "frame 2 at byte 28: header line \"garbage line\" has no name and colon"},
		{"Truncated", string(good[:5000]), io.ErrUnexpectedEOF, "stream ends after"},
		{"BadEvent", "Content-Length: 6\nContent-Type: text/event-plain\n\nnoname", nil, "esl frame 1: event: header line"},
		{"NoEventName", "Content-Length: 9\nContent-Type: text/event-plain\n\nFoo: bar\n", nil, "no Event-Name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := esl.ReadCapture(strings.NewReader(c.input), esl.Options{}, func(ledger.Event) error { return nil })
			if err == nil {
				t.Fatal("no error")
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Errorf("error %v is not %v", err, c.want)
			}
			if !strings.Contains(err.Error(), c.wantMsg) {
				t.Errorf("error %q does not say %q", err, c.wantMsg)
			}
		})
	}
	t.Run("UnknownTypesSkipped", func(t *testing.T) {
		in := "Content-Type: application/x-nonsense\nContent-Length: 3\n\nabc" +
			"Content-Type: log/data\nContent-Length: 4\n\nlog\n" + string(good)
		verdicts, _ := decide(t, []byte(in), esl.Options{})
		if len(verdicts) != 1 || verdicts[0].Outcome != ledger.Missed {
			t.Errorf("verdicts %+v, want the capture's one missed call", verdicts)
		}
	})
	t.Run("EmitError", func(t *testing.T) {
		stop := errors.New("stop")
		err := esl.ReadCapture(bytes.NewReader(good), esl.Options{}, func(ledger.Event) error { return stop })
		if err != stop {
			t.Errorf("error %v, want emit's own", err)
		}
	})
}

// rewrite replaces, in every event body of a capture, each old string
// with its new one (pairs: old, new, ...); Content-Length follows.
func rewrite(t *testing.T, capture []byte, pairs ...string) []byte {
	t.Helper()
	events, _ := eventFrames(t, capture)
	changed := false
	for i := range events {
		for j := 0; j+1 < len(pairs); j += 2 {
			b := bytes.ReplaceAll(events[i].Body, []byte(pairs[j]), []byte(pairs[j+1]))
			changed = changed || !bytes.Equal(b, events[i].Body)
			events[i].Body = b
		}
	}
	if !changed {
		t.Fatalf("rewrite %q changed nothing", pairs)
	}
	return join(events)
}

// TestReadCapture_Variants: the captures, edited the way other setups
// differ, with the verdict each edit must give.
func TestReadCapture_Variants(t *testing.T) {
	// (EventInternal carries no caller or line: ledger.Event's From and
	// Line belong to Offered.)
	type want struct {
		outcome  ledger.Outcome
		reason   ledger.Reason
		from     string
		withheld bool
		textable bool
		line     string
	}
	cases := []struct {
		name    string
		capture []byte
		o       esl.Options
		want    want
	}{
		{"Withheld", rewrite(t, readCapture(t, "a_noanswer.esl"), "Caller-Privacy-Hide-Number: false", "Caller-Privacy-Hide-Number: true"),
			esl.Options{}, want{ledger.Missed, ledger.ReasonNoAnswer, "+14155550123", true, false, "8005550101"}},
		{"LineVariable", rewrite(t, readCapture(t, "g_voicemail_fallback.esl"), "variable_lab_inbound_did: 8005550105", "variable_lab_inbound_did: 5559999"),
			esl.Options{LineVariable: "lab_inbound_did"}, want{ledger.Missed, ledger.ReasonIVRAbandon, "+14155550123", false, true, "5559999"}},
		{"LineVariableUnused", rewrite(t, readCapture(t, "g_voicemail_fallback.esl"), "variable_lab_inbound_did: 8005550105", "variable_lab_inbound_did: 5559999"),
			esl.Options{}, want{ledger.Missed, ledger.ReasonIVRAbandon, "+14155550123", false, true, "8005550105"}},
		{"NoReqUser", rewrite(t, readCapture(t, "d_busy.esl"), "variable_sip_req_user: 8005550103", "variable_sip_req_user: ", "variable_sip_to_user: 8005550103", "variable_sip_to_user: 5551234"),
			esl.Options{}, want{ledger.Missed, ledger.ReasonBusy, "+14155550123", false, true, "5551234"}},
		{"TrunkOnAnotherProfile", readCapture(t, "a_noanswer.esl"),
			esl.Options{InboundProfiles: []string{"carrier"}}, want{ledger.Ignored, ledger.ReasonInternal, "", false, false, ""}},
		{"UnauthenticatedOnInternal", rewrite(t, readCapture(t, "e_internal.esl"), "variable_sip_authorized: true\n", ""),
			esl.Options{InboundProfiles: []string{"internal"}}, want{ledger.Missed, ledger.ReasonNoAnswer, "1002", false, true, "1001"}},
		{"AuthenticatedOnTrunkProfile", readCapture(t, "e_internal.esl"),
			esl.Options{InboundProfiles: []string{"internal"}}, want{ledger.Ignored, ledger.ReasonInternal, "", false, false, ""}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			events, _ := eventFrames(t, c.capture)
			for seed := range uint64(4) {
				shuffled := slices.Clone(events)
				if seed > 0 {
					rand.New(rand.NewPCG(seed, 7)).Shuffle(len(shuffled), func(i, j int) {
						shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
					})
				}
				verdicts, _ := decide(t, join(shuffled), c.o)
				if len(verdicts) != 1 {
					t.Fatalf("seed %d: %d verdicts", seed, len(verdicts))
				}
				v := verdicts[0]
				got := want{v.Outcome, v.Reason, v.From, v.Withheld, v.Textable(), v.Line}
				if got != c.want {
					t.Errorf("seed %d: got %+v\nwant %+v", seed, got, c.want)
				}
			}
		})
	}
}
