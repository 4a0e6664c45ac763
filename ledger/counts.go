package ledger

import (
	"encoding/binary"
	"fmt"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The counts bucket keeps, in the same writes that change them, what the
// metrics report about the whole ledger: how many numbers are opted out
// and how many texts are in each status. A scrape then costs a few reads
// however large the ledger: counting them by reading every record takes
// seconds and the whole file in memory with a million numbers.
var bucketCounts = []byte("counts")

var keyOptedOut = []byte("opted_out")

var allStatuses = []TextStatus{StatusQueued, StatusSending, StatusSent, StatusDelivered, StatusFailed, StatusUnknown, StatusDropped, StatusShadow}

func textCountKey(s TextStatus) []byte { return []byte("texts/" + string(s)) }

// addCount adds delta to the counter key. Outside a ledger that has the
// bucket (a read-only open of an older file never writes) it does nothing.
func addCount(tx *bolt.Tx, key []byte, delta int64) error {
	b := tx.Bucket(bucketCounts)
	if b == nil || delta == 0 {
		return nil
	}
	var v [8]byte
	n := int64(0)
	if old := b.Get(key); len(old) == 8 {
		n = int64(binary.BigEndian.Uint64(old))
	}
	binary.BigEndian.PutUint64(v[:], uint64(n+delta))
	return b.Put(key, v[:])
}

func getCount(b *bolt.Bucket, key []byte) int {
	if v := b.Get(key); len(v) == 8 {
		return int(int64(binary.BigEndian.Uint64(v)))
	}
	return 0
}

// countText records a text's move from one status to another ("" for a
// new text).
func countText(tx *bolt.Tx, from, to TextStatus) error {
	if from == to {
		return nil
	}
	if from != "" {
		if err := addCount(tx, textCountKey(from), -1); err != nil {
			return err
		}
	}
	return addCount(tx, textCountKey(to), 1)
}

// recount builds the counts bucket from every record: once, when a ledger
// written before it existed (schema 1) is first opened read-write.
func recount(tx *bolt.Tx) error {
	if tx.Bucket(bucketCounts) != nil {
		return nil
	}
	if _, err := tx.CreateBucket(bucketCounts); err != nil {
		return fmt.Errorf("create bucket %s: %w", bucketCounts, err)
	}
	c, err := scanCounts(tx)
	if err != nil {
		return err
	}
	if err := addCount(tx, keyOptedOut, int64(c.OptedOut)); err != nil {
		return err
	}
	for s, n := range c.TextsByStatus {
		if err := addCount(tx, textCountKey(s), int64(n)); err != nil {
			return err
		}
	}
	return nil
}

// scanCounts counts by reading every number and text.
func scanCounts(tx *bolt.Tx) (Gauges, error) {
	g := Gauges{TextsByStatus: map[TextStatus]int{}}
	if err := eachRecord(tx, bucketNumbers, func(_ []byte, ns *NumberState) error {
		if ns.OptedOut {
			g.OptedOut++
		}
		return nil
	}); err != nil {
		return g, err
	}
	err := eachRecord(tx, bucketTexts, func(_ []byte, t *Text) error {
		g.TextsByStatus[t.Status]++
		return nil
	})
	return g, err
}

// Gauges is what the metrics report about the ledger as a whole.
type Gauges struct {
	FileBytes       int64
	OptedOut        int
	TextsByStatus   map[TextStatus]int
	Queued          int
	OldestQueuedAge time.Duration
}

// Gauges reads the ledger's counts (kept by every write) and the outbox
// queue: cheap at any size. A ledger opened read-only that predates the
// counts is counted record by record.
func (s *Store) Gauges() (Gauges, error) {
	var g Gauges
	err := s.db.View(func(tx *bolt.Tx) error {
		fi, err := os.Stat(s.path)
		if err != nil {
			return err
		}
		if b := tx.Bucket(bucketCounts); b != nil {
			g.TextsByStatus = map[TextStatus]int{}
			g.OptedOut = getCount(b, keyOptedOut)
			for _, st := range allStatuses {
				if n := getCount(b, textCountKey(st)); n != 0 {
					g.TextsByStatus[st] = n
				}
			}
		} else if g, err = scanCounts(tx); err != nil {
			return err
		}
		g.FileBytes = fi.Size()
		var oldest time.Time
		g.Queued, oldest, err = queueOldest(tx)
		if !oldest.IsZero() {
			g.OldestQueuedAge = s.now().Sub(oldest)
		}
		return err
	})
	if err != nil {
		return Gauges{}, fmt.Errorf("ledger gauges: %w", err)
	}
	return g, nil
}

// queueOldest counts the queue and finds when its oldest text was
// created (zero when none waits, or none says).
func queueOldest(tx *bolt.Tx) (int, time.Time, error) {
	n := 0
	var oldest time.Time
	texts := tx.Bucket(bucketTexts)
	err := tx.Bucket(bucketQueue).ForEach(func(k, _ []byte) error {
		n++
		if len(k) != 16 {
			return fmt.Errorf("queue key %x: want 16 bytes", k)
		}
		var t Text
		if _, err := getJSON(texts, k[8:], &t); err != nil {
			return err
		}
		if !t.CreatedAt.IsZero() && (oldest.IsZero() || t.CreatedAt.Before(oldest)) {
			oldest = t.CreatedAt
		}
		return nil
	})
	return n, oldest, err
}
