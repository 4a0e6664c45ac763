package ari

import (
	"container/list"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/CyCoreSystems/ari/v5"
	"github.com/textback/textback/ledger"
)

// PBX is the name the events carry in ledger.Event.PBX.
const PBX = "asterisk"

// The channel variables textback asks for in ari.conf (channelvars).
const (
	VarLinkedID = "CHANNEL(linkedid)"
	VarPres     = "CALLERID(pres)"
)

// handledTypes are the event types the translation reads. The event filter
// allows these and ApplicationReplaced.
var handledTypes = []string{
	"ChannelCreated", "ChannelDestroyed", "ChannelStateChange", "ChannelDialplan",
	"ChannelVarset", "ChannelHangupRequest", "ChannelCallerId", "Dial",
	"ChannelEnteredBridge", "ChannelLeftBridge", "BridgeDestroyed", "BridgeMerged",
}

// knownTypes is the set of event types ari/v5 knows (ari.Events).
var knownTypes = sync.OnceValue(func() map[string]bool {
	m := map[string]bool{}
	v := reflect.ValueOf(ari.Events)
	for i := range v.NumField() {
		if f := v.Field(i); f.Kind() == reflect.String && f.String() != "all" {
			m[f.String()] = true
		}
	}
	return m
})

var handledSet = func() map[string]bool {
	m := map[string]bool{}
	for _, t := range handledTypes {
		m[t] = true
	}
	return m
}()

// result says what the translation did with one message.
type result uint8

const (
	resHandled  result = iota // a type the translation reads; applied
	resIgnored                // a type ari/v5 knows that textback does not need
	resUnknown                // a type ari/v5 does not know: skipped
	resReplaced               // ApplicationReplaced: another websocket took the app
)

// DecodeError is a message that is not an ARI event textback can read:
// not JSON, not an object, no "type", or fields of the wrong shape.
type DecodeError struct {
	Type string // the event type, when it could be read
	Err  error
}

func (e *DecodeError) Error() string {
	if e.Type != "" {
		return "undecodable " + e.Type + " event: " + e.Err.Error()
	}
	return "undecodable ARI event: " + e.Err.Error()
}

func (e *DecodeError) Unwrap() error { return e.Err }

// callKind says how a call started.
type callKind uint8

const (
	callInbound    callKind = iota // a trunk channel rang in: Offered
	callInternal                   // a phone called
	callOriginated                 // the PBX originated it
	callOutbound                   // an internal call went out through a trunk
)

// call is one call being followed: the channels of its legs point to it.
type call struct {
	id       string
	root     *channel // the caller's channel; the call ends when it goes
	kind     callKind
	from     string
	withheld bool

	connected bool // a person was reached
	voicemail bool // voicemail answered
	queue     bool // the caller entered a queue
	pbxUp     bool // the PBX answered (IVR, greeting)
	hungUp    bool // the caller hung up
	ended     bool
}

// channel is one Asterisk channel the translation knows.
type channel struct {
	id, name string
	trunk    bool // created by a trunk endpoint
	real     bool // may carry a person (not Local or another pseudo-channel)
	call     *call
	partner  *channel // the other half of a Local channel
	bridge   *bridge
	elem     *list.Element // in translator.order
}

// bridge is a set of channels talking to each other.
type bridge struct {
	id      string
	holding bool // a holding bridge (parking, waiting): nobody talks
	members map[string]*channel
}

// translator turns ARI events into ledger events. It is not safe for
// concurrent use; it does no I/O and reads no clock.
type translator struct {
	trunks trunkMatcher
	max    int

	chans   map[string]*channel
	order   list.List // *channel, oldest first
	locals  map[string]*channel
	bridges map[string]*bridge
	calls   map[string]*call // by call id, while the caller's channel lives
	last    time.Time        // the latest event time seen

	// what the Source reports
	sawChannel      bool // a channel snapshot was seen
	missingLinkedID bool // a snapshot lacked CHANNEL(linkedid)
	missingPres     bool // a snapshot lacked CALLERID(pres)
	evicted         int

	emit func(ledger.Event) error
	err  error // the first emit error of the message being handled
}

func newTranslator(o Options) *translator {
	limit := o.MaxChannels
	if limit <= 0 {
		limit = DefaultMaxChannels
	}
	return &translator{
		trunks:  newTrunkMatcher(o.Trunks),
		max:     limit,
		chans:   map[string]*channel{},
		locals:  map[string]*channel{},
		bridges: map[string]*bridge{},
		calls:   map[string]*call{},
	}
}

// handle reads one ARI event and passes the ledger events it means to emit,
// in order. It returns the event's type and what it did with it; a
// message it cannot read is a *DecodeError and changes nothing. An error
// from emit is returned as it is, after the message is fully applied.
func (t *translator) handle(msg []byte, emit func(ledger.Event) error) (string, result, error) {
	typ, ev, err := decodeEvent(msg)
	switch {
	case err != nil:
		return typ, 0, err
	case typ == "ApplicationReplaced":
		return typ, resReplaced, nil
	case ev == nil:
		if knownTypes()[typ] {
			return typ, resIgnored, nil
		}
		return typ, resUnknown, nil
	}
	t.emit, t.err = emit, nil
	defer func() { t.emit = nil }()
	t.apply(ev)
	return typ, resHandled, t.err
}

// send passes one ledger event on, keeping the first error.
func (t *translator) send(e ledger.Event) {
	if t.err != nil || t.emit == nil {
		return
	}
	e.PBX = PBX
	if e.At.IsZero() {
		e.At = t.last
	}
	t.err = t.emit(e)
}

func (t *translator) at(d ari.EventData) time.Time {
	at := time.Time(d.Timestamp)
	if !at.IsZero() && at.After(t.last) {
		t.last = at
	}
	if at.IsZero() {
		return t.last
	}
	return at
}

func (t *translator) apply(ev ari.Event) {
	switch e := ev.(type) {
	case *ari.ChannelCreated:
		t.created(t.at(e.EventData), &e.Channel)
	case *ari.ChannelDestroyed:
		t.destroyed(t.at(e.EventData), &e.Channel)
	case *ari.ChannelStateChange:
		t.stateChanged(t.at(e.EventData), &e.Channel)
	case *ari.ChannelDialplan:
		t.dialplan(t.at(e.EventData), &e.Channel, e.DialplanApp)
	case *ari.ChannelVarset:
		t.varset(t.at(e.EventData), &e.Channel, e.Variable, e.Value)
	case *ari.ChannelHangupRequest:
		t.hangupRequest(t.at(e.EventData), &e.Channel, e.Soft)
	case *ari.ChannelCallerID:
		t.callerID(t.at(e.EventData), &e.Channel, e.CallerPresentationTxt)
	case *ari.Dial:
		t.dial(t.at(e.EventData), &e.Caller, &e.Peer, e.Dialstatus)
	case *ari.ChannelEnteredBridge:
		t.enteredBridge(t.at(e.EventData), &e.Bridge, &e.Channel)
	case *ari.ChannelLeftBridge:
		t.at(e.EventData)
		t.leftBridge(&e.Bridge, &e.Channel)
	case *ari.BridgeDestroyed:
		t.at(e.EventData)
		t.bridgeDestroyed(e.Bridge.ID)
	case *ari.BridgeMerged:
		t.bridgeMerged(t.at(e.EventData), &e.Bridge, &e.BridgeFrom)
	}
}

// live returns the call ch is a leg of, if it is still followed.
func live(ch *channel) *call {
	if ch == nil || ch.call == nil || ch.call.ended {
		return nil
	}
	return ch.call
}

// inbound returns the inbound call ch belongs to, if any.
func inbound(ch *channel) *call {
	if c := live(ch); c != nil && c.kind == callInbound {
		return c
	}
	return nil
}

// isRoot reports whether ch is the caller's channel of an inbound call.
func isRoot(ch *channel) *call {
	if c := inbound(ch); c != nil && c.root == ch {
		return c
	}
	return nil
}

func (t *translator) created(at time.Time, d *ari.ChannelData) {
	if d.ID == "" || t.chans[d.ID] != nil {
		return
	}
	t.sawChannel = true
	linked, hasLinked := d.ChannelVars[VarLinkedID]
	if !hasLinked {
		t.missingLinkedID = true
	}
	if _, ok := d.ChannelVars[VarPres]; !ok {
		t.missingPres = true
	}
	tech, ep := splitName(d.Name)
	ch := &channel{
		id:    d.ID,
		name:  d.Name,
		trunk: t.trunks.match(tech, ep),
		real:  tech != "" && !pseudoTechs[strings.ToLower(tech)],
	}
	t.remember(ch)
	if base, half, ok := localBase(d.Name); ok {
		if other := t.locals[base]; other != nil && other != ch && !strings.HasSuffix(other.name, string([]byte{';', half})) {
			ch.partner, other.partner = other, ch
			delete(t.locals, base)
		} else {
			t.locals[base] = ch
		}
	}

	// Which call is this a leg of?
	if hasLinked && linked != "" && linked != d.ID {
		if c := t.calls[linked]; c != nil {
			t.join(ch, c)
		}
		return
	}
	if ch.partner != nil && live(ch.partner) != nil {
		t.join(ch, ch.partner.call)
		return
	}
	ringing := d.State == "Ring" && ch.real
	var kind callKind
	switch {
	case ringing && ch.trunk:
		kind = callInbound
	case ringing:
		kind = callInternal
	case hasLinked && linked == d.ID:
		// Created by no other channel and not ringing in: an originate.
		kind = callOriginated
	default:
		// A leg of a call to be learnt from a Dial or its Local partner.
		return
	}
	c := &call{id: d.ID, root: ch, kind: kind}
	if hasLinked && linked != "" {
		c.id = linked
	}
	t.calls[c.id] = c
	ch.call = c
	switch kind {
	case callInbound:
		if d.Caller != nil {
			c.from = d.Caller.Number
		}
		c.withheld = prohibited(d.ChannelVars[VarPres])
		var line string
		if d.Dialplan != nil {
			line = d.Dialplan.Exten
		}
		t.send(ledger.Event{Kind: ledger.EventOffered, Call: c.id, At: at, From: c.from, Withheld: c.withheld, Line: line, Leg: ch.name})
	case callInternal:
		t.send(ledger.Event{Kind: ledger.EventInternal, Call: c.id, At: at, Hint: ledger.ReasonInternal, Leg: ch.name})
	case callOriginated:
		t.send(ledger.Event{Kind: ledger.EventInternal, Call: c.id, At: at, Hint: ledger.ReasonOutbound, Leg: ch.name})
	}
}

// join makes ch (and its Local partner) a leg of c.
func (t *translator) join(ch *channel, c *call) {
	if ch.call != nil || c == nil || c.ended {
		return
	}
	ch.call = c
	if ch.trunk && c.kind == callInternal {
		// A phone's call leaves through a trunk.
		c.kind = callOutbound
		t.send(ledger.Event{Kind: ledger.EventInternal, Call: c.id, At: t.last, Hint: ledger.ReasonOutbound, Leg: ch.name})
	}
	if ch.partner != nil {
		t.join(ch.partner, c)
	}
}

// remember adds ch, forgetting the oldest channel when full.
func (t *translator) remember(ch *channel) {
	for len(t.chans) >= t.max {
		old := t.order.Front()
		if old == nil {
			break
		}
		t.forget(old.Value.(*channel))
		t.evicted++
	}
	t.chans[ch.id] = ch
	ch.elem = t.order.PushBack(ch)
}

// forget drops ch and everything that points to it; a call whose caller's
// channel it was ends without a verdict event.
func (t *translator) forget(ch *channel) {
	delete(t.chans, ch.id)
	if ch.elem != nil {
		t.order.Remove(ch.elem)
		ch.elem = nil
	}
	if ch.partner != nil {
		ch.partner.partner = nil
		ch.partner = nil
	}
	if base, _, ok := localBase(ch.name); ok && t.locals[base] == ch {
		delete(t.locals, base)
	}
	if ch.bridge != nil {
		t.unbridge(ch)
	}
	if c := ch.call; c != nil && c.root == ch {
		c.ended = true
		delete(t.calls, c.id)
	}
}

func (t *translator) destroyed(at time.Time, d *ari.ChannelData) {
	ch := t.chans[d.ID]
	if ch == nil {
		return
	}
	if c := live(ch); c != nil && c.root == ch {
		t.send(ledger.Event{Kind: ledger.EventEnded, Call: c.id, At: at, Leg: ch.name})
	}
	t.forget(ch)
}

func (t *translator) stateChanged(at time.Time, d *ari.ChannelData) {
	ch := t.chans[d.ID]
	c := isRoot(ch)
	if c == nil {
		return
	}
	t.withheldFrom(at, c, d.ChannelVars[VarPres])
	if d.State != "Up" || c.connected || c.voicemail || c.queue || c.pbxUp {
		return
	}
	// Answered, and no person reached: the dialplan answered (an IVR, a
	// greeting, an announcement).
	c.pbxUp = true
	t.send(ledger.Event{Kind: ledger.EventPBXAnswered, Call: c.id, At: at, Hint: ledger.ReasonIVRAbandon, Leg: ch.name})
}

// dialplan: the caller's side runs an application. Only the caller's
// channel and the dialplan half of Local channels run the caller's
// dialplan; dialled phones show AppDial or AppQueue.
func (t *translator) dialplan(at time.Time, d *ari.ChannelData, app string) {
	ch := t.chans[d.ID]
	c := inbound(ch)
	if c == nil || c.connected || c.hungUp {
		return
	}
	if ch != c.root {
		if _, half, ok := localBase(ch.name); !ok || half != '2' {
			return
		}
	}
	switch app {
	case "VoiceMail":
		if !c.voicemail {
			c.voicemail = true
			t.send(ledger.Event{Kind: ledger.EventPBXAnswered, Call: c.id, At: at, Hint: ledger.ReasonVoicemail, Leg: ch.name})
		}
	case "Queue":
		if !c.queue {
			c.queue = true
			t.send(ledger.Event{Kind: ledger.EventPBXAnswered, Call: c.id, At: at, Hint: ledger.ReasonQueueAbandon, Leg: ch.name})
		}
	}
}

// dialStatusHints maps the caller's DIALSTATUS to why the dial failed.
var dialStatusHints = map[string]ledger.Reason{
	"NOANSWER":    ledger.ReasonNoAnswer,
	"BUSY":        ledger.ReasonBusy,
	"CHANUNAVAIL": ledger.ReasonUnavailable,
	"CONGESTION":  ledger.ReasonUnavailable,
	"INVALIDARGS": ledger.ReasonUnavailable,
	"CANCEL":      ledger.ReasonCallerHangup,
}

// queueStatusHints maps the caller's QUEUESTATUS to why the queue failed.
var queueStatusHints = map[string]ledger.Reason{
	"TIMEOUT":      ledger.ReasonQueueTimeout,
	"FULL":         ledger.ReasonBusy,
	"JOINEMPTY":    ledger.ReasonUnavailable,
	"LEAVEEMPTY":   ledger.ReasonUnavailable,
	"JOINUNAVAIL":  ledger.ReasonUnavailable,
	"LEAVEUNAVAIL": ledger.ReasonUnavailable,
}

// varset reads the outcome of the caller's Dial or Queue from DIALSTATUS
// and QUEUESTATUS on the caller's channel (a dialled leg's own status is
// noise: "CANCEL" when another phone answered).
func (t *translator) varset(at time.Time, d *ari.ChannelData, name, value string) {
	ch := t.chans[d.ID]
	c := isRoot(ch)
	if c == nil {
		return
	}
	t.withheldFrom(at, c, d.ChannelVars[VarPres])
	if c.connected {
		return
	}
	var hint ledger.Reason
	switch name {
	case "DIALSTATUS":
		hint = dialStatusHints[value]
	case "QUEUESTATUS":
		hint = queueStatusHints[value]
	}
	if hint != "" {
		t.send(ledger.Event{Kind: ledger.EventDialEnded, Call: c.id, At: at, Hint: hint, Leg: ch.name})
	}
}

// hangupRequest: a hard hangup request on the caller's channel is the
// caller hanging up (the dialplan's Hangup() is soft).
func (t *translator) hangupRequest(at time.Time, d *ari.ChannelData, soft bool) {
	ch := t.chans[d.ID]
	c := isRoot(ch)
	if c == nil || soft || c.hungUp {
		return
	}
	c.hungUp = true
	t.send(ledger.Event{Kind: ledger.EventCallerHangup, Call: c.id, At: at, Leg: ch.name})
}

func (t *translator) callerID(at time.Time, d *ari.ChannelData, presentation string) {
	c := isRoot(t.chans[d.ID])
	if c == nil {
		return
	}
	if strings.Contains(strings.ToLower(presentation), "prohibited") {
		t.withheldFrom(at, c, "prohib")
		return
	}
	t.withheldFrom(at, c, d.ChannelVars[VarPres])
}

// withheldFrom marks the call withheld when pres says so; the tracker
// learns it from a second Offered.
func (t *translator) withheldFrom(at time.Time, c *call, pres string) {
	if c.withheld || !prohibited(pres) {
		return
	}
	c.withheld = true
	t.send(ledger.Event{Kind: ledger.EventOffered, Call: c.id, At: at, From: c.from, Withheld: true, Leg: c.root.name})
}

// prohibited reports whether a CALLERID(pres) value withholds the number
// ("prohib_not_screened", "prohib_passed_screen", "prohib", ...).
func prohibited(pres string) bool {
	return strings.HasPrefix(strings.ToLower(pres), "prohib")
}

func (t *translator) dial(at time.Time, caller, peer *ari.ChannelData, status string) {
	from := t.chans[caller.ID]
	to := t.chans[peer.ID]
	c := live(from)
	if c == nil || to == nil {
		return
	}
	t.join(to, c)
	if c.kind != callInbound || live(to) != c {
		return
	}
	switch status {
	case "RINGING":
		if to.real && !c.connected {
			t.send(ledger.Event{Kind: ledger.EventRinging, Call: c.id, At: at, Leg: to.name})
		}
	case "ANSWER":
		// A Local channel answering proves nothing (voicemail or an IVR
		// may answer it); the real channel behind it shows up in its own
		// Dial or in the caller's bridge.
		if to.real {
			t.connect(at, c, to)
		}
	}
}

func (t *translator) connect(at time.Time, c *call, to *channel) {
	if c.connected {
		return
	}
	c.connected = true
	t.send(ledger.Event{Kind: ledger.EventConnected, Call: c.id, At: at, Leg: to.name})
}

func (t *translator) enteredBridge(at time.Time, b *ari.BridgeData, d *ari.ChannelData) {
	br := t.bridges[b.ID]
	if br == nil {
		br = &bridge{id: b.ID, members: map[string]*channel{}}
		t.bridges[b.ID] = br
	}
	br.holding = b.Type == "holding"
	// The snapshot lists every member; it also fills in what a reconnect
	// missed.
	for _, id := range append(b.ChannelIDs, d.ID) {
		if ch := t.chans[id]; ch != nil && ch.bridge != br {
			if ch.bridge != nil {
				t.unbridge(ch)
			}
			ch.bridge = br
			br.members[id] = ch
		}
	}
	if len(br.members) == 0 {
		// none of its channels is known
		delete(t.bridges, b.ID)
		return
	}
	t.checkBridge(at, br)
}

// checkBridge connects every inbound call with a leg in br whose caller now
// reaches a person.
func (t *translator) checkBridge(at time.Time, br *bridge) {
	if br.holding {
		return
	}
	for _, m := range br.members {
		if c := inbound(m); c != nil && !c.connected {
			if p := reachable(c.root); p != nil {
				t.connect(at, c, p)
			}
		}
	}
}

// reachable finds a real channel other than root that root talks to
// through bridges and Local channel pairs, or nil.
func reachable(root *channel) *channel {
	seen := map[*channel]bool{root: true}
	queue := []*channel{root}
	for len(queue) > 0 {
		ch := queue[0]
		queue = queue[1:]
		var next []*channel
		if ch.bridge != nil && !ch.bridge.holding {
			for _, m := range ch.bridge.members {
				next = append(next, m)
			}
		}
		if ch.partner != nil {
			next = append(next, ch.partner)
		}
		for _, n := range next {
			if seen[n] {
				continue
			}
			if n.real {
				return n
			}
			seen[n] = true
			queue = append(queue, n)
		}
	}
	return nil
}

func (t *translator) leftBridge(b *ari.BridgeData, d *ari.ChannelData) {
	if ch := t.chans[d.ID]; ch != nil && ch.bridge != nil && ch.bridge.id == b.ID {
		t.unbridge(ch)
	}
}

// unbridge takes ch out of its bridge; an empty bridge is forgotten.
func (t *translator) unbridge(ch *channel) {
	br := ch.bridge
	ch.bridge = nil
	delete(br.members, ch.id)
	if len(br.members) == 0 {
		delete(t.bridges, br.id)
	}
}

func (t *translator) bridgeDestroyed(id string) {
	br := t.bridges[id]
	if br == nil {
		return
	}
	for _, m := range br.members {
		m.bridge = nil
	}
	delete(t.bridges, id)
}

func (t *translator) bridgeMerged(at time.Time, into, from *ari.BridgeData) {
	src := t.bridges[from.ID]
	if src == nil || from.ID == into.ID {
		return
	}
	dst := t.bridges[into.ID]
	if dst == nil {
		dst = &bridge{id: into.ID, members: map[string]*channel{}}
		t.bridges[into.ID] = dst
	}
	dst.holding = into.Type == "holding"
	for id, m := range src.members {
		m.bridge = dst
		dst.members[id] = m
	}
	delete(t.bridges, from.ID)
	t.checkBridge(at, dst)
}

// unobserved is a call that ended while the websocket was down.
type unobserved struct {
	Call, From, Leg string
	Inbound         bool
}

// reconcile forgets the channels Asterisk no longer has (alive holds the
// ids of those it has) and returns the calls whose caller's channel went
// while nobody watched. It emits nothing: what happened to them is
// unknown.
func (t *translator) reconcile(alive map[string]bool) []unobserved {
	var gone []*channel
	for id, ch := range t.chans {
		if !alive[id] {
			gone = append(gone, ch)
		}
	}
	var out []unobserved
	for _, ch := range gone {
		if c := live(ch); c != nil && c.root == ch {
			out = append(out, unobserved{Call: c.id, From: c.from, Leg: ch.name, Inbound: c.kind == callInbound})
		}
	}
	for _, ch := range gone {
		t.forget(ch)
	}
	return out
}
