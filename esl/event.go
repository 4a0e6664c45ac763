package esl

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Event is one FreeSWITCH event from a text/event-plain body: header lines
// with URL-encoded values, and an optional body of its own (some events,
// such as BACKGROUND_JOB, carry one).
type Event struct {
	// Fields holds the header lines in order, values as sent (encoded).
	Fields []Field
	Body   []byte
}

// ParseEvent parses a text/event-plain frame body. An event must have an
// Event-Name; a malformed line or a body shorter than its Content-Length
// is an error.
func ParseEvent(body []byte) (*Event, error) {
	// One string for the whole body: every name and value is a substring
	// of it, so parsing allocates once for the text however many headers
	// there are (FreeSWITCH sends every channel variable, 150-300 lines).
	text := string(body)
	e := &Event{Fields: make([]Field, 0, strings.Count(text, "\n")+1)}
	rest := text
	off := 0
	length := -1
	for len(rest) > 0 {
		line := rest
		if n := strings.IndexByte(rest, '\n'); n >= 0 {
			line, rest = rest[:n], rest[n+1:]
			off += n + 1
		} else {
			rest = ""
			off = len(text)
		}
		line = strings.TrimSuffix(line, "\r")
		if len(line) == 0 {
			break
		}
		c := strings.IndexByte(line, ':')
		if c <= 0 || !validName(line[:c]) || badByte(line) >= 0 {
			return nil, fmt.Errorf("event: %w", fieldError(line))
		}
		v := c + 1
		for v < len(line) && (line[v] == ' ' || line[v] == '\t') {
			v++
		}
		f := Field{Name: line[:c], Value: line[v:]}
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
		if len(body)-off < length {
			return nil, fmt.Errorf("event: body has %d of its %d bytes", len(body)-off, length)
		}
		e.Body = body[off : off+length : off+length]
	}
	if e.Name() == "" {
		return nil, errors.New("event: no Event-Name")
	}
	return e, nil
}

// fieldError is the error parseField gives for a bad header line.
func fieldError(line string) error {
	_, err := parseField([]byte(line))
	if err == nil {
		err = fmt.Errorf("header line %q is malformed", clip([]byte(line)))
	}
	return err
}

func validName(name string) bool {
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// badByte returns the index of the first byte in s that no header line
// may hold (a control character other than tab, CR and LF, or DEL), or
// -1. It looks at eight bytes at a time and at single bytes only around a
// suspect: header blocks are kilobytes of URL-encoded text.
func badByte(s string) int {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := binary.LittleEndian.Uint64([]byte(s[i : i+8]))
		if (less(x, 0x20)&^(zero(x^ones*'\n')|zero(x^ones*'\t')))|zero(x^ones*0x7f) != 0 {
			if j := badByteSlow(s, i, i+8); j >= 0 {
				return j
			}
		}
	}
	return badByteSlow(s, i, len(s))
}

const ones, lows, highs = 0x0101010101010101, 0x7f7f7f7f7f7f7f7f, 0x8080808080808080

// zero marks (high bit) each byte of x that is 0, exactly.
func zero(x uint64) uint64 { return ^(((x & lows) + lows) | x) & highs }

// less marks each byte of x below n (n <= 0x80), exactly.
func less(x uint64, n byte) uint64 {
	return ^(((x & lows) + ones*uint64(0x80-n)) | x) & highs
}

// badByteSlow is badByte for s[from:to], byte by byte. A CR is allowed
// only before an LF.
func badByteSlow(s string, from, to int) int {
	for i := from; i < to; i++ {
		c := s[i]
		if c < ' ' && c != '\t' && c != '\n' && (c != '\r' || i+1 >= len(s) || s[i+1] != '\n') || c == 0x7f {
			return i
		}
	}
	return -1
}

// Raw returns the first value of the header name as sent (URL-encoded).
func (e *Event) Raw(name string) (string, bool) {
	for i := range e.Fields {
		if e.Fields[i].Name == name {
			return e.Fields[i].Value, true
		}
	}
	return "", false
}

// Get returns the decoded value of the first header named name, "" if
// there is none. Header names are exact ("variable_sip_req_user"). A value
// that is not valid URL encoding is returned as sent.
func (e *Event) Get(name string) string {
	v, _ := e.Raw(name)
	if strings.IndexByte(v, '%') < 0 {
		return v
	}
	d, err := url.PathUnescape(v)
	if err != nil {
		return v
	}
	return d
}

// Name is the Event-Name.
func (e *Event) Name() string { return e.Get("Event-Name") }

// Var returns the decoded channel variable name ("variable_" + name).
func (e *Event) Var(name string) string { return e.Get("variable_" + name) }

// Time reads a header holding microseconds since the epoch (FreeSWITCH's
// *-Time and *_uepoch values); zero, missing or invalid gives the zero
// time.
func (e *Event) Time(name string) time.Time {
	n, err := strconv.ParseInt(e.Get(name), 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}
	}
	return time.UnixMicro(n).UTC()
}

// Sequence is the Event-Sequence (0 if missing).
func (e *Event) Sequence() uint64 {
	n, _ := strconv.ParseUint(e.Get("Event-Sequence"), 10, 64)
	return n
}
