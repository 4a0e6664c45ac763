package esl

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
)

// Content types FreeSWITCH's event socket sends.
const (
	TypeAuthRequest   = "auth/request"
	TypeCommandReply  = "command/reply"
	TypeAPIResponse   = "api/response"
	TypeEventPlain    = "text/event-plain"
	TypeEventJSON     = "text/event-json"
	TypeEventXML      = "text/event-xml"
	TypeDisconnect    = "text/disconnect-notice"
	TypeRudeRejection = "text/rude-rejection"
	TypeLogData       = "log/data"
)

// knownTypes are the content types Reader accepts without ErrUnknownContentType.
var knownTypes = map[string]bool{
	TypeAuthRequest: true, TypeCommandReply: true, TypeAPIResponse: true,
	TypeEventPlain: true, TypeEventJSON: true, TypeEventXML: true,
	TypeDisconnect: true, TypeRudeRejection: true, TypeLogData: true,
}

// Reader limits.
const (
	// DefaultMaxBody is the largest Content-Length a Reader accepts unless
	// told otherwise: far above any event (a CHANNEL_HANGUP_COMPLETE is about
	// 10 KiB) and room for `show channels as json` on a busy system.
	DefaultMaxBody = 16 << 20
	// MaxHeaderBytes is the most a frame's header block may take, blank
	// lines before it included.
	MaxHeaderBytes = 64 << 10
)

// Errors a Reader returns, wrapped in a *FrameError.
var (
	// ErrMalformed: the bytes are not an event-socket frame (a header line
	// without a colon, a control character, a bad or negative
	// Content-Length). The stream cannot be read further.
	ErrMalformed = errors.New("malformed frame")
	// ErrTooLarge: a Content-Length or a header block over the limit. The
	// stream cannot be read further.
	ErrTooLarge = errors.New("frame too large")
	// ErrUnknownContentType: the frame was read whole but its Content-Type
	// is missing or not one FreeSWITCH sends. The stream is still in sync:
	// reading may go on.
	ErrUnknownContentType = errors.New("unknown content type")
)

// FrameError says what is wrong with a frame and where it is.
type FrameError struct {
	Frame  int64  // the frame's number in the stream, from 1
	Offset int64  // the stream offset where the frame starts
	Msg    string // what is wrong
	Err    error  // ErrMalformed, ErrTooLarge, ErrUnknownContentType, io.ErrUnexpectedEOF or a read error
}

func (e *FrameError) Error() string {
	return fmt.Sprintf("esl frame %d at byte %d: %s", e.Frame, e.Offset, e.Msg)
}

func (e *FrameError) Unwrap() error { return e.Err }

// Field is one header line: a name and its value as sent (event-plain
// bodies URL-encode values; Event.Get decodes them).
type Field struct {
	Name, Value string
}

// Frame is one message of the event socket: header lines, a blank line,
// then a body of Content-Length bytes.
type Frame struct {
	Header []Field
	Body   []byte
}

// Get returns the value of the first header named name ("" if none).
func (f *Frame) Get(name string) string {
	for _, h := range f.Header {
		if h.Name == name {
			return h.Value
		}
	}
	return ""
}

// ContentType returns the frame's Content-Type.
func (f *Frame) ContentType() string { return f.Get("Content-Type") }

// Append appends the frame's wire form to b: the header lines in order,
// with Content-Length (where it is, or last) set to the body's length when
// there is a body, a blank line, then the body. A frame read by a Reader
// comes out byte for byte as FreeSWITCH sent it.
func (f *Frame) Append(b []byte) []byte {
	wroteLen := false
	for _, h := range f.Header {
		v := h.Value
		if h.Name == "Content-Length" {
			if wroteLen {
				continue
			}
			wroteLen = true
			v = strconv.Itoa(len(f.Body))
		}
		b = append(b, h.Name...)
		b = append(b, ": "...)
		b = append(b, v...)
		b = append(b, '\n')
	}
	if !wroteLen && len(f.Body) > 0 {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(f.Body)), 10)
		b = append(b, '\n')
	}
	b = append(b, '\n')
	return append(b, f.Body...)
}

// Reader reads frames from an event-socket byte stream. It is not safe for
// concurrent use.
type Reader struct {
	r *bufio.Reader
	// MaxBody is the largest Content-Length accepted (DefaultMaxBody when
	// zero or less).
	MaxBody int

	frames int64 // frames started
	off    int64 // bytes consumed
	start  int64 // offset of the frame being read
	broken error // the error that made the stream unusable
}

// NewReader returns a Reader reading from r.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, 32<<10)}
}

// ReadFrame reads the next frame.
//
// At the end of the stream between frames it returns io.EOF. Any other
// error is a *FrameError: with ErrUnknownContentType the frame was read
// whole and is returned with the error, and reading may go on; with any
// other error (ErrMalformed, ErrTooLarge, io.ErrUnexpectedEOF, a read
// error) the stream is unusable and every later call returns the same
// error.
func (r *Reader) ReadFrame() (Frame, error) {
	if r.broken != nil {
		return Frame{}, r.broken
	}
	f, err := r.readFrame()
	var fe *FrameError
	if err != nil && err != io.EOF && !(errors.As(err, &fe) && fe.Err == ErrUnknownContentType) {
		r.broken = err
	}
	return f, err
}

func (r *Reader) readFrame() (Frame, error) {
	r.frames++
	r.start = r.off
	var f Frame
	budget := MaxHeaderBytes
	seenLine := false
	length := -1
	for {
		line, err := r.readLine(budget)
		if err != nil {
			if err == io.EOF && !seenLine && len(line) == 0 {
				r.frames--
				return Frame{}, io.EOF
			}
			if err == io.EOF {
				return Frame{}, r.fail(io.ErrUnexpectedEOF, "stream ends inside the header")
			}
			if err == errLineTooLong {
				return Frame{}, r.fail(ErrTooLarge, fmt.Sprintf("header block over %d bytes", MaxHeaderBytes))
			}
			return Frame{}, r.fail(err, "reading the header: "+err.Error())
		}
		budget -= len(line) + 1
		if len(line) == 0 {
			if len(f.Header) == 0 {
				// Blank lines between frames are tolerated.
				continue
			}
			break
		}
		seenLine = true
		h, err := parseField(line)
		if err != nil {
			return Frame{}, r.fail(ErrMalformed, err.Error())
		}
		if h.Name == "Content-Length" {
			n, err := parseLength(h.Value, r.maxBody())
			if err != nil {
				return Frame{}, r.fail(errors.Unwrap(err), err.Error())
			}
			if length >= 0 && n != length {
				return Frame{}, r.fail(ErrMalformed, "two different Content-Length headers")
			}
			length = n
		}
		f.Header = append(f.Header, h)
	}
	if length > 0 {
		// Memory grows with the bytes that arrive, not with what the
		// header claims.
		body, err := readBody(r.r, length)
		r.off += int64(len(body))
		if err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return Frame{}, r.fail(io.ErrUnexpectedEOF, fmt.Sprintf("stream ends after %d of %d body bytes", len(body), length))
			}
			return Frame{}, r.fail(err, fmt.Sprintf("reading the body (%d of %d bytes): %v", len(body), length, err))
		}
		f.Body = body
	}
	switch ct := f.ContentType(); {
	case ct == "":
		return f, r.fail(ErrUnknownContentType, "no Content-Type")
	case !knownTypes[ct]:
		return f, r.fail(ErrUnknownContentType, fmt.Sprintf("unknown Content-Type %q", ct))
	}
	return f, nil
}

// readBody reads length bytes into a buffer that grows, past 64 KiB, only
// as the bytes arrive (a header's claim alone allocates at most 64 KiB).
// It returns the bytes read with the error.
func readBody(r io.Reader, length int) ([]byte, error) {
	const step = 64 << 10
	buf := make([]byte, 0, min(length, step))
	for len(buf) < length {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(length-len(buf), max(len(buf), step)))
		}
		n, err := io.ReadFull(r, buf[len(buf):min(cap(buf), length)])
		buf = buf[:len(buf)+n]
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

func (r *Reader) maxBody() int {
	if r.MaxBody > 0 {
		return r.MaxBody
	}
	return DefaultMaxBody
}

func (r *Reader) fail(err error, msg string) error {
	return &FrameError{Frame: r.frames, Offset: r.start, Msg: msg, Err: err}
}

var errLineTooLong = errors.New("line too long")

// readLine reads one line of at most max bytes, without its "\n" or
// "\r\n". At the end of the stream it returns what it read and io.EOF.
func (r *Reader) readLine(max int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.r.ReadSlice('\n')
		r.off += int64(len(chunk))
		if len(line)+len(chunk) > max+1 {
			return nil, errLineTooLong
		}
		line = append(line, chunk...)
		switch err {
		case nil:
			line = line[:len(line)-1]
			return bytes.TrimSuffix(line, []byte{'\r'}), nil
		case bufio.ErrBufferFull:
			continue
		default:
			return line, err
		}
	}
}

// parseField parses a "Name: value" line.
func parseField(line []byte) (Field, error) {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return Field{}, fmt.Errorf("header line %q has no name and colon", clip(line))
	}
	name := line[:i]
	for _, c := range name {
		if c <= ' ' || c >= 0x7f {
			return Field{}, fmt.Errorf("header name %q has a space or control character", clip(name))
		}
	}
	value := bytes.TrimLeft(line[i+1:], " \t")
	for _, c := range value {
		if c < ' ' && c != '\t' || c == 0x7f {
			return Field{}, fmt.Errorf("header %s has a control character in its value", name)
		}
	}
	return Field{Name: string(name), Value: string(value)}, nil
}

// parseLength parses a Content-Length value; its errors wrap ErrMalformed
// or ErrTooLarge.
func parseLength(v string, max int) (int, error) {
	if v == "" {
		return 0, fmt.Errorf("empty Content-Length: %w", ErrMalformed)
	}
	if v[0] == '-' {
		return 0, fmt.Errorf("negative Content-Length %q: %w", clip([]byte(v)), ErrMalformed)
	}
	for _, c := range []byte(v) {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("Content-Length %q is not a number: %w", clip([]byte(v)), ErrMalformed)
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n > int64(max) {
		return 0, fmt.Errorf("Content-Length %s over the %d-byte limit: %w", clip([]byte(v)), max, ErrTooLarge)
	}
	return int(n), nil
}

// clip shortens b for an error message.
func clip(b []byte) string {
	const max = 60
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}
