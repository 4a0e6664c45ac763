package ledger

import (
	"container/heap"
	"strings"
	"time"
)

// Tracker defaults.
const (
	// DefaultMaxAge is how long a call is tracked without ending before it
	// is expired.
	DefaultMaxAge = 6 * time.Hour
	// DefaultMaxCalls is how many calls are tracked at once before the
	// oldest is evicted.
	DefaultMaxCalls = 100000
)

// decidedMemory is how many decided call ids the tracker remembers, so that
// a duplicate or late event for a decided call does not track it again.
const decidedMemory = 4096

// TrackerOptions bound the tracker's memory. Zero values take the defaults.
type TrackerOptions struct {
	// MaxAge: calls offered longer ago than this are expired by Expire
	// (default DefaultMaxAge).
	MaxAge time.Duration
	// MaxCalls: when this many calls are tracked, a new call evicts the
	// oldest one as expired (default DefaultMaxCalls).
	MaxCalls int
}

// Tracker turns the PBX-neutral events of calls into verdicts: exactly one
// per call, when the caller's channel is gone (EventEnded), or Ignored with
// ReasonExpired when the call is tracked too long or evicted.
//
// Tracker is a pure state machine: it does no I/O, starts no goroutines and
// has no clock of its own (time comes from Event.At and Expire's argument).
// It is not safe for concurrent use; one goroutine owns it.
//
// Events of one call must come in order (the adapters guarantee it); events
// of different calls may interleave freely. Calls are keyed by (PBX, Call).
type Tracker struct {
	maxAge   time.Duration
	maxCalls int

	calls   map[callKey]*trackedCall
	byAge   callHeap // the tracked calls, oldest OfferedAt first
	seq     uint64   // insertion counter, orders calls offered at the same time
	lastPBX string   // the last PBX name seen, cloned once and shared

	// evicted holds the verdicts of calls evicted by the MaxCalls cap until
	// Expire hands them out (at most maxCalls of them).
	evicted []Verdict

	// decided remembers the last decidedMemory decided calls; ring holds
	// them in order, next is where the next one goes.
	decided map[callKey]struct{}
	ring    []callKey
	next    int
}

// callKey identifies a call across PBXes.
type callKey struct{ pbx, call string }

// phase is where a tracked call is, for deciding the missed reason.
type phase uint8

const (
	phaseOffered   phase = iota // nothing happened yet
	phaseRinging                // a leg towards a person is ringing
	phaseDialEnded              // a dial ended without a connection
	phaseVoicemail              // the PBX answered with voicemail
	phaseIVR                    // the PBX answered with an IVR or greeting
	phaseQueue                  // the caller waits in a queue
)

// trackedCall is the state of one undecided call: a few strings and fields,
// no event history.
type trackedCall struct {
	key      callKey
	from     string
	line     string
	offered  time.Time
	pbxAnswd time.Time // the first PBX answer (zero: none)
	connAt   time.Time // the first person connected (zero: none)
	seq      uint64
	index    int // in Tracker.byAge
	reason   Reason
	phase    phase
	withheld bool
	// connected: a person was connected; the call is answered.
	connected bool
	// hungUp: the caller hung up; the reason is final.
	hungUp bool
	// ignore is why the call is ignored (internal, outbound), if it is.
	ignore Reason
}

// NewTracker returns an empty tracker.
func NewTracker(o TrackerOptions) *Tracker {
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.MaxCalls <= 0 {
		o.MaxCalls = DefaultMaxCalls
	}
	return &Tracker{
		maxAge:   o.MaxAge,
		maxCalls: o.MaxCalls,
		calls:    make(map[callKey]*trackedCall),
		decided:  make(map[callKey]struct{}),
	}
}

// Len reports how many calls are tracked (offered, not yet decided).
func (t *Tracker) Len() int { return len(t.calls) }

// Observe applies one event. It returns the call's verdict and true when
// the event decides the call (EventEnded of a tracked call), and false
// otherwise.
//
// Only EventOffered and EventInternal start tracking a call; other events
// for a call that is not tracked are ignored, and so is every event for a
// call decided recently (a duplicate EventEnded, a late event). Events with
// an empty Call or an unknown Kind are ignored.
//
// The tracker keeps copies of the strings it needs, never the event.
func (t *Tracker) Observe(e Event) (Verdict, bool) {
	if e.Call == "" || e.Kind == 0 || int(e.Kind) >= len(eventKindNames) {
		return Verdict{}, false
	}
	c := t.calls[callKey{e.PBX, e.Call}]
	if c == nil {
		if e.Kind != EventOffered && e.Kind != EventInternal {
			return Verdict{}, false
		}
		if _, ok := t.decided[callKey{e.PBX, e.Call}]; ok {
			return Verdict{}, false
		}
		c = t.track(e)
	} else if c.line == "" && e.Line != "" {
		c.line = strings.Clone(e.Line)
	}

	switch e.Kind {
	case EventOffered:
		// A second Offered fills what the first did not know.
		if c.from == "" && e.From != "" {
			c.from = strings.Clone(e.From)
		}
		c.withheld = c.withheld || e.Withheld
		if c.offered.IsZero() && !e.At.IsZero() {
			c.offered = e.At
			heap.Fix(&t.byAge, c.index)
		}
	case EventInternal:
		if c.ignore == "" || e.Hint != "" {
			c.ignore = internalReason(e.Hint)
		}
	case EventRinging:
		// A queue rings its members while the caller waits in it: that is
		// still the queue.
		if !c.hungUp && c.phase != phaseQueue {
			c.phase = phaseRinging
		}
	case EventConnected:
		c.connected = true
		if c.connAt.IsZero() {
			c.connAt = e.At
		}
	case EventPBXAnswered:
		if c.hungUp {
			break
		}
		// A caller waiting in a queue is still waiting for a person: the
		// queue's answer does not end the ring time; voicemail or an IVR
		// does.
		if c.pbxAnswd.IsZero() && e.Hint != ReasonQueueAbandon {
			c.pbxAnswd = e.At
		}
		c.reason = pbxAnsweredReason(e.Hint)
		c.phase = pbxPhase(c.reason)
	case EventDialEnded:
		if c.hungUp {
			break
		}
		c.reason = dialEndedReason(e.Hint)
		// In a queue, a member's leg ending leaves the caller in the queue;
		// the queue itself ends with ReasonQueueTimeout.
		if c.phase != phaseQueue || c.reason == ReasonQueueTimeout {
			c.phase = phaseDialEnded
		}
	case EventCallerHangup:
		if c.hungUp {
			break
		}
		c.hungUp = true
		switch c.phase {
		case phaseOffered, phaseRinging:
			c.reason = ReasonCallerHangup
		case phaseQueue:
			c.reason = ReasonQueueAbandon
		case phaseIVR:
			c.reason = ReasonIVRAbandon
		case phaseVoicemail:
			c.reason = ReasonVoicemail
		case phaseDialEnded:
			// The dial already failed (noanswer, busy...); the caller
			// hanging up in silence afterwards changes nothing.
		}
	case EventEnded:
		v := t.verdict(c, e.At)
		t.forget(c)
		return v, true
	}
	return Verdict{}, false
}

// Expire drops the calls offered before now minus MaxAge, and returns them
// with the calls evicted by the MaxCalls cap since the last Expire, as
// verdicts Ignored with ReasonExpired: evicted calls first, then by
// OfferedAt. A call expired or evicted is decided: its later events are
// ignored.
//
// At most MaxCalls evicted verdicts wait for Expire; more evictions than
// that between two calls are dropped without a verdict.
func (t *Tracker) Expire(now time.Time) []Verdict {
	out := t.evicted
	t.evicted = nil
	cutoff := now.Add(-t.maxAge)
	for len(t.byAge) > 0 && t.byAge[0].offered.Before(cutoff) {
		c := t.byAge[0]
		out = append(out, t.expired(c, now))
		t.forget(c)
	}
	return out
}

// track starts tracking the call e is about, evicting the oldest call when
// the tracker is full.
func (t *Tracker) track(e Event) *trackedCall {
	if len(t.calls) >= t.maxCalls && len(t.byAge) > 0 {
		old := t.byAge[0]
		if len(t.evicted) < t.maxCalls {
			t.evicted = append(t.evicted, t.expired(old, e.At))
		}
		t.forget(old)
	}
	if e.PBX != t.lastPBX {
		t.lastPBX = strings.Clone(e.PBX)
	}
	// One allocation for the strings the call keeps, so that they do not
	// pin whatever buffer the adapter sliced them from.
	var b strings.Builder
	b.Grow(len(e.Call) + len(e.From) + len(e.Line))
	b.WriteString(e.Call)
	b.WriteString(e.From)
	b.WriteString(e.Line)
	buf := b.String()
	n1, n2 := len(e.Call), len(e.Call)+len(e.From)
	t.seq++
	c := &trackedCall{
		key:      callKey{pbx: t.lastPBX, call: buf[:n1]},
		from:     buf[n1:n2],
		line:     buf[n2:],
		offered:  e.At,
		seq:      t.seq,
		withheld: e.Withheld,
	}
	t.calls[c.key] = c
	heap.Push(&t.byAge, c)
	return c
}

// forget stops tracking c and remembers that it was decided.
func (t *Tracker) forget(c *trackedCall) {
	delete(t.calls, c.key)
	heap.Remove(&t.byAge, c.index)
	if len(t.ring) < decidedMemory {
		t.ring = append(t.ring, c.key)
	} else {
		delete(t.decided, t.ring[t.next])
		t.ring[t.next] = c.key
		t.next = (t.next + 1) % decidedMemory
	}
	t.decided[c.key] = struct{}{}
}

// verdict decides c, ended at end.
func (t *Tracker) verdict(c *trackedCall, end time.Time) Verdict {
	v := c.verdictAt(end)
	switch {
	case c.ignore != "":
		v.Outcome, v.Reason = Ignored, c.ignore
	case c.connected:
		v.Outcome = Answered
	default:
		v.Outcome, v.Reason = Missed, c.reason
		if v.Reason == "" {
			v.Reason = ReasonNoAnswer
		}
	}
	return v
}

// expired is c's verdict when it is dropped undecided at end.
func (t *Tracker) expired(c *trackedCall, end time.Time) Verdict {
	v := c.verdictAt(end)
	v.Outcome, v.Reason = Ignored, ReasonExpired
	return v
}

// verdictAt fills what every verdict on c carries.
func (c *trackedCall) verdictAt(end time.Time) Verdict {
	rang := end
	for _, at := range []time.Time{c.pbxAnswd, c.connAt} {
		if !at.IsZero() && at.Before(rang) {
			rang = at
		}
	}
	return Verdict{
		PBX:       c.key.pbx,
		Call:      c.key.call,
		From:      c.from,
		Withheld:  c.withheld,
		Line:      c.line,
		OfferedAt: c.offered,
		EndedAt:   end,
		RingTime:  max(rang.Sub(c.offered), 0),
	}
}

// internalReason is the reason an EventInternal gives (default internal).
func internalReason(h Reason) Reason {
	if h == ReasonOutbound {
		return ReasonOutbound
	}
	return ReasonInternal
}

// pbxAnsweredReason is the reason an EventPBXAnswered gives (default: an
// IVR or greeting).
func pbxAnsweredReason(h Reason) Reason {
	switch h {
	case ReasonVoicemail, ReasonQueueAbandon:
		return h
	}
	return ReasonIVRAbandon
}

// pbxPhase is the phase a PBX answer with reason r starts.
func pbxPhase(r Reason) phase {
	switch r {
	case ReasonVoicemail:
		return phaseVoicemail
	case ReasonQueueAbandon:
		return phaseQueue
	}
	return phaseIVR
}

// dialEndedReason is the reason an EventDialEnded gives (default no
// answer).
func dialEndedReason(h Reason) Reason {
	switch h {
	case ReasonBusy, ReasonUnavailable, ReasonCallerHangup, ReasonQueueTimeout:
		return h
	}
	return ReasonNoAnswer
}

// callHeap orders tracked calls by OfferedAt, then by arrival; it
// implements heap.Interface.
type callHeap []*trackedCall

func (h callHeap) Len() int { return len(h) }

func (h callHeap) Less(i, j int) bool {
	if !h[i].offered.Equal(h[j].offered) {
		return h[i].offered.Before(h[j].offered)
	}
	return h[i].seq < h[j].seq
}

func (h callHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}

func (h *callHeap) Push(x any) {
	c := x.(*trackedCall)
	c.index = len(*h)
	*h = append(*h, c)
}

func (h *callHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	c.index = -1
	return c
}
