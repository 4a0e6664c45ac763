package ledger

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestGroupCommit(t *testing.T) {
	s := openTestStore(t)
	bucket := []byte("group-test")
	if err := s.db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket(bucket); return err }); err != nil {
		t.Fatal(err)
	}
	const writers = 64
	boom := errors.New("boom")
	var wg sync.WaitGroup
	errs := make([]error, writers)
	runs := make([]int, writers)
	var mu sync.Mutex
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.update(func(tx *bolt.Tx) error {
				mu.Lock()
				runs[i]++
				mu.Unlock()
				if err := tx.Bucket(bucket).Put(fmt.Appendf(nil, "k%02d", i), []byte("v")); err != nil {
					return err
				}
				if i%10 == 3 {
					return fmt.Errorf("writer %d: %w", i, boom) // after its Put: must leave nothing
				}
				return nil
			})
		}()
	}
	wg.Wait()
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		for i := range writers {
			got := b.Get(fmt.Appendf(nil, "k%02d", i)) != nil
			if i%10 == 3 {
				if !errors.Is(errs[i], boom) {
					t.Errorf("writer %d: error %v, want boom", i, errs[i])
				}
				if got {
					t.Errorf("writer %d failed but its key was committed", i)
				}
				continue
			}
			if errs[i] != nil || !got {
				t.Errorf("writer %d: error %v, key committed %v", i, errs[i], got)
			}
			if runs[i] < 1 {
				t.Errorf("writer %d never ran", i)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	commits := s.group.commits.Load()
	t.Logf("%d writers, %d commits", writers, commits)
	if commits == 0 || commits > writers+7 {
		t.Errorf("%d commits for %d writers (7 of them failing)", commits, writers)
	}
}

// TestGroupCommit_Alone: a lone writer commits at once and sees its own
// error.
func TestGroupCommit_Alone(t *testing.T) {
	s := openTestStore(t)
	want := errors.New("no")
	if err := s.update(func(tx *bolt.Tx) error { return want }); err != want {
		t.Fatalf("update = %v, want %v", err, want)
	}
	if err := s.update(func(tx *bolt.Tx) error { _, err := tx.CreateBucketIfNotExists([]byte("x")); return err }); err != nil {
		t.Fatal(err)
	}
	if n := s.group.commits.Load(); n != 2 {
		t.Fatalf("%d commits, want 2", n)
	}
}

// TestGroupCommit_Groups: writers that arrive while a commit is in
// progress share the next one.
func TestGroupCommit_Groups(t *testing.T) {
	s := openTestStore(t)
	const writers = 32
	release := make(chan struct{})
	first := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.update(func(tx *bolt.Tx) error {
			select {
			case <-first:
			default:
				close(first)
			}
			<-release // hold the commit while the others queue
			return nil
		})
	}()
	<-first
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.update(func(tx *bolt.Tx) error { return nil }); err != nil {
				t.Error(err)
			}
		}()
	}
	for {
		s.group.mu.Lock()
		n := len(s.group.pending)
		s.group.mu.Unlock()
		if n == writers {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if n := s.group.commits.Load(); n != 2 {
		t.Fatalf("%d commits for 1 + %d writers queued behind it, want 2", n, writers)
	}
}

// TestGroupCommit_Panic: a writer that panics fails alone; the next
// writers still commit.
func TestGroupCommit_Panic(t *testing.T) {
	s := openTestStore(t)
	err := s.update(func(tx *bolt.Tx) error { panic("boom") })
	if err == nil || !strings.Contains(err.Error(), "panic: boom") {
		t.Fatalf("update = %v, want the panic as an error", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.update(func(tx *bolt.Tx) error { return nil }) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a writer after a panic never committed")
	}
}

// TestRecordAll_OneBadVerdict: a verdict that cannot be recorded (its
// number's record is unreadable) fails alone; the others of its group are
// recorded.
func TestRecordAll_OneBadVerdict(t *testing.T) {
	l, clock := newTestLedger(t, nil)
	bad := "+15557654302"
	if err := l.store.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketNumbers).Put([]byte(bad), []byte("{not json"))
	}); err != nil {
		t.Fatal(err)
	}
	vs := []Verdict{missed("a", "+15557654301", clock.Now()), missed("b", bad, clock.Now()), missed("c", "+15557654303", clock.Now())}
	calls, err := l.RecordAll(vs)
	if err == nil || !strings.Contains(err.Error(), "test:b") {
		t.Fatalf("RecordAll = %v, want the bad verdict's error", err)
	}
	if len(calls) != 2 {
		t.Fatalf("%d calls recorded, want the 2 good ones", len(calls))
	}
	for _, id := range []string{"test:a", "test:c"} {
		if c, err := l.store.Call(id); err != nil || c.Action != ActionText {
			t.Errorf("call %s: %+v, %v; want recorded and texted", id, c, err)
		}
	}
	if err := l.store.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketNumbers).Delete([]byte(bad)) }); err != nil {
		t.Fatal(err) // leave a ledger the cleanup checks can read
	}
}
