package ledger

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/rs/zerolog"
	bolt "go.etcd.io/bbolt"
)

// Benchmarks of the write path and of a large ledger. Compare runs with
// benchstat; the figures that matter are ratios to BenchmarkCommit, the
// bare bbolt commit measured in the same run (see contrib/BENCHMARKS.md).

func openBenchStore(b *testing.B) *Store {
	b.Helper()
	path := filepath.Join(b.TempDir(), "textback.db")
	st, err := Open(path, StoreOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

// benchPolicy is the default policy without the anti-pumping caps, which
// would skip all but the first 60 texts an hour.
func benchPolicy() Policy {
	p := DefaultPolicy()
	p.MaxPerHour, p.MaxPerDay = 0, 0
	return p
}

func newBenchLedger(b *testing.B, st *Store) *Ledger {
	b.Helper()
	clock := &testClock{now: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)}
	l, err := New(st, Config{Lines: []Line{testLine()}, Policy: benchPolicy()}, Options{Now: clock.Now, Log: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	return l
}

// benchCaller is the i-th distinct caller: every verdict is texted, none
// falls in a cooldown.
func benchCaller(i int) string { return fmt.Sprintf("+1555%07d", i%10_000_000) }

// recordBytes is the size of one texted call's records (call and text) in
// JSON, the payload of BenchmarkCommit.
func recordBytes(b *testing.B) int {
	l := newBenchLedger(b, openBenchStore(b))
	c, err := l.Record(missed("size", benchCaller(1), l.now()))
	if err != nil || c.Text == 0 {
		b.Fatalf("Record: %+v %v", c, err)
	}
	n := 0
	err = l.store.db.View(func(tx *bolt.Tx) error {
		n = len(tx.Bucket(bucketCalls).Get(u64(c.Seq))) + len(tx.Bucket(bucketTexts).Get(u64(c.Text)))
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkCommit is the baseline of the write path: one fsynced bbolt
// transaction putting as many bytes as a texted call's records, under
// sequential keys, in a file laid out like the ledger.
func BenchmarkCommit(b *testing.B) {
	size := recordBytes(b)
	st := openBenchStore(b)
	val := make([]byte, size)
	for i := range val {
		val[i] = 'a' + byte(i%26)
	}
	b.ReportAllocs()
	for b.Loop() {
		err := st.db.Update(func(tx *bolt.Tx) error {
			bk := tx.Bucket(bucketCalls)
			seq, err := bk.NextSequence()
			if err != nil {
				return err
			}
			return bk.Put(u64(seq), val)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(size), "B/commit")
}

// BenchmarkRecord is the policy and ledger write of one missed call: the
// checks, the call and its text in the outbox, one fsynced write. Group/N
// records N verdicts a write (RecordAll); ns/op is per verdict.
func BenchmarkRecord(b *testing.B) {
	for _, group := range []int{1, 8, 64, MaxGroup} {
		b.Run("Group="+strconv.Itoa(group), func(b *testing.B) {
			st := openBenchStore(b)
			l := newBenchLedger(b, st)
			now := l.now()
			vs := make([]Verdict, group)
			n := 0
			b.ReportAllocs()
			for b.Loop() {
				if n%group == 0 {
					for k := range vs {
						vs[k] = missed("b"+strconv.Itoa(n+k), benchCaller(n+k), now)
					}
				}
				n++
				if n%group != 0 {
					continue
				}
				calls, err := l.RecordAll(vs)
				if err != nil {
					b.Fatal(err)
				}
				if calls[0].Action != ActionText {
					b.Fatalf("call not texted: %+v", calls[0])
				}
			}
			b.StopTimer()
			if group == 1 && n >= 1000 {
				info, err := os.Stat(st.Path())
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(info.Size())/float64(n), "file-B/call")
			}
		})
	}
}

// millionLedger builds a ledger holding numbers numbers, one in ten opted
// out with its consent history, the rest with a callback text on record
// (a cooldown entry), as years of use would leave it.
func millionLedger(b *testing.B, numbers int) (string, []string) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "textback.db")
	st, err := Open(path, StoreOptions{})
	if err != nil {
		b.Fatal(err)
	}
	st.db.NoSync = true // building only
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	all := make([]string, 0, numbers)
	const chunk = 50_000
	for start := 0; start < numbers; start += chunk {
		err := st.db.Update(func(tx *bolt.Tx) error {
			for i := start; i < min(start+chunk, numbers); i++ {
				num := benchCaller(i * 7)
				all = append(all, num)
				if i%10 == 0 {
					if _, err := setConsent(tx, num, "main", ConsentOptedOut, SourceKeyword, "STOP", false, at); err != nil {
						return err
					}
					continue
				}
				ns := NumberState{Number: num, LastText: map[string]time.Time{"main": at.Add(time.Duration(i) * time.Second)}}
				if err := putNumber(tx, ns); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	st.db.NoSync = false
	if err := st.db.Sync(); err != nil {
		b.Fatal(err)
	}
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	return path, all
}

// BenchmarkMillion measures a ledger with a million numbers: the opt-out
// check (p50 and p99 of single lookups, half of them numbers the ledger
// has never seen) and the start-up path of the daemon (open and verify the
// file, load the rules, recover the outbox).
//
// TEXTBACK_BENCH_NUMBERS sets another size (CI's short run: 100000).
func BenchmarkMillion(b *testing.B) {
	numbers := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("TEXTBACK_BENCH_NUMBERS")); err == nil && v > 0 {
		numbers = v
	}
	path, all := millionLedger(b, numbers)
	info, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("OptedOut", func(b *testing.B) {
		st, err := Open(path, StoreOptions{})
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		lat := make([]time.Duration, 0, 1<<20)
		n, out := 0, 0
		for b.Loop() {
			num := all[(n*7919)%len(all)]
			if n%2 == 1 {
				num = benchCaller(n*7919%numbers*7 + 3) // never stored (stored ones are multiples of 7)
			}
			t0 := time.Now()
			o, err := st.OptedOut(num)
			lat = append(lat, time.Since(t0))
			if err != nil {
				b.Fatal(err)
			}
			if o {
				out++
			}
			n++
		}
		if n > 100 && out == 0 {
			b.Fatal("no opted-out number found")
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
		b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
		b.ReportMetric(float64(info.Size())/float64(numbers), "file-B/number")
	})
	b.Run("Startup", func(b *testing.B) {
		for b.Loop() {
			st, err := Open(path, StoreOptions{})
			if err != nil {
				b.Fatal(err)
			}
			l := newBenchLedger(b, st)
			if _, err := l.Recover(); err != nil {
				b.Fatal(err)
			}
			if err := st.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
