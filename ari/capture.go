package ari

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/textback/textback/ledger"
)

// MaxEventSize is the largest ARI event accepted, in bytes, from a capture
// line or a websocket message (Asterisk's events are a few kilobytes; a
// larger websocket message ends the connection, which is then made again).
const MaxEventSize = 256 << 10

// ReadCapture reads recorded ARI events, one JSON object per line as the
// websocket delivered them (extra fields, such as a recorder's own, are
// ignored), translates them exactly as Source does, and calls emit with
// each ledger event in order.
//
// Blank lines and lines starting with # are skipped. Event types ari/v5
// does not know are skipped. A line that is not an ARI event (not JSON, no
// "type", fields of the wrong shape) is an error naming the line ("line 12:
// undecodable ARI event: ..."), and so is a line longer than MaxEventSize.
// An error from emit stops the reading and is returned as it is; an error
// reading r is returned wrapped.
//
// Calls still going at the end of r get no EventEnded.
func ReadCapture(r io.Reader, o Options, emit func(ledger.Event) error) error {
	t := newTranslator(o)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxEventSize+2)
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if n == 1 {
			line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
		}
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		if len(line) > MaxEventSize {
			return fmt.Errorf("line %d: longer than %d bytes", n, MaxEventSize)
		}
		if _, _, err := t.handle(line, emit); err != nil {
			var de *DecodeError
			if errors.As(err, &de) {
				return fmt.Errorf("line %d: %w", n, err)
			}
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("line %d: longer than %d bytes", n+1, MaxEventSize)
		}
		return fmt.Errorf("reading ARI events after line %d: %w", n, err)
	}
	return nil
}
