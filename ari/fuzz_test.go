package ari

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/textback/textback/ledger"
)

// addSeeds adds small whole traces and single lines of every trace.
func addSeeds(f *testing.F) {
	for _, name := range []string{"i_ivr_abandon", "x_tone_detect_unknown_event", "f_busy"} {
		b, err := os.ReadFile(filepath.Join("testdata", name+".jsonl"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	files, _ := filepath.Glob("testdata/*.jsonl")
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		for i, line := range bytes.Split(b, []byte("\n")) {
			if i%7 == 0 {
				f.Add(line)
			}
		}
	}
	for _, s := range []string{
		"", "{}", "null", "[]", `{"type":null}`, `{"type":"Dial"}`, `{"type":"ChannelCreated","channel":null}`,
		`{"type":"ChannelEnteredBridge","bridge":{"id":"b","channels":["1","1","2"]},"channel":{"id":"1"}}`,
		`{"type":"BridgeMerged","bridge":{"id":"a"},"bridge_from":{"id":"a"}}`,
		`{"type":"ChannelCreated","channel":{"id":"1","name":"Local/x-1;2","state":"Ring","channelvars":{"CHANNEL(linkedid)":"1"}}}`,
	} {
		f.Add([]byte(s))
	}
}

// FuzzTranslate feeds arbitrary message sequences (one per line) to the
// translation: it must never panic, every ledger event it emits must be
// one ledger accepts, and its memory must stay within MaxChannels.
func FuzzTranslate(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 8
		tr := newTranslator(Options{Trunks: []string{"carrier"}, MaxChannels: limit})
		tracker := ledger.NewTracker(ledger.TrackerOptions{})
		emit := func(e ledger.Event) error {
			if e.PBX != PBX || e.Call == "" {
				t.Fatalf("event without pbx or call: %+v", e)
			}
			if !e.At.IsZero() {
				// what ledger's own reader accepts
				line, err := json.Marshal(e)
				if err != nil {
					t.Fatalf("event %+v: %v", e, err)
				}
				if err := ledger.ReadEvents(bytes.NewReader(line), func(ledger.Event) error { return nil }); err != nil {
					t.Fatalf("event %s: ledger rejects it: %v", line, err)
				}
			}
			tracker.Observe(e)
			return nil
		}
		for _, msg := range bytes.Split(data, []byte("\n")) {
			tr.handle(msg, emit)
			checkTranslator(t, tr, limit)
		}
	})
}

// checkTranslator checks the translator's bookkeeping.
func checkTranslator(t *testing.T, tr *translator, limit int) {
	t.Helper()
	if len(tr.chans) > limit || tr.order.Len() != len(tr.chans) {
		t.Fatalf("%d channels, %d in order, limit %d", len(tr.chans), tr.order.Len(), limit)
	}
	for id, c := range tr.calls {
		if c.ended || c.root == nil || tr.chans[c.root.id] != c.root || c.id != id {
			t.Fatalf("call %s: stale (%+v)", id, c)
		}
	}
	for id, b := range tr.bridges {
		if len(b.members) == 0 {
			t.Fatalf("empty bridge %s kept", id)
		}
		for cid, m := range b.members {
			if tr.chans[cid] != m || m.bridge != b {
				t.Fatalf("bridge %s: member %s not consistent", id, cid)
			}
		}
	}
	for _, ch := range tr.chans {
		if ch.partner != nil && (ch.partner.partner != ch || tr.chans[ch.partner.id] != ch.partner) {
			t.Fatalf("channel %s: partner not consistent", ch.id)
		}
	}
}

// FuzzReadCapture: any input either reads or fails with an error naming a
// line; it never panics.
func FuzzReadCapture(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		err := ReadCapture(bytes.NewReader(data), Options{}, func(ledger.Event) error { return nil })
		if err != nil && !strings.HasPrefix(err.Error(), "line ") {
			t.Fatalf("error without a line: %v", err)
		}
	})
}
