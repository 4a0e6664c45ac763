package esl

import (
	"container/list"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/textback/textback/ledger"
)

// PBX is the name esl's events carry in ledger.Event.PBX.
const PBX = "freeswitch"

// DefaultInboundProfile is the sofia profile carrier trunks arrive on when
// Options.InboundProfiles is empty: FreeSWITCH's stock "external".
const DefaultInboundProfile = "external"

// DefaultMaxCalls is how many calls in progress esl remembers when
// Options.MaxCalls is zero.
const DefaultMaxCalls = 10000

// subscribedEvents are the events translation uses; the live connection
// subscribes to these (and HEARTBEAT) only. ReadCapture skips the others,
// so that a replayed capture is decided exactly as the live connection
// would decide it.
var subscribedEvents = []string{"CHANNEL_CREATE", "CHANNEL_BRIDGE", "CHANNEL_HANGUP_COMPLETE"}

// decidedMemory is how many decided A-legs are remembered, so that an event
// arriving after the call's CHANNEL_HANGUP_COMPLETE does not start it again.
const decidedMemory = 4096

// Options say how FreeSWITCH channels map to textback's calls. The zero
// value works for a stock FreeSWITCH.
type Options struct {
	// InboundProfiles are the sofia profiles the carrier trunks arrive on
	// (default ["external"]). Only an A-leg arriving on one of them can be
	// texted back; calls on other profiles are internal.
	InboundProfiles []string
	// LineVariable names a channel variable the public dialplan sets to the
	// number dialled (contrib/freeswitch sets textback_line). When a call
	// has it, it is the line; otherwise the line is sip_req_user, then
	// sip_to_user (both survive a transfer, unlike destination_number).
	LineVariable string
	// MaxCalls is how many calls in progress are remembered (default
	// DefaultMaxCalls); past it the oldest is forgotten. A forgotten call
	// is still decided when it ends: its CHANNEL_HANGUP_COMPLETE carries
	// everything needed.
	MaxCalls int
	// MaxAge: a call in progress not heard of for this long, by the PBX's
	// clock, is forgotten (default ledger.DefaultMaxAge).
	MaxAge time.Duration
}

// Profiles returns the inbound profiles in effect: InboundProfiles, or
// ["external"] when it is empty.
func (o Options) Profiles() []string {
	return append([]string(nil), o.withDefaults().InboundProfiles...)
}

func (o Options) withDefaults() Options {
	if len(o.InboundProfiles) == 0 {
		o.InboundProfiles = []string{DefaultInboundProfile}
	}
	if o.MaxCalls <= 0 {
		o.MaxCalls = DefaultMaxCalls
	}
	if o.MaxAge <= 0 {
		o.MaxAge = ledger.DefaultMaxAge
	}
	o.LineVariable = strings.TrimPrefix(strings.TrimSpace(o.LineVariable), "variable_")
	return o
}

// legKind is what a channel is to textback.
type legKind uint8

const (
	legOther      legKind = iota // a leg of another call (B-leg, loopback), or not a channel
	legTrunk                     // an A-leg from a carrier trunk: can be texted back
	legInternal                  // an A-leg from a phone or a profile that is not a trunk
	legOriginated                // an A-leg the PBX originated (API originate, click-to-call)
)

// leg is what is remembered of a call in progress.
type leg struct {
	uuid     string
	kind     legKind // what was emitted for it (legOther: nothing yet)
	bridged  bool    // a CHANNEL_BRIDGE was seen for it
	bridgeAt time.Time
	seen     time.Time // the PBX time it was last heard of
	elem     *list.Element
}

// translator turns FreeSWITCH events into ledger events. It decides each
// call on its A-leg's CHANNEL_HANGUP_COMPLETE, which carries every channel
// variable, so the order events arrive in does not matter: an A-leg's
// first event (whichever it is) emits EventOffered or EventInternal, a
// CHANNEL_BRIDGE is remembered, and CHANNEL_HANGUP_COMPLETE emits the rest
// of the story and EventEnded. Events for a call decided recently are
// ignored.
//
// It is not safe for concurrent use.
type translator struct {
	o        Options
	profiles map[string]bool
	log      zerolog.Logger
	show     func(string) string // formats a caller's number for logs

	calls  map[string]*leg
	bySeen list.List // *leg, least recently heard of first
	latest time.Time // the latest event time seen

	decided map[string]struct{}
	ring    []string
	next    int
}

func newTranslator(o Options, log zerolog.Logger) *translator {
	o = o.withDefaults()
	t := &translator{
		o:        o,
		profiles: make(map[string]bool, len(o.InboundProfiles)),
		log:      log,
		show:     func(s string) string { return s },
		calls:    make(map[string]*leg),
		decided:  make(map[string]struct{}),
	}
	for _, p := range o.InboundProfiles {
		t.profiles[strings.TrimSpace(p)] = true
	}
	return t
}

// observe translates one event, calling emit with each ledger event in
// order. An error from emit is returned as it is.
func (t *translator) observe(e *Event, emit func(ledger.Event) error) error {
	name := e.Name()
	switch name {
	case "CHANNEL_CREATE", "CHANNEL_BRIDGE", "CHANNEL_HANGUP_COMPLETE":
	default:
		return nil
	}
	if at := e.Time("Event-Date-Timestamp"); at.After(t.latest) {
		t.latest = at
		t.expire()
	}
	uuid := e.Get("Unique-ID")
	switch name {
	case "CHANNEL_BRIDGE":
		t.bridge(e)
	case "CHANNEL_HANGUP_COMPLETE":
		if uuid == "" {
			return nil
		}
		return t.hangupComplete(uuid, e, emit)
	}
	if uuid == "" || t.isDecided(uuid) {
		return nil
	}
	return t.start(uuid, e, emit)
}

// start emits what an A-leg's first event says about it.
func (t *translator) start(uuid string, e *Event, emit func(ledger.Event) error) error {
	k := t.classify(e)
	if k != legTrunk && k != legInternal {
		return nil // originated calls are known for sure only at their end
	}
	l := t.leg(uuid, e)
	if l.kind != legOther {
		return nil
	}
	l.kind = k
	return emit(t.first(k, uuid, e, false))
}

// first is the event that starts tracking a call of kind k. final is true
// for CHANNEL_HANGUP_COMPLETE, which always knows the line.
func (t *translator) first(k legKind, uuid string, e *Event, final bool) ledger.Event {
	ev := ledger.Event{PBX: PBX, Call: uuid, At: offeredAt(e), Leg: e.Get("Channel-Name")}
	switch k {
	case legTrunk:
		ev.Kind = ledger.EventOffered
		ev.From = callerNumber(e)
		ev.Withheld = withheld(e)
		ev.Line = t.line(e, final)
	case legInternal:
		ev.Kind, ev.Hint = ledger.EventInternal, ledger.ReasonInternal
	case legOriginated:
		ev.Kind, ev.Hint = ledger.EventInternal, ledger.ReasonOutbound
	}
	return ev
}

// bridge remembers that the channels of a CHANNEL_BRIDGE were connected.
func (t *translator) bridge(e *Event) {
	at := e.Time("Caller-Channel-Bridged-Time")
	if at.IsZero() {
		at = e.Time("Event-Date-Timestamp")
	}
	uuid := e.Get("Unique-ID")
	for _, id := range []string{uuid, e.Get("Other-Leg-Unique-ID"), e.Get("Bridge-A-Unique-ID"), e.Get("Bridge-B-Unique-ID")} {
		if id == "" || t.isDecided(id) {
			continue
		}
		l := t.calls[id]
		if l == nil {
			if id != uuid {
				continue // another channel's bridge; its own events say what it is
			}
			l = t.leg(id, e)
		}
		if !l.bridged || at.Before(l.bridgeAt) {
			l.bridged, l.bridgeAt = true, at
		}
	}
}

// hangupComplete decides the call whose channel uuid is gone.
func (t *translator) hangupComplete(uuid string, e *Event, emit func(ledger.Event) error) error {
	if t.isDecided(uuid) {
		return nil
	}
	l := t.calls[uuid]
	k := t.classify(e)
	if k == legOther {
		t.forget(l)
		return nil
	}
	var s story
	if l != nil {
		s.bridged, s.bridgeAt = l.bridged, l.bridgeAt
		s.emitted = l.kind
	}
	t.forget(l)
	t.remember(uuid)
	s.read(e)
	evs := t.storyEvents(k, uuid, e, &s)
	if k == legTrunk {
		t.log.Info().Str("call", PBX+":"+uuid).Str("from", t.show(callerNumber(e))).Bool("withheld", withheld(e)).
			Str("line", t.line(e, true)).Bool("bridged", s.connected).Str("bridged_to", e.Var("last_bridge_to")).
			Bool("pbx_answered", !s.answeredAt.IsZero()).Str("originate_disposition", s.disposition).
			Str("dialstatus", s.dialstatus).Str("sip_hangup_disposition", s.sipHangup).
			Str("hangup_cause", e.Get("Hangup-Cause")).Str("last_app", e.Var("last_app")).
			Msg("freeswitch call ended")
	}
	for _, ev := range evs {
		if err := emit(ev); err != nil {
			return err
		}
	}
	return nil
}

// storyEvents are the ledger events that tell the call's story, in order,
// ending with EventEnded.
func (t *translator) storyEvents(k legKind, uuid string, e *Event, s *story) []ledger.Event {
	line := ""
	if k == legTrunk {
		line = t.line(e, true)
	}
	ev := func(kind ledger.EventKind, at time.Time, hint ledger.Reason) ledger.Event {
		return ledger.Event{Kind: kind, PBX: PBX, Call: uuid, At: at, Line: line, Hint: hint, Leg: e.Get("Channel-Name")}
	}
	var out []ledger.Event
	switch {
	case s.emitted == legOther:
		out = append(out, t.first(k, uuid, e, true))
	case s.emitted != k:
		// Classified differently at its start (a phone authenticated
		// late): say what the end says too. The tracker ignores a call
		// once it hears it is internal, so a call that looked internal
		// at any point is never texted.
		out = append(out, t.first(k, uuid, e, true))
	case k == legTrunk && withheld(e):
		// A second Offered only adds what the first did not know.
		out = append(out, t.first(k, uuid, e, true))
	}
	if k != legTrunk {
		return append(out, ev(ledger.EventEnded, s.endedAt, ""))
	}

	offered := offeredAt(e)
	ringAt := s.progressAt
	if ringAt.IsZero() || ringAt.Before(offered) {
		ringAt = offered
	}
	switch {
	case s.connected:
		if s.dialed {
			out = append(out, ev(ledger.EventRinging, minTime(ringAt, s.bridgeAt), ""))
		}
		out = append(out, ev(ledger.EventConnected, s.bridgeAt, ""))
	case !s.answeredAt.IsZero() && !s.dialFirst():
		// The PBX answered (an IVR, a queue), then maybe rang someone.
		out = append(out, ev(ledger.EventPBXAnswered, s.answeredAt, s.pbxHint))
		if s.dialed {
			out = append(out, ev(ledger.EventRinging, maxTime(ringAt, s.answeredAt), ""))
		}
		if s.dialFailed {
			out = append(out, ev(ledger.EventDialEnded, s.endedAt, s.dialHint))
		}
	default:
		// Someone was rung (or nobody), then maybe the PBX answered: a
		// voicemail or a greeting after no answer.
		dialEnd := s.endedAt
		if !s.answeredAt.IsZero() {
			dialEnd = s.answeredAt
		}
		if s.dialed {
			out = append(out, ev(ledger.EventRinging, minTime(ringAt, dialEnd), ""))
		}
		if s.dialFailed {
			out = append(out, ev(ledger.EventDialEnded, dialEnd, s.dialHint))
		}
		if !s.answeredAt.IsZero() {
			out = append(out, ev(ledger.EventPBXAnswered, s.answeredAt, s.pbxHint))
		}
	}
	if s.queueTimeout && !s.connected {
		out = append(out, ev(ledger.EventDialEnded, s.endedAt, ledger.ReasonQueueTimeout))
	}
	if s.callerHungUp && !s.connected {
		out = append(out, ev(ledger.EventCallerHangup, s.endedAt, ""))
	}
	return append(out, ev(ledger.EventEnded, s.endedAt, ""))
}

// classify says what the channel an event is about is to textback.
func (t *translator) classify(e *Event) legKind {
	name := e.Get("Channel-Name")
	if name == "" || strings.HasPrefix(name, "loopback/") {
		return legOther
	}
	switch e.Get("Call-Direction") {
	case "inbound":
		if !strings.HasPrefix(name, "sofia/") {
			return legInternal
		}
		if strings.EqualFold(e.Var("sip_authorized"), "true") {
			return legInternal
		}
		if t.profiles[sofiaProfile(e)] {
			return legTrunk
		}
		return legInternal
	case "outbound":
		if e.Get("Other-Type") == "originator" || e.Var("originator") != "" || e.Var("originating_leg_uuid") != "" {
			return legOther // a leg some call rang
		}
		return legOriginated
	}
	return legOther
}

// line is the number dialled. Before the end of the call, with a
// LineVariable configured but not (yet) set, it is "": the dialplan may
// still set it, and the end of the call fills it in.
func (t *translator) line(e *Event, final bool) string {
	if t.o.LineVariable != "" {
		if v := e.Var(t.o.LineVariable); v != "" {
			return v
		}
		if !final {
			return ""
		}
	}
	for _, v := range []string{e.Var("sip_req_user"), e.Var("sip_to_user")} {
		if v != "" {
			return v
		}
	}
	if v := e.Get("Caller-RDNIS"); v != "" {
		return v // the destination before a transfer
	}
	return e.Get("Caller-Destination-Number")
}

// leg returns the remembered state of uuid, starting it if needed.
func (t *translator) leg(uuid string, e *Event) *leg {
	at := e.Time("Event-Date-Timestamp")
	l := t.calls[uuid]
	if l == nil {
		l = &leg{uuid: strings.Clone(uuid)}
		t.calls[l.uuid] = l
		l.elem = t.bySeen.PushBack(l)
		for len(t.calls) > t.o.MaxCalls {
			t.evict(t.bySeen.Front().Value.(*leg), "too many calls in progress")
		}
	} else {
		t.bySeen.MoveToBack(l.elem)
	}
	if at.After(l.seen) {
		l.seen = at
	}
	return l
}

// expire forgets the calls not heard of for MaxAge.
func (t *translator) expire() {
	cutoff := t.latest.Add(-t.o.MaxAge)
	for f := t.bySeen.Front(); f != nil; f = t.bySeen.Front() {
		l := f.Value.(*leg)
		if !l.seen.Before(cutoff) {
			return
		}
		t.evict(l, "not heard of for too long")
	}
}

func (t *translator) evict(l *leg, why string) {
	if l.kind != legOther {
		t.log.Debug().Str("call", PBX+":"+l.uuid).Str("why", why).Msg("forgetting a call in progress until it ends")
	}
	t.forget(l)
}

// forget drops l (which may be nil).
func (t *translator) forget(l *leg) {
	if l == nil {
		return
	}
	delete(t.calls, l.uuid)
	t.bySeen.Remove(l.elem)
}

// remember notes that uuid was decided.
func (t *translator) remember(uuid string) {
	uuid = strings.Clone(uuid)
	if len(t.ring) < decidedMemory {
		t.ring = append(t.ring, uuid)
	} else {
		delete(t.decided, t.ring[t.next])
		t.ring[t.next] = uuid
		t.next = (t.next + 1) % decidedMemory
	}
	t.decided[uuid] = struct{}{}
}

func (t *translator) isDecided(uuid string) bool {
	_, ok := t.decided[uuid]
	return ok
}

// missing returns the channels remembered that are not among live (the
// channels `show channels` lists after a reconnect): they ended while the
// connection was down, unless their CHANNEL_HANGUP_COMPLETE is still
// queued behind the reply (FreeSWITCH writes an api reply before the
// events it has queued). forgetMissing drops them later.
func (t *translator) missing(live map[string]bool) []string {
	var out []string
	for e := t.bySeen.Front(); e != nil; e = e.Next() {
		if l := e.Value.(*leg); !live[l.uuid] {
			out = append(out, l.uuid)
		}
	}
	return out
}

// forgetMissing forgets the channels of missing still remembered: their
// end was not observed. Nothing is emitted for them: a call whose end was
// not seen is never guessed. It returns the A-legs that had been announced
// to the ledger. A forgotten call is not marked decided: if its end comes
// after all, it is still decided.
func (t *translator) forgetMissing(missing []string) []string {
	var gone []string
	for _, uuid := range missing {
		l := t.calls[uuid]
		if l == nil {
			continue // decided meanwhile
		}
		if l.kind != legOther {
			gone = append(gone, l.uuid)
		}
		t.forget(l)
	}
	return gone
}

// inProgress reports how many channels are remembered.
func (t *translator) inProgress() int { return len(t.calls) }
