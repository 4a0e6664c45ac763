package ledger

import (
	"fmt"
	"time"
)

// EventKind says what happened in a call. The PBX adapters (ari, esl)
// translate their PBX's own events into these; nothing else about the PBX
// reaches the core.
type EventKind uint8

const (
	_ EventKind = iota
	// EventOffered: an inbound call from a trunk arrived on a line. It
	// carries From, Withheld and Line. It starts tracking the call.
	EventOffered
	// EventInternal: the call is internal (phone to phone) or originated by
	// the PBX. It is tracked only to produce an Ignored verdict at the end;
	// Hint is ReasonInternal or ReasonOutbound.
	EventInternal
	// EventRinging: a leg towards a person (a phone, a queue member) started
	// ringing.
	EventRinging
	// EventConnected: a person was connected with the caller (a Dial that
	// ended ANSWER, a bridge with another channel). The call is answered.
	EventConnected
	// EventPBXAnswered: the PBX answered the caller without a person:
	// Hint is ReasonVoicemail, ReasonIVRAbandon (an IVR or greeting) or
	// ReasonQueueAbandon (the caller waits in a queue).
	EventPBXAnswered
	// EventDialEnded: an attempt to reach a person ended without a
	// connection. Hint says how: ReasonNoAnswer, ReasonBusy,
	// ReasonUnavailable, ReasonCallerHangup (the caller cancelled), or
	// ReasonQueueTimeout.
	EventDialEnded
	// EventCallerHangup: the caller hung up (the channel may still linger).
	EventCallerHangup
	// EventEnded: the caller's channel is gone. The tracker decides now.
	EventEnded
)

var eventKindNames = [...]string{"", "offered", "internal", "ringing", "connected", "pbx_answered", "dial_ended", "caller_hangup", "ended"}

func (k EventKind) String() string {
	if int(k) < len(eventKindNames) && k != 0 {
		return eventKindNames[k]
	}
	return fmt.Sprintf("event(%d)", int(k))
}

// MarshalText implements encoding.TextMarshaler with the kind's name; it
// fails for a kind that has none.
func (k EventKind) MarshalText() ([]byte, error) {
	if k == 0 || int(k) >= len(eventKindNames) {
		return nil, fmt.Errorf("invalid event kind %d", int(k))
	}
	return []byte(eventKindNames[k]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseEventKind.
func (k *EventKind) UnmarshalText(b []byte) error {
	v, err := ParseEventKind(string(b))
	if err != nil {
		return err
	}
	*k = v
	return nil
}

// ParseEventKind is the inverse of EventKind.String.
func ParseEventKind(s string) (EventKind, error) {
	for i, n := range eventKindNames {
		if i > 0 && n == s {
			return EventKind(i), nil
		}
	}
	return 0, fmt.Errorf("unknown event kind %q", s)
}

// Event is one PBX-neutral fact about a call.
type Event struct {
	Kind EventKind `json:"kind"`
	// PBX names the source ("asterisk", "freeswitch", "demo").
	PBX string `json:"pbx"`
	// Call is the PBX's id for the whole call (Asterisk linkedid or the
	// trunk channel's id, FreeSWITCH A-leg UUID). Unique per PBX.
	Call string `json:"call"`
	// At is when it happened, by the PBX's clock.
	At time.Time `json:"at"`
	// From is the caller's number as the PBX gave it (Offered only).
	From string `json:"from,omitempty"`
	// Withheld is true when the caller asked for their number to be hidden
	// (Offered only).
	Withheld bool `json:"withheld,omitempty"`
	// Line is the number dialled (the DID) as the PBX gave it (Offered,
	// and any later event that learns it).
	Line string `json:"line,omitempty"`
	// Hint refines Kind; see each kind.
	Hint Reason `json:"hint,omitempty"`
	// Leg names the channel the event is about, for logs.
	Leg string `json:"leg,omitempty"`
}

// Reason says why a call was missed, or why it was ignored.
type Reason string

// Reasons for missed calls.
const (
	ReasonNoAnswer     Reason = "noanswer"
	ReasonBusy         Reason = "busy"
	ReasonUnavailable  Reason = "unavailable"
	ReasonCallerHangup Reason = "caller_hangup"
	ReasonVoicemail    Reason = "voicemail"
	ReasonIVRAbandon   Reason = "ivr_abandon"
	ReasonQueueAbandon Reason = "queue_abandon"
	ReasonQueueTimeout Reason = "queue_timeout"
)

// Reasons for calls that get no verdict of missed or answered.
const (
	ReasonInternal Reason = "internal"
	ReasonOutbound Reason = "outbound"
	// ReasonExpired: the call was tracked too long without ending (events
	// lost); it is dropped undecided.
	ReasonExpired Reason = "expired"
)

// MissedReasons lists every reason a call can be missed for, in a stable
// order (for config validation and docs).
var MissedReasons = []Reason{
	ReasonNoAnswer, ReasonBusy, ReasonUnavailable, ReasonCallerHangup,
	ReasonVoicemail, ReasonIVRAbandon, ReasonQueueAbandon, ReasonQueueTimeout,
}

// Outcome is the tracker's verdict on a call.
type Outcome string

const (
	Missed   Outcome = "missed"
	Answered Outcome = "answered"
	// Ignored: internal, originated or expired; never texted.
	Ignored Outcome = "ignored"
)

// Verdict is the tracker's decision about one call, produced exactly once.
type Verdict struct {
	PBX      string  `json:"pbx"`
	Call     string  `json:"call"`
	Outcome  Outcome `json:"outcome"`
	Reason   Reason  `json:"reason,omitempty"` // for Missed and Ignored
	From     string  `json:"from"`             // as the PBX gave it
	Withheld bool    `json:"withheld,omitempty"`
	Line     string  `json:"line,omitempty"` // as the PBX gave it
	// OfferedAt is when the call arrived; EndedAt when it was decided.
	OfferedAt time.Time `json:"offered_at"`
	EndedAt   time.Time `json:"ended_at"`
	// RingTime is how long the caller waited: from offered to the first
	// answer (a person, or the PBX: voicemail, IVR; waiting in a queue
	// counts as ringing) or the end, whichever came first.
	RingTime time.Duration `json:"ring_ns"`
}

// ID is the call's id across PBXes: "pbx:call".
func (v Verdict) ID() string { return v.PBX + ":" + v.Call }

// Textable reports whether the call carried a presented caller number: not
// empty, not "anonymous" (or a similar placeholder), not withheld. Number
// validity and country policy are not part of it.
func (v Verdict) Textable() bool {
	return !v.Withheld && presented(v.From)
}
