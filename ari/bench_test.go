package ari

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	ari "github.com/CyCoreSystems/ari/v5"
	"github.com/gorilla/websocket"
	"github.com/textback/textback/ledger"
)

// benchIDs matches a channel id of the captures (1795711522.0).
var benchIDs = regexp.MustCompile(`\b1[0-9]{9}\.[0-9]+\b`)

// benchFeed is every recorded trace, one after the other, with room in each
// channel id for a round number: patched in place, each round replays the
// same calls as new ones.
type benchFeed struct {
	msgs  [][]byte
	slots [][]int // per message, offsets of the 6-digit round slot
	buf   [][]byte
}

func newBenchFeed(tb testing.TB) *benchFeed {
	tb.Helper()
	f := &benchFeed{}
	for _, line := range captureLines(tb) {
		var slots []int
		var out []byte
		last := 0
		for _, m := range benchIDs.FindAllIndex(line, -1) {
			out = append(out, line[last:m[0]]...)
			slots = append(slots, len(out))
			out = append(out, "000000"...)
			last = m[0]
		}
		out = append(out, line[last:]...)
		f.msgs = append(f.msgs, out)
		f.slots = append(f.slots, slots)
		f.buf = append(f.buf, bytes.Clone(out))
	}
	return f
}

// round returns the feed with round number r written into every id.
func (f *benchFeed) round(r int) [][]byte {
	var digits [6]byte
	for i := 5; i >= 0; i-- {
		digits[i] = byte('0' + r%10)
		r /= 10
	}
	for i, slots := range f.slots {
		for _, at := range slots {
			copy(f.buf[i][at:], digits[:])
		}
	}
	return f.buf
}

// BenchmarkIngest measures the ARI side of ingest, per event: the recorded
// traces (every scenario of testdata, 20 calls a round) with fresh ids.
//
//   - LibraryDecode: ari.DecodeEvent alone, as the library reads events.
//   - DecodeTrack: decode, translate, and the tracker: textback's ingest.
//   - WebsocketRead: the same messages read off a loopback websocket and
//     dropped (the raw read baseline of issue 8).
//   - WebsocketDecodeTrack: read, decode, translate, track.
func BenchmarkIngest(b *testing.B) {
	feed := newBenchFeed(b)
	events := float64(len(feed.msgs))
	b.Run("LibraryDecode", func(b *testing.B) {
		n := 0
		for b.Loop() {
			for _, m := range feed.round(n % 1_000_000) {
				var head struct {
					Type string `json:"type"`
				}
				if err := json.Unmarshal(m, &head); err != nil {
					b.Fatal(err)
				}
				if handledSet[head.Type] {
					if _, err := ari.DecodeEvent(m); err != nil {
						b.Fatal(err)
					}
				}
			}
			n++
		}
		b.ReportMetric(events*float64(n)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("DecodeTrack", func(b *testing.B) {
		t := newTranslator(Options{Trunks: []string{"carrier"}})
		tr := ledger.NewTracker(ledger.TrackerOptions{})
		verdicts := 0
		emit := func(e ledger.Event) error {
			if _, ok := tr.Observe(e); ok {
				verdicts++
			}
			return nil
		}
		n := 0
		for b.Loop() {
			for _, m := range feed.round(n % 1_000_000) {
				if _, _, err := t.handle(m, emit); err != nil {
					b.Fatal(err)
				}
			}
			n++
		}
		if verdicts < n {
			b.Fatalf("%d verdicts in %d rounds", verdicts, n)
		}
		b.ReportMetric(events*float64(n)/b.Elapsed().Seconds(), "events/s")
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/(events*float64(n)), "ns/event")
	})
	b.Run("WebsocketRead", func(b *testing.B) {
		benchWebsocket(b, feed, nil)
	})
	b.Run("WebsocketDecodeTrack", func(b *testing.B) {
		t := newTranslator(Options{Trunks: []string{"carrier"}})
		tr := ledger.NewTracker(ledger.TrackerOptions{})
		emit := func(e ledger.Event) error { tr.Observe(e); return nil }
		benchWebsocket(b, feed, func(m []byte) error {
			_, _, err := t.handle(m, emit)
			return err
		})
	})
}

// benchWebsocket serves the feed round after round on a loopback websocket
// and reads it with handle (nil: read and drop), one round per iteration.
func benchWebsocket(b *testing.B, feed *benchFeed, handle func([]byte) error) {
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		for r := 0; ; r++ {
			for _, m := range feed.round(r % 1_000_000) {
				if err := ws.WriteMessage(websocket.TextMessage, m); err != nil {
					return
				}
			}
		}
	}))
	defer srv.Close()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer ws.Close()
	ws.SetReadLimit(MaxEventSize)
	events := len(feed.msgs)
	n := 0
	var buf bytes.Buffer
	for b.Loop() {
		for range events {
			var m []byte
			var err error
			if handle != nil {
				m, err = readMessage(ws, &buf) // as the daemon reads
			} else {
				_, m, err = ws.ReadMessage()
			}
			if err != nil {
				b.Fatal(err)
			}
			if handle != nil {
				// Rounds are read as they were written, whole: the server
				// starts a round only after the last one.
				if err := handle(m); err != nil {
					b.Fatal(err)
				}
			}
		}
		n++
	}
	b.ReportMetric(float64(events*n)/b.Elapsed().Seconds(), "events/s")
}
