package ledger

import (
	"context"
	"time"
)

// MaxGroup is the most verdicts Watch records in one write.
const MaxGroup = 512

// maxDrain is the most events Watch takes before it writes what they
// decided: verdicts never wait behind an endless stream of other events.
const maxDrain = 4096

// Watch is the task between a PBX adapter and the ledger: it feeds events
// to the tracker, records each verdict (policy and outbox in one write), and
// expires calls that never end. It returns nil when ctx ends or events is
// closed, and an error only when the ledger cannot be written (the daemon
// must not go on deciding calls it cannot record).
//
// Verdicts are group-committed: after an event, Watch takes every event
// already waiting (up to MaxGroup verdicts, maxDrain events) before it writes, so one fsync
// carries all the calls that ended while the previous write was on its way
// to disk. An idle system writes each verdict alone, at once. Every
// verdict is on disk before its text can be sent, and before Watch
// returns.
//
// The tracker is owned by Watch: it is not safe for concurrent use.
func (l *Ledger) Watch(ctx context.Context, events <-chan Event, t *Tracker) error {
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	var group []Verdict
	observe := func(e Event) {
		if v, ok := t.Observe(e); ok {
			group = append(group, v)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-events:
			if !ok {
				return nil
			}
			observe(e)
			closed := false
		drain:
			for n := 1; len(group) < MaxGroup && n < maxDrain; n++ {
				select {
				case e, ok := <-events:
					if !ok {
						closed = true
						break drain
					}
					observe(e)
				default:
					break drain
				}
			}
			if _, err := l.RecordAll(group); err != nil {
				return err
			}
			group = group[:0]
			if closed {
				return nil
			}
		case <-tick.C:
			if err := l.ExpireCalls(t); err != nil {
				return err
			}
		}
	}
}

// Observe feeds one event to t and records the verdict it yields, if any.
func (l *Ledger) Observe(t *Tracker, e Event) error {
	v, ok := t.Observe(e)
	if !ok {
		return nil
	}
	_, err := l.Record(v)
	return err
}

// ExpireCalls records the calls t drops as expired, MaxGroup a write.
func (l *Ledger) ExpireCalls(t *Tracker) error {
	vs := t.Expire(l.now())
	for _, v := range vs {
		l.log.Warn().Str("call", v.ID()).Str("from", l.show(v.From)).Msg("call expired undecided: its end was never seen")
	}
	for len(vs) > 0 {
		n := min(len(vs), MaxGroup)
		if _, err := l.RecordAll(vs[:n]); err != nil {
			return err
		}
		vs = vs[n:]
	}
	return nil
}
