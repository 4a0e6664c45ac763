package carrier_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/textback/textback/sms"
	"github.com/textback/textback/sms/carrier"
)

var testMsg = sms.Message{Key: "textback-7", From: "+15555551000", To: "+15555550123", Body: "Sorry we missed your call."}

// scripted answers every request with the same status, headers and body.
func scripted(t *testing.T, status int, header map[string]string, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

var clock = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

// The carrier's answer decides the outcome: its error code where a table
// knows it, else its status. Ambiguous answers are Unknown, never Temporary.
func TestDriver_SendOutcome(t *testing.T) {
	type cfgFunc func(t *testing.T, base string) carrier.Config
	twilio := func(_ *testing.T, b string) carrier.Config { return twilioConfig(b) }
	telnyx := func(_ *testing.T, b string) carrier.Config { return telnyxConfig(b) }
	kannel := func(_ *testing.T, b string) carrier.Config { return kannelConfig(b) }
	vonage := func(t *testing.T, b string) carrier.Config { return contribConfig(t, "vonage", b) }
	plivo := func(t *testing.T, b string) carrier.Config { return contribConfig(t, "plivo", b) }
	twErr := func(code int, status int) string {
		return `{"code":` + strconv.Itoa(code) + `,"message":"m` + strconv.Itoa(code) + `","more_info":"https://www.twilio.com/docs/errors/` + strconv.Itoa(code) + `","status":` + strconv.Itoa(status) + `}`
	}
	txErr := func(code string) string {
		return `{"errors":[{"code":"` + code + `","title":"t","detail":"detail ` + code + `"}]}`
	}
	vonageStatus := func(s string) string {
		return `{"message-count":"1","messages":[{"to":"15555550123","status":"` + s + `","error-text":"e` + s + `"}]}`
	}
	tests := []struct {
		name    string
		config  cfgFunc
		status  int
		header  map[string]string
		body    string
		want    sms.Outcome
		code    string
		retry   time.Duration
		id      string // for Accepted: the ProviderID, "*" for the driver's own
		segs    int
		comment string
	}{
		{name: "TwilioCreated", config: twilio, status: 201, body: `{"sid":"SM0123","status":"queued","num_segments":"2"}`, want: sms.Accepted, id: "SM0123", segs: 2},
		{name: "TwilioOptedOut", config: twilio, status: 400, body: twErr(21610, 400), want: sms.OptedOut, code: "21610"},
		{name: "TwilioNotMobile", config: twilio, status: 400, body: twErr(21614, 400), want: sms.NotMobile, code: "21614"},
		{name: "TwilioLandline", config: twilio, status: 400, body: twErr(21635, 400), want: sms.NotMobile, code: "21635"},
		{name: "TwilioInvalidTo", config: twilio, status: 400, body: twErr(21211, 400), want: sms.Rejected, code: "21211"},
		{name: "TwilioRegionNotEnabled", config: twilio, status: 400, body: twErr(21408, 400), want: sms.Rejected, code: "21408"},
		{name: "TwilioBadCredentials", config: twilio, status: 401, body: twErr(20003, 401), want: sms.Rejected, code: "20003"},
		{name: "TwilioRateLimited", config: twilio, status: 429, header: map[string]string{"Retry-After": "7"}, body: twErr(20429, 429), want: sms.Temporary, code: "20429", retry: 7 * time.Second},
		{name: "TwilioRateLimitedDate", config: twilio, status: 429, header: map[string]string{"Retry-After": clock.Add(90 * time.Second).Format(http.TimeFormat)}, body: twErr(20429, 429), want: sms.Temporary, code: "20429", retry: 90 * time.Second},
		{name: "TwilioRateLimitedNoHeader", config: twilio, status: 429, body: twErr(20429, 429), want: sms.Temporary, code: "20429"},
		{name: "ServiceUnavailable", config: twilio, status: 503, header: map[string]string{"Retry-After": "30"}, body: "<html>down</html>", want: sms.Temporary, retry: 30 * time.Second},
		{name: "InternalError", config: twilio, status: 500, body: twErr(20500, 500), want: sms.Unknown, code: "20500", comment: "a 500 may come after the message was queued"},
		{name: "BadGateway", config: twilio, status: 502, body: "<html>bad gateway</html>", want: sms.Unknown},
		{name: "GatewayTimeout", config: twilio, status: 504, body: "", want: sms.Unknown},
		{name: "Redirect", config: twilio, status: 302, header: map[string]string{"Location": "/elsewhere"}, want: sms.Rejected},
		{name: "CreatedMalformedJSON", config: twilio, status: 201, body: `{"sid":"SM01`, want: sms.Unknown},
		{name: "CreatedHTML", config: twilio, status: 200, body: `<html>Welcome to the hotel wifi</html>`, want: sms.Unknown},
		{name: "CreatedWithoutSid", config: twilio, status: 201, body: `{"status":"queued"}`, want: sms.Unknown},
		{name: "TelnyxOK", config: telnyx, status: 200, body: `{"data":{"id":"4031-abc","parts":3}}`, want: sms.Accepted, id: "4031-abc", segs: 3},
		{name: "TelnyxOptedOut", config: telnyx, status: 400, body: txErr("40300"), want: sms.OptedOut, code: "40300"},
		{name: "TelnyxNotRoutable", config: telnyx, status: 400, body: txErr("40001"), want: sms.NotMobile, code: "40001"},
		{name: "TelnyxNumericCode", config: telnyx, status: 400, body: `{"errors":[{"code":40300}]}`, want: sms.OptedOut, code: "40300"},
		{name: "TelnyxInvalidTo", config: telnyx, status: 422, body: txErr("40310"), want: sms.Rejected, code: "40310"},
		{name: "TelnyxRateLimited", config: telnyx, status: 429, header: map[string]string{"Retry-After": "3"}, body: txErr("10011"), want: sms.Temporary, code: "10011", retry: 3 * time.Second},
		{name: "KannelAccepted", config: kannel, status: 202, body: "0: Accepted for delivery", want: sms.Accepted, id: "*"},
		{name: "KannelQueued", config: kannel, status: 202, body: "3: Queued for later delivery", want: sms.Accepted, id: "*"},
		{name: "KannelAcceptedOddBody", config: kannel, status: 202, body: "something else", want: sms.Unknown},
		{name: "KannelBadCredentials", config: kannel, status: 403, body: "Authorization failed for sendsms", want: sms.Rejected},
		{name: "KannelBadRequest", config: kannel, status: 400, body: "Missing receiver number, rejected", want: sms.Rejected},
		{name: "KannelCannotQueue", config: kannel, status: 503, body: "Temporal failure, try again later.", want: sms.Temporary},
		{name: "VonageOK", config: vonage, status: 200, body: `{"message-count":"2","messages":[{"message-id":"0C00A","status":"0"},{"message-id":"0C00B","status":"0"}]}`, want: sms.Accepted, id: "0C00A", segs: 2},
		{name: "VonageThrottled", config: vonage, status: 200, body: vonageStatus("1"), want: sms.Temporary, code: "1"},
		{name: "VonageInternalError", config: vonage, status: 200, body: vonageStatus("5"), want: sms.Unknown, code: "5", comment: "contrib maps 5 to unknown"},
		{name: "VonageInvalidParams", config: vonage, status: 200, body: vonageStatus("3"), want: sms.Rejected, code: "3"},
		{name: "VonageUnlistedCode", config: vonage, status: 200, body: vonageStatus("99"), want: sms.Rejected, code: "99"},
		{name: "VonageHTTP200NotJSON", config: vonage, status: 200, body: `<html>`, want: sms.Unknown},
		{name: "VonageHTTP200NoStatus", config: vonage, status: 200, body: `{"messages":[]}`, want: sms.Unknown},
		{name: "PlivoQueued", config: plivo, status: 202, body: `{"api_id":"x","message":"message(s) queued","message_uuid":["db3c-1"]}`, want: sms.Accepted, id: "db3c-1"},
		{name: "PlivoOKButNot202", config: plivo, status: 200, body: `{"message_uuid":["db3c-1"]}`, want: sms.Rejected, comment: "success is 202 only"},
		{name: "PlivoError", config: plivo, status: 400, body: `{"api_id":"x","error":"dst is invalid"}`, want: sms.Rejected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := scripted(t, tt.status, tt.header, tt.body)
			d, err := carrier.New(tt.config(t, srv.URL), carrier.WithClock(func() time.Time { return clock }))
			if err != nil {
				t.Fatal(err)
			}
			res, err := d.Send(t.Context(), testMsg)
			if o := sms.OutcomeOf(err); o != tt.want {
				t.Fatalf("Send against HTTP %d %q: %v, outcome %s; want %s %s", tt.status, tt.body, err, o, tt.want, tt.comment)
			}
			if err == nil {
				if tt.id == "*" && len(res.ProviderID) != 20 || tt.id != "*" && res.ProviderID != tt.id {
					t.Errorf("ProviderID %q, want %q", res.ProviderID, tt.id)
				}
				if res.Segments != tt.segs {
					t.Errorf("Segments %d, want %d", res.Segments, tt.segs)
				}
				return
			}
			var se *sms.Error
			if !errors.As(err, &se) {
				t.Fatalf("error %T, want *sms.Error", err)
			}
			if se.Code != tt.code {
				t.Errorf("Code %q, want %q", se.Code, tt.code)
			}
			if se.RetryAfter != tt.retry {
				t.Errorf("RetryAfter %v, want %v", se.RetryAfter, tt.retry)
			}
			var ae *carrier.APIError
			if !errors.As(err, &ae) || ae.Status != tt.status {
				t.Errorf("error %v carries no APIError with status %d", err, tt.status)
			}
		})
	}
}

// Config.Codes adds to and overrides a preset's table.
func TestDriver_SendCodesOverride(t *testing.T) {
	srv := scripted(t, 400, nil, `{"code":21612,"message":"unreachable","status":400}`)
	c := twilioConfig(srv.URL)
	c.Codes = carrier.Codes{NotMobile: []string{"21612"}, Rejected: []string{"21610"}}
	d, err := carrier.New(c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Send(t.Context(), testMsg); sms.OutcomeOf(err) != sms.NotMobile {
		t.Errorf("21612 listed as not_mobile: %v, want not_mobile", err)
	}
	srv2 := scripted(t, 400, nil, `{"code":21610,"message":"unsubscribed","status":400}`)
	c.URL = srv2.URL
	d2, err := carrier.New(c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d2.Send(t.Context(), testMsg); sms.OutcomeOf(err) != sms.Rejected {
		t.Errorf("21610 overridden as rejected: %v, want rejected", err)
	}
}

// hangingServer reads each request whole, counts it, and never answers
// until the test ends.
func hangingServer(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		n.Add(1)
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(done) })
	return srv, &n
}

// The driver's own timeout ending after the request was written: Unknown,
// and the request is not made again.
func TestDriver_SendTimeoutAfterWrite(t *testing.T) {
	for _, name := range []string{"twilio", "telnyx", "kannel"} {
		t.Run(name, func(t *testing.T) {
			srv, n := hangingServer(t)
			var c carrier.Config
			switch name {
			case "twilio":
				c = twilioConfig(srv.URL)
			case "telnyx":
				c = telnyxConfig(srv.URL)
			default:
				c = kannelConfig(srv.URL)
			}
			c.Timeout = 50 * time.Millisecond
			d, err := carrier.New(c)
			if err != nil {
				t.Fatal(err)
			}
			_, err = d.Send(t.Context(), testMsg)
			if o := sms.OutcomeOf(err); o != sms.Unknown {
				t.Fatalf("Send timing out after the request was written: %v, outcome %s; want unknown", err, o)
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
			}
			if got := n.Load(); got != 1 {
				t.Errorf("the carrier got the request %d times, want once (never retried)", got)
			}
		})
	}
}

// The same over TLS: the bytes are counted under the TLS connection.
func TestDriver_SendTimeoutAfterWriteTLS(t *testing.T) {
	var n atomic.Int32
	done := make(chan struct{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		n.Add(1)
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(done) })
	c := twilioConfig(srv.URL)
	c.Timeout = 100 * time.Millisecond
	d, err := carrier.New(c, carrier.WithTLSConfig(srv.Client().Transport.(*http.Transport).TLSClientConfig))
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Send(t.Context(), testMsg)
	if o := sms.OutcomeOf(err); o != sms.Unknown || n.Load() != 1 {
		t.Fatalf("Send over TLS timing out after the request: %v, outcome %s, %d requests; want unknown, 1", err, o, n.Load())
	}
}

// The connection reset after the request was written: Unknown, not retried.
func TestDriver_SendResetAfterWrite(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		n.Add(1)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // RST, not FIN
		}
		_ = conn.Close()
	}))
	t.Cleanup(srv.Close)
	d, err := carrier.New(twilioConfig(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Send(t.Context(), testMsg)
	if o := sms.OutcomeOf(err); o != sms.Unknown {
		t.Fatalf("Send with the connection reset after the request: %v, outcome %s; want unknown", err, o)
	}
	if got := n.Load(); got != 1 {
		t.Errorf("the carrier got the request %d times, want once", got)
	}
}

// Nothing written: a refused connection, a TLS handshake that never
// completes, are Temporary.
func TestDriver_SendNotWritten(t *testing.T) {
	t.Run("ConnectionRefused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		d, err := carrier.New(kannelConfig("http://" + addr))
		if err != nil {
			t.Fatal(err)
		}
		_, err = d.Send(t.Context(), testMsg)
		if o := sms.OutcomeOf(err); o != sms.Temporary {
			t.Fatalf("Send to a closed port: %v, outcome %s; want temporary", err, o)
		}
	})
	t.Run("TLSHandshakeHangs", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		t.Cleanup(func() { ln.Close(); <-done })
		go func() {
			defer close(done)
			var conns []net.Conn // read nothing, answer nothing
			defer func() {
				for _, c := range conns {
					c.Close()
				}
			}()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				conns = append(conns, c)
			}
		}()
		c := twilioConfig("https://" + ln.Addr().String())
		c.Timeout = 100 * time.Millisecond
		d, err := carrier.New(c, carrier.WithTLSConfig(&tls.Config{InsecureSkipVerify: true}))
		if err != nil {
			t.Fatal(err)
		}
		_, err = d.Send(t.Context(), testMsg)
		if o := sms.OutcomeOf(err); o != sms.Temporary {
			t.Fatalf("Send while the TLS handshake hangs: %v, outcome %s; want temporary (no request was written)", err, o)
		}
	})
}

// Delivery reports are asked for at PublicURL/status, with what each
// carrier needs to match them; senders replace a line's From.
func TestDriver_SendRequest(t *testing.T) {
	t.Run("TwilioStatusCallbackAndService", func(t *testing.T) {
		p := newPeer(t, twilioAPI)
		c := twilioConfig(p.URL())
		c.Senders = map[string]string{"+15555551000": "MG00000000000000000000000000000001"}
		d, err := carrier.New(c)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Send(t.Context(), testMsg); err != nil {
			t.Fatal(err)
		}
		_, body := p.last()
		f, _ := url.ParseQuery(body)
		if got := f.Get("StatusCallback"); got != "https://sms.example.com/textback/carrier/status" {
			t.Errorf("StatusCallback %q", got)
		}
		if f.Get("MessagingServiceSid") != "MG00000000000000000000000000000001" || f.Has("From") {
			t.Errorf("a line mapped to a messaging service sent %q", body)
		}
	})
	t.Run("TwilioServiceBesideFrom", func(t *testing.T) {
		p := newPeer(t, twilioAPI)
		c := twilioConfig(p.URL())
		c.Twilio.MessagingServiceSID = "MG00000000000000000000000000000002"
		d, err := carrier.New(c)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Send(t.Context(), testMsg); err != nil {
			t.Fatal(err)
		}
		_, body := p.last()
		f, _ := url.ParseQuery(body)
		if f.Get("From") != testMsg.From || f.Get("MessagingServiceSid") != "MG00000000000000000000000000000002" {
			t.Errorf("sent %q, want From and MessagingServiceSid", body)
		}
	})
	t.Run("TelnyxProfileAndWebhookURL", func(t *testing.T) {
		p := newPeer(t, telnyxAPI)
		d, err := carrier.New(telnyxConfig(p.URL()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Send(t.Context(), testMsg); err != nil {
			t.Fatal(err)
		}
		_, body := p.last()
		for _, want := range []string{`"messaging_profile_id":"` + telnyxProfile + `"`, `"webhook_url":"https://sms.example.com/textback/carrier/status"`} {
			if !strings.Contains(body, want) {
				t.Errorf("sent %s, want %s in it", body, want)
			}
		}
	})
	t.Run("KannelDLRCarriesTokenAndID", func(t *testing.T) {
		p := newPeer(t, kannelAPI)
		d, err := carrier.New(kannelConfig(p.URL()))
		if err != nil {
			t.Fatal(err)
		}
		res, err := d.Send(t.Context(), testMsg)
		if err != nil {
			t.Fatal(err)
		}
		r, _ := p.last()
		q := r.URL.Query()
		want := "http://127.0.0.1:8080/carrier/status?token=" + hookToken + "&id=" + res.ProviderID + "&status=%d"
		if q.Get("dlr-url") != want || q.Get("dlr-mask") != "19" {
			t.Errorf("dlr-url %q mask %q, want %q 19", q.Get("dlr-url"), q.Get("dlr-mask"), want)
		}
		if q.Get("coding") != "0" {
			t.Errorf("a GSM text went with coding %q, want 0", q.Get("coding"))
		}
	})
}

// No credential shows in an error, whatever failed.
func TestDriver_NoSecretsInErrors(t *testing.T) {
	secrets := []string{twilioToken, telnyxKey, kannelPass, hookToken, "example-api-secret", "example-auth-token"}
	for _, s := range secrets[:] {
		secrets = append(secrets, base64.StdEncoding.EncodeToString([]byte(twilioSID+":"+s)),
			base64.StdEncoding.EncodeToString([]byte("MAXXXXXXXXXXXXXXXXXX:"+s)))
	}
	check := func(t *testing.T, what string, err error) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: no error", what)
		}
		for _, s := range secrets {
			if strings.Contains(err.Error(), s) {
				t.Errorf("%s: error shows a secret: %v", what, err)
			}
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	// A carrier that echoes the request into its error.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.WriteHeader(400)
		_, _ = io.WriteString(w, `{"code":"1","message":"bad request `+r.URL.String()+` `+strings.ReplaceAll(string(b), `"`, `'`)+` `+r.Header.Get("Authorization")+`","error":"`+r.URL.RawQuery+`","errors":[{"code":"1","detail":"`+r.Header.Get("Authorization")+`"}],"messages":[{"status":"3","error-text":"`+strings.ReplaceAll(string(b), `"`, `'`)+`"}]}`)
	}))
	t.Cleanup(echo.Close)
	for _, c := range carriers {
		for _, base := range []string{closed, echo.URL} {
			d, err := carrier.New(c.config(t, base))
			if err != nil {
				t.Fatal(err)
			}
			_, err = d.Send(t.Context(), testMsg)
			check(t, c.name+" send to "+base, err)
			if err := d.Check(t.Context()); !errors.Is(err, carrier.ErrNoCheck) {
				check(t, c.name+" check against "+base, err)
			}
		}
	}
}

// Check tests the credentials and sends nothing.
func TestDriver_Check(t *testing.T) {
	for _, c := range carriers {
		t.Run(c.name, func(t *testing.T) {
			d, p := newDriver(t, c.name)
			if err := d.Check(t.Context()); err != nil {
				t.Errorf("Check with good credentials: %v", err)
			}
			if len(p.Sent()) != 0 {
				t.Errorf("Check sent %q", p.Sent())
			}
			bad := c.config(t, p.URL())
			switch c.name {
			case "twilio":
				bad.Twilio.AuthToken = "wrong"
			case "telnyx":
				bad.Telnyx.APIKey = "wrong"
			case "kannel":
				bad.Kannel.Password = "wrong"
			case "vonage":
				bad.HTTP.Secrets = map[string]string{"api_secret": "wrong"}
			case "plivo":
				bad.HTTP.Auth.Password = "wrong"
			}
			d2, err := carrier.New(bad)
			if err != nil {
				t.Fatal(err)
			}
			if err := d2.Check(t.Context()); !errors.Is(err, carrier.ErrCredentials) {
				t.Errorf("Check with a wrong secret: %v, want ErrCredentials", err)
			}
			if len(p.Sent()) != 0 {
				t.Errorf("Check sent %q", p.Sent())
			}
		})
	}
	t.Run("HTTPWithoutCheck", func(t *testing.T) {
		c := contribConfig(t, "vonage", "http://127.0.0.1:9")
		c.HTTP.Check = nil
		d, err := carrier.New(c)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Check(t.Context()); !errors.Is(err, carrier.ErrNoCheck) {
			t.Errorf("Check without a check request: %v, want ErrNoCheck", err)
		}
	})
	t.Run("Unreachable", func(t *testing.T) {
		d, err := carrier.New(twilioConfig("http://127.0.0.1:9"))
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Check(t.Context()); err == nil || errors.Is(err, carrier.ErrCredentials) {
			t.Errorf("Check of an unreachable carrier: %v, want an error that is not about credentials", err)
		}
	})
}
