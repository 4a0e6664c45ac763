package ledger

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// The tracker tests speak in offsets from trT0, for one caller on one line.
var trT0 = time.Date(2026, 11, 26, 16, 47, 34, 0, time.UTC)

const (
	trPBX  = "asterisk"
	trFrom = "+15557654321"
	trLine = "5551002"
)

func trAt(d time.Duration) time.Time { return trT0.Add(d) }

// trEv is an event of kind k for call at offset d.
func trEv(k EventKind, call string, d time.Duration, hint Reason) Event {
	return Event{Kind: k, PBX: trPBX, Call: call, At: trAt(d), Hint: hint}
}

// trOffered is the Offered event of an ordinary inbound call.
func trOffered(call string, d time.Duration) Event {
	e := trEv(EventOffered, call, d, "")
	e.From, e.Line = trFrom, trLine
	return e
}

// trLeg is trEv about one leg.
func trLeg(k EventKind, call, leg string, d time.Duration, hint Reason) Event {
	e := trEv(k, call, d, hint)
	e.Leg = leg
	return e
}

// trVerdict is the verdict on an ordinary call offered at 0 and ended at
// end, with ring time ring.
func trVerdict(call string, o Outcome, r Reason, ring, end time.Duration) Verdict {
	return Verdict{PBX: trPBX, Call: call, Outcome: o, Reason: r, From: trFrom, Line: trLine,
		OfferedAt: trT0, EndedAt: trAt(end), RingTime: ring}
}

func trWith(v Verdict, edit func(*Verdict)) Verdict {
	edit(&v)
	return v
}

// trS keeps the tables short.
const trS = time.Second

type trackerCase struct {
	name   string
	events []Event
	want   []Verdict
	// textable, when set, is what the (single) verdict's Textable says.
	textable *bool
}

func trBool(b bool) *bool { return &b }

var trackerCases = []trackerCase{
	// Missed, one case per reason.
	{
		name: "NoAnswerIsMissed",
		events: []Event{
			trOffered("1", 0),
			trLeg(EventRinging, "1", "PJSIP/100-01", 1*trS, ""),
			trLeg(EventDialEnded, "1", "PJSIP/100-01", 16*trS, ReasonNoAnswer),
			trEv(EventEnded, "1", 16*trS, ""),
		},
		want: []Verdict{trVerdict("1", Missed, ReasonNoAnswer, 16*trS, 16*trS)},
	},
	{
		name: "NoAnswerThenCallerHangsUpInSilenceStaysNoAnswer",
		events: []Event{
			trOffered("1", 0),
			trEv(EventRinging, "1", 1*trS, ""),
			trEv(EventDialEnded, "1", 16*trS, ReasonNoAnswer),
			trEv(EventCallerHangup, "1", 20*trS, ""),
			trEv(EventEnded, "1", 20*trS, ""),
		},
		want: []Verdict{trVerdict("1", Missed, ReasonNoAnswer, 20*trS, 20*trS)},
	},
	{
		name: "DialEndedWithoutHintIsNoAnswer",
		events: []Event{
			trOffered("1", 0),
			trEv(EventRinging, "1", 1*trS, ""),
			trEv(EventDialEnded, "1", 10*trS, ""),
			trEv(EventEnded, "1", 10*trS, ""),
		},
		want: []Verdict{trVerdict("1", Missed, ReasonNoAnswer, 10*trS, 10*trS)},
	},
	{
		name: "EndedWithNothingElseIsNoAnswer",
		events: []Event{
			trOffered("1", 0),
			trEv(EventEnded, "1", 3*trS, ""),
		},
		want: []Verdict{trVerdict("1", Missed, ReasonNoAnswer, 3*trS, 3*trS)},
	},
	{
		name: "BusyIsMissed",
		events: []Event{
			trOffered("1", 0),
			trEv(EventDialEnded, "1", 1*trS, ReasonBusy),
			trEv(EventCallerHangup, "1", 2*trS, ""),
			trEv(EventEnded, "1", 2*trS, ""),
		},
		want: []Verdict{trVerdict("1", Missed, ReasonBusy, 2*trS, 2*trS)},
	},
	{
		name: "UnavailableIsMissed",
		events: []Event{
			trOffered("1", 0),
			trEv(EventDialEnded, "1", 0, ReasonUnavailable),
			trEv(EventEnded, "1", 1*trS, ""),
		},
		want: []Verdict{trVerdict("1", Missed, ReasonUnavailable, 1*trS, 1*trS)},
	},
	{
		name: "CallerHangupWhileRingingIsMissed",
		events: []Event{
			trOffered("1", 0),
			trEv(EventRinging, "1", 1*trS, ""),
			trEv(EventCallerHangup, "1", 7*trS, ""),
			// The PBX cancels the ringing leg after the caller left: noise.
			trEv(EventDialEnded, "1", 7*trS, ReasonNoAnswer),
			trEv(EventEnded, "1", 7*trS, ""),
		},
		want: []Verdict{trVerdict("1", Missed, ReasonCallerHangup, 7*trS, 7*trS)},
	},
	{
		name: "DialEndedCallerHangupIsMissed",
		events: []Event{
			trOffered("1", 0),
			trEv(EventRinging, "1", 1*trS, ""),
			trEv(EventDialEnded, "1", 5*trS, ReasonCallerHangup),
			trEv(EventEnded, "1", 5*trS, ""),
		},
		want: []Verdict{trVerdict("1", Missed, ReasonCallerHangup, 5*trS, 5*trS)},
	},
	{
		name: "CallerHangupBeforeAnythingIsMissed",
		events: []Event{
			trOffered("1", 0),
			trEv(EventCallerHangup, "1", 1*trS, ""),
			trEv(EventEnded, "1", 1*trS, ""),
		},
		want: []Verdict{trVerdict("1", Missed, ReasonCallerHangup, 1*trS, 1*trS)},
	},
	{
		name: "VoicemailIsMissed",
		events: []Event{
			trOffered("1", 0),
			trEv(EventRinging, "1", 1*trS, ""),
			trEv(EventDialEnded, "1", 20*trS, ReasonNoAnswer),
			trEv(EventPBXAnswered, "1", 20*trS+500*time.Millisecond, ReasonVoicemail),
			trEv(EventCallerHangup, "1", 45*trS, ""),
			trEv(EventEnded, "1", 45*trS, ""),
		},
		want: []Verdict{trVerdict("1", Missed, ReasonVoicemail, 20*trS+500*time.Millisecond, 45*trS)},
	},
	{
		name: "IVRAnsweredThenCallerLeftIsMissed",
		events: []Event{
			trOffered("1", 0),
			trEv(EventPBXAnswered, "1", 200*time.Millisecond, ReasonIVRAbandon),
			trEv(EventCallerHangup, "1", 12*trS, ""),
			trEv(EventEnded, "1", 12*trS, ""),
		},
		want: []Verdict{trVerdict("1", Missed, ReasonIVRAbandon, 200*time.Millisecond, 12*trS)},
	},
	{
		name: "PBXAnsweredWithoutHintIsIVR",
		events: []Event{
			trOffered("1", 0),
			trEv(EventPBXAnswered, "1", 1*trS, ""),
			trEv(EventEnded, "1", 9*trS, ""),
		},
		want: []Verdict{trVerdict("1", Missed, ReasonIVRAbandon, 1*trS, 9*trS)},
	},
	{
		name: "QueueTimeoutIsMissed",
		events: []Event{
			trOffered("1", 0),
			trEv(EventPBXAnswered, "1", 1*trS, ReasonQueueAbandon),
			trLeg(EventRinging, "1", "PJSIP/100-1d", 1*trS, ""),
			trLeg(EventRinging, "1", "PJSIP/101-1e", 1*trS, ""),
			trLeg(EventDialEnded, "1", "PJSIP/100-1d", 16*trS, ReasonNoAnswer),
			trLeg(EventDialEnded, "1", "PJSIP/101-1e", 16*trS, ReasonNoAnswer),
			trLeg(EventRinging, "1", "PJSIP/100-1f", 17*trS, ""),
			trEv(EventDialEnded, "1", 21*trS, ReasonQueueTimeout),
			trEv(EventEnded, "1", 21*trS, ""),
		},
		want: []Verdict{trVerdict("1", Missed, ReasonQueueTimeout, 21*trS, 21*trS)},
	},
	{
		name: "QueueTimeoutWithoutPBXAnswerIsMissed",
		events: []Event{
			trOffered("1", 0),
			trEv(EventRinging, "1", 0, ""),
			trEv(EventDialEnded, "1", 15*trS, ReasonNoAnswer),
			trEv(EventRinging, "1", 16*trS, ""),
			trEv(EventDialEnded, "1", 20*trS, ReasonQueueTimeout),
			trEv(EventEnded, "1", 20*trS, ""),
		},
		want: []Verdict{trVerdict("1", Missed, ReasonQueueTimeout, 20*trS, 20*trS)},
	},
	{
		name: "QueueAbandonIsMissed",
		events: []Event{
			trOffered("1", 0),
			trEv(EventPBXAnswered, "1", 1*trS, ReasonQueueAbandon),
			trLeg(EventRinging, "1", "PJSIP/100-22", 1*trS, ""),
			trLeg(EventDialEnded, "1", "PJSIP/100-22", 15*trS, ReasonNoAnswer),
			trLeg(EventRinging, "1", "PJSIP/100-23", 16*trS, ""),
			trEv(EventCallerHangup, "1", 18*trS, ""),
			trLeg(EventDialEnded, "1", "PJSIP/100-23", 18*trS, ReasonCallerHangup),
			trEv(EventEnded, "1", 18*trS, ""),
		},
		want: []Verdict{trVerdict("1", Missed, ReasonQueueAbandon, 18*trS, 18*trS)},
	},
	{
		name: "QueueTimeoutThenVoicemailIsVoicemail",
		events: []Event{
			trOffered("1", 0),
			trEv(EventPBXAnswered, "1", 1*trS, ReasonQueueAbandon),
			trEv(EventDialEnded, "1", 30*trS, ReasonQueueTimeout),
			trEv(EventPBXAnswered, "1", 30*trS, ReasonVoicemail),
			trEv(EventCallerHangup, "1", 50*trS, ""),
			trEv(EventEnded, "1", 50*trS, ""),
		},
		want: []Verdict{trVerdict("1", Missed, ReasonVoicemail, 30*trS, 50*trS)},
	},
	{
		name: "IVRThenTransferThenCallerHangsUpWhileRinging",
		events: []Event{
			trOffered("1", 0),
			trEv(EventPBXAnswered, "1", 1*trS, ReasonIVRAbandon),
			trEv(EventRinging, "1", 8*trS, ""),
			trEv(EventCallerHangup, "1", 14*trS, ""),
			trEv(EventEnded, "1", 14*trS, ""),
		},
		want: []Verdict{trVerdict("1", Missed, ReasonCallerHangup, 1*trS, 14*trS)},
	},
	{
		name: "IVRThenTransferNoAnswerThenVoicemail",
		events: []Event{
			trOffered("1", 0),
			trEv(EventPBXAnswered, "1", 1*trS, ReasonIVRAbandon),
			trEv(EventRinging, "1", 8*trS, ""),
			trEv(EventDialEnded, "1", 28*trS, ReasonNoAnswer),
			trEv(EventPBXAnswered, "1", 28*trS, ReasonVoicemail),
			trEv(EventCallerHangup, "1", 40*trS, ""),
			trEv(EventEnded, "1", 40*trS, ""),
		},
		want: []Verdict{trVerdict("1", Missed, ReasonVoicemail, 1*trS, 40*trS)},
	},
	{
		name: "CallerHangupIsFinal",
		events: []Event{
			trOffered("1", 0),
			trEv(EventRinging, "1", 1*trS, ""),
			trEv(EventCallerHangup, "1", 5*trS, ""),
			trEv(EventPBXAnswered, "1", 6*trS, ReasonVoicemail),
			trEv(EventDialEnded, "1", 6*trS, ReasonBusy),
			trEv(EventRinging, "1", 6*trS, ""),
			trEv(EventEnded, "1", 6*trS, ""),
		},
		want: []Verdict{trVerdict("1", Missed, ReasonCallerHangup, 6*trS, 6*trS)},
	},

	// Answered.
	{
		name: "AnsweredDirectly",
		events: []Event{
			trOffered("1", 0),
			trEv(EventRinging, "1", 1*trS, ""),
			trEv(EventConnected, "1", 4*trS, ""),
			trEv(EventCallerHangup, "1", 60*trS, ""),
			trEv(EventEnded, "1", 60*trS, ""),
		},
		want: []Verdict{trVerdict("1", Answered, "", 4*trS, 60*trS)},
	},
	{
		name: "RingGroupAnsweredBySecondPhone",
		events: []Event{
			trOffered("1", 0),
			trLeg(EventRinging, "1", "PJSIP/100-0a", 1*trS, ""),
			trLeg(EventRinging, "1", "PJSIP/101-0b", 1*trS, ""),
			trLeg(EventDialEnded, "1", "PJSIP/100-0a", 5*trS, ReasonNoAnswer),
			trLeg(EventConnected, "1", "PJSIP/101-0b", 6*trS, ""),
			trEv(EventEnded, "1", 30*trS, ""),
		},
		want: []Verdict{trVerdict("1", Answered, "", 6*trS, 30*trS)},
	},
	{
		name: "AnsweredFromQueue",
		events: []Event{
			trOffered("1", 0),
			trEv(EventPBXAnswered, "1", 1*trS, ReasonQueueAbandon),
			trEv(EventRinging, "1", 1*trS, ""),
			trEv(EventConnected, "1", 5*trS, ""),
			trEv(EventCallerHangup, "1", 9*trS, ""),
			trEv(EventEnded, "1", 9*trS, ""),
		},
		want: []Verdict{trVerdict("1", Answered, "", 5*trS, 9*trS)},
	},
	{
		name: "IVRThenTransferThenAnswered",
		events: []Event{
			trOffered("1", 0),
			trEv(EventPBXAnswered, "1", 200*time.Millisecond, ReasonIVRAbandon),
			trEv(EventRinging, "1", 10*trS, ""),
			trEv(EventConnected, "1", 14*trS, ""),
			trEv(EventEnded, "1", 90*trS, ""),
		},
		want: []Verdict{trVerdict("1", Answered, "", 200*time.Millisecond, 90*trS)},
	},
	{
		name: "ConnectedWinsWhateverFollows",
		events: []Event{
			trOffered("1", 0),
			trEv(EventRinging, "1", 1*trS, ""),
			trEv(EventConnected, "1", 3*trS, ""),
			trEv(EventDialEnded, "1", 40*trS, ReasonBusy),
			trEv(EventPBXAnswered, "1", 41*trS, ReasonVoicemail),
			trEv(EventCallerHangup, "1", 50*trS, ""),
			trEv(EventEnded, "1", 50*trS, ""),
		},
		want: []Verdict{trVerdict("1", Answered, "", 3*trS, 50*trS)},
	},

	// Ignored.
	{
		name: "InternalCallIsIgnored",
		events: []Event{
			{Kind: EventInternal, PBX: trPBX, Call: "1", At: trT0, From: "100", Line: "101", Hint: ReasonInternal},
			trEv(EventRinging, "1", 1*trS, ""),
			trEv(EventDialEnded, "1", 10*trS, ReasonNoAnswer),
			trEv(EventEnded, "1", 10*trS, ""),
		},
		want: []Verdict{{PBX: trPBX, Call: "1", Outcome: Ignored, Reason: ReasonInternal, From: "100", Line: "101",
			OfferedAt: trT0, EndedAt: trAt(10 * trS), RingTime: 10 * trS}},
	},
	{
		name: "InternalWithoutHintIsInternal",
		events: []Event{
			trEv(EventInternal, "1", 0, ""),
			trEv(EventConnected, "1", 2*trS, ""),
			trEv(EventEnded, "1", 10*trS, ""),
		},
		want: []Verdict{{PBX: trPBX, Call: "1", Outcome: Ignored, Reason: ReasonInternal,
			OfferedAt: trT0, EndedAt: trAt(10 * trS), RingTime: 2 * trS}},
	},
	{
		name: "OriginatedCallIsIgnored",
		events: []Event{
			trEv(EventInternal, "1", 0, ReasonOutbound),
			trEv(EventRinging, "1", 1*trS, ""),
			trEv(EventConnected, "1", 5*trS, ""),
			trEv(EventEnded, "1", 65*trS, ""),
		},
		want: []Verdict{{PBX: trPBX, Call: "1", Outcome: Ignored, Reason: ReasonOutbound,
			OfferedAt: trT0, EndedAt: trAt(65 * trS), RingTime: 5 * trS}},
	},
	{
		name: "OfferedThenFoundInternalIsIgnored",
		events: []Event{
			trOffered("1", 0),
			trEv(EventInternal, "1", 0, ReasonInternal),
			trEv(EventDialEnded, "1", 10*trS, ReasonNoAnswer),
			trEv(EventEnded, "1", 10*trS, ""),
		},
		want: []Verdict{trVerdict("1", Ignored, ReasonInternal, 10*trS, 10*trS)},
	},

	// The caller's number.
	{
		name: "WithheldCallerIsMissedButNotTextable",
		events: []Event{
			{Kind: EventOffered, PBX: trPBX, Call: "1", At: trT0, From: trFrom, Withheld: true, Line: trLine},
			trEv(EventDialEnded, "1", 10*trS, ReasonNoAnswer),
			trEv(EventEnded, "1", 10*trS, ""),
		},
		want:     []Verdict{trWith(trVerdict("1", Missed, ReasonNoAnswer, 10*trS, 10*trS), func(v *Verdict) { v.Withheld = true })},
		textable: trBool(false),
	},
	{
		name: "AnonymousCallerIsMissedButNotTextable",
		events: []Event{
			{Kind: EventOffered, PBX: trPBX, Call: "1", At: trT0, From: "anonymous", Line: trLine},
			trEv(EventDialEnded, "1", 10*trS, ReasonNoAnswer),
			trEv(EventEnded, "1", 10*trS, ""),
		},
		want:     []Verdict{trWith(trVerdict("1", Missed, ReasonNoAnswer, 10*trS, 10*trS), func(v *Verdict) { v.From = "anonymous" })},
		textable: trBool(false),
	},
	{
		name: "PresentedCallerIsTextable",
		events: []Event{
			trOffered("1", 0),
			trEv(EventEnded, "1", 10*trS, ""),
		},
		want:     []Verdict{trVerdict("1", Missed, ReasonNoAnswer, 10*trS, 10*trS)},
		textable: trBool(true),
	},

	// One verdict per call.
	{
		name: "DuplicateEndedGivesOneVerdict",
		events: []Event{
			trOffered("1", 0),
			trEv(EventDialEnded, "1", 10*trS, ReasonBusy),
			trEv(EventEnded, "1", 10*trS, ""),
			trEv(EventEnded, "1", 10*trS, ""),
			trEv(EventEnded, "1", 11*trS, ""),
		},
		want: []Verdict{trVerdict("1", Missed, ReasonBusy, 10*trS, 10*trS)},
	},
	{
		name: "EventsAfterTheVerdictAreIgnored",
		events: []Event{
			trOffered("1", 0),
			trEv(EventConnected, "1", 2*trS, ""),
			trEv(EventEnded, "1", 10*trS, ""),
			trOffered("1", 11*trS),
			trEv(EventInternal, "1", 11*trS, ReasonOutbound),
			trEv(EventRinging, "1", 12*trS, ""),
			trEv(EventDialEnded, "1", 13*trS, ReasonNoAnswer),
			trEv(EventEnded, "1", 14*trS, ""),
		},
		want: []Verdict{trVerdict("1", Answered, "", 2*trS, 10*trS)},
	},
	{
		name: "EventsForUnknownCallsAreIgnored",
		events: []Event{
			trEv(EventRinging, "9", 1*trS, ""),
			trEv(EventConnected, "9", 2*trS, ""),
			trEv(EventPBXAnswered, "9", 2*trS, ReasonVoicemail),
			trEv(EventDialEnded, "9", 3*trS, ReasonNoAnswer),
			trEv(EventCallerHangup, "9", 4*trS, ""),
			trEv(EventEnded, "9", 5*trS, ""),
		},
	},
	{
		name: "EventsWithoutCallOrKindAreIgnored",
		events: []Event{
			trOffered("", 0),
			trEv(EventEnded, "", 1*trS, ""),
			trEv(0, "1", 0, ""),
			trEv(EventKind(200), "1", 0, ""),
			trEv(EventEnded, "1", 1*trS, ""),
		},
	},

	// What the call carries.
	{
		name: "LineLearntAfterOffered",
		events: []Event{
			{Kind: EventOffered, PBX: trPBX, Call: "1", At: trT0, From: trFrom},
			trEv(EventRinging, "1", 1*trS, ""),
			{Kind: EventDialEnded, PBX: trPBX, Call: "1", At: trAt(10 * trS), Line: trLine, Hint: ReasonNoAnswer},
			{Kind: EventEnded, PBX: trPBX, Call: "1", At: trAt(10 * trS), Line: "5559999"},
		},
		want: []Verdict{trVerdict("1", Missed, ReasonNoAnswer, 10*trS, 10*trS)},
	},
	{
		name: "SecondOfferedFillsWhatWasEmpty",
		events: []Event{
			{Kind: EventOffered, PBX: trPBX, Call: "1", At: trT0},
			{Kind: EventOffered, PBX: trPBX, Call: "1", At: trAt(1 * trS), From: trFrom, Line: trLine, Withheld: true},
			{Kind: EventOffered, PBX: trPBX, Call: "1", At: trAt(2 * trS), From: "+15550000000", Line: "5550000"},
			trEv(EventEnded, "1", 10*trS, ""),
		},
		want: []Verdict{trWith(trVerdict("1", Missed, ReasonNoAnswer, 10*trS, 10*trS), func(v *Verdict) { v.Withheld = true })},
	},
	{
		name: "OfferedTimeLearntLater",
		events: []Event{
			{Kind: EventOffered, PBX: trPBX, Call: "1", From: trFrom, Line: trLine},
			trOffered("1", 1*trS),
			trOffered("1", 2*trS),
			trEv(EventEnded, "1", 10*trS, ""),
		},
		want: []Verdict{trWith(trVerdict("1", Missed, ReasonNoAnswer, 9*trS, 10*trS), func(v *Verdict) { v.OfferedAt = trAt(1 * trS) })},
	},
	{
		name: "RingTimeIsUntilTheFirstPBXAnswer",
		events: []Event{
			trOffered("1", 0),
			trEv(EventRinging, "1", 1*trS, ""),
			trEv(EventPBXAnswered, "1", 3*trS, ReasonIVRAbandon),
			trEv(EventPBXAnswered, "1", 30*trS, ReasonVoicemail),
			trEv(EventEnded, "1", 60*trS, ""),
		},
		want: []Verdict{trVerdict("1", Missed, ReasonVoicemail, 3*trS, 60*trS)},
	},
	{
		name: "RingTimeIncludesTheWaitInAQueue",
		events: []Event{
			trOffered("1", 0),
			trEv(EventPBXAnswered, "1", 1*trS, ReasonQueueAbandon),
			trEv(EventRinging, "1", 2*trS, ""),
			trEv(EventDialEnded, "1", 20*trS, ReasonQueueTimeout),
			trEv(EventPBXAnswered, "1", 21*trS, ReasonVoicemail),
			trEv(EventEnded, "1", 40*trS, ""),
		},
		want: []Verdict{trVerdict("1", Missed, ReasonVoicemail, 21*trS, 40*trS)},
	},
	{
		name: "RingTimeIsNeverNegative",
		events: []Event{
			trOffered("1", 10*trS),
			trEv(EventEnded, "1", 5*trS, ""),
		},
		want: []Verdict{trWith(trVerdict("1", Missed, ReasonNoAnswer, 0, 5*trS), func(v *Verdict) { v.OfferedAt = trAt(10 * trS) })},
	},
	{
		name: "RingTimeWithPBXAnswerAfterTheEndIsUntilTheEnd",
		events: []Event{
			trOffered("1", 0),
			trEv(EventPBXAnswered, "1", 20*trS, ReasonIVRAbandon),
			trEv(EventEnded, "1", 15*trS, ""),
		},
		want: []Verdict{trVerdict("1", Missed, ReasonIVRAbandon, 15*trS, 15*trS)},
	},

	// Several calls.
	{
		name: "InterleavedConcurrentCalls",
		events: []Event{
			trOffered("a", 0),
			trOffered("b", 1*trS),
			trEv(EventRinging, "a", 1*trS, ""),
			trEv(EventRinging, "b", 2*trS, ""),
			trOffered("c", 2*trS),
			trEv(EventConnected, "b", 4*trS, ""),
			trEv(EventPBXAnswered, "c", 3*trS, ReasonIVRAbandon),
			trEv(EventDialEnded, "a", 16*trS, ReasonNoAnswer),
			trEv(EventCallerHangup, "c", 17*trS, ""),
			trEv(EventEnded, "a", 18*trS, ""),
			trEv(EventEnded, "c", 19*trS, ""),
			trEv(EventEnded, "b", 80*trS, ""),
		},
		want: []Verdict{
			trVerdict("a", Missed, ReasonNoAnswer, 18*trS, 18*trS),
			trWith(trVerdict("c", Missed, ReasonIVRAbandon, 1*trS, 19*trS), func(v *Verdict) { v.OfferedAt = trAt(2 * trS) }),
			trWith(trVerdict("b", Answered, "", 3*trS, 80*trS), func(v *Verdict) { v.OfferedAt = trAt(1 * trS) }),
		},
	},
	{
		name: "SameCallIDOnTwoPBXesAreTwoCalls",
		events: []Event{
			trOffered("1", 0),
			{Kind: EventOffered, PBX: "freeswitch", Call: "1", At: trT0, From: trFrom, Line: trLine},
			trEv(EventConnected, "1", 2*trS, ""),
			{Kind: EventEnded, PBX: "freeswitch", Call: "1", At: trAt(5 * trS)},
			trEv(EventEnded, "1", 9*trS, ""),
		},
		want: []Verdict{
			trWith(trVerdict("1", Missed, ReasonNoAnswer, 5*trS, 5*trS), func(v *Verdict) { v.PBX = "freeswitch" }),
			trVerdict("1", Answered, "", 2*trS, 9*trS),
		},
	},
}

// trRun feeds events to a new tracker and returns the verdicts it yields.
func trRun(t testing.TB, tr *Tracker, events []Event) []Verdict {
	t.Helper()
	var got []Verdict
	for i, e := range events {
		v, ok := tr.Observe(e)
		if ok != (v != Verdict{}) {
			t.Fatalf("event %d (%s): Observe returned ok=%v with verdict %+v", i, e.Kind, ok, v)
		}
		if ok {
			got = append(got, v)
		}
	}
	return got
}

func TestTracker_Observe(t *testing.T) {
	for _, tc := range trackerCases {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTracker(TrackerOptions{})
			got := trRun(t, tr, tc.events)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("verdicts:\n got %+v\nwant %+v", got, tc.want)
			}
			if n := tr.Len(); n != 0 {
				t.Errorf("Len() = %d after every call ended, want 0", n)
			}
			if tc.textable != nil {
				if len(got) != 1 {
					t.Fatalf("got %d verdicts, want 1", len(got))
				}
				if got[0].Textable() != *tc.textable {
					t.Errorf("Textable() = %v, want %v", got[0].Textable(), *tc.textable)
				}
			}
		})
	}
}

func TestTracker_ObserveCopiesStrings(t *testing.T) {
	// An adapter may slice an event's strings out of a large buffer; the
	// tracker must not keep the buffer alive.
	raw := strings.Repeat("x", 1<<10) + "c1" + trFrom + trLine
	e := Event{Kind: EventOffered, PBX: trPBX, At: trT0}
	e.Call, e.From, e.Line = raw[1024:1026], raw[1026:1026+len(trFrom)], raw[1026+len(trFrom):]
	tr := NewTracker(TrackerOptions{})
	tr.Observe(e)
	v, ok := tr.Observe(trEv(EventEnded, "c1", trS, ""))
	if !ok || v.Call != "c1" || v.From != trFrom || v.Line != trLine {
		t.Fatalf("verdict %+v, %v", v, ok)
	}
	for _, s := range []string{v.Call, v.From, v.Line} {
		if p := uintptr(unsafe.Pointer(unsafe.StringData(s))); p >= uintptr(unsafe.Pointer(unsafe.StringData(raw))) &&
			p < uintptr(unsafe.Pointer(unsafe.StringData(raw)))+uintptr(len(raw)) {
			t.Errorf("verdict string %q points into the event's buffer", s)
		}
	}
}

func TestNewTracker_Defaults(t *testing.T) {
	tr := NewTracker(TrackerOptions{})
	if tr.maxAge != DefaultMaxAge || tr.maxCalls != DefaultMaxCalls {
		t.Errorf("defaults: maxAge %v maxCalls %d", tr.maxAge, tr.maxCalls)
	}
	tr = NewTracker(TrackerOptions{MaxAge: -1, MaxCalls: -5})
	if tr.maxAge != DefaultMaxAge || tr.maxCalls != DefaultMaxCalls {
		t.Errorf("negative options: maxAge %v maxCalls %d", tr.maxAge, tr.maxCalls)
	}
}

func TestTracker_Expire(t *testing.T) {
	t.Run("ByAge", func(t *testing.T) {
		tr := NewTracker(TrackerOptions{MaxAge: time.Hour})
		tr.Observe(trOffered("old", 0))
		tr.Observe(trEv(EventPBXAnswered, "old", 2*trS, ReasonVoicemail))
		tr.Observe(trOffered("edge", 10*time.Minute))
		tr.Observe(trEv(EventInternal, "internal", 5*time.Minute, ReasonInternal))
		tr.Observe(trOffered("new", 50*time.Minute))
		if got := tr.Expire(trAt(time.Hour)); got != nil {
			t.Fatalf("Expire at 1h: %+v, want nothing", got)
		}
		now := trAt(70 * time.Minute) // "edge" is exactly MaxAge old: kept
		got := tr.Expire(now)
		want := []Verdict{
			{PBX: trPBX, Call: "old", Outcome: Ignored, Reason: ReasonExpired, From: trFrom, Line: trLine,
				OfferedAt: trT0, EndedAt: now, RingTime: 2 * trS},
			{PBX: trPBX, Call: "internal", Outcome: Ignored, Reason: ReasonExpired,
				OfferedAt: trAt(5 * time.Minute), EndedAt: now, RingTime: 65 * time.Minute},
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Expire:\n got %+v\nwant %+v", got, want)
		}
		if tr.Len() != 2 {
			t.Errorf("Len() = %d, want 2", tr.Len())
		}
		// An expired call is decided: its late events do nothing.
		for _, e := range []Event{trOffered("old", 0), trEv(EventEnded, "old", 71*time.Minute, "")} {
			if v, ok := tr.Observe(e); ok {
				t.Errorf("late %s of an expired call gave %+v", e.Kind, v)
			}
		}
		if got := tr.Expire(now); got != nil {
			t.Errorf("second Expire: %+v", got)
		}
		// The rest ends normally.
		if v, ok := tr.Observe(trEv(EventEnded, "edge", 71*time.Minute, "")); !ok || v.Outcome != Missed {
			t.Errorf("edge ended: %+v, %v", v, ok)
		}
		got = tr.Expire(trAt(24 * time.Hour))
		if len(got) != 1 || got[0].Call != "new" || tr.Len() != 0 {
			t.Errorf("Expire at 24h: %+v, Len %d", got, tr.Len())
		}
	})
	t.Run("ByMaxCalls", func(t *testing.T) {
		tr := NewTracker(TrackerOptions{MaxCalls: 3})
		// Offered out of order: "b" is the oldest.
		tr.Observe(trOffered("a", 2*trS))
		tr.Observe(trOffered("b", 1*trS))
		tr.Observe(trOffered("c", 3*trS))
		tr.Observe(trOffered("d", 4*trS)) // evicts b
		tr.Observe(trOffered("e", 5*trS)) // evicts a
		if tr.Len() != 3 {
			t.Fatalf("Len() = %d, want 3", tr.Len())
		}
		for _, call := range []string{"a", "b"} {
			if v, ok := tr.Observe(trEv(EventEnded, call, 6*trS, "")); ok {
				t.Errorf("Ended of evicted call %s gave %+v", call, v)
			}
		}
		if v, ok := tr.Observe(trEv(EventEnded, "c", 6*trS, "")); !ok || v.Call != "c" {
			t.Errorf("Ended of c: %+v, %v", v, ok)
		}
		got := tr.Expire(trAt(7 * trS))
		want := []Verdict{
			trWith(trVerdict("b", Ignored, ReasonExpired, 3*trS, 4*trS), func(v *Verdict) { v.OfferedAt = trAt(1 * trS) }),
			trWith(trVerdict("a", Ignored, ReasonExpired, 3*trS, 5*trS), func(v *Verdict) { v.OfferedAt = trAt(2 * trS) }),
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Expire:\n got %+v\nwant %+v", got, want)
		}
		if got := tr.Expire(trAt(8 * trS)); got != nil {
			t.Errorf("second Expire: %+v", got)
		}
	})
	t.Run("EvictedVerdictsAreBounded", func(t *testing.T) {
		tr := NewTracker(TrackerOptions{MaxCalls: 10})
		for i := range 100 {
			tr.Observe(trOffered(strconv.Itoa(i), time.Duration(i)*trS))
		}
		if tr.Len() != 10 {
			t.Errorf("Len() = %d, want 10", tr.Len())
		}
		got := tr.Expire(trAt(time.Minute))
		if len(got) != 10 || got[0].Call != "0" || got[9].Call != "9" {
			t.Errorf("Expire gave %d verdicts (first %+v), want the first 10 evicted", len(got), got[:1])
		}
	})
}

func TestTracker_DecidedMemoryIsBounded(t *testing.T) {
	tr := NewTracker(TrackerOptions{})
	n := 3 * decidedMemory
	for i := range n {
		id := strconv.Itoa(i)
		tr.Observe(trOffered(id, time.Duration(i)*trS))
		if _, ok := tr.Observe(trEv(EventEnded, id, time.Duration(i+1)*trS, "")); !ok {
			t.Fatalf("call %d gave no verdict", i)
		}
	}
	if len(tr.decided) != decidedMemory || len(tr.ring) != decidedMemory {
		t.Errorf("decided memory holds %d ids (ring %d), want %d", len(tr.decided), len(tr.ring), decidedMemory)
	}
	// The most recent ones are remembered.
	for i := n - decidedMemory; i < n; i++ {
		if _, ok := tr.decided[callKey{trPBX, strconv.Itoa(i)}]; !ok {
			t.Fatalf("call %d forgotten", i)
		}
	}
	if tr.Len() != 0 || len(tr.byAge) != 0 {
		t.Errorf("Len() = %d, heap %d", tr.Len(), len(tr.byAge))
	}
}

// trRename returns events with every call id c renamed to prefix+c and
// times shifted by d.
func trRename(events []Event, prefix string, d time.Duration) []Event {
	out := make([]Event, len(events))
	for i, e := range events {
		if e.Call != "" {
			e.Call = prefix + e.Call
		}
		e.At = e.At.Add(d)
		out[i] = e
	}
	return out
}

// TestTracker_RandomInterleavings replays many calls (the scenarios of
// TestTracker_Observe under fresh ids), interleaved at random and with
// some events duplicated, and checks that each offered call gets exactly
// one verdict, the same as when its events come alone.
func TestTracker_RandomInterleavings(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint("Seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 0x7e47ba4c))
			var (
				queues [][]Event
				want   = map[string]Verdict{}
			)
			for i := range 200 {
				tc := trackerCases[rng.IntN(len(trackerCases))]
				events := trRename(tc.events, fmt.Sprintf("%d/", i), time.Duration(rng.IntN(600))*trS)
				for _, v := range trRun(t, NewTracker(TrackerOptions{}), events) {
					want[v.ID()] = v
				}
				// Duplicate some events in place (a reconnecting adapter).
				var q []Event
				for _, e := range events {
					q = append(q, e)
					if rng.IntN(10) == 0 {
						q = append(q, e)
					}
				}
				queues = append(queues, q)
			}
			tr := NewTracker(TrackerOptions{})
			got := map[string]Verdict{}
			for len(queues) > 0 {
				i := rng.IntN(len(queues))
				e := queues[i][0]
				if queues[i] = queues[i][1:]; len(queues[i]) == 0 {
					queues[i] = queues[len(queues)-1]
					queues = queues[:len(queues)-1]
				}
				v, ok := tr.Observe(e)
				if !ok {
					continue
				}
				if prev, dup := got[v.ID()]; dup {
					t.Fatalf("second verdict for %s: %+v after %+v", v.ID(), v, prev)
				}
				got[v.ID()] = v
			}
			if !reflect.DeepEqual(got, want) {
				for id, w := range want {
					if g, ok := got[id]; !ok || g != w {
						t.Errorf("%s: got %+v (%v), want %+v", id, g, ok, w)
					}
				}
				for id, g := range got {
					if _, ok := want[id]; !ok {
						t.Errorf("%s: unexpected verdict %+v", id, g)
					}
				}
			}
			if tr.Len() != 0 {
				t.Errorf("Len() = %d, want 0", tr.Len())
			}
		})
	}
}

// BenchmarkTracker feeds one realistic missed call per iteration (ring
// group, no answer, voicemail), with fresh call ids, a few hundred other
// calls in flight, and an Expire per thousand calls.
func BenchmarkTracker(b *testing.B) {
	const pool = 1 << 16 // ids repeat only long after they left the decided memory
	ids := make([]string, pool)
	for i := range ids {
		ids[i] = "1795711522." + strconv.Itoa(i)
	}
	script := []Event{
		{Kind: EventOffered, From: trFrom, Line: trLine, Leg: "PJSIP/carrier-0000001c"},
		{Kind: EventRinging, Leg: "PJSIP/100-0000001d"},
		{Kind: EventRinging, Leg: "PJSIP/101-0000001e"},
		{Kind: EventDialEnded, Hint: ReasonNoAnswer, Leg: "PJSIP/100-0000001d"},
		{Kind: EventDialEnded, Hint: ReasonNoAnswer, Leg: "PJSIP/101-0000001e"},
		{Kind: EventPBXAnswered, Hint: ReasonVoicemail},
		{Kind: EventCallerHangup},
		{Kind: EventEnded},
	}
	tr := NewTracker(TrackerOptions{})
	const inFlight = 256
	for i := range inFlight {
		tr.Observe(Event{Kind: EventOffered, PBX: trPBX, Call: "inflight" + strconv.Itoa(i), At: trT0, From: trFrom, Line: trLine})
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		id := ids[n%pool]
		at := trT0.Add(time.Duration(n) * time.Second)
		var decided bool
		for k, e := range script {
			e.PBX, e.Call, e.At = trPBX, id, at.Add(time.Duration(k)*time.Second)
			_, decided = tr.Observe(e)
		}
		if !decided {
			b.Fatalf("call %d not decided", n)
		}
		n++
		if n%1000 == 0 {
			tr.Expire(trT0) // nothing is that old
		}
	}
	if tr.Len() != inFlight {
		b.Fatalf("Len() = %d", tr.Len())
	}
}
