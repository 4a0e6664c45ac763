package ledger

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// readAllEvents collects what ReadEvents reads from s.
func readAllEvents(s string) ([]Event, error) {
	var got []Event
	err := ReadEvents(strings.NewReader(s), func(e Event) error {
		got = append(got, e)
		return nil
	})
	return got, err
}

func TestReadEvents(t *testing.T) {
	in := "\xef\xbb\xbf# a missed call, then an internal one\n" +
		`{"kind":"offered","pbx":"demo","call":"1","at":"2026-11-24T10:00:00Z","from":"+15557654321","line":"5551000","leg":"PJSIP/carrier-01"}` + "\n" +
		"\n" +
		`  {"kind":"ringing","pbx":"demo","call":"1","at":"2026-11-24T10:00:01.25Z"}  ` + "\r\n" +
		"   # an indented comment\n" +
		`{"kind":"dial_ended","pbx":"demo","call":"1","at":"2026-11-24T10:00:16Z","hint":"noanswer"}` + "\n" +
		`{"kind":"pbx_answered","pbx":"demo","call":"1","at":"2026-11-24T11:00:16+01:00","hint":"voicemail"}` + "\n" +
		`{"kind":"caller_hangup","pbx":"demo","call":"1","at":"2026-11-24T10:00:30Z"}` + "\n" +
		`{"kind":"ended","pbx":"demo","call":"1","at":"2026-11-24T10:00:30Z"}` + "\n" +
		`{"kind":"internal","pbx":"demo","call":"2","at":"2026-11-24T10:01:00Z","from":"100","withheld":true,"hint":"outbound"}` + "\n" +
		`{"kind":"connected","pbx":"demo","call":"2","at":"2026-11-24T10:01:02Z"}` + "\n" +
		`{"kind":"ended","pbx":"demo","call":"2","at":"2026-11-24T10:01:09Z"}` // no final newline
	got, err := readAllEvents(in)
	if err != nil {
		t.Fatal(err)
	}
	at := func(sec float64) time.Time {
		return time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC).Add(time.Duration(sec * float64(time.Second)))
	}
	want := []Event{
		{Kind: EventOffered, PBX: "demo", Call: "1", At: at(0), From: "+15557654321", Line: "5551000", Leg: "PJSIP/carrier-01"},
		{Kind: EventRinging, PBX: "demo", Call: "1", At: at(1.25)},
		{Kind: EventDialEnded, PBX: "demo", Call: "1", At: at(16), Hint: ReasonNoAnswer},
		{Kind: EventPBXAnswered, PBX: "demo", Call: "1", At: at(16), Hint: ReasonVoicemail},
		{Kind: EventCallerHangup, PBX: "demo", Call: "1", At: at(30)},
		{Kind: EventEnded, PBX: "demo", Call: "1", At: at(30)},
		{Kind: EventInternal, PBX: "demo", Call: "2", At: at(60), From: "100", Withheld: true, Hint: ReasonOutbound},
		{Kind: EventConnected, PBX: "demo", Call: "2", At: at(62)},
		{Kind: EventEnded, PBX: "demo", Call: "2", At: at(69)},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if !sameEvent(got[i], want[i]) {
			t.Errorf("event %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}

	// The events drive the tracker as the demo and replay use them.
	tr := NewTracker(TrackerOptions{})
	var verdicts []Verdict
	for _, e := range got {
		if v, ok := tr.Observe(e); ok {
			verdicts = append(verdicts, v)
		}
	}
	if len(verdicts) != 2 || verdicts[0].Outcome != Missed || verdicts[0].Reason != ReasonVoicemail ||
		verdicts[0].RingTime != 16*time.Second || verdicts[1].Outcome != Ignored || verdicts[1].Reason != ReasonOutbound {
		t.Errorf("verdicts %+v", verdicts)
	}
}

// sameEvent compares events, times by instant.
func sameEvent(a, b Event) bool {
	ta, tb := a.At, b.At
	a.At, b.At = time.Time{}, time.Time{}
	return a == b && ta.Equal(tb)
}

func TestReadEvents_Empty(t *testing.T) {
	for _, in := range []string{"", "\n\n", "# only\n# comments", "  \r\n\t\n"} {
		got, err := readAllEvents(in)
		if err != nil || len(got) != 0 {
			t.Errorf("%q: %+v, %v", in, got, err)
		}
	}
}

func TestReadEvents_Errors(t *testing.T) {
	const ok = `{"kind":"ended","pbx":"a","call":"1","at":"2026-11-24T10:00:00Z"}`
	tests := []struct {
		name, line, want string
	}{
		{"UnknownKind", `{"kind":"foo","pbx":"a","call":"1","at":"2026-11-24T10:00:00Z"}`, `line 3: unknown event kind "foo"`},
		{"NumericKind", `{"kind":3,"pbx":"a","call":"1","at":"2026-11-24T10:00:00Z"}`, `line 3: field "kind": want an event kind name, got number`},
		{"UnknownField", `{"kind":"ended","pbx":"a","call":"1","at":"2026-11-24T10:00:00Z","cause":16}`, `line 3: unknown field "cause"`},
		{"FieldCase", `{"Kind":"ended","pbx":"a","call":"1","at":"2026-11-24T10:00:00Z"}`, ``}, // encoding/json matches names case-insensitively
		{"MissingKind", `{"pbx":"a","call":"1","at":"2026-11-24T10:00:00Z"}`, `line 3: missing "kind"`},
		{"MissingPBX", `{"kind":"ended","call":"1","at":"2026-11-24T10:00:00Z"}`, `line 3: missing "pbx"`},
		{"MissingCall", `{"kind":"ended","pbx":"a","call":"","at":"2026-11-24T10:00:00Z"}`, `line 3: missing "call"`},
		{"MissingAt", `{"kind":"ended","pbx":"a","call":"1"}`, `line 3: missing "at"`},
		{"BadTime", `{"kind":"ended","pbx":"a","call":"1","at":"yesterday"}`, `line 3: field "at": want an RFC 3339 time such as "2026-11-24T10:00:00Z", got "yesterday"`},
		{"NumericTime", `{"kind":"ended","pbx":"a","call":"1","at":1764000000}`, `line 3: field "at": want an RFC 3339 time string`},
		{"BadBool", `{"kind":"offered","pbx":"a","call":"1","at":"2026-11-24T10:00:00Z","withheld":"yes"}`, `line 3: field "withheld": want true or false, got string`},
		{"BadString", `{"kind":"offered","pbx":"a","call":1,"at":"2026-11-24T10:00:00Z"}`, `line 3: field "call": want a string, got number`},
		{"HintNotForKind", `{"kind":"dial_ended","pbx":"a","call":"1","at":"2026-11-24T10:00:00Z","hint":"voicemail"}`,
			`line 3: hint "voicemail" does not fit dial_ended (want noanswer, busy, unavailable, caller_hangup, queue_timeout)`},
		{"HintOnKindWithout", `{"kind":"ended","pbx":"a","call":"1","at":"2026-11-24T10:00:00Z","hint":"noanswer"}`, `line 3: ended takes no hint, got "noanswer"`},
		{"ExpiredIsNoHint", `{"kind":"internal","pbx":"a","call":"1","at":"2026-11-24T10:00:00Z","hint":"expired"}`,
			`line 3: hint "expired" does not fit internal (want internal, outbound)`},
		{"Array", `[1]`, `line 3: want a JSON object, got array`},
		{"Null", `null`, `line 3: missing "kind"`},
		{"TwoObjects", ok + ok, `line 3: more than one JSON value on the line`},
		{"TrailingGarbage", ok + ` x`, `line 3: more than one JSON value on the line`},
		{"Truncated", ok[:30], `line 3: truncated JSON object`},
		{"Syntax", `{"kind":"ended",,}`, `line 3: invalid JSON at byte 17: invalid character ',' looking for beginning of object key string`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAllEvents(ok + "\n# comment\n" + tt.line + "\n" + ok + "\n")
			if tt.want == "" {
				if err != nil {
					t.Fatalf("error %v", err)
				}
				return
			}
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error %v\nwant %s", err, tt.want)
			}
			if len(got) != 1 {
				t.Errorf("fn called %d times before the error, want 1", len(got))
			}
		})
	}
}

func TestReadEvents_LineLength(t *testing.T) {
	// line builds an event line of exactly n bytes.
	line := func(n int) string {
		head := `{"kind":"ringing","pbx":"a","call":"1","at":"2026-11-24T10:00:00Z","leg":"`
		return head + strings.Repeat("x", n-len(head)-2) + `"}`
	}
	for _, end := range []string{"\n", "\r\n", ""} {
		got, err := readAllEvents(line(100) + "\n" + line(MaxEventLine) + end)
		if err != nil || len(got) != 2 || len(got[1].Leg) < MaxEventLine-100 {
			t.Errorf("line of MaxEventLine bytes, ending %q: %d events, %v", end, len(got), err)
		}
		_, err = readAllEvents(line(100) + "\n" + line(MaxEventLine+1) + end + line(100))
		if want := "line 2: longer than 65536 bytes"; err == nil || err.Error() != want {
			t.Errorf("line of MaxEventLine+1 bytes, ending %q: error %v, want %s", end, err, want)
		}
	}
	_, err := readAllEvents(line(100) + "\n" + line(10*MaxEventLine))
	if want := "line 2: longer than 65536 bytes"; err == nil || err.Error() != want {
		t.Errorf("huge line: error %v, want %s", err, want)
	}
}

func TestReadEvents_StopsAtCallbackError(t *testing.T) {
	errStop := errors.New("stop")
	in := strings.Repeat(`{"kind":"ended","pbx":"a","call":"1","at":"2026-11-24T10:00:00Z"}`+"\n", 5)
	n := 0
	err := ReadEvents(strings.NewReader(in), func(Event) error {
		n++
		if n == 2 {
			return errStop
		}
		return nil
	})
	if err != errStop || n != 2 {
		t.Errorf("error %v after %d events, want the callback's error after 2", err, n)
	}
}

func TestReadEvents_ReaderError(t *testing.T) {
	errRead := errors.New("disk on fire")
	r := io.MultiReader(strings.NewReader(`{"kind":"ended","pbx":"a","call":"1","at":"2026-11-24T10:00:00Z"}`+"\n"), iotest.ErrReader(errRead))
	n := 0
	err := ReadEvents(r, func(Event) error { n++; return nil })
	if !errors.Is(err, errRead) || err.Error() != "reading events after line 1: disk on fire" || n != 1 {
		t.Errorf("error %v after %d events, want one wrapping %v after line 1", err, n, errRead)
	}
}

func TestEventKind_Text(t *testing.T) {
	for k := EventOffered; k <= EventEnded; k++ {
		b, err := k.MarshalText()
		if err != nil || string(b) != k.String() {
			t.Errorf("%d.MarshalText() = %q, %v; want %q", k, b, err, k.String())
		}
		var back EventKind
		if err := back.UnmarshalText(b); err != nil || back != k {
			t.Errorf("UnmarshalText(%q) = %d, %v; want %d", b, back, err, k)
		}
	}
	for _, k := range []EventKind{0, EventEnded + 1, 255} {
		if b, err := k.MarshalText(); err == nil {
			t.Errorf("%d.MarshalText() = %q, want an error", k, b)
		}
	}
	var k EventKind = EventRinging
	if err := k.UnmarshalText([]byte("Ringing")); err == nil || k != EventRinging {
		t.Errorf("UnmarshalText(Ringing): %v, kind %s; want an error and the kind unchanged", err, k)
	}
	if _, err := json.Marshal(Event{Call: "1"}); err == nil {
		t.Error("json.Marshal of an event without kind succeeded")
	}
}

func TestEvent_JSON(t *testing.T) {
	e := Event{Kind: EventDialEnded, PBX: "asterisk", Call: "1795711522.0",
		At: time.Date(2026, 11, 24, 10, 0, 16, 500_000_000, time.UTC), Hint: ReasonBusy, Leg: "PJSIP/100-0000001d"}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"kind":"dial_ended","pbx":"asterisk","call":"1795711522.0","at":"2026-11-24T10:00:16.5Z","hint":"busy","leg":"PJSIP/100-0000001d"}`
	if string(b) != want {
		t.Errorf("json.Marshal:\n got %s\nwant %s", b, want)
	}
	got, err := readAllEvents(string(b))
	if err != nil || len(got) != 1 || !sameEvent(got[0], e) {
		t.Errorf("read back %+v, %v", got, err)
	}

	v := Verdict{PBX: "asterisk", Call: "1795711522.0", Outcome: Missed, Reason: ReasonBusy, From: "+15557654321",
		Line: "5551000", OfferedAt: e.At.Add(-16 * time.Second), EndedAt: e.At, RingTime: 16500 * time.Millisecond}
	b, err = json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	want = `{"pbx":"asterisk","call":"1795711522.0","outcome":"missed","reason":"busy","from":"+15557654321","line":"5551000",` +
		`"offered_at":"2026-11-24T10:00:00.5Z","ended_at":"2026-11-24T10:00:16.5Z","ring_ns":16500000000}`
	if string(b) != want {
		t.Errorf("json.Marshal(verdict):\n got %s\nwant %s", b, want)
	}
	var back Verdict
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, v) {
		t.Errorf("verdict read back %+v, %v", back, err)
	}
}

func FuzzReadEvents(f *testing.F) {
	f.Add([]byte(`{"kind":"offered","pbx":"demo","call":"1","at":"2026-11-24T10:00:00Z","from":"+15557654321","line":"5551000"}` + "\n" +
		`{"kind":"ended","pbx":"demo","call":"1","at":"2026-11-24T10:00:16.123456789+01:00"}`))
	f.Add([]byte("# comment\n\n" + `{"kind":"internal","pbx":"a","call":"x","at":"2026-11-24T10:00:00Z","withheld":true,"hint":"outbound","leg":"<&>"}` + "\r\n"))
	f.Add([]byte(`{"kind":"dial_ended","pbx":"a","call":"\u00e9\ud800","at":"0001-01-01T00:00:00.000000001Z","hint":"noanswer"}`))
	f.Add([]byte(`{"kind":"ended","pbx":"a","call":"1","at":"2026-11-24T10:00:00Z"} {}`))
	f.Add([]byte(`{"kind":"foo"}`))
	f.Add([]byte("\xef\xbb\xbf[1]\nnull"))
	f.Add([]byte(`{"kind":"pbx_answered","pbx":"a","call":"1","at":"9999-12-31T23:59:59.999999999-23:59","hint":"voicemail","from":"\ud83d\ude00"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var first []Event
		err := ReadEvents(bytes.NewReader(data), func(e Event) error {
			if cerr := checkEvent(e); cerr != nil {
				t.Fatalf("ReadEvents passed an invalid event %+v: %v", e, cerr)
			}
			first = append(first, e)
			return nil
		})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "line ") {
				t.Fatalf("error does not name the line: %v", err)
			}
			return
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		var kept []Event
		for _, e := range first {
			n := buf.Len()
			if err := enc.Encode(e); err != nil {
				t.Fatalf("re-marshal %+v: %v", e, err)
			}
			if buf.Len()-n-1 > MaxEventLine { // escaping made it too long to read back
				buf.Truncate(n)
				continue
			}
			kept = append(kept, e)
		}
		second, err := readAllEvents(buf.String())
		if err != nil {
			t.Fatalf("re-parse: %v\n%s", err, buf.Bytes())
		}
		if len(second) != len(kept) {
			t.Fatalf("re-parse gave %d events, want %d", len(second), len(kept))
		}
		for i := range kept {
			if !sameEvent(kept[i], second[i]) {
				t.Fatalf("event %d changed:\n was %+v\n now %+v", i, kept[i], second[i])
			}
		}
	})
}
