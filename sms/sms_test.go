package sms_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/textback/textback/sms"
)

func TestOutcome_String(t *testing.T) {
	tests := []struct {
		o    sms.Outcome
		want string
	}{
		{sms.Accepted, "accepted"},
		{sms.Temporary, "temporary"},
		{sms.Rejected, "rejected"},
		{sms.OptedOut, "opted_out"},
		{sms.NotMobile, "not_mobile"},
		{sms.Unknown, "unknown"},
		{sms.Unknown + 1, "outcome(6)"},
		{-1, "outcome(-1)"},
	}
	for _, tt := range tests {
		if got := tt.o.String(); got != tt.want {
			t.Errorf("Outcome(%d).String() = %q, want %q", int(tt.o), got, tt.want)
		}
	}
}

func TestError_Error(t *testing.T) {
	tests := []struct {
		name string
		err  *sms.Error
		want string
	}{
		{"OutcomeOnly", &sms.Error{Outcome: sms.Temporary}, "temporary"},
		{"Code", &sms.Error{Outcome: sms.OptedOut, Code: "21610"}, "opted_out (code 21610)"},
		{"Message", &sms.Error{Outcome: sms.Rejected, Message: "invalid 'To' number"}, "rejected: invalid 'To' number"},
		{"Wrapped", &sms.Error{Outcome: sms.Unknown, Err: context.DeadlineExceeded}, "unknown: context deadline exceeded"},
		{"Everything", &sms.Error{Outcome: sms.Temporary, Code: "CMS 500", Message: "modem busy", RetryAfter: time.Second, Err: io.ErrUnexpectedEOF},
			"temporary (code CMS 500): modem busy: unexpected EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestError_Is(t *testing.T) {
	sentinels := map[sms.Outcome]error{
		sms.Temporary: sms.ErrTemporary,
		sms.Rejected:  sms.ErrRejected,
		sms.OptedOut:  sms.ErrOptedOut,
		sms.NotMobile: sms.ErrNotMobile,
		sms.Unknown:   sms.ErrUnknown,
	}
	cause := errors.New("connection reset")
	for o, want := range sentinels {
		t.Run(o.String(), func(t *testing.T) {
			err := fmt.Errorf("send to +15555550123: %w", &sms.Error{Outcome: o, Err: cause})
			for other, s := range sentinels {
				if got := errors.Is(err, s); got != (other == o) {
					t.Errorf("errors.Is(%v, %v) = %t, want %t", err, s, got, other == o)
				}
			}
			if !errors.Is(err, want) {
				t.Errorf("errors.Is(%v, %v) is false", err, want)
			}
			if !errors.Is(err, cause) {
				t.Errorf("errors.Is(%v, the wrapped error) is false", err)
			}
		})
	}
	t.Run("NoWrappedError", func(t *testing.T) {
		err := &sms.Error{Outcome: sms.Rejected}
		if !errors.Is(err, sms.ErrRejected) || errors.Is(err, context.Canceled) {
			t.Errorf("errors.Is on %v: want it to match ErrRejected only", err)
		}
	})
	t.Run("ContextError", func(t *testing.T) {
		err := &sms.Error{Outcome: sms.Temporary, Err: context.Canceled}
		if !errors.Is(err, context.Canceled) || !errors.Is(err, sms.ErrTemporary) {
			t.Errorf("errors.Is on %v: want it to match context.Canceled and ErrTemporary", err)
		}
	})
}

func TestOutcomeOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want sms.Outcome
	}{
		{"Nil", nil, sms.Accepted},
		{"Error", &sms.Error{Outcome: sms.OptedOut, Code: "21610"}, sms.OptedOut},
		{"WrappedError", fmt.Errorf("twilio: %w", &sms.Error{Outcome: sms.Temporary}), sms.Temporary},
		{"DoublyWrapped", fmt.Errorf("outbox: %w", fmt.Errorf("twilio: %w", &sms.Error{Outcome: sms.NotMobile})), sms.NotMobile},
		{"Joined", errors.Join(io.EOF, &sms.Error{Outcome: sms.Rejected}), sms.Rejected},
		{"ErrorWrappingContext", &sms.Error{Outcome: sms.Temporary, Err: context.Canceled}, sms.Temporary},
		{"DeadlineExceeded", context.DeadlineExceeded, sms.Unknown},
		{"Canceled", fmt.Errorf("send: %w", context.Canceled), sms.Unknown},
		{"PlainError", errors.New("connection reset by peer"), sms.Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sms.OutcomeOf(tt.err); got != tt.want {
				t.Errorf("OutcomeOf(%v) = %s, want %s", tt.err, got, tt.want)
			}
		})
	}
}

func TestOutcomeOf_SentinelsAndContradictions(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want sms.Outcome
	}{
		{sms.ErrRejected, sms.Rejected},
		{fmt.Errorf("send: %w", sms.ErrTemporary), sms.Temporary},
		{fmt.Errorf("send: %w", sms.ErrOptedOut), sms.OptedOut},
		{sms.ErrNotMobile, sms.NotMobile},
		{sms.ErrUnknown, sms.Unknown},
		{&sms.Error{Outcome: sms.Accepted}, sms.Unknown},
		{&sms.Error{Outcome: sms.Outcome(42)}, sms.Unknown},
	} {
		if got := sms.OutcomeOf(tt.err); got != tt.want {
			t.Errorf("sms.OutcomeOf(%v) = %s, want %s", tt.err, got, tt.want)
		}
	}
}
