package carrier

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/textback/textback/sms"
)

// APIError is a carrier's answer to a send it did not accept (or that the
// driver could not read as accepted). It is the Err of the *sms.Error Send
// returns.
type APIError struct {
	// Status is the HTTP status.
	Status int
	// Code is the carrier's error code ("21610"), empty when none.
	Code string
	// Message is the carrier's text, secrets scrubbed.
	Message string
}

// Error returns "HTTP 400, code 21610: <message>".
func (e *APIError) Error() string {
	s := "HTTP " + strconv.Itoa(e.Status)
	if e.Code != "" {
		s += ", code " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// judge turns the carrier's answer into a Result or an *sms.Error. readErr
// is the error of reading the body, if any; id is the request's own id.
func (d *Driver) judge(status int, h http.Header, raw []byte, readErr error, id string) (sms.Result, error) {
	r := d.s.resp
	b := &body{raw: raw}
	if !d.successStatus(status) {
		return sms.Result{}, d.refusal(status, h, b)
	}
	unknown := func(why string) (sms.Result, error) {
		return sms.Result{}, &sms.Error{Outcome: sms.Unknown, Message: why, Err: &APIError{Status: status, Message: d.excerpt(b)}}
	}
	if readErr != nil && (r.successBody != nil || r.messageID != nil) {
		return unknown("success status, but the answer could not be read: " + readErr.Error())
	}
	if r.successBody != nil {
		ok, err := r.successBody.ok(b)
		if err != nil {
			return unknown("success status, but the answer does not read: " + err.Error())
		}
		if !ok {
			if code := d.find(r.errorCode, b); code != "" {
				o, known := d.s.codes[code]
				if !known {
					o = sms.Rejected // the carrier named its refusal
				}
				return sms.Result{}, d.apiErr(o, status, h, code, b)
			}
			return unknown("success status, but the answer does not say the text was taken")
		}
	}
	res := sms.Result{ProviderID: id}
	if r.messageID != nil {
		mid := d.find(r.messageID, b)
		if mid == "" {
			return unknown("success status, but the answer has no message id")
		}
		res.ProviderID = mid
	}
	if n, err := strconv.Atoi(d.find(r.segments, b)); err == nil && n > 0 {
		res.Segments = n
	}
	return res, nil
}

func (d *Driver) successStatus(status int) bool {
	if len(d.s.resp.successStatus) == 0 {
		return status >= 200 && status <= 299
	}
	return slices.Contains(d.s.resp.successStatus, status)
}

// refusal classifies a non-success status: by the carrier's code when the
// tables know it, else by the status.
func (d *Driver) refusal(status int, h http.Header, b *body) error {
	code := d.find(d.s.resp.errorCode, b)
	o, known := d.s.codes[code]
	if code == "" || !known {
		o = outcomeOfStatus(status)
	}
	return d.apiErr(o, status, h, code, b)
}

// outcomeOfStatus judges a status alone. 429, 503 and 408 say the request
// was not processed; other 5xx may come after the carrier acted (a gateway
// timing out on its upstream, a crash after queuing); anything else is a
// refusal.
func outcomeOfStatus(status int) sms.Outcome {
	switch {
	case status == http.StatusTooManyRequests, status == http.StatusServiceUnavailable, status == http.StatusRequestTimeout:
		return sms.Temporary
	case status >= 500, status < 200:
		return sms.Unknown
	default:
		return sms.Rejected
	}
}

func (d *Driver) apiErr(o sms.Outcome, status int, h http.Header, code string, b *body) error {
	msg := d.scrub.Replace(d.find(d.s.resp.errorMessage, b))
	if msg == "" {
		msg = d.excerpt(b)
	}
	e := &sms.Error{Outcome: o, Code: code, Err: &APIError{Status: status, Code: code, Message: msg}}
	if o == sms.Temporary {
		e.RetryAfter = retryAfter(h.Get("Retry-After"), d.now())
	}
	return e
}

// find returns what x finds in b, "" when x is nil or finds nothing.
func (d *Driver) find(x *extractor, b *body) string {
	if x == nil {
		return ""
	}
	v, _, _ := x.find(b)
	return strings.TrimSpace(v)
}

// excerpt is the first line of a text answer, for messages: at most 200
// bytes of valid UTF-8, secrets scrubbed.
func (d *Driver) excerpt(b *body) string {
	s := strings.TrimSpace(string(b.raw))
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "…"
	}
	return d.scrub.Replace(strings.ToValidUTF8(s, "?"))
}

// maxRetryAfter caps a Retry-After, in seconds: a day.
const maxRetryAfter = 24 * 60 * 60

// retryAfter reads a Retry-After header: delay-seconds or an HTTP date,
// capped at a day. 0 when absent, unreadable or past.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		return time.Duration(min(n, maxRetryAfter)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), maxRetryAfter*time.Second)
	}
	return 0
}

// Errors of Check.
var (
	// ErrNoCheck: the carrier has no way to test credentials without
	// sending (the http preset without a check request).
	ErrNoCheck = errors.New("this carrier offers no way to test credentials without sending")
	// ErrCredentials: the carrier refused the credentials.
	ErrCredentials = errors.New("the carrier refused the credentials")
)

// Check tests the credentials without sending anything, where the carrier
// allows it: Twilio fetches the account (GET /2010-04-01/Accounts/{sid}.json),
// Telnyx fetches the messaging profile (or lists one), Kannel calls sendsms
// with the credentials and no recipient (accepted credentials give 400
// "Missing receiver number", refused ones 403), and the http preset makes
// its check request when it has one. It returns nil when the credentials
// work, an error wrapping ErrCredentials when the carrier refused them,
// ErrNoCheck when there is nothing to try, and another error when the
// carrier could not be reached or answered something else.
func (d *Driver) Check(ctx context.Context) error {
	if d.s.check == nil {
		return fmt.Errorf("%s: %w", d.Name(), ErrNoCheck)
	}
	ctx, cancel := context.WithTimeout(ctx, d.s.cfg.Timeout)
	defer cancel()
	data := &requestData{BaseURL: d.s.cfg.URL, Vars: d.s.vars, Secrets: d.s.secretVars}
	req, err := d.s.check.request(ctx, data, d.s.auth)
	if err != nil {
		return fmt.Errorf("%s: check: %w", d.Name(), d.scrubbed(err))
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s: check: %s: %w", d.Name(), describe(req), d.transportErr(err))
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	b := &body{raw: raw}
	ok := resp.StatusCode >= 200 && resp.StatusCode <= 299
	if d.s.cfg.Preset == PresetKannel {
		// With no recipient, a valid sendsms-user is refused for that.
		ok = resp.StatusCode == http.StatusBadRequest && strings.Contains(string(b.raw), "receiver")
	}
	switch {
	case ok:
		return nil
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("%s: check: %s: HTTP %d %s: %w", d.Name(), describe(req), resp.StatusCode, d.excerpt(b), ErrCredentials)
	default:
		return fmt.Errorf("%s: check: %s: unexpected answer HTTP %d %s", d.Name(), describe(req), resp.StatusCode, d.excerpt(b))
	}
}
