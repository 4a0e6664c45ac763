package carrier

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/textback/textback/sms"
)

// maxAnswer is the most of a carrier's answer the driver reads.
const maxAnswer = 1 << 20

// Driver sends texts through one HTTP carrier and takes its webhooks.
// Create it with New; it is safe for concurrent use.
type Driver struct {
	s      *spec
	client *http.Client
	now    func() time.Time
	log    zerolog.Logger
	scrub  *strings.Replacer
}

var _ sms.Driver = (*Driver)(nil)

// Option tunes New.
type Option func(*options)

type options struct {
	now func() time.Time
	tls *tls.Config
	log zerolog.Logger
}

// WithClock sets the clock the driver reads (Telnyx's timestamp window,
// Retry-After dates, report times). Default time.Now.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithTLSConfig sets the TLS configuration of requests to the carrier
// (a private CA for a gateway on the LAN; tests).
func WithTLSConfig(c *tls.Config) Option { return func(o *options) { o.tls = c } }

// WithLogger sets the logger of the webhook handler, which logs each
// webhook it refuses (a bad signature, a wrong public_url) and each one
// the receiver failed to record. Default: no logging. Send logs nothing: it
// returns what happened.
func WithLogger(l zerolog.Logger) Option { return func(o *options) { o.log = l } }

// New returns a Driver for cfg. It fails with a *FieldError when cfg is not
// valid (see Config.Validate). It does not contact the carrier; Check does.
func New(cfg Config, opts ...Option) (*Driver, error) {
	o := options{now: time.Now, log: zerolog.Nop()}
	for _, opt := range opts {
		opt(&o)
	}
	s, err := cfg.compile()
	if err != nil {
		return nil, err
	}
	var pairs []string
	for _, sec := range scrubList(s) {
		pairs = append(pairs, sec, "********")
	}
	d := &Driver{s: s, now: o.now, log: o.log, scrub: strings.NewReplacer(pairs...)}
	d.client = &http.Client{
		Transport: newTransport(o.tls),
		// A redirect is not followed: a POST turned into a GET would send
		// nothing, and the answer would look like success.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return d, nil
}

// Name returns Config.Name: the preset unless set.
func (d *Driver) Name() string { return d.s.cfg.Name }

// Close releases the driver's idle connections. The driver stays usable.
func (d *Driver) Close() error {
	d.client.CloseIdleConnections()
	return nil
}

// Send sends m through the carrier, in one request, bounded by ctx and by
// Config.Timeout. It never retries: a Temporary error is for the caller to
// retry, after RetryAfter when the carrier said so. It is safe for
// concurrent use.
//
// On success the Result has the carrier's message id (for the kannel
// preset, and http configs without a message_id, the driver's own id for
// the request, which comes back in delivery reports) and the number of
// segments when the carrier says.
//
// Errors are *sms.Error; the carrier's answer, when there was one, is an
// *APIError inside it:
//   - Temporary: nothing was written to the carrier (ctx done before the
//     send, connection refused, a DNS or TLS failure), or the carrier
//     refused for now (429, 503, 408, or a code listed as temporary),
//     with RetryAfter from a Retry-After header;
//   - Rejected, OptedOut, NotMobile: the carrier refused the text, by its
//     error code (Config.Codes and the preset's table) or, for codes
//     listed nowhere, by a 4xx status;
//   - Unknown: the text may have gone out: the request was written and
//     then the connection failed or ctx or the timeout ended, the carrier
//     answered with an ambiguous 5xx (500, 502, 504), or answered a
//     success status with a body that does not say success or lacks the
//     message id.
func (d *Driver) Send(ctx context.Context, m sms.Message) (sms.Result, error) {
	if err := ctx.Err(); err != nil {
		return sms.Result{}, &sms.Error{Outcome: sms.Temporary, Message: d.Name() + ": not sent", Err: err}
	}
	id, err := newID()
	if err != nil {
		return sms.Result{}, &sms.Error{Outcome: sms.Temporary, Message: d.Name() + ": not sent", Err: err}
	}
	from := m.From
	if s, ok := d.s.cfg.Senders[from]; ok {
		from = s
	}
	data := &requestData{
		To: m.To, From: from, Body: m.Body, Key: m.Key, ID: id,
		StatusURL: d.s.statusURL(id), BaseURL: d.s.cfg.URL, Vars: d.s.vars, Secrets: d.s.secretVars,
	}
	ctx, cancel := context.WithTimeout(ctx, d.s.cfg.Timeout)
	defer cancel()
	var w writeTracker
	req, err := d.s.send.request(httptrace.WithClientTrace(ctx, w.trace()), data, d.s.auth)
	if err != nil {
		// The templates ran at New: this text cannot be put into a request.
		return sms.Result{}, &sms.Error{Outcome: sms.Rejected, Message: d.Name() + ": cannot build the request", Err: d.scrubbed(err)}
	}
	resp, err := d.client.Do(req)
	if err != nil {
		o, what := sms.Temporary, "not sent"
		if w.maybeWritten() {
			o, what = sms.Unknown, "request written, then no answer"
		}
		return sms.Result{}, &sms.Error{Outcome: o, Message: fmt.Sprintf("%s: %s: %s", d.Name(), what, describe(req)), Err: d.transportErr(err)}
	}
	defer resp.Body.Close()
	raw, readErr := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if readErr != nil {
		readErr = d.transportErr(readErr)
	}
	res, err := d.judge(resp.StatusCode, resp.Header, raw, readErr, id)
	if err != nil {
		var se *sms.Error
		if errors.As(err, &se) {
			what := d.Name() + ": " + describe(req)
			if se.Message != "" {
				what += ": " + se.Message
			}
			se.Message = what
		}
	}
	return res, err
}

// scrubList is every form a secret of s could take in a carrier's answer:
// as it is, escaped for a query or a path, and the Basic credentials of
// the Authorization header.
func scrubList(s *spec) []string {
	var out []string
	for _, sec := range s.cfg.secrets() {
		out = append(out, sec, url.QueryEscape(sec), url.PathEscape(sec))
	}
	if s.auth.Type == "basic" {
		out = append(out, base64.StdEncoding.EncodeToString([]byte(s.auth.Username+":"+s.auth.Password)))
	}
	for _, sec := range s.secretVars {
		out = append(out, sec, url.QueryEscape(sec), url.PathEscape(sec))
	}
	// Longest first, so that a secret inside another is not half-replaced.
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return slices.Compact(slices.DeleteFunc(out, func(s string) bool { return s == "" }))
}

// describe names a request without its query or credentials.
func describe(req *http.Request) string {
	return req.Method + " " + req.URL.Scheme + "://" + req.URL.Host + req.URL.EscapedPath()
}

// transportErr unwraps the *url.Error of net/http, whose text holds the
// full URL (Kannel's password is in its query), and scrubs secrets.
func (d *Driver) transportErr(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		err = ue.Err
	}
	return d.scrubbed(err)
}

// scrubbed hides every configured secret in err's text, keeping err for
// errors.Is.
func (d *Driver) scrubbed(err error) error {
	if err == nil {
		return nil
	}
	msg := d.scrub.Replace(err.Error())
	if msg == err.Error() {
		return err
	}
	return &scrubbedError{msg: msg, err: err}
}

type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// newID returns 20 random hex digits: the id of one request.
func newID() (string, error) {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// writeTracker tells whether any byte of a request may have reached the
// carrier. It watches the connection the request got: bytes written to it
// after it was handed to the request are the request's. Without a
// countable connection it assumes the worst once there is a connection.
type writeTracker struct {
	mu      sync.Mutex
	conn    *countingConn
	start   int64
	gotConn bool
}

func (w *writeTracker) trace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			w.mu.Lock()
			defer w.mu.Unlock()
			w.gotConn = true
			w.conn = counting(info.Conn)
			if w.conn != nil {
				w.start = w.conn.written.Load()
			}
		},
	}
}

func (w *writeTracker) maybeWritten() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.conn == nil {
		return w.gotConn
	}
	return w.conn.written.Load() > w.start
}

// countingConn counts the bytes offered to a connection, including those of
// a write that failed: they may have left.
type countingConn struct {
	net.Conn
	written atomic.Int64
}

func (c *countingConn) Write(b []byte) (int, error) {
	c.written.Add(int64(len(b)))
	return c.Conn.Write(b)
}

// counting finds the countingConn under c (a *tls.Conn wraps it).
func counting(c net.Conn) *countingConn {
	for c != nil {
		switch x := c.(type) {
		case *countingConn:
			return x
		case interface{ NetConn() net.Conn }:
			c = x.NetConn()
		default:
			return nil
		}
	}
	return nil
}

// newTransport returns an HTTP/1.1 transport over counting connections.
func newTransport(tc *tls.Config) *http.Transport {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &countingConn{Conn: c}, nil
		},
		TLSClientConfig:     tc,
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: 32, // the dispatcher's workers and lanes
		// Shorter than carriers' keep-alive, so that a connection the
		// carrier is about to close is not reused (a request written into
		// a closing connection is Unknown).
		IdleConnTimeout: 30 * time.Second,
	}
}
