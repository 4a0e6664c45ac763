package ledger

import (
	"context"
	"time"
)

// Watch is the task between a PBX adapter and the ledger: it feeds events
// to the tracker, records each verdict (policy and outbox in one write), and
// expires calls that never end. It returns nil when ctx ends or events is
// closed, and an error only when the ledger cannot be written (the daemon
// must not go on deciding calls it cannot record).
//
// The tracker is owned by Watch: it is not safe for concurrent use.
func (l *Ledger) Watch(ctx context.Context, events <-chan Event, t *Tracker) error {
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-events:
			if !ok {
				return nil
			}
			if err := l.Observe(t, e); err != nil {
				return err
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

// ExpireCalls records the calls t drops as expired.
func (l *Ledger) ExpireCalls(t *Tracker) error {
	for _, v := range t.Expire(l.now()) {
		l.log.Warn().Str("call", v.ID()).Str("from", l.show(v.From)).Msg("call expired undecided: its end was never seen")
		if _, err := l.Record(v); err != nil {
			return err
		}
	}
	return nil
}
