package ledger

import (
	"path/filepath"
	"strconv"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestGauges: the counts kept by the writes give what reading every
// record gives, also for a ledger written before the counts existed
// (rebuilt at its first read-write open).
func TestGauges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "textback.db")
	st, err := Open(path, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := New(st, Config{Lines: []Line{testLine()}, Policy: DefaultPolicy()}, Options{Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i, from := range []string{"+15557654301", "+15557654302", "+15557654303"} {
		if _, err := l.Record(missed("g"+string(rune('a'+i)), from, now)); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"+15557654302", "+15557654399"} {
		if _, err := l.OptOut(n, "", "test"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.OptIn("+15557654399", "", "test"); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		g, err := st.Gauges()
		if err != nil {
			t.Fatal(err)
		}
		full, err := st.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if g.OptedOut != 1 || full.OptedOut != 1 || g.Queued != full.Queued || g.Queued != 3 || g.FileBytes != full.FileBytes {
			t.Errorf("%s: gauges %+v, stats opted out %d queued %d", when, g, full.OptedOut, full.Queued)
		}
		for _, s := range allStatuses {
			if g.TextsByStatus[s] != full.TextsByStatus[s] {
				t.Errorf("%s: %s: gauges %d, stats %d", when, s, g.TextsByStatus[s], full.TextsByStatus[s])
			}
		}
	}
	check("kept by the writes")

	// A schema 1 ledger: no counts bucket.
	if err := st.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketMeta).Put([]byte("schema"), []byte("1")); err != nil {
			return err
		}
		return tx.DeleteBucket(bucketCounts)
	}); err != nil {
		t.Fatal(err)
	}
	check("counted record by record")
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if st, err = Open(path, StoreOptions{}); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketCounts) == nil {
			t.Error("the counts were not rebuilt at open")
		}
		if v := string(tx.Bucket(bucketMeta).Get([]byte("schema"))); v != strconv.Itoa(SchemaVersion) {
			t.Errorf("schema %s after the migration, want %d", v, SchemaVersion)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	check("rebuilt at open")
	checkCounts(t, st)
}
