package main

import (
	"container/heap"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// call is one generated call: a template replayed with fresh ids and a
// caller number no other call of the run has.
type call struct {
	t      *template
	n      uint64
	digits []byte // the caller's ten digits
	e164   string
	due    time.Time // when the next message is due
	step   time.Duration
	next   int

	held     bool      // one of -hold's calls, not part of the load's figures
	epoch    int       // the PBX connection that got the first message
	split    bool      // messages went to more than one connection
	dropped  bool      // a message found no connection
	decideAt time.Time // when the deciding message was written
	firstAt  time.Time // when the first message was written
	lastAt   time.Time // when the last message so far was written
}

// seen reports whether one daemon connection got every message of c:
// only then can textback know the call.
func (c *call) seen() bool { return !c.split && !c.dropped && c.next == len(c.t.msgs) }

// emitter replays calls to the fake PBX on a schedule.
type emitter struct {
	pbx    fakePBX
	missed []*template
	other  []*template
	area   string // the callers' area code
	rng    *rand.Rand

	mu    sync.Mutex
	calls []*call
	sent  int // messages written
	n     uint64
	buf   []byte
}

func newEmitter(pbx fakePBX, missed, other []*template, area string, seed uint64) *emitter {
	return &emitter{pbx: pbx, missed: missed, other: other, area: area, rng: rand.New(rand.NewPCG(seed, 1))}
}

// newCall makes the next call: a missed one unless the draw says other.
func (e *emitter) newCall(other bool, at time.Time, span time.Duration) *call {
	e.n++
	ts := e.missed
	if other && len(e.other) > 0 {
		ts = e.other
	}
	t := ts[e.rng.IntN(len(ts))]
	// A valid number for each call: exchange 200-999, 8 million callers.
	k := e.n % 8_000_000
	digits := fmt.Appendf(nil, "%s%03d%04d", e.area, 200+k/10_000, k%10_000)
	c := &call{t: t, n: e.n, digits: digits, e164: "+1" + string(digits), due: at}
	if len(t.msgs) > 1 {
		c.step = span / time.Duration(len(t.msgs)-1)
	}
	e.mu.Lock()
	e.calls = append(e.calls, c)
	e.mu.Unlock()
	return c
}

// emit writes c's next message and schedules the one after.
func (e *emitter) emit(c *call) {
	e.buf = c.t.instance(e.buf[:0], c.next, c.n, c.digits)
	at := time.Now()
	epoch, err := e.pbx.send(e.buf)
	e.mu.Lock()
	if c.next == c.t.decide {
		c.decideAt = at
	}
	if c.firstAt.IsZero() {
		c.firstAt = at
	}
	c.lastAt = at
	switch {
	case err != nil:
		c.dropped = true
	case c.epoch == 0:
		c.epoch = epoch
	case epoch != c.epoch:
		c.split = true
	}
	e.sent++
	c.next++
	e.mu.Unlock()
	c.due = c.due.Add(c.step)
}

// schedule is the calls in flight, soonest message first.
type schedule []*call

func (s schedule) Len() int           { return len(s) }
func (s schedule) Less(i, j int) bool { return s[i].due.Before(s[j].due) }
func (s schedule) Swap(i, j int)      { s[i], s[j] = s[j], s[i] }
func (s *schedule) Push(x any)        { *s = append(*s, x.(*call)) }
func (s *schedule) Pop() any {
	old := *s
	c := old[len(old)-1]
	*s = old[:len(old)-1]
	return c
}

// run starts missed calls at rate a second (0: as fast as the PBX
// connection takes them) for d, plus a share mix of other calls, each
// call's messages spread over span. It returns when every call started
// has sent its last message, or ctx ends.
func (e *emitter) run(ctx context.Context, rate float64, mix float64, d, span time.Duration) {
	total := rate / (1 - mix)
	t0 := time.Now()
	end := t0.Add(d)
	var s schedule
	started := 0
	for {
		now := time.Now()
		if ctx.Err() != nil {
			return
		}
		// Start the calls now due.
		for now.Before(end) {
			at := t0
			if rate > 0 {
				at = t0.Add(time.Duration(float64(started) / total * float64(time.Second)))
				if at.After(now) {
					break
				}
			} else if len(s) > 256 {
				break // unpaced: keep a bounded number in flight
			}
			c := e.newCall(e.rng.Float64() < mix, at, span)
			if rate <= 0 {
				c.step = 0
			}
			heap.Push(&s, c)
			started++
		}
		if len(s) == 0 {
			if !now.Before(end) {
				return
			}
			time.Sleep(time.Until(t0.Add(time.Duration(float64(started) / total * float64(time.Second)))))
			continue
		}
		c := s[0]
		if wait := time.Until(c.due); wait > 0 {
			next := c.due
			if rate > 0 && now.Before(end) {
				if at := t0.Add(time.Duration(float64(started) / total * float64(time.Second))); at.Before(next) {
					next = at
				}
			}
			if w := time.Until(next); w > 0 {
				time.Sleep(w)
			}
			continue
		}
		e.emit(c)
		if c.next == len(c.t.msgs) {
			heap.Pop(&s)
		} else {
			heap.Fix(&s, 0)
		}
	}
}

// hold starts n calls and sends each up to (not including) its deciding
// message, as fast as the connection takes them: n calls in flight at
// once. finish sends the rest.
func (e *emitter) hold(n int) []*call {
	var cs []*call
	for range n {
		c := e.newCall(false, time.Now(), 0)
		c.held = true
		for c.next < c.t.decide {
			e.emit(c)
		}
		cs = append(cs, c)
	}
	return cs
}

func (e *emitter) finish(cs []*call) {
	for _, c := range cs {
		for c.next < len(c.t.msgs) {
			e.emit(c)
		}
	}
}

// snapshot returns the calls so far and how many messages were written.
func (e *emitter) snapshot() ([]call, int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]call, len(e.calls))
	for i, c := range e.calls {
		out[i] = *c
	}
	return out, e.sent
}
