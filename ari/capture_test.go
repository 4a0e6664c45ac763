package ari

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/textback/textback/ledger"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.golden from the current translation (review the diff)")

// expectedRow is one line of testdata/expected.tsv: the verdict a person
// assigned to an inbound call of a recorded trace.
type expectedRow struct {
	Verdict, From, Textable string
}

// readExpected reads testdata/expected.tsv: trace, verdict, from,
// textable (yes, no, or - for answered calls), note. A trace listed with an
// empty verdict holds no inbound call.
func readExpected(t *testing.T) map[string][]expectedRow {
	t.Helper()
	f, err := os.Open("testdata/expected.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]expectedRow{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		cols := strings.Split(line, "\t")
		for len(cols) < 5 {
			cols = append(cols, "")
		}
		name := cols[0]
		if _, ok := out[name]; !ok {
			out[name] = nil
		}
		if cols[1] == "" {
			continue
		}
		out[name] = append(out[name], expectedRow{Verdict: cols[1], From: cols[2], Textable: cols[3]})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// replayTrace runs a capture through ReadCapture and a fresh tracker and
// returns the ledger events and every verdict.
func replayTrace(t *testing.T, path string, o Options) ([]ledger.Event, []ledger.Verdict) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := ledger.NewTracker(ledger.TrackerOptions{})
	var events []ledger.Event
	var verdicts []ledger.Verdict
	err = ReadCapture(f, o, func(e ledger.Event) error {
		events = append(events, e)
		if v, ok := tr.Observe(e); ok {
			verdicts = append(verdicts, v)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("ReadCapture(%s): %v", path, err)
	}
	if tr.Len() != 0 {
		t.Errorf("%s: %d call(s) never ended", path, tr.Len())
	}
	return events, verdicts
}

func traces(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("testdata/*.jsonl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no traces in testdata: %v", err)
	}
	return files
}

// TestReadCapture_Expected checks every recorded trace against the
// verdicts a person assigned in testdata/expected.tsv, with the lab's
// trunk configured and with the default trunk rule.
func TestReadCapture_Expected(t *testing.T) {
	want := readExpected(t)
	for _, path := range traces(t) {
		name := filepath.Base(path)
		rows, listed := want[name]
		if !listed {
			t.Errorf("%s is not listed in testdata/expected.tsv", name)
			continue
		}
		for _, o := range []struct {
			name string
			opts Options
		}{{"Trunks", Options{Trunks: []string{"carrier"}}}, {"DefaultTrunks", Options{}}, {"QualifiedTrunk", Options{Trunks: []string{"PJSIP/carrier"}}}} {
			t.Run(strings.TrimSuffix(name, ".jsonl")+"/"+o.name, func(t *testing.T) {
				_, verdicts := replayTrace(t, path, o.opts)
				var got []expectedRow
				for _, v := range verdicts {
					if v.Outcome == ledger.Ignored {
						continue
					}
					row := expectedRow{Verdict: string(v.Outcome), From: v.From, Textable: "-"}
					if v.Outcome == ledger.Missed {
						row.Textable = map[bool]string{true: "yes", false: "no"}[v.Textable()]
					}
					got = append(got, row)
				}
				if !slices.Equal(got, rows) {
					t.Errorf("verdicts\n got %+v\nwant %+v", got, rows)
				}
			})
		}
	}
}

// TestReadCapture_Golden compares each trace's full translation (ledger
// events and verdicts, with reasons and ring times) with its golden file.
// Run with -update after a reviewed change.
func TestReadCapture_Golden(t *testing.T) {
	for _, path := range traces(t) {
		name := strings.TrimSuffix(filepath.Base(path), ".jsonl")
		t.Run(name, func(t *testing.T) {
			events, verdicts := replayTrace(t, path, Options{Trunks: []string{"carrier"}})
			var b bytes.Buffer
			for _, e := range events {
				j, _ := json.Marshal(e)
				fmt.Fprintf(&b, "event   %s\n", j)
			}
			for _, v := range verdicts {
				j, _ := json.Marshal(v)
				fmt.Fprintf(&b, "verdict %s\n", j)
			}
			golden := filepath.Join("testdata", "golden", name+".golden")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run Golden -update to create it)", err)
			}
			if !bytes.Equal(b.Bytes(), want) {
				t.Errorf("translation of %s differs from %s:\n got:\n%s\nwant:\n%s", path, golden, b.Bytes(), want)
			}
		})
	}
}

// TestReadCapture_Reasons pins the missed reason of the traces whose
// reason is unambiguous.
func TestReadCapture_Reasons(t *testing.T) {
	for name, want := range map[string]ledger.Reason{
		"a_noanswer":                             ledger.ReasonNoAnswer,
		"c_caller_cancel":                        ledger.ReasonCallerHangup,
		"e_voicemail":                            ledger.ReasonVoicemail,
		"f_busy":                                 ledger.ReasonBusy,
		"h_anonymous":                            ledger.ReasonNoAnswer,
		"h2_withheld_pai_channelvars":            ledger.ReasonCallerHangup,
		"i_ivr_abandon":                          ledger.ReasonIVRAbandon,
		"j_queue_noanswer":                       ledger.ReasonQueueTimeout,
		"l_queue_abandon":                        ledger.ReasonQueueAbandon,
		"l_queue_abandon_channelvars":            ledger.ReasonQueueAbandon,
		"m_all_dnd":                              ledger.ReasonNoAnswer,
		"o_local_ringgroup_noanswer":             ledger.ReasonNoAnswer,
		"o_local_ringgroup_noanswer_channelvars": ledger.ReasonNoAnswer,
		"x_tone_detect_unknown_event":            ledger.ReasonIVRAbandon,
	} {
		t.Run(name, func(t *testing.T) {
			_, verdicts := replayTrace(t, filepath.Join("testdata", name+".jsonl"), Options{Trunks: []string{"carrier"}})
			if len(verdicts) != 1 || verdicts[0].Outcome != ledger.Missed || verdicts[0].Reason != want {
				t.Errorf("verdicts %+v, want one missed with reason %s", verdicts, want)
			}
		})
	}
}

// TestReadCapture_Ignored: phone-to-phone calls are followed only to be
// ignored as internal; an originate is ignored as outbound when linkedid
// shows it (without channelvars it is not followed at all).
func TestReadCapture_Ignored(t *testing.T) {
	for name, want := range map[string][]ledger.Reason{
		"g_internal":                       {ledger.ReasonInternal},
		"g2_internal_noanswer":             {ledger.ReasonInternal},
		"g2_internal_noanswer_channelvars": {ledger.ReasonInternal},
		"p_originate_local":                nil,
		"p_originate_local_channelvars":    {ledger.ReasonOutbound},
	} {
		t.Run(name, func(t *testing.T) {
			_, verdicts := replayTrace(t, filepath.Join("testdata", name+".jsonl"), Options{Trunks: []string{"carrier"}})
			var got []ledger.Reason
			for _, v := range verdicts {
				if v.Outcome != ledger.Ignored {
					t.Errorf("verdict %+v, want ignored", v)
				}
				got = append(got, v.Reason)
			}
			if !slices.Equal(got, want) {
				t.Errorf("ignored reasons %v, want %v", got, want)
			}
		})
	}
}

// TestReadCapture_OtherTrunk: with a trunk list that does not name the
// carrier, no call is inbound.
func TestReadCapture_OtherTrunk(t *testing.T) {
	_, verdicts := replayTrace(t, "testdata/a_noanswer.jsonl", Options{Trunks: []string{"othercarrier"}})
	for _, v := range verdicts {
		if v.Outcome != ledger.Ignored {
			t.Errorf("verdict %+v with a trunk list that does not match", v)
		}
	}
}

func TestReadCapture_Errors(t *testing.T) {
	ok := `{"type":"DeviceStateChanged","timestamp":"2026-11-26T16:43:06.399+0000","device_state":{"name":"PJSIP/carrier","state":"INUSE"}}`
	for _, tc := range []struct{ name, in, want string }{
		{"NotJSON", ok + "\nhello\n", "line 2: undecodable ARI event"},
		{"NoType", `{"kind":"offered","pbx":"demo"}`, `line 1: undecodable ARI event: no "type"`},
		{"Array", "[1,2]", "line 1: undecodable ARI event"},
		{"BadField", `{"type":"ChannelCreated","channel":{"id":7}}`, "line 1: undecodable ChannelCreated event"},
		{"BadTime", `{"type":"Dial","timestamp":"yesterday"}`, "line 1: undecodable Dial event"},
		{"TooLong", `{"type":"x","pad":"` + strings.Repeat("a", MaxEventSize) + `"}`, "line 1: longer than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ReadCapture(strings.NewReader(tc.in), Options{}, func(ledger.Event) error { return nil })
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
	t.Run("SkipsUnknownCommentsBlank", func(t *testing.T) {
		in := "# recorded by hand\n\n" + `{"type":"ChannelToneDetected","channel":{"id":"1"}}` + "\n" + ok + "\n"
		if err := ReadCapture(strings.NewReader(in), Options{}, func(ledger.Event) error { return nil }); err != nil {
			t.Error(err)
		}
	})
	t.Run("EmitErrorAsIs", func(t *testing.T) {
		stop := errors.New("stop")
		f, err := os.Open("testdata/a_noanswer.jsonl")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		n := 0
		err = ReadCapture(f, Options{}, func(ledger.Event) error { n++; return stop })
		if err != stop || n != 1 {
			t.Errorf("err = %v after %d events, want stop after 1", err, n)
		}
	})
}
