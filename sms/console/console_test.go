package console_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/textback/textback/sms"
	"github.com/textback/textback/sms/console"
	"github.com/textback/textback/sms/smstest"
)

func TestDriver_Conformance(t *testing.T) {
	var p *peer
	smstest.Run(t, smstest.Harness{
		New: func(t *testing.T) sms.Driver {
			p = newPeer(t)
			return p.driver()
		},
		Sent: func(t *testing.T) []sms.Message {
			ms, err := parse(p.String())
			if err != nil {
				t.Fatalf("console output does not read back: %v\n%s", err, p.String())
			}
			return ms
		},
		Fault: func(t *testing.T, f smstest.Fault) bool {
			return p.fault(f)
		},
	})
}

func TestDriver_Send(t *testing.T) {
	tests := []struct {
		name string
		msgs []sms.Message
		want string
	}{{
		name: "OneLine",
		msgs: []sms.Message{{From: "+15555551000", To: "+15555550123", Body: "Sorry we missed your call."}},
		want: "── SMS to +15555550123 from +15555551000 (1 segment, console-1)\n" +
			"   Sorry we missed your call.\n",
	}, {
		name: "SeveralLinesAndSegments",
		msgs: []sms.Message{{From: "+15555551000", To: "+15555550123", Body: "Line one\n\n" + strings.Repeat("x", 160)}},
		want: "── SMS to +15555550123 from +15555551000 (2 segments, console-1)\n" +
			"   Line one\n" +
			"   \n" +
			"   " + strings.Repeat("x", 160) + "\n",
	}, {
		name: "SenderWithSpaceIsQuoted",
		msgs: []sms.Message{{From: "ACME LTD", To: "+15555550123", Body: "Hi"}, {From: "", To: `"x"`, Body: ""}},
		want: "── SMS to +15555550123 from \"ACME LTD\" (1 segment, console-1)\n" +
			"   Hi\n" +
			"── SMS to \"\\\"x\\\"\" from \"\" (1 segment, console-2)\n" +
			"   \n",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			d := console.New(&buf)
			for i, m := range tt.msgs {
				res, err := d.Send(t.Context(), m)
				if err != nil {
					t.Fatalf("Send %d: %v", i, err)
				}
				if want := fmt.Sprintf("console-%d", i+1); res.ProviderID != want {
					t.Errorf("Send %d: ProviderID %q, want %q", i, res.ProviderID, want)
				}
			}
			if got := buf.String(); got != tt.want {
				t.Errorf("output\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestDriver_SendWriteError(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name string
		w    *failingWriter
		want error
	}{
		{"Refused", &failingWriter{err: boom}, boom},
		{"Partial", &failingWriter{err: boom, partial: true}, boom},
		{"ShortWithoutError", &failingWriter{partial: true}, io.ErrShortWrite},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := console.New(tt.w)
			m := sms.Message{To: "+15555550123", From: "+15555551000", Body: "hello"}
			_, err := d.Send(t.Context(), m)
			if o := sms.OutcomeOf(err); o != sms.Temporary || !errors.Is(err, tt.want) {
				t.Fatalf("Send to a failing writer: %v (outcome %s), want temporary wrapping %v", err, o, tt.want)
			}
			tt.w.err, tt.w.partial = nil, false
			res, err := d.Send(t.Context(), m)
			if err != nil || res.ProviderID != "console-1" {
				t.Fatalf("Send after the writer recovered: %+v, %v; want console-1 (a failed write takes no id)", res, err)
			}
		})
	}
}

// A Send waiting for another Send's write gives up, untouched, when its ctx
// ends: Temporary, since it wrote nothing.
func TestDriver_SendGivesUpWaitingForWriter(t *testing.T) {
	p := newPeer(t)
	d := console.New(p)
	p.fault(smstest.FaultHang)
	first := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go func() { <-p.writing; cancel() }()
		_, err := d.Send(ctx, sms.Message{Body: "first"})
		first <- err
	}()
	if err := <-first; sms.OutcomeOf(err) != sms.Unknown || !errors.Is(err, context.Canceled) {
		t.Fatalf("Send cancelled during a blocked write: %v (outcome %s), want unknown wrapping context.Canceled", err, sms.OutcomeOf(err))
	}
	// The first write still holds the writer.
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := d.Send(ctx, sms.Message{Body: "second"})
	if sms.OutcomeOf(err) != sms.Temporary || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send behind a blocked write: %v (outcome %s), want temporary wrapping context.DeadlineExceeded", err, sms.OutcomeOf(err))
	}
	p.unblock()
	if _, err := d.Send(t.Context(), sms.Message{Body: "third"}); err != nil {
		t.Fatalf("Send after the blocked write finished: %v", err)
	}
	ms, err := parse(p.String())
	if err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for _, m := range ms {
		bodies = append(bodies, m.Body)
	}
	if got := strings.Join(bodies, ","); got != "first,third" {
		t.Errorf("written %q, want first,third", got)
	}
}

func FuzzDriver_RoundTrip(f *testing.F) {
	f.Add("+15555550123", "+15555551000", "Sorry we missed your call.")
	f.Add("", "ACME LTD", "a\nb\r\n\n")
	f.Add(`"`, "\xff", "── SMS to x from y (1 segment, console-1)\n")
	f.Fuzz(func(t *testing.T, to, from, body string) {
		var buf bytes.Buffer
		if _, err := console.New(&buf).Send(t.Context(), sms.Message{To: to, From: from, Body: body}); err != nil {
			t.Fatal(err)
		}
		ms, err := parse(buf.String())
		if err != nil {
			t.Fatalf("%v\n%s", err, buf.String())
		}
		if len(ms) != 1 || ms[0].To != to || ms[0].From != from || ms[0].Body != body {
			t.Fatalf("read back %q, want to %q from %q body %q", ms, to, from, body)
		}
	})
}

// parse reads the console's output back into the messages it shows, so the
// conformance suite checks what was printed.
func parse(out string) ([]sms.Message, error) {
	if out == "" {
		return nil, nil
	}
	if !strings.HasSuffix(out, "\n") {
		return nil, fmt.Errorf("output does not end in a newline")
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	var ms []sms.Message
	for i := 0; i < len(lines); {
		m, err := parseHeader(lines[i])
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		i++
		var body []string
		for ; i < len(lines) && strings.HasPrefix(lines[i], "   "); i++ {
			body = append(body, strings.TrimPrefix(lines[i], "   "))
		}
		if len(body) == 0 {
			return nil, fmt.Errorf("line %d: a header without a body", i)
		}
		m.Body = strings.Join(body, "\n")
		ms = append(ms, m)
	}
	return ms, nil
}

var headerTail = regexp.MustCompile(`^ \(([0-9]+) segments?, console-[0-9]+\)$`)

func parseHeader(line string) (sms.Message, error) {
	var m sms.Message
	rest, ok := strings.CutPrefix(line, "── SMS to ")
	if !ok {
		return m, fmt.Errorf("%q is not a header", line)
	}
	var err error
	if m.To, rest, err = token(rest); err != nil {
		return m, err
	}
	if rest, ok = strings.CutPrefix(rest, " from "); !ok {
		return m, fmt.Errorf("%q: no from", line)
	}
	if m.From, rest, err = token(rest); err != nil {
		return m, err
	}
	if !headerTail.MatchString(rest) {
		return m, fmt.Errorf("%q: bad segments and id", line)
	}
	return m, nil
}

// token reads a number: Go-quoted, or up to the next space.
func token(s string) (tok, rest string, err error) {
	if strings.HasPrefix(s, `"`) {
		q, err := strconv.QuotedPrefix(s)
		if err != nil {
			return "", "", fmt.Errorf("%q: %w", s, err)
		}
		tok, err = strconv.Unquote(q)
		return tok, s[len(q):], err
	}
	i := strings.IndexByte(s, ' ')
	if i < 0 {
		return "", "", fmt.Errorf("%q: no space after the number", s)
	}
	return s[:i], s[i:], nil
}

// peer is the console's far side: a buffer that can fail or block the next
// write on request.
type peer struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	next smstest.Fault
	set  bool // next is armed
	// writing is closed when a write starts to hang; release lets it finish.
	writing, release chan struct{}
	releaseOnce      sync.Once
}

func newPeer(t *testing.T) *peer {
	p := &peer{writing: make(chan struct{}), release: make(chan struct{})}
	t.Cleanup(p.unblock)
	return p
}

// unblock lets a hanging write finish; it may be called more than once.
func (p *peer) unblock() { p.releaseOnce.Do(func() { close(p.release) }) }

// driver returns a console.Driver writing to p. When a hanging write's Send
// has returned, the write is released, as a carrier's hanging request ends
// when the client gives up on it.
func (p *peer) driver() sms.Driver {
	return releasing{console.New(p), p}
}

type releasing struct {
	*console.Driver
	p *peer
}

func (r releasing) Send(ctx context.Context, m sms.Message) (sms.Result, error) {
	res, err := r.Driver.Send(ctx, m)
	if sms.OutcomeOf(err) == sms.Unknown {
		r.p.unblock()
	}
	return res, err
}

// fault arms f for the next write; the console can fail a write
// (Temporary) or block it (Hang), and no more.
func (p *peer) fault(f smstest.Fault) bool {
	if f != smstest.FaultTemporary && f != smstest.FaultHang {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.next, p.set = f, true
	return true
}

func (p *peer) Write(b []byte) (int, error) {
	p.mu.Lock()
	f, set := p.next, p.set
	p.set = false
	p.mu.Unlock()
	if set && f == smstest.FaultTemporary {
		return 0, errors.New("peer: write refused")
	}
	if set && f == smstest.FaultHang {
		close(p.writing)
		<-p.release
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.buf.Write(b)
}

func (p *peer) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.buf.String()
}

type failingWriter struct {
	err     error
	partial bool
	buf     bytes.Buffer
}

func (w *failingWriter) Write(b []byte) (int, error) {
	if w.partial {
		n, _ := w.buf.Write(b[:len(b)/2])
		return n, w.err
	}
	if w.err != nil {
		return 0, w.err
	}
	return w.buf.Write(b)
}
