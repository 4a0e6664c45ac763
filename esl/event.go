package esl

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

// Event is one FreeSWITCH event from a text/event-plain body: header lines
// with URL-encoded values, and an optional body of its own (some events,
// such as BACKGROUND_JOB, carry one).
type Event struct {
	// text is the frame body the event was parsed from; each header is
	// where its name and value lie in it. Offsets, not strings: an event
	// of 250 headers is two allocations the collector need not scan.
	text    string
	headers []span
	Body    []byte
}

type span struct{ name0, name1, value0, value1 uint32 }

// Fields returns the header lines in order, values as sent (encoded).
func (e *Event) Fields() []Field {
	out := make([]Field, len(e.headers))
	for i, h := range e.headers {
		out[i] = Field{Name: e.text[h.name0:h.name1], Value: e.text[h.value0:h.value1]}
	}
	return out
}

// ParseEvent parses a text/event-plain frame body. An event must have an
// Event-Name; a malformed line or a body shorter than its Content-Length
// is an error.
//
// The event refers to body's bytes (FreeSWITCH events are kilobytes of
// headers, and copying each is a good part of reading it): body must not
// change while the event is in use. Frames from a Reader are the caller's
// alone.
func ParseEvent(body []byte) (*Event, error) {
	text := unsafe.String(unsafe.SliceData(body), len(body))
	if len(body) >= 1<<32-1 {
		return nil, errors.New("event: larger than 4 GiB")
	}
	e := &Event{text: text, headers: make([]span, 0, strings.Count(text, "\n")+1)}
	rest := text
	off := 0
	length := -1
	for len(rest) > 0 {
		line, start := rest, off
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
		if c <= 0 || !validName(line[:c]) {
			// The first bad line is the one to name: an earlier one may
			// hold a bad byte.
			if i := badByte(text[:start]); i >= 0 {
				line = lineAround(text, i)
			}
			return nil, fmt.Errorf("event: %w", fieldError(line))
		}
		v := c + 1
		for v < len(line) && (line[v] == ' ' || line[v] == '\t') {
			v++
		}
		h := span{uint32(start), uint32(start + c), uint32(start + v), uint32(start + len(line))}
		if line[:c] == "Content-Length" {
			n, err := parseLength(line[v:], len(body))
			if err != nil {
				if i := badByte(text[:start+len(line)]); i >= 0 {
					err = fieldError(lineAround(text, i)) // an earlier problem, or this line's bytes
				}
				return nil, fmt.Errorf("event: %w", err)
			}
			length = n
		}
		e.headers = append(e.headers, h)
	}
	// Control characters, checked over the whole header block at once.
	if i := badByte(text[:off]); i >= 0 {
		return nil, fmt.Errorf("event: %w", fieldError(lineAround(text, i)))
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

// lineAround returns the line of s holding byte i, without its LF (and
// the CR before it).
func lineAround(s string, i int) string {
	start := strings.LastIndexByte(s[:i], '\n') + 1
	end := strings.IndexByte(s[i:], '\n')
	if end < 0 {
		return strings.TrimSuffix(s[start:], "\r")
	}
	return strings.TrimSuffix(s[start:i+end], "\r")
}

// validName reports whether name has no space, control character or
// byte above 0x7e, eight bytes at a time.
func validName(name string) bool {
	i := 0
	for ; i+8 <= len(name); i += 8 {
		x := binary.LittleEndian.Uint64([]byte(name[i : i+8]))
		if less(x, 0x21)|(x&highs)|zero(x^ones*0x7f) != 0 {
			return false
		}
	}
	for ; i < len(name); i++ {
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
		low := less(x, 0x20)
		del := zero(x ^ ones*0x7f)
		if low|del == 0 {
			continue // the common word: printable text
		}
		if (low&^(zero(x^ones*'\n')|zero(x^ones*'\t')))|del != 0 {
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
// only before an LF or at the very end (a last line without its LF).
func badByteSlow(s string, from, to int) int {
	for i := from; i < to; i++ {
		c := s[i]
		if c < ' ' && c != '\t' && c != '\n' && (c != '\r' || i+1 < len(s) && s[i+1] != '\n') || c == 0x7f {
			return i
		}
	}
	return -1
}

// Raw returns the first value of the header name as sent (URL-encoded). It
// refers to the event's frame: clone it to keep it past the event.
func (e *Event) Raw(name string) (string, bool) {
	for _, h := range e.headers {
		if int(h.name1-h.name0) == len(name) && e.text[h.name0:h.name1] == name {
			return e.text[h.value0:h.value1], true
		}
	}
	return "", false
}

// Get returns the decoded value of the first header named name, "" if
// there is none. Header names are exact ("variable_sip_req_user"). A value
// that is not valid URL encoding is returned as sent. The value is a copy:
// keeping it does not keep the event's frame (kilobytes) in memory, as a
// tracked call keeps its caller's number.
func (e *Event) Get(name string) string {
	v, _ := e.Raw(name)
	if strings.IndexByte(v, '%') < 0 {
		return strings.Clone(v)
	}
	d, err := url.PathUnescape(v)
	if err != nil {
		return strings.Clone(v)
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
