package esltest

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"regexp"

	"github.com/textback/textback/esl"
)

// LoadCapture reads a raw event-socket capture (as in esl/testdata) into
// its frames.
func LoadCapture(path string) ([]esl.Frame, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("esltest: %w", err)
	}
	return ParseCapture(b)
}

// ParseCapture splits a raw capture into its frames.
func ParseCapture(b []byte) ([]esl.Frame, error) {
	r := esl.NewReader(bytes.NewReader(b))
	var out []esl.Frame
	for {
		f, err := r.ReadFrame()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("esltest: %w", err)
		}
		out = append(out, f)
	}
}

// Events returns the text/event-plain frames of frames: what a replay
// sends (the capture's own greeting and replies belong to the capturing
// session; the server makes its own).
func Events(frames []esl.Frame) []esl.Frame {
	var out []esl.Frame
	for _, f := range frames {
		if f.ContentType() == esl.TypeEventPlain {
			out = append(out, f)
		}
	}
	return out
}

var uuidRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// FreshIDs returns copies of frames with every UUID in their bodies
// (channel, call, core ids) replaced by a new random one, the same old id
// by the same new one throughout: the same calls again, as new calls.
// UUIDs keep their length, so Content-Length and everything else stay as
// captured. It also returns the mapping, old id to new.
func FreshIDs(frames []esl.Frame) ([]esl.Frame, map[string]string) {
	ids := map[string]string{}
	out := make([]esl.Frame, len(frames))
	for i, f := range frames {
		body := uuidRE.ReplaceAllFunc(f.Body, func(old []byte) []byte {
			n, ok := ids[string(old)]
			if !ok {
				n = NewUUID()
				ids[string(old)] = n
			}
			return []byte(n)
		})
		out[i] = esl.Frame{Header: append([]esl.Field(nil), f.Header...), Body: body}
	}
	return out, ids
}

// Fault frames: bytes a broken FreeSWITCH, proxy or network may deliver.
var (
	// NegativeLength is an event frame with Content-Length -1 (crashes
	// eslgo v1.5.0).
	NegativeLength = []byte("Content-Length: -1\nContent-Type: text/event-plain\n\n")
	// HugeLength claims a 1 TiB body.
	HugeLength = []byte("Content-Length: 1099511627776\nContent-Type: text/event-plain\n\n")
	// Garbage is not a frame at all.
	Garbage = []byte("\x00\x01 this is not an event socket frame \xff\nnor is this\n\n")
	// UnknownType is a well-formed frame of a content type FreeSWITCH does
	// not send.
	UnknownType = []byte("Content-Type: application/x-surprise\nContent-Length: 5\n\nhello")
)

// LogData is a log/data frame, as FreeSWITCH sends after `log 7` (eslgo
// v1.5.0 stops reading at one).
func LogData(text string) []byte {
	f := esl.Frame{Header: []esl.Field{
		{Name: "Content-Type", Value: esl.TypeLogData},
		{Name: "Content-Length"},
		{Name: "Log-Level", Value: "7"},
		{Name: "Text-Channel", Value: "3"},
		{Name: "Log-File", Value: "switch_core_state_machine.c"},
		{Name: "Log-Func", Value: "switch_core_session_run"},
		{Name: "Log-Line", Value: "311"},
		{Name: "User-Data", Value: NewUUID()},
	}, Body: []byte(text)}
	return f.Append(nil)
}
