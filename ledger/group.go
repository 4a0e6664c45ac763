package ledger

import (
	"errors"
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// groupCommit runs write functions from many goroutines in shared,
// fsynced bbolt transactions: a caller that finds no write in progress
// commits its own function at once, together with every function that
// arrived while it waited for the previous commit. Unlike bolt.DB.Batch
// it never waits for a timer, so an idle system pays one commit and a
// busy one pays one commit per group.
//
// A function may run more than once (when another function of its group
// fails, the group is rolled back and run again without it), so it must
// be idempotent and set its results afresh on each run.
type groupCommit struct {
	mu      sync.Mutex
	busy    bool
	pending []*commitReq
	commits atomic.Uint64 // transactions committed or tried
}

type commitReq struct {
	fn   func(*bolt.Tx) error
	err  error
	done chan struct{}
}

// errFailedInGroup marks the function that made its group roll back.
var errFailedInGroup = errors.New("failed in group")

// update runs fn in a write transaction shared with concurrent callers and
// returns once that transaction is on disk (or fn's error, or the
// commit's).
func (g *groupCommit) update(db *bolt.DB, fn func(*bolt.Tx) error) error {
	r := &commitReq{fn: fn, done: make(chan struct{})}
	g.mu.Lock()
	g.pending = append(g.pending, r)
	if g.busy {
		g.mu.Unlock()
		<-r.done
		return r.err
	}
	g.busy = true
	for len(g.pending) > 0 {
		group := g.pending
		g.pending = nil
		g.mu.Unlock()
		g.commitGroup(db, group)
		g.mu.Lock()
	}
	g.busy = false
	g.mu.Unlock()
	<-r.done
	return r.err
}

// commitGroup commits group's functions in one transaction, leaving out
// (and failing) each one that returns an error, and closes every done.
func (g *groupCommit) commitGroup(db *bolt.DB, group []*commitReq) {
	for len(group) > 0 {
		g.commits.Add(1)
		failed := -1
		err := recovered(writePanic, func() error {
			return db.Update(func(tx *bolt.Tx) error {
				for i, r := range group {
					if err := recovered(writePanic, func() error { return r.fn(tx) }); err != nil {
						failed, r.err = i, err
						return errFailedInGroup
					}
				}
				return nil
			})
		})
		if failed >= 0 {
			r := group[failed]
			close(r.done)
			group = append(group[:failed:failed], group[failed+1:]...)
			continue
		}
		for _, r := range group {
			r.err = err
			close(r.done)
		}
		return
	}
}

// writePanic is what recovered says of a panic in a group's write.
const writePanic = "write failed: panic"
