package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	"github.com/textback/textback/esl"
	bolt "go.etcd.io/bbolt"
)

// recordSize is about what one texted call puts in the ledger (its call
// and text records in JSON; see BenchmarkCommit in ledger).
const recordSize = 700

// latencies summarises durations.
type latencies struct {
	N             int
	P50, P99, Max time.Duration
	Mean          time.Duration
}

func summarize(ds []time.Duration) latencies {
	if len(ds) == 0 {
		return latencies{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return latencies{N: len(s), P50: s[len(s)/2], P99: s[(len(s)*99)/100], Max: s[len(s)-1], Mean: sum / time.Duration(len(s))}
}

// commitBaseline times n bare bbolt commits, each putting recordSize bytes
// under a new sequential key, fsync on, in a new file in dir: the floor of
// textback's write path on this disk. every > 0 paces them, one each
// every, until ctx ends or n are done: the same floor under the load's
// conditions (a disk and CPUs idle between calls, textback's own writes).
func commitBaseline(ctx context.Context, dir, name string, n int, every time.Duration) (latencies, error) {
	path := filepath.Join(dir, name)
	defer os.Remove(path)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return latencies{}, fmt.Errorf("baseline ledger: %w", err)
	}
	defer db.Close()
	val := make([]byte, recordSize)
	for i := range val {
		val[i] = 'a' + byte(i%26)
	}
	var ds []time.Duration
	var tick <-chan time.Time
	if every > 0 {
		t := time.NewTicker(every)
		defer t.Stop()
		tick = t.C
	}
	for range n {
		if tick != nil {
			select {
			case <-ctx.Done():
				return summarize(ds), nil
			case <-tick:
			}
		}
		t0 := time.Now()
		err := db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("calls"))
			if err != nil {
				return err
			}
			seq, _ := b.NextSequence()
			var k [8]byte
			binary.BigEndian.PutUint64(k[:], seq)
			return b.Put(k[:], val)
		})
		if err != nil {
			return latencies{}, fmt.Errorf("baseline commit: %w", err)
		}
		ds = append(ds, time.Since(t0))
	}
	return summarize(ds), nil
}

// rawReadBaseline is the raw read of ingest: the same calls' messages, as
// the fake PBX writes them, read off a loopback connection and dropped by
// the plainest client (a websocket reader for ARI, a frame reader for the
// event socket), for d. It returns events a second.
func rawReadBaseline(pbx string, missed, other []*template, area string, d time.Duration) (float64, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var p fakePBX
	var read func() error
	switch pbx {
	case "asterisk":
		ap := newARIPBX()
		p = ap
		u := "ws" + strings.TrimPrefix(ap.s.URL, "http") + "/ari/events?app=baseline"
		h := http.Header{}
		h.Set("Authorization", "Basic "+basic("textback", "secret"))
		ws, _, err := websocket.DefaultDialer.Dial(u, h)
		if err != nil {
			return 0, fmt.Errorf("baseline websocket: %w", err)
		}
		defer ws.Close()
		read = func() error { _, _, err := ws.ReadMessage(); return err }
	default:
		ep, err := newESLPBX()
		if err != nil {
			return 0, err
		}
		p = ep
		c, err := net.Dial("tcp", ep.s.Addr())
		if err != nil {
			return 0, err
		}
		defer c.Close()
		r := esl.NewReader(bufio.NewReader(c))
		// auth/request, then auth and subscribe as textback does.
		if _, err := r.ReadFrame(); err != nil {
			return 0, err
		}
		fmt.Fprintf(c, "auth %s\n\n", eslPassword)
		if _, err := r.ReadFrame(); err != nil {
			return 0, err
		}
		fmt.Fprint(c, "event plain CHANNEL_CREATE CHANNEL_BRIDGE CHANNEL_HANGUP_COMPLETE\n\n")
		if _, err := r.ReadFrame(); err != nil {
			return 0, err
		}
		if err := waitFor(ctx, func() bool { return ep.s.Ready() > 0 }); err != nil {
			return 0, err
		}
		read = func() error {
			for {
				f, err := r.ReadFrame()
				if err != nil && !errors.Is(err, esl.ErrUnknownContentType) {
					return err
				}
				if f.ContentType() == esl.TypeEventPlain {
					return nil
				}
			}
		}
	}
	defer p.close()
	em := newEmitter(p, missed, other, area, 99)
	go em.run(ctx, 0, 0.25, d+time.Second, 0)
	// Warm up, then count for d.
	if err := read(); err != nil {
		return 0, err
	}
	n := 0
	t0 := time.Now()
	for time.Since(t0) < d {
		if err := read(); err != nil {
			if err == io.EOF {
				break
			}
			return 0, fmt.Errorf("baseline read: %w", err)
		}
		n++
	}
	return float64(n) / time.Since(t0).Seconds(), nil
}

func basic(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
}
