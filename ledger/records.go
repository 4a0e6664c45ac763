package ledger

import "time"

// Skip says why a call was not texted. Every call record that is not
// texted carries one (DESIGN invariant 7).
type Skip string

// Skip reasons, in the order the policy checks them.
const (
	SkipNone         Skip = ""
	SkipInternal     Skip = "internal"
	SkipOutbound     Skip = "outbound"
	SkipExpired      Skip = "expired"
	SkipAnswered     Skip = "answered"
	SkipAnonymous    Skip = "anonymous"
	SkipWithheld     Skip = "withheld"
	SkipUnknownLine  Skip = "unknown_line"
	SkipInvalid      Skip = "invalid_number"
	SkipShortCode    Skip = "short_code"
	SkipCountry      Skip = "country_not_allowed"
	SkipPremium      Skip = "premium"
	SkipLineNumber   Skip = "caller_is_a_line"
	SkipReason       Skip = "reason_not_texted"
	SkipRingTooShort Skip = "ring_too_short"
	SkipOptedOut     Skip = "opted_out"
	SkipNotMobile    Skip = "not_mobile"
	SkipCooldown     Skip = "cooldown"
	SkipRateCap      Skip = "rate_cap"
	SkipTemplate     Skip = "template_error"
	SkipShadow       Skip = "shadow"
)

// Action is what the policy decided for a call.
type Action string

const (
	ActionText Action = "text" // a text was queued
	ActionSkip Action = "skip" // no text; Skip says why
)

// Call is the ledger's record of one decided call.
type Call struct {
	Seq     uint64  `json:"seq"`
	ID      string  `json:"id"` // "pbx:call"
	PBX     string  `json:"pbx"`
	PBXCall string  `json:"pbx_call"`
	Outcome Outcome `json:"verdict"`
	Reason  Reason  `json:"reason,omitempty"`
	// From is the caller as the PBX gave it; Number its E.164 form when
	// valid.
	From     string `json:"from"`
	Number   string `json:"number,omitempty"`
	Withheld bool   `json:"withheld,omitempty"`
	// LineRaw is the line as the PBX gave it; Line the configured line's
	// name when it matched one.
	LineRaw   string        `json:"line_raw,omitempty"`
	Line      string        `json:"line,omitempty"`
	OfferedAt time.Time     `json:"offered_at"`
	EndedAt   time.Time     `json:"ended_at"`
	RingTime  time.Duration `json:"ring_ns"`
	DecidedAt time.Time     `json:"decided_at"`
	Action    Action        `json:"action"`
	Skip      Skip          `json:"skip,omitempty"`
	// Detail explains the decision in words, for `textback explain`.
	Detail string `json:"detail,omitempty"`
	// Text is the outbox sequence of the text queued for this call, or of
	// the text that would have been sent in shadow mode.
	Text uint64 `json:"text,omitempty"`
}

// TextKind says why a text exists.
type TextKind string

const (
	KindCallback TextKind = "callback" // the text-back for a missed call
	KindConfirm  TextKind = "confirm"  // the one confirmation of a consent change
	KindHelp     TextKind = "help"     // the answer to HELP
	KindForward  TextKind = "forward"  // a caller's reply forwarded to staff
	KindWebhook  TextKind = "webhook"  // a caller's reply posted to the line's webhook
	KindManual   TextKind = "manual"   // `textback send`
)

// TextStatus is where a text is in its life.
type TextStatus string

const (
	StatusQueued    TextStatus = "queued"    // waiting (NotBefore says until when)
	StatusSending   TextStatus = "sending"   // handed to the driver; written before the call
	StatusSent      TextStatus = "sent"      // the driver accepted it
	StatusDelivered TextStatus = "delivered" // the carrier reported delivery
	StatusFailed    TextStatus = "failed"    // permanently failed; Error says why
	StatusUnknown   TextStatus = "unknown"   // may or may not have been sent; never resent automatically
	StatusDropped   TextStatus = "dropped"   // dropped before sending (opted out meanwhile, stale, quiet hours)
	StatusShadow    TextStatus = "shadow"    // shadow mode: would have been sent
)

// Pending reports whether the dispatcher still has work with the text.
func (s TextStatus) Pending() bool { return s == StatusQueued }

// Text is one outgoing message in the outbox.
type Text struct {
	Seq  uint64   `json:"seq"`
	Kind TextKind `json:"kind"`
	// Call is the call id a callback answers.
	Call string `json:"call,omitempty"`
	Line string `json:"line"`
	From string `json:"from"`
	// To is the recipient number, or the URL of a webhook.
	To        string     `json:"to"`
	Body      string     `json:"body"`
	Status    TextStatus `json:"status"`
	Attempts  int        `json:"attempts,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
	NotBefore time.Time  `json:"not_before,omitempty"`
	// ProviderID is the carrier's id once accepted.
	ProviderID string `json:"provider_id,omitempty"`
	Segments   int    `json:"segments,omitempty"`
	Code       string `json:"code,omitempty"`
	Error      string `json:"error,omitempty"`
	// Held: the text was held through the line's quiet hours; it goes
	// out when they end however old it is.
	Held bool `json:"held,omitempty"`
	// Exempt marks the one confirmation of an opt-out, the only text that
	// may go to an opted-out number.
	Exempt bool `json:"exempt,omitempty"`
	// Purged: retention removed Body (Store.Purge); the rest is kept.
	Purged bool `json:"purged,omitempty"`
}

// NumberState is the current state of one phone number.
type NumberState struct {
	Number    string    `json:"number"`
	OptedOut  bool      `json:"opted_out,omitempty"`
	Changed   time.Time `json:"changed,omitempty"`
	NotMobile bool      `json:"not_mobile,omitempty"`
	// LastText maps a line name to the time of the last callback text
	// queued for this number on it (cooldown).
	LastText map[string]time.Time `json:"last_text,omitempty"`
	// LastHelp maps a line name to the last automatic HELP answer.
	LastHelp map[string]time.Time `json:"last_help,omitempty"`
}

// ConsentState is a number's consent after a change.
type ConsentState string

const (
	ConsentOptedOut ConsentState = "opted_out"
	ConsentOptedIn  ConsentState = "opted_in"
)

// ConsentSource says who changed consent.
type ConsentSource string

const (
	SourceKeyword ConsentSource = "keyword" // the number texted a keyword
	SourceAdmin   ConsentSource = "admin"   // textback optout add/remove
	SourceCarrier ConsentSource = "carrier" // the carrier refused (Twilio 21610, Telnyx 40300)
)

// ConsentEvent is one entry of the append-only consent history.
type ConsentEvent struct {
	Seq    uint64        `json:"seq"`
	At     time.Time     `json:"at"`
	Number string        `json:"number"`
	Line   string        `json:"line,omitempty"`
	State  ConsentState  `json:"state"`
	Source ConsentSource `json:"source"`
	// Evidence is the raw message text, the carrier's error code, or the
	// admin's note.
	Evidence string `json:"evidence"`
	// Review: probably an opt-out but not a standard keyword; a person
	// should look.
	Review bool `json:"review,omitempty"`
}

// MessageKind says how the inbox handled an inbound message.
type MessageKind string

const (
	MsgOptOut MessageKind = "opt_out"
	MsgOptIn  MessageKind = "opt_in"
	MsgHelp   MessageKind = "help"
	MsgReply  MessageKind = "reply" // forwarded to staff
	MsgStaff  MessageKind = "staff" // from a staff number: recorded only
	MsgLoop   MessageKind = "loop"  // from a line's own number: never answered
	MsgKeep   MessageKind = "kept"  // a keyword that changed nothing (STOP while opted out)
)

// Message is an inbound text as recorded.
type Message struct {
	Seq        uint64      `json:"seq"`
	Provider   string      `json:"provider"`
	ProviderID string      `json:"provider_id"`
	From       string      `json:"from"`
	To         string      `json:"to,omitempty"`
	Line       string      `json:"line,omitempty"`
	Body       string      `json:"body"`
	ReceivedAt time.Time   `json:"received_at"`
	RecordedAt time.Time   `json:"recorded_at"`
	Kind       MessageKind `json:"kind"`
	Review     bool        `json:"review,omitempty"`
	// Suppressed says why an automatic answer was not sent (claimed: an
	// operator has the conversation).
	Suppressed Skip `json:"suppressed,omitempty"`
	// Texts are the outbox entries this message caused (confirmation,
	// help answer, forwards).
	Texts []uint64 `json:"texts,omitempty"`
	// Purged: retention removed Body (Store.Purge); the rest is kept.
	Purged bool `json:"purged,omitempty"`
}
