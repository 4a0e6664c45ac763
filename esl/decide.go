package esl

import (
	"strconv"
	"strings"
	"time"

	"github.com/textback/textback/ledger"
)

// story is what an A-leg's CHANNEL_HANGUP_COMPLETE (and a CHANNEL_BRIDGE
// seen before it) says happened to the call.
type story struct {
	emitted  legKind // what the call's first event announced (legOther: nothing)
	bridged  bool    // a CHANNEL_BRIDGE was seen
	bridgeAt time.Time

	// connected: a person was connected (the bridge variables, or a
	// CHANNEL_BRIDGE). Never from CHANNEL_ANSWER or the Hangup-Cause: an
	// IVR or a greeting answers the channel too.
	connected bool
	// dialed: the dialplan tried to reach someone (bridge, originate).
	dialed bool
	// dialFailed and dialHint: the attempt ended without a connection, and
	// why (originate_disposition, else DIALSTATUS).
	dialFailed bool
	dialHint   ledger.Reason
	// answeredAt: when the PBX itself answered the caller (zero: never).
	answeredAt time.Time
	pbxHint    ledger.Reason
	// queueTimeout: the caller left a queue because it timed out.
	queueTimeout bool
	// callerHungUp: the caller ended the call (CANCEL or BYE from the trunk).
	callerHungUp bool

	progressAt, endedAt time.Time

	disposition, dialstatus, sipHangup string // as FreeSWITCH gave them, for logs
}

// read fills s from the A-leg's CHANNEL_HANGUP_COMPLETE.
func (s *story) read(e *Event) {
	s.endedAt = firstTime(e.Time("Caller-Channel-Hangup-Time"), e.Time("variable_end_uepoch"), e.Time("Event-Date-Timestamp"))
	s.progressAt = firstTime(e.Time("Caller-Channel-Progress-Time"), e.Time("Caller-Channel-Progress-Media-Time"))

	bridgedAt := firstTime(e.Time("Caller-Channel-Bridged-Time"), e.Time("variable_bridge_uepoch"))
	s.connected = s.bridged || e.Var("last_bridge_to") != "" || !bridgedAt.IsZero()
	if s.connected {
		at := s.bridgeAt
		if at.IsZero() || (!bridgedAt.IsZero() && bridgedAt.Before(at)) {
			at = bridgedAt
		}
		if at.IsZero() {
			at = s.endedAt
		}
		s.bridgeAt = at
	}

	s.disposition = e.Var("originate_disposition")
	s.dialstatus = e.Var("DIALSTATUS")
	s.sipHangup = e.Var("sip_hangup_disposition")
	s.dialed = s.disposition != "" || s.dialstatus != "" || e.Var("originated_legs") != "" || e.Var("originate_causes") != ""
	hint, failed := dispositionHint(s.disposition)
	if hint == "" && !failed {
		hint, failed = dialstatusHint(s.dialstatus)
	}
	if s.dialed && hint == "" && !failed && s.disposition == "" && s.dialstatus == "" {
		// Legs were rung but nothing says how it ended: no answer.
		hint, failed = ledger.ReasonNoAnswer, true
	}
	s.dialFailed, s.dialHint = failed, hint

	s.answeredAt = firstTime(e.Time("Caller-Channel-Answered-Time"), e.Time("variable_answer_uepoch"))
	s.pbxHint = pbxHint(e)
	if s.pbxHint == ledger.ReasonQueueAbandon {
		switch strings.ToUpper(e.Var("cc_cancel_reason")) {
		case "TIMEOUT", "NO_AGENT_TIMEOUT":
			s.queueTimeout = true
		}
	}

	switch s.sipHangup {
	case "recv_cancel", "recv_bye":
		s.callerHungUp = true
	case "":
		// Not a SIP channel, or FreeSWITCH did not say: the cause tells
		// only a cancel by the caller apart.
		s.callerHungUp = e.Get("Hangup-Cause") == "ORIGINATOR_CANCEL"
	}
}

// dialFirst reports whether someone was rung before the PBX answered the
// caller (a voicemail or greeting after no answer) rather than after (an
// IVR that transfers to a person). FreeSWITCH stamps progress (ringing
// back to the caller) when a leg rings; after the PBX answered, ringing
// is no longer signalled to the caller.
func (s *story) dialFirst() bool {
	if !s.dialed {
		return false
	}
	return !s.progressAt.IsZero() && !s.progressAt.After(s.answeredAt)
}

// dispositionHint maps variable_originate_disposition (a hangup cause
// name, or SUCCESS) to a missed reason; failed reports whether it says the
// attempt failed.
func dispositionHint(d string) (hint ledger.Reason, failed bool) {
	switch strings.ToUpper(strings.TrimSpace(d)) {
	case "", "NONE":
		return "", false
	case "SUCCESS", "ANSWER":
		return "", false
	case "NO_ANSWER", "NO_USER_RESPONSE", "ALLOTTED_TIMEOUT", "RECOVERY_ON_TIMER_EXPIRE", "PROGRESS_TIMEOUT", "MEDIA_TIMEOUT":
		return ledger.ReasonNoAnswer, true
	case "USER_BUSY":
		return ledger.ReasonBusy, true
	case "ORIGINATOR_CANCEL":
		return ledger.ReasonCallerHangup, true
	case "USER_NOT_REGISTERED", "SUBSCRIBER_ABSENT", "CALL_REJECTED", "UNALLOCATED_NUMBER",
		"NO_ROUTE_DESTINATION", "NO_ROUTE_TRANSIT_NET", "DESTINATION_OUT_OF_ORDER",
		"NORMAL_TEMPORARY_FAILURE", "NETWORK_OUT_OF_ORDER", "INVALID_NUMBER_FORMAT",
		"NORMAL_CIRCUIT_CONGESTION", "SWITCH_CONGESTION", "INCOMPATIBLE_DESTINATION",
		"FACILITY_REJECTED", "EXCHANGE_ROUTING_ERROR", "CHAN_NOT_IMPLEMENTED", "GATEWAY_DOWN",
		"NUMBER_CHANGED", "REQUESTED_CHAN_UNAVAIL", "BEARERCAPABILITY_NOTAVAIL", "SERVICE_UNAVAILABLE":
		return ledger.ReasonUnavailable, true
	}
	return ledger.ReasonNoAnswer, true
}

// dialstatusHint maps variable_DIALSTATUS (Asterisk-style names FreeSWITCH
// sets after a bridge) to a missed reason.
func dialstatusHint(d string) (hint ledger.Reason, failed bool) {
	switch strings.ToUpper(strings.TrimSpace(d)) {
	case "", "SUCCESS", "ANSWER":
		return "", false
	case "NOANSWER":
		return ledger.ReasonNoAnswer, true
	case "BUSY":
		return ledger.ReasonBusy, true
	case "CANCEL":
		return ledger.ReasonCallerHangup, true
	case "CHANUNAVAIL", "CONGESTION", "INVALIDARGS", "DONTCALL", "TORTURE":
		return ledger.ReasonUnavailable, true
	}
	return ledger.ReasonNoAnswer, true
}

// pbxHint says what answered the caller when no person did: voicemail, a
// queue (mod_callcenter, mod_fifo), or else an IVR or a greeting.
func pbxHint(e *Event) ledger.Reason {
	for _, app := range []string{e.Var("current_application"), e.Var("last_app")} {
		switch strings.ToLower(app) {
		case "voicemail":
			return ledger.ReasonVoicemail
		case "callcenter", "fifo":
			return ledger.ReasonQueueAbandon
		}
	}
	if e.Var("cc_queue") != "" || e.Var("fifo_status") != "" {
		return ledger.ReasonQueueAbandon
	}
	return ledger.ReasonIVRAbandon
}

// callerNumber is the number the caller presented: the caller profile's
// original number (the same in every event of the call, whatever the
// dialplan did to caller_id_number), else the current one.
func callerNumber(e *Event) string {
	if v := strings.TrimSpace(e.Get("Caller-Orig-Caller-ID-Number")); v != "" {
		return v
	}
	return strings.TrimSpace(e.Get("Caller-Caller-ID-Number"))
}

// withheld reports whether the caller asked for the number to be hidden
// (Privacy: id, or a carrier's equivalent), even when a real number
// arrived in P-Asserted-Identity.
func withheld(e *Event) bool {
	v, err := strconv.ParseBool(e.Get("Caller-Privacy-Hide-Number"))
	return err == nil && v || strings.EqualFold(e.Get("Caller-Privacy-Hide-Number"), "yes")
}

// offeredAt is when the caller's channel was created.
func offeredAt(e *Event) time.Time {
	return firstTime(e.Time("Caller-Channel-Created-Time"), e.Time("Caller-Profile-Created-Time"), e.Time("Event-Date-Timestamp"))
}

// sofiaProfile is the sofia profile of the event's channel.
func sofiaProfile(e *Event) string {
	if p := e.Var("sofia_profile_name"); p != "" {
		return p
	}
	// sofia/PROFILE/user@host
	rest, ok := strings.CutPrefix(e.Get("Channel-Name"), "sofia/")
	if !ok {
		return ""
	}
	p, _, _ := strings.Cut(rest, "/")
	return p
}

func firstTime(ts ...time.Time) time.Time {
	for _, t := range ts {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

func minTime(a, b time.Time) time.Time {
	if b.IsZero() || (!a.IsZero() && a.Before(b)) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
