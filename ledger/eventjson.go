package ledger

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"
)

// MaxEventLine is the longest line ReadEvents accepts, in bytes (without
// the line ending).
const MaxEventLine = 64 << 10

// ReadEvents reads PBX-neutral events, one JSON object per line, and calls
// fn with each in order: textback's own trace format, for `textback
// replay` and the demo.
//
//	# a comment
//	{"kind":"offered","pbx":"demo","call":"1","at":"2026-11-24T10:00:00Z","from":"+15557654321","line":"5551000"}
//	{"kind":"ringing","pbx":"demo","call":"1","at":"2026-11-24T10:00:01Z","leg":"PJSIP/100-00000001"}
//	{"kind":"dial_ended","pbx":"demo","call":"1","at":"2026-11-24T10:00:16Z","hint":"noanswer"}
//	{"kind":"ended","pbx":"demo","call":"1","at":"2026-11-24T10:00:16Z"}
//
// Blank lines and lines starting with # are skipped. Parsing is strict:
// kind, pbx, call and at are required, unknown fields are errors, and a
// hint must be one the kind takes. Lines longer than MaxEventLine are
// errors. Every error names the line ("line 12: unknown event kind
// \"foo\""). An error from fn stops the reading and is returned as it is;
// an error reading r is returned wrapped.
func ReadEvents(r io.Reader, fn func(Event) error) error {
	sc := bufio.NewScanner(r)
	// Room for the longest line and its line ending ("\r\n").
	sc.Buffer(make([]byte, 0, 4096), MaxEventLine+2)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Bytes()
		if n == 1 {
			line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf")) // a UTF-8 byte order mark
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		if len(line) > MaxEventLine {
			return fmt.Errorf("line %d: longer than %d bytes", n, MaxEventLine)
		}
		e, err := parseEvent(line)
		if err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("line %d: longer than %d bytes", n+1, MaxEventLine)
		}
		return fmt.Errorf("reading events after line %d: %w", n, err)
	}
	return nil
}

// parseEvent decodes and checks one event line.
func parseEvent(line []byte) (Event, error) {
	var e Event
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return Event{}, jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Event{}, errors.New("more than one JSON value on the line")
	}
	if err := checkEvent(e); err != nil {
		return Event{}, err
	}
	return e, nil
}

// jsonError rewords encoding/json's errors for a person fixing a trace.
func jsonError(err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		tpe *time.ParseError
	)
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("invalid JSON at byte %d: %w", syn.Offset, err)
	case errors.As(err, &typ) && typ.Field == "":
		return fmt.Errorf("want a JSON object, got %s", typ.Value)
	case errors.As(err, &typ):
		return fmt.Errorf("field %q: want %s, got %s", typ.Field, jsonWant(typ.Type), typ.Value)
	case errors.As(err, &tpe):
		// Event has one time field.
		return fmt.Errorf(`field "at": want an RFC 3339 time such as "2026-11-24T10:00:00Z", got %q`, tpe.Value)
	case strings.HasPrefix(err.Error(), "Time.UnmarshalJSON"):
		return errors.New(`field "at": want an RFC 3339 time string`)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("truncated JSON object")
	}
	// Unknown fields ("json: unknown field \"x\"") and unknown kinds say
	// what is wrong already.
	return errors.New(strings.TrimPrefix(err.Error(), "json: "))
}

// jsonWant names what a field of type t holds, for errors.
func jsonWant(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[EventKind]():
		return "an event kind name"
	case reflect.TypeFor[time.Time]():
		return "an RFC 3339 time string"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	}
	return t.String()
}

// eventHints lists the hints each kind takes; kinds not listed take none.
var eventHints = map[EventKind][]Reason{
	EventInternal:    {ReasonInternal, ReasonOutbound},
	EventPBXAnswered: {ReasonVoicemail, ReasonIVRAbandon, ReasonQueueAbandon},
	EventDialEnded:   {ReasonNoAnswer, ReasonBusy, ReasonUnavailable, ReasonCallerHangup, ReasonQueueTimeout},
}

// checkEvent reports what is missing or wrong in a decoded event.
func checkEvent(e Event) error {
	switch {
	case e.Kind == 0:
		return errors.New(`missing "kind"`)
	case e.PBX == "":
		return errors.New(`missing "pbx"`)
	case e.Call == "":
		return errors.New(`missing "call"`)
	case e.At.IsZero():
		return errors.New(`missing "at"`)
	}
	if e.Hint == "" {
		return nil
	}
	hints := eventHints[e.Kind]
	for _, h := range hints {
		if e.Hint == h {
			return nil
		}
	}
	if len(hints) == 0 {
		return fmt.Errorf("%s takes no hint, got %q", e.Kind, e.Hint)
	}
	want := make([]string, len(hints))
	for i, h := range hints {
		want[i] = string(h)
	}
	return fmt.Errorf("hint %q does not fit %s (want %s)", e.Hint, e.Kind, strings.Join(want, ", "))
}
