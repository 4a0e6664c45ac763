package ledger

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// openTestStore opens a fresh ledger in t.TempDir(). Cleanup closes it and
// fails the test if bbolt's consistency check finds anything wrong with
// the file the test left behind. A test may close the store itself.
func openTestStore(t *testing.T) *Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), "textback.db")
	st, err := Open(path, StoreOptions{})
	if err != nil {
		t.Fatalf("open test ledger: %v", err)
	}
	t.Cleanup(func() {
		checkTestStore(t, st)
		if err := st.Close(); err != nil {
			t.Errorf("close test ledger: %v", err)
		}
		checkLedgerFile(t, path)
	})
	return st
}

// checkTestStore runs bbolt's consistency check on an open store and
// reports every problem. A closed store is skipped (checkLedgerFile
// covers the file).
func checkTestStore(t *testing.T, st *Store) {
	t.Helper()
	err := st.db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() { // drain: the checker owns tx until it closes the channel
			t.Errorf("ledger %s consistency: %v", st.path, err)
		}
		return nil
	})
	if err != nil && !errors.Is(err, berrors.ErrDatabaseNotOpen) {
		t.Errorf("ledger %s consistency check: %v", st.path, err)
	}
	checkCounts(t, st)
}

// checkCounts compares the counts every write keeps with a count of the
// records themselves.
func checkCounts(t *testing.T, st *Store) {
	t.Helper()
	err := st.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCounts)
		if b == nil {
			return nil
		}
		want, err := scanCounts(tx)
		if err != nil {
			t.Logf("ledger %s: counts not compared: %v", st.path, err) // a test's deliberately broken record
			return nil
		}
		if got := getCount(b, keyOptedOut); got != want.OptedOut {
			t.Errorf("ledger %s: opted-out count %d, %d numbers opted out", st.path, got, want.OptedOut)
		}
		for _, s := range allStatuses {
			if got := getCount(b, textCountKey(s)); got != want.TextsByStatus[s] {
				t.Errorf("ledger %s: %s count %d, %d texts %s", st.path, s, got, want.TextsByStatus[s], s)
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, berrors.ErrDatabaseNotOpen) {
		t.Errorf("ledger %s counts: %v", st.path, err)
	}
}

// checkLedgerFile opens the closed ledger at path read-only with bbolt
// alone and reports every consistency problem.
func checkLedgerFile(t *testing.T, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Errorf("reopen ledger %s for the consistency check: %v", path, err)
		return
	}
	defer db.Close()
	if err := db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			t.Errorf("ledger %s consistency after close: %v", path, err)
		}
		return nil
	}); err != nil {
		t.Errorf("ledger %s consistency check: %v", path, err)
	}
}

// The seed helpers write records straight into a store's buckets, the way
// the core stores them, for tests of the store itself. Each allocates the
// record's sequence number when it is 0 and returns the record.

func seedUpdate(t *testing.T, st *Store, fn func(tx *bolt.Tx) error) {
	t.Helper()
	if err := st.db.Update(fn); err != nil {
		t.Fatalf("seed ledger: %v", err)
	}
}

// seedCall stores c and its id index.
func seedCall(t *testing.T, st *Store, c Call) Call {
	t.Helper()
	seedUpdate(t, st, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCalls)
		if c.Seq == 0 {
			c.Seq, _ = b.NextSequence()
		}
		if err := putJSON(b, u64(c.Seq), c); err != nil {
			return err
		}
		return tx.Bucket(bucketCallIDs).Put([]byte(c.ID), u64(c.Seq))
	})
	return c
}

// seedText stores tx in the outbox, and in the queue when it is queued.
func seedText(t *testing.T, st *Store, text Text) Text {
	t.Helper()
	seedUpdate(t, st, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTexts)
		if text.Seq == 0 {
			text.Seq, _ = b.NextSequence()
		}
		if err := putNewText(tx, &text); err != nil {
			return err
		}
		if text.Status.Pending() {
			return tx.Bucket(bucketQueue).Put(queueKey(text.NotBefore, text.Seq), nil)
		}
		return nil
	})
	return text
}

// seedMessage stores an inbound message and its provider id index.
func seedMessage(t *testing.T, st *Store, m Message) Message {
	t.Helper()
	seedUpdate(t, st, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMessages)
		if m.Seq == 0 {
			m.Seq, _ = b.NextSequence()
		}
		if err := putJSON(b, u64(m.Seq), m); err != nil {
			return err
		}
		return tx.Bucket(bucketMsgIDs).Put([]byte(m.Provider+"\x00"+m.ProviderID), u64(m.Seq))
	})
	return m
}

// seedConsent appends e to the consent history and sets the number's
// state to match.
func seedConsent(t *testing.T, st *Store, e ConsentEvent) ConsentEvent {
	t.Helper()
	seedUpdate(t, st, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketConsent)
		if e.Seq == 0 {
			e.Seq, _ = b.NextSequence()
		}
		if err := putJSON(b, consentKey(e.Number, e.Seq), e); err != nil {
			return err
		}
		ns, err := getNumber(tx, e.Number)
		if err != nil {
			return err
		}
		ns.OptedOut, ns.Changed = e.State == ConsentOptedOut, e.At
		return putNumber(tx, ns)
	})
	return e
}

// seedRate sets the rate counter of line ("" global) for the hour at
// falls in.
func seedRate(t *testing.T, st *Store, line string, at time.Time, n uint64) {
	t.Helper()
	seedUpdate(t, st, func(tx *bolt.Tx) error {
		k := append(append([]byte(line), 0), u64(uint64(at.Unix()/3600))...)
		return tx.Bucket(bucketRates).Put(k, u64(n))
	})
}

// dumpBucket returns a copy of every key and value of bucket.
func dumpBucket(t *testing.T, st *Store, bucket []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	if err := st.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
			out[string(k)] = string(v)
			return nil
		})
	}); err != nil {
		t.Fatalf("dump bucket %s: %v", bucket, err)
	}
	return out
}
