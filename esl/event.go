package esl

import (
	"bytes"
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
	index  map[string]int // the first field of each name
}

// ParseEvent parses a text/event-plain frame body. An event must have an
// Event-Name; a malformed line or a body shorter than its Content-Length
// is an error.
func ParseEvent(body []byte) (*Event, error) {
	e := &Event{index: make(map[string]int, 64)}
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
		if _, ok := e.index[f.Name]; !ok {
			e.index[f.Name] = len(e.Fields)
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

// Raw returns the first value of the header name as sent (URL-encoded).
func (e *Event) Raw(name string) (string, bool) {
	i, ok := e.index[name]
	if !ok {
		return "", false
	}
	return e.Fields[i].Value, true
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
