package esl

import (
	"errors"
	"fmt"
	"io"

	"github.com/rs/zerolog"
	"github.com/textback/textback/ledger"
)

// ReadCapture reads a raw event-socket capture (the bytes FreeSWITCH sent
// on an inbound connection, from its auth/request on, as `textback replay
// --pbx freeswitch` takes them) and calls emit with the ledger events its
// calls translate to, in order, exactly as the live connection would.
//
// Only text/event-plain frames matter; other frames (command replies, API
// responses, log/data, the disconnect notice, frames of a content type
// FreeSWITCH does not send) are skipped. A capture that ends between
// frames is read to its end; one that ends inside a frame, or holds bytes
// that are not frames or an event that does not parse, is an error naming
// the frame and its offset. An error from emit stops the reading and is
// returned as it is.
func ReadCapture(r io.Reader, o Options, emit func(ledger.Event) error) error {
	t := newTranslator(o, zerolog.Nop())
	fr := NewReader(r)
	for {
		f, err := fr.ReadFrame()
		if err == io.EOF {
			return nil
		}
		if errors.Is(err, ErrUnknownContentType) {
			continue
		}
		if err != nil {
			return err
		}
		if f.ContentType() != TypeEventPlain {
			continue
		}
		e, err := ParseEvent(f.Body)
		if err != nil {
			return fmt.Errorf("esl frame %d: %w", fr.frames, err)
		}
		if err := t.observe(e, emit); err != nil {
			return err
		}
	}
}
