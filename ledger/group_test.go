package ledger

import (
	"errors"
	"fmt"
	"sync"
	"testing"

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
