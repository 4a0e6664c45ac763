// Package sms is the contract between textback's core and the things that
// deliver text messages: HTTP carriers, a USB GSM modem, the console.
//
// It owns the Driver interface, the Message a driver sends, the Inbound
// message a driver hands back, and the classes of failure. It knows nothing
// of calls, lines or consent: those belong to package ledger.
//
// The central question of this package is the one database/sql/driver asks
// with ErrBadConn: after a failed send, might the message have gone out? A
// driver answers it by the Outcome of the error it returns. When in doubt the
// answer is Unknown, and the core never resends an Unknown text on its own.
package sms

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Message is one text to send.
type Message struct {
	// Key is a stable idempotency key for this text, the same on every
	// attempt. Drivers whose carrier honours idempotency keys pass it on.
	Key string
	// From is the sender: the line's number in E.164 form, or a
	// carrier-specific sender (a messaging service id) chosen by config.
	From string
	// To is the recipient in E.164 form.
	To string
	// Body is the UTF-8 text. Drivers split it into segments as their
	// carrier requires.
	Body string
}

// Result describes an accepted message.
type Result struct {
	// ProviderID is the carrier's or modem's id for the message
	// (a Twilio SID, a modem message reference), empty when there is none.
	ProviderID string
	// Segments is the number of SMS segments the message took, 0 if unknown.
	Segments int
}

// Outcome classifies the result of a send.
type Outcome int

const (
	// Accepted: the carrier or modem took the message.
	Accepted Outcome = iota
	// Temporary: the message was certainly not sent and a later attempt may
	// succeed (rate limited, modem not registered, carrier 5xx before
	// accepting). Retrying is safe.
	Temporary
	// Rejected: the message was not sent and will never be accepted as it
	// is (invalid number, blocked content, bad credentials). Do not retry.
	Rejected
	// OptedOut: the carrier refuses because the recipient opted out with it
	// (Twilio 21610, Telnyx 40300). The core records an opt-out.
	OptedOut
	// NotMobile: the recipient cannot receive SMS (a landline). The core
	// remembers the number and does not text it again.
	NotMobile
	// Unknown: the message may or may not have been sent (a timeout after
	// the request was written, a modem that stopped answering mid-send).
	// Retrying could send it twice; the core does not.
	Unknown
)

var outcomeNames = [...]string{"accepted", "temporary", "rejected", "opted_out", "not_mobile", "unknown"}

// String returns the outcome's name as logs and records show it
// ("accepted", "opted_out"), or "outcome(N)" for a value out of range.
func (o Outcome) String() string {
	if o < 0 || int(o) >= len(outcomeNames) {
		return fmt.Sprintf("outcome(%d)", int(o))
	}
	return outcomeNames[o]
}

// Sentinel errors, one per failure Outcome, for errors.Is: an *Error
// matches the sentinel of its Outcome (ErrUnknown for Unknown). Drivers
// return an *Error, not a bare sentinel: OutcomeOf classifies only *Error.
var (
	ErrTemporary = errors.New("temporary failure")
	ErrRejected  = errors.New("rejected")
	ErrOptedOut  = errors.New("recipient opted out")
	ErrNotMobile = errors.New("recipient is not a mobile number")
	ErrUnknown   = errors.New("outcome unknown")
)

// Error is the error a Driver returns for a failed send. Drivers should
// return *Error; any other error is treated as Unknown.
type Error struct {
	Outcome Outcome
	// Code is the carrier's or modem's error code ("21610", "CMS 500"),
	// empty when there is none.
	Code string
	// Message is the carrier's text, for logs.
	Message string
	// RetryAfter, for Temporary errors, is how long the carrier asked us to
	// wait (HTTP Retry-After); 0 means the caller chooses.
	RetryAfter time.Duration
	// Err is the underlying error, if any.
	Err error
}

// Error returns the outcome, then the code, the carrier's message and the
// underlying error when present: "opted_out (code 21610): <message>".
func (e *Error) Error() string {
	s := e.Outcome.String()
	if e.Code != "" {
		s += " (code " + e.Code + ")"
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap lets errors.Is match both the sentinel of the outcome and the
// underlying error.
func (e *Error) Unwrap() []error {
	errs := []error{sentinel(e.Outcome)}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

func sentinel(o Outcome) error {
	switch o {
	case Temporary:
		return ErrTemporary
	case Rejected:
		return ErrRejected
	case OptedOut:
		return ErrOptedOut
	case NotMobile:
		return ErrNotMobile
	default:
		return ErrUnknown
	}
}

// OutcomeOf classifies err as returned by Driver.Send. A nil error is
// Accepted. An *Error anywhere in the chain gives its Outcome (an *Error
// claiming Accepted is Unknown); a bare sentinel (ErrRejected, possibly
// wrapped) gives its own. Anything else, including context errors, is
// Unknown: a driver that cannot say whether the message left must not be
// retried.
func OutcomeOf(err error) Outcome {
	if err == nil {
		return Accepted
	}
	var se *Error
	if errors.As(err, &se) {
		if se.Outcome <= Accepted || se.Outcome > Unknown {
			return Unknown // an error that claims success, or no known outcome
		}
		return se.Outcome
	}
	for _, o := range []Outcome{Temporary, Rejected, OptedOut, NotMobile} {
		if errors.Is(err, sentinel(o)) {
			return o
		}
	}
	return Unknown
}

// Driver sends text messages.
//
// Send blocks until the carrier or modem has answered, ctx is done, or the
// driver's own timeout expires. It is safe for concurrent use; a driver that
// can only send one message at a time (a modem) serialises internally.
//
// Send returns nil when the message was accepted, or an error whose
// OutcomeOf tells what happened. A driver must return Temporary only when
// the message certainly did not leave, and Unknown when it cannot tell (in
// particular when ctx ends after the request was written). When ctx is done
// before anything was written, Send returns an *Error with Outcome
// Temporary wrapping ctx.Err(). A ProviderID, when a driver returns one,
// identifies one accepted message: two sends never share it.
//
// Package smstest holds the conformance suite every driver passes.
type Driver interface {
	Send(ctx context.Context, m Message) (Result, error)
	// Name identifies the driver in logs and status ("console", "twilio",
	// "modem"). It is constant and does not block.
	Name() string
}

// Inbound is a message received from a phone.
type Inbound struct {
	// Provider names where it came from ("twilio", "modem"); with
	// ProviderID it identifies the message for deduplication.
	Provider string
	// ProviderID is the carrier's message id. Drivers without one (a modem)
	// derive a stable id from the message (sender, timestamp, reference).
	ProviderID string
	From       string
	To         string
	Body       string
	// ReceivedAt is when the carrier or modem received it; zero if unknown.
	ReceivedAt time.Time
}

// Status is a delivery report for a message sent earlier.
type Status struct {
	Provider   string
	ProviderID string
	// Delivered is true for a delivery confirmation; false with Outcome for
	// a failure reported after acceptance.
	Delivered bool
	Outcome   Outcome
	Code      string
	At        time.Time
}

// Receiver takes what drivers receive. Package ledger implements it.
//
// Receive returns nil only once the message is durably recorded (or was
// already recorded: duplicates are not errors). A driver acknowledges the
// message to its peer (HTTP 2xx, modem delete) only after a nil return, and
// must deliver it again later after an error.
type Receiver interface {
	Receive(ctx context.Context, in Inbound) error
	UpdateStatus(ctx context.Context, st Status) error
}
