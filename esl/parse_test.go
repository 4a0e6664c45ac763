package esl

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// refEvent is the plain reading's result.
type refEvent struct {
	Fields []Field
	Body   []byte
}

func (e *refEvent) Name() string {
	for _, f := range e.Fields {
		if f.Name == "Event-Name" {
			return f.Value
		}
	}
	return ""
}

// parseEventRef is the plain reading of an event body that ParseEvent
// must agree with: line by line, each header through parseField.
func parseEventRef(body []byte) (*refEvent, error) {
	e := &refEvent{}
	rest := body
	length := -1
	for len(rest) > 0 {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte{'\n'})
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) == 0 {
			break
		}
		f, err := parseField(line)
		if err != nil {
			return nil, fmt.Errorf("event: %w", err)
		}
		if f.Name == "Content-Length" {
			n, err := parseLength(f.Value, len(body))
			if err != nil {
				return nil, fmt.Errorf("event: %w", err)
			}
			length = n
		}
		e.Fields = append(e.Fields, f)
	}
	if length > 0 {
		if len(rest) < length {
			return nil, fmt.Errorf("event: body has %d of its %d bytes", len(rest), length)
		}
		e.Body = rest[:length:length]
	}
	if e.Name() == "" {
		return nil, errors.New("event: no Event-Name")
	}
	return e, nil
}

func checkParseAgrees(t *testing.T, body []byte) {
	t.Helper()
	got, err := ParseEvent(body)
	want, wantErr := parseEventRef(body)
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("%.300q: ParseEvent error %v, reference error %v", body, err, wantErr)
	}
	if err != nil {
		if err.Error() != wantErr.Error() {
			t.Fatalf("%.300q: ParseEvent error %q, reference %q", body, err, wantErr)
		}
		return
	}
	if gf := got.Fields(); len(gf) != len(want.Fields) || (len(gf) > 0 && !reflect.DeepEqual(gf, want.Fields)) {
		t.Fatalf("%.300q: fields differ:\n %q\n %q", body, gf, want.Fields)
	}
	if !bytes.Equal(got.Body, want.Body) {
		t.Fatalf("%.300q: body %q, reference %q", body, got.Body, want.Body)
	}
}

// TestParseEvent_AgreesWithReference parses every captured event and a
// table of bad ones both ways.
func TestParseEvent_AgreesWithReference(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.esl")
	n := 0
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		r := NewReader(bytes.NewReader(data))
		for {
			f, err := r.ReadFrame()
			if err == io.EOF {
				break
			}
			if f.ContentType() == TypeEventPlain {
				checkParseAgrees(t, f.Body)
				n++
			}
		}
	}
	if n < 100 {
		t.Fatalf("only %d captured events", n)
	}
	for _, body := range []string{
		"Event-Name: X\nA: b\x01c\n\n",
		"Event-Name: X\nA: b\x7fc\n\n",
		"Event-Name: X\nA: b\rc\n\n",
		"Event-Name: X\r\nA: b\r\n\r\nbody\x01",
		"Event-Name: X\nA:\tb\tc\n\n",
		"Event-Name: X\nBad Name: 1\n\n",
		"Event-Name: X\n\xffName: 1\n\n",
		": no name\n\n",
		"Event-Name: X\nContent-Length: 10\n\nshort",
		"Event-Name: X\nContent-Length: 2\n\n\x00\x01 binary body",
		"Event-Name: X",
		"A: 1\n\n",
	} {
		checkParseAgrees(t, []byte(body))
	}
}

// TestBadByte compares the eight-at-a-time scan with the plain one on
// every byte value at every position of a word.
func TestBadByte(t *testing.T) {
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 17; pos++ {
			b := []byte(strings.Repeat("a", 17))
			b[pos] = byte(c)
			if got, want := badByte(string(b)), badByteSlow(string(b), 0, len(b)); got != want {
				t.Fatalf("byte %#x at %d: badByte %d, plain %d", c, pos, got, want)
			}
		}
	}
}

// TestReadBody reads bodies one byte at a time and cut short.
func TestReadBody(t *testing.T) {
	for _, n := range []int{1, 100, 64 << 10, 64<<10 + 1, 300 << 10} {
		data := bytes.Repeat([]byte("x"), n)
		got, err := readBody(iotest.OneByteReader(bytes.NewReader(data)), n)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("readBody(%d): %d bytes, %v", n, len(got), err)
		}
		got, err = readBody(bytes.NewReader(data[:n-1]), n)
		if err == nil || len(got) != n-1 {
			t.Fatalf("readBody(%d) of %d bytes: %d bytes, error %v", n, n-1, len(got), err)
		}
	}
}

// FuzzParseEventReference: ParseEvent and the plain reading agree on
// every body.
func FuzzParseEventReference(f *testing.F) {
	f.Add([]byte("Event-Name: HEARTBEAT\nUp-Time: 0%20years\n\n"))
	f.Add([]byte("Event-Name: BACKGROUND_JOB\nContent-Length: 3\n\n+OK"))
	f.Add([]byte("Event-Name: X\r\nA: \t b\r\n\r\n"))
	f.Add([]byte("Event-Name: X\nA: 12345678\x1f\n\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		checkParseAgrees(t, body)
	})
}
