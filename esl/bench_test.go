package esl

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/rs/zerolog"
	"github.com/textback/textback/ledger"
)

var benchUUID = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// benchFeed is the recorded event-socket captures back to back, as
// FreeSWITCH sent them, with the last six hex digits of every UUID
// rewritten each round: the same calls again as new calls, every
// Content-Length unchanged.
type benchFeed struct {
	raw    []byte
	slots  []int
	events int // event frames a round
}

// subscribed keeps only the event frames textback subscribes to (and the
// rest of the capture's non-event frames): what a live connection gets.
func newBenchFeed(tb testing.TB, subscribed bool) *benchFeed {
	tb.Helper()
	files, err := filepath.Glob("testdata/*.esl")
	if err != nil || len(files) == 0 {
		tb.Fatalf("no captures: %v", err)
	}
	f := &benchFeed{}
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			tb.Fatal(err)
		}
		r := NewReader(bytes.NewReader(data))
		for {
			fr, err := r.ReadFrame()
			if err == io.EOF {
				break
			}
			if err != nil && !errors.Is(err, ErrUnknownContentType) {
				tb.Fatalf("%s: %v", path, err)
			}
			if fr.ContentType() == TypeEventPlain {
				e, err := ParseEvent(fr.Body)
				if err != nil {
					tb.Fatal(err)
				}
				switch e.Name() {
				case "CHANNEL_CREATE", "CHANNEL_BRIDGE", "CHANNEL_HANGUP_COMPLETE", "HEARTBEAT":
				default:
					if subscribed {
						continue
					}
				}
				f.events++
			}
			f.raw = fr.Append(f.raw)
		}
	}
	for _, m := range benchUUID.FindAllIndex(f.raw, -1) {
		f.slots = append(f.slots, m[1]-6)
	}
	return f
}

func (f *benchFeed) round(r int) []byte {
	const hex = "0123456789abcdef"
	var d [6]byte
	for i := 5; i >= 0; i-- {
		d[i] = hex[r&15]
		r >>= 4
	}
	for _, at := range f.slots {
		copy(f.raw[at:], d[:])
	}
	return f.raw
}

// BenchmarkIngest measures the event-socket side of ingest, per event
// frame, one round of every capture per iteration:
//
//   - FrameRead: frames read and dropped (the raw read baseline);
//   - ReadParseTrack: frames read, events parsed, translated and tracked;
//   - SocketRead and SocketParseTrack: the same off a loopback TCP
//     connection, written by another goroutine.
//
// "All" is every event of the captures (FreeSWITCH sends them to a
// connection subscribed to ALL); "Subscribed" only the ones textback
// subscribes to, what it reads in production.
func BenchmarkIngest(b *testing.B) {
	for _, sub := range []struct {
		name string
		only bool
	}{{"Subscribed", true}, {"All", false}} {
		feed := newBenchFeed(b, sub.only)
		b.Run(sub.name+"/FrameRead", func(b *testing.B) {
			benchFrames(b, feed, false, nil)
		})
		b.Run(sub.name+"/ReadParseTrack", func(b *testing.B) {
			benchFrames(b, feed, false, newBenchTrack(b))
		})
		b.Run(sub.name+"/SocketRead", func(b *testing.B) {
			benchFrames(b, feed, true, nil)
		})
		b.Run(sub.name+"/SocketParseTrack", func(b *testing.B) {
			benchFrames(b, feed, true, newBenchTrack(b))
		})
	}
}

func newBenchTrack(b *testing.B) func(Frame) {
	t := newTranslator(Options{}, zerolog.Nop())
	tr := ledger.NewTracker(ledger.TrackerOptions{})
	emit := func(e ledger.Event) error { tr.Observe(e); return nil }
	return func(f Frame) {
		e, err := ParseEvent(f.Body)
		if err != nil {
			b.Fatal(err)
		}
		if err := t.observe(e, emit); err != nil {
			b.Fatal(err)
		}
	}
}

func benchFrames(b *testing.B, feed *benchFeed, socket bool, handle func(Frame)) {
	var src io.Reader
	if socket {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			for r := 0; ; r++ {
				if _, err := c.Write(feed.round(r)); err != nil {
					return
				}
			}
		}()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		src = c
	}
	var r *Reader
	if socket {
		r = NewReader(src)
	}
	n := 0
	for b.Loop() {
		if !socket {
			r = NewReader(bytes.NewReader(feed.round(n)))
		}
		for got := 0; got < feed.events; {
			f, err := r.ReadFrame()
			if err != nil && !errors.Is(err, ErrUnknownContentType) {
				b.Fatal(err)
			}
			if f.ContentType() != TypeEventPlain {
				continue
			}
			got++
			if handle != nil {
				handle(f)
			}
		}
		n++
	}
	b.ReportMetric(float64(feed.events*n)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(len(feed.raw)*n)/b.Elapsed().Seconds()/1e6, "MB/s")
}
