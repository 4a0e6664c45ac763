// Package console is the sms.Driver that prints texts instead of sending
// them: for the demo, for trying a configuration, and for shadowing a real
// deployment by hand.
//
// Each text is written to an io.Writer as one block, a header line and the
// body indented by three spaces, one output line per body line:
//
//	── SMS to +15555550123 from +15555551000 (1 segment, console-1)
//	   Sorry we missed your call to Acme Plumbing. What can we help with?
//
// A To or From that is empty or contains spaces or unprintable characters is
// written Go-quoted ("ACME LTD"), so the block reads back unambiguously.
// The body is written as it is.
//
// The package knows nothing of calls, lines or consent; it does not import
// package ledger.
package console

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"

	"github.com/textback/textback/sms"
)

// Driver writes texts to an io.Writer. Create it with New; the zero value is
// not usable.
type Driver struct {
	w io.Writer
	// lock is a one-slot semaphore rather than a mutex so that a Send
	// waiting behind a slow write can give up when its ctx ends. It is
	// held from taking the next id until the write returns.
	lock chan struct{}
	// n counts written texts; guarded by lock.
	n int
}

var _ sms.Driver = (*Driver)(nil)

// New returns a Driver that writes each text to w. The Driver serialises its
// writes, so w need not be safe for concurrent use, but nothing else should
// write to w at the same time if the output is to stay readable.
func New(w io.Writer) *Driver {
	return &Driver{w: w, lock: make(chan struct{}, 1)}
}

// Name returns "console".
func (d *Driver) Name() string { return "console" }

// Send writes m to the Driver's writer as one block, with a single Write
// call. It is safe for concurrent use; texts are written one at a time, in
// the order Send obtained the writer.
//
// Send blocks until the block is written or ctx is done. On success the
// Result has ProviderID "console-N", N counting the texts this Driver wrote
// (from 1), and the number of SMS segments the body would take.
//
// Errors are *sms.Error:
//   - Temporary wrapping ctx.Err() when ctx is done before the write
//     started, including while Send waited for another Send's write;
//   - Temporary wrapping the writer's error (or io.ErrShortWrite) when the
//     write fails, even part-way: a text cut in the middle was not
//     delivered, and a retry prints it whole;
//   - Unknown wrapping ctx.Err() when ctx ends while the write is blocked
//     (a full pipe, a stalled journald): the text may yet appear. The write
//     goes on in the background and later Sends wait for it.
func (d *Driver) Send(ctx context.Context, m sms.Message) (sms.Result, error) {
	if err := ctx.Err(); err != nil {
		return sms.Result{}, &sms.Error{Outcome: sms.Temporary, Message: "console: not written", Err: err}
	}
	select {
	case d.lock <- struct{}{}:
	case <-ctx.Done():
		return sms.Result{}, &sms.Error{Outcome: sms.Temporary, Message: "console: not written", Err: ctx.Err()}
	}

	segs := segments(m.Body)
	id := "console-" + strconv.Itoa(d.n+1)
	block := format(m, segs, id)
	done := make(chan error, 1)
	go func() {
		defer func() { <-d.lock }()
		n, err := io.WriteString(d.w, block)
		if err == nil && n < len(block) {
			err = io.ErrShortWrite
		}
		if err == nil {
			d.n++
		}
		done <- err
	}()

	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		select {
		case err = <-done: // finished as ctx ended: its result stands
		default:
			return sms.Result{}, &sms.Error{Outcome: sms.Unknown, Message: "console: write did not finish", Err: ctx.Err()}
		}
	}
	if err != nil {
		return sms.Result{}, &sms.Error{Outcome: sms.Temporary, Message: "console: write failed", Err: err}
	}
	return sms.Result{ProviderID: id, Segments: segs}, nil
}

// format renders one block: the header and the body, each body line
// indented, the block ending in a newline.
func format(m sms.Message, segs int, id string) string {
	var b strings.Builder
	unit := "segments"
	if segs == 1 {
		unit = "segment"
	}
	fmt.Fprintf(&b, "── SMS to %s from %s (%d %s, %s)\n", quote(m.To), quote(m.From), segs, unit, id)
	for line := range strings.SplitSeq(m.Body, "\n") {
		b.WriteString("   ")
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// quote returns s as it is when it is a plain token (non-empty, printable,
// no spaces, not starting with a quote), Go-quoted otherwise.
func quote(s string) string {
	if s == "" || strings.HasPrefix(s, `"`) || strings.ContainsFunc(s, func(r rune) bool {
		return r == unicode.ReplacementChar || !unicode.IsGraphic(r) || unicode.IsSpace(r)
	}) {
		return strconv.Quote(s)
	}
	return s
}
