package esl

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/rs/zerolog"
	"github.com/textback/textback/ledger"
)

// fuzzSeeds are the captures' first frames and the fault frames.
func fuzzSeeds(f *testing.F) [][]byte {
	files, _ := filepath.Glob("testdata/*.esl")
	var seeds [][]byte
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b[:min(len(b), 1500)])
	}
	return append(seeds,
		[]byte("Content-Length: -1\nContent-Type: text/event-plain\n\n"),
		[]byte("Content-Length: 99999999999\nContent-Type: text/event-plain\n\n"),
		[]byte("Content-Type: log/data\nContent-Length: 3\n\nabc"),
		[]byte("Content-Type: x/y\nContent-Length: 1\n\nz"),
		[]byte("\n\n\nContent-Type: auth/request\r\n\r\n"),
		[]byte("Content-Length: 5\nContent-Length: 6\n\nabcdef"),
	)
}

// FuzzReadFrame: any bytes give frames or a clear error, never a panic;
// every frame read writes back to a frame that reads the same; memory
// follows the input, not the Content-Length it claims.
func FuzzReadFrame(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data))
		r.MaxBody = 1 << 20
		total := 0
		for i := 0; i < 1000; i++ {
			fr, err := r.ReadFrame()
			if err == io.EOF {
				return
			}
			var fe *FrameError
			if err != nil && !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *FrameError", err)
			}
			if err != nil && !errors.Is(err, ErrUnknownContentType) {
				if err2 := func() error { _, e := r.ReadFrame(); return e }(); err2 != err {
					t.Fatalf("after %v, the next read says %v", err, err2)
				}
				return
			}
			total += len(fr.Body)
			if total > len(data) {
				t.Fatalf("%d body bytes from %d input bytes", total, len(data))
			}
			again, err2 := NewReader(bytes.NewReader(fr.Append(nil))).ReadFrame()
			if (err2 == nil) != (err == nil) {
				t.Fatalf("frame %+v read back with error %v (first read: %v)", fr, err2, err)
			}
			if !slices.Equal(canonical(again.Header), canonical(fr.Header)) || !bytes.Equal(again.Body, fr.Body) {
				t.Fatalf("frame %+v read back as %+v", fr, again)
			}
		}
	})
}

// canonical drops Content-Length (Append rewrites it from the body).
func canonical(h []Field) []Field {
	var out []Field
	for _, f := range h {
		if f.Name != "Content-Length" {
			out = append(out, f)
		}
	}
	return out
}

// FuzzParseEvent: any body gives an event or an error, never a panic.
func FuzzParseEvent(f *testing.F) {
	f.Add([]byte("Event-Name: HEARTBEAT\nUp-Time: 0%20years\n\n"))
	f.Add([]byte("Event-Name: BACKGROUND_JOB\nContent-Length: 3\n\n+OK"))
	f.Add([]byte("Event-Name: X\nContent-Length: -1\n\n"))
	f.Add([]byte("Event-Name: X%zz\nA: %\n\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		e, err := ParseEvent(body)
		if err != nil {
			return
		}
		if e.Name() == "" {
			t.Fatal("an event without Event-Name parsed")
		}
		for _, fl := range e.Fields() {
			e.Get(fl.Name)
			e.Time(fl.Name)
		}
		e.Sequence()
	})
}

// usedHeaders are the headers translation reads.
var usedHeaders = []string{
	"Event-Name", "Event-Date-Timestamp", "Unique-ID", "Channel-Name", "Call-Direction", "Other-Type",
	"Other-Leg-Unique-ID", "Bridge-A-Unique-ID", "Bridge-B-Unique-ID", "Hangup-Cause",
	"Caller-Caller-ID-Number", "Caller-Orig-Caller-ID-Number", "Caller-Privacy-Hide-Number",
	"Caller-Destination-Number", "Caller-RDNIS", "Caller-Channel-Created-Time", "Caller-Channel-Answered-Time",
	"Caller-Channel-Progress-Time", "Caller-Channel-Bridged-Time", "Caller-Channel-Hangup-Time",
	"variable_sofia_profile_name", "variable_sip_authorized", "variable_originator", "variable_sip_req_user",
	"variable_sip_to_user", "variable_last_bridge_to", "variable_bridge_uepoch", "variable_answer_uepoch",
	"variable_originate_disposition", "variable_DIALSTATUS", "variable_sip_hangup_disposition",
	"variable_originated_legs", "variable_last_app", "variable_current_application", "variable_cc_queue",
	"variable_cc_cancel_reason",
}

// FuzzTranslate: any sequence of events (here the captures' events,
// mutated, split on NUL bytes) translates without a panic into events the
// tracker accepts: each call starts with Offered or Internal, ends at most
// once, hears nothing after its end, and memory stays bounded.
func FuzzTranslate(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.esl")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		var seed [][]byte
		r := NewReader(bytes.NewReader(b))
		for {
			fr, err := r.ReadFrame()
			if err != nil {
				break
			}
			if fr.ContentType() != TypeEventPlain {
				continue
			}
			// Keep the events and headers translation reads: small
			// inputs fuzz faster.
			e, err := ParseEvent(fr.Body)
			if err != nil || !slices.Contains(subscribedEvents, e.Name()) {
				continue
			}
			var body []byte
			for _, fl := range e.Fields() {
				if slices.Contains(usedHeaders, fl.Name) {
					body = append(body, fl.Name+": "+fl.Value+"\n"...)
				}
			}
			seed = append(seed, body)
		}
		f.Add(bytes.Join(seed, []byte{0}))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tr := newTranslator(Options{MaxCalls: 8}, zerolog.Nop())
		tk := ledger.NewTracker(ledger.TrackerOptions{})
		started := map[string]bool{}
		ended := map[string]bool{}
		emit := func(e ledger.Event) error {
			if e.PBX != PBX || e.Call == "" || e.Kind == 0 {
				t.Fatalf("bad event %+v", e)
			}
			if _, err := e.Kind.MarshalText(); err != nil {
				t.Fatalf("event %+v: %v", e, err)
			}
			if ended[e.Call] {
				t.Fatalf("event %+v after the call ended", e)
			}
			switch e.Kind {
			case ledger.EventOffered, ledger.EventInternal:
				started[e.Call] = true
			default:
				if !started[e.Call] {
					t.Fatalf("event %+v before the call started", e)
				}
			}
			if e.Kind == ledger.EventEnded {
				ended[e.Call] = true
			}
			tk.Observe(e)
			return nil
		}
		for _, body := range bytes.Split(data, []byte{0}) {
			e, err := ParseEvent(body)
			if err != nil {
				continue
			}
			if err := tr.observe(e, emit); err != nil {
				t.Fatal(err)
			}
			if tr.inProgress() > 8 {
				t.Fatalf("%d calls remembered, cap 8", tr.inProgress())
			}
		}
	})
}
