package ledger

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// handoff is the dispatcher's fast lane. A new callback text that is due
// at once and finds a lane free is claimed (marked sending, attempt 1) in
// the very write that records its call, and handed to a lane after that
// write is on disk: the text reaches the driver one commit after the
// deciding event instead of two (the outbox's claim is skipped). Texts
// that find no lane free go through the outbox as before.
//
// A handed-over text is in the same state as one the dispatcher claimed:
// after a crash before the driver call it is `unknown` and not resent.
// When the dispatcher stops, texts handed over but not yet sent are put
// back in the outbox.
type handoff struct {
	// mu is held for reading from a lane's reservation to its push, and
	// for writing to close the lanes.
	mu     sync.RWMutex
	closed bool
	ch     chan Text
	free   atomic.Int64
	handed atomic.Uint64 // texts handed over so far
}

func newHandoff(lanes int) *handoff {
	h := &handoff{ch: make(chan Text, lanes)}
	h.free.Store(int64(lanes))
	return h
}

// reserve takes a free lane, if any.
func (h *handoff) reserve() bool {
	for {
		n := h.free.Load()
		if n <= 0 {
			return false
		}
		if h.free.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

// acquire returns the open handoff with its read lock held, or nil.
func (l *Ledger) acquireHandoff() *handoff {
	h := l.hand.Load()
	if h == nil {
		return nil
	}
	h.mu.RLock()
	if h.closed {
		h.mu.RUnlock()
		return nil
	}
	return h
}

// runLanes serves the fast lane until ctx ends: each lane sends what it
// is handed. On the way out it closes the lanes and puts back in the
// outbox every text handed over and not sent.
func (d *Dispatcher) runLanes(ctx context.Context, lanes int) (wait func()) {
	h := newHandoff(lanes)
	d.l.hand.Store(h)
	var wg sync.WaitGroup
	for range lanes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case t := <-h.ch:
					if ctx.Err() != nil {
						d.l.unclaim(t)
						h.free.Add(1)
						continue
					}
					d.send(ctx, t)
					h.free.Add(1)
					d.l.signal() // a retry may now be queued
				}
			}
		}()
	}
	return func() {
		wg.Wait()
		d.l.closeHandoff(h)
	}
}

// closeHandoff stops new hand-overs (waiting for any in progress) and puts
// back in the outbox what was handed over and not taken.
func (l *Ledger) closeHandoff(h *handoff) {
	h.mu.Lock()
	h.closed = true
	l.hand.CompareAndSwap(h, nil)
	h.mu.Unlock()
	for {
		select {
		case t := <-h.ch:
			l.unclaim(t)
		default:
			return
		}
	}
}

// unclaim puts a text that was claimed but never given to the driver back
// in the outbox, as it was before the claim.
func (l *Ledger) unclaim(t Text) {
	err := l.store.update(func(tx *bolt.Tx) error {
		var cur Text
		ok, err := getJSON(tx.Bucket(bucketTexts), u64(t.Seq), &cur)
		if err != nil || !ok || cur.Status != StatusSending {
			return err
		}
		old := cur
		cur.Status, cur.Attempts, cur.UpdatedAt = StatusQueued, max(cur.Attempts-1, 0), l.now()
		return setText(tx, &old, &cur)
	})
	if err != nil {
		l.log.Error().Err(fmt.Errorf("put text %d back in the outbox: %w", t.Seq, err)).Str("call", t.Call).
			Msg("a text claimed at shutdown could not be put back; it will be marked unknown at the next start")
		return
	}
	l.signal()
}
