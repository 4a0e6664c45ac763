package modem

import (
	"errors"
	"strconv"
	"strings"

	"github.com/warthog618/modem/at"

	"github.com/textback/textback/sms"
)

// cmsOutcome classifies a +CMS ERROR code (3GPP 27.005 3.2.5; 1-127 are the
// network's RP causes of 24.011, 128-255 TP-FCS of 23.040) for a send the
// modem refused: the text did not leave, so the outcome is never Accepted,
// and Unknown only for a network timeout, where the SMSC may have taken it.
func cmsOutcome(code int) sms.Outcome {
	switch {
	case code == 332: // network timeout: the SMSC may have the message
		return sms.Unknown
	case code == 192: // SC busy
		return sms.Temporary
	case code == 1, // unassigned (unallocated) number
		code == 8,                  // operator determined barring
		code == 10,                 // call barred
		code == 21,                 // short message transfer rejected
		code == 28,                 // unidentified subscriber
		code == 29,                 // facility rejected
		code == 30,                 // unknown subscriber
		code == 50,                 // requested facility not subscribed
		code == 69,                 // requested facility not implemented
		code >= 95 && code <= 99,   // invalid message, protocol errors in what we sent
		code >= 128 && code <= 207, // TP-PID, TP-DCS, TP-command errors, SC refusals
		code == 303,                // operation not supported
		code == 304,                // invalid PDU mode parameter
		code == 305,                // invalid text mode parameter
		code == 500:                // unknown error: the modem refused this text
		return sms.Rejected
	default:
		// 27 destination out of service, 38 network out of order, 41
		// temporary failure, 42 congestion, 47 resources unavailable,
		// 300-331 ME, SIM, memory and network service problems, 340...:
		// the text did not leave and a later attempt may succeed.
		return sms.Temporary
	}
}

// cmsText maps the verbose +CMS ERROR texts some modems give even with
// numeric errors set to their codes.
var cmsText = map[string]int{
	"unassigned (unallocated) number": 1,
	"operator determined barring":     8,
	"call barred":                     10,
	"short message transfer rejected": 21,
	"destination out of service":      27,
	"unknown subscriber":              30,
	"network out of order":            38,
	"temporary failure":               41,
	"congestion":                      42,
	"me failure":                      300,
	"operation not allowed":           302,
	"operation not supported":         303,
	"invalid pdu mode parameter":      304,
	"sim not inserted":                310,
	"sim pin required":                311,
	"sim failure":                     313,
	"sim busy":                        314,
	"memory full":                     322,
	"smsc address unknown":            330,
	"no network service":              331,
	"network timeout":                 332,
	"unknown error":                   500,
}

// parseCMS returns the numeric code of a +CMS ERROR payload, -1 if unknown.
func parseCMS(s string) int {
	s = strings.TrimSpace(s)
	if n, err := strconv.Atoi(s); err == nil {
		if n < 0 {
			return -1 // no such code: a garbled line
		}
		return n
	}
	if n, ok := cmsText[strings.ToLower(s)]; ok {
		return n
	}
	return -1
}

// refusal turns the error of an AT+CMGS the modem answered into an
// *sms.Error; written says whether a PDU may have reached the modem (any
// segment of the text).
func refusal(err error, written bool) *sms.Error {
	var cms at.CMSError
	var cme at.CMEError
	switch {
	case errors.As(err, &cms):
		code := parseCMS(string(cms))
		o := cmsOutcome(code)
		if code < 0 {
			o = sms.Temporary
		}
		if written && o != sms.Unknown && partial(err) {
			o = sms.Unknown
		}
		return &sms.Error{Outcome: o, Code: "CMS " + strings.TrimSpace(string(cms)), Message: "modem refused the text", Err: err}
	case errors.As(err, &cme):
		o := sms.Temporary
		if partial(err) {
			o = sms.Unknown
		}
		return &sms.Error{Outcome: o, Code: "CME " + strings.TrimSpace(string(cme)), Message: "modem refused the text", Err: err}
	case errors.Is(err, at.ErrError):
		o := sms.Temporary
		if partial(err) {
			o = sms.Unknown
		}
		return &sms.Error{Outcome: o, Code: "ERROR", Message: "modem refused the text", Err: err}
	}
	if written {
		return &sms.Error{Outcome: sms.Unknown, Message: "modem stopped answering during the send", Err: err}
	}
	return &sms.Error{Outcome: sms.Temporary, Message: "modem not usable before the text was written", Err: err}
}

// partialError marks a refusal of a segment after earlier segments of the
// same text were accepted: part of the text has gone out.
type partialError struct {
	sent, total int
	err         error
}

func (e *partialError) Error() string {
	return "segment " + strconv.Itoa(e.sent+1) + " of " + strconv.Itoa(e.total) + " (after " + strconv.Itoa(e.sent) + " accepted): " + e.err.Error()
}
func (e *partialError) Unwrap() error { return e.err }

func partial(err error) bool {
	var p *partialError
	return errors.As(err, &p)
}
