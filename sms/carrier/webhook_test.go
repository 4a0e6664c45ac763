package carrier_test

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/textback/textback/sms"
	"github.com/textback/textback/sms/carrier"
)

// receiver records what the handler hands on, deduplicating replies by
// provider and id as the ledger does, and fails on demand.
type receiver struct {
	mu       sync.Mutex
	inbound  []sms.Inbound
	statuses []sms.Status
	seen     map[string]bool
	fail     int // fail this many calls
	calls    int
}

var errDisk = errors.New("disk full")

func (r *receiver) Receive(_ context.Context, in sms.Inbound) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.fail > 0 {
		r.fail--
		return errDisk
	}
	if r.seen == nil {
		r.seen = map[string]bool{}
	}
	if k := in.Provider + "\x00" + in.ProviderID; !r.seen[k] {
		r.seen[k] = true
		r.inbound = append(r.inbound, in)
	}
	return nil
}

func (r *receiver) UpdateStatus(_ context.Context, st sms.Status) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.fail > 0 {
		r.fail--
		return errDisk
	}
	r.statuses = append(r.statuses, st)
	return nil
}

// hookCase is one webhook request and what must come of it.
type hookCase struct {
	name   string
	req    func() *http.Request
	fail   int // receiver failures before the request
	status int
	calls  int // receiver calls
	check  func(t *testing.T, r *receiver, rec *httptest.ResponseRecorder)
}

func runHooks(t *testing.T, d *carrier.Driver, cases []hookCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rcv := &receiver{fail: tc.fail}
			h := d.Handler(rcv)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, tc.req())
			if rec.Code != tc.status {
				t.Errorf("answered %d %q, want %d", rec.Code, rec.Body.String(), tc.status)
			}
			if rcv.calls != tc.calls {
				t.Errorf("receiver called %d times, want %d", rcv.calls, tc.calls)
			}
			if tc.check != nil {
				tc.check(t, rcv, rec)
			}
		})
	}
}

// twice sends the same request twice to one receiver: a duplicate delivery
// is answered 2xx and recorded once.
func twice(t *testing.T, d *carrier.Driver, req func() *http.Request) {
	t.Helper()
	rcv := &receiver{}
	h := d.Handler(rcv)
	for i := range 2 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req())
		if rec.Code != http.StatusOK {
			t.Fatalf("delivery %d answered %d %q, want 200", i+1, rec.Code, rec.Body.String())
		}
	}
	if len(rcv.inbound) != 1 {
		t.Errorf("recorded %d messages after a duplicate delivery, want 1", len(rcv.inbound))
	}
}

// redelivered fails the receiver once, then delivers again: 500, then 200
// and one message.
func redelivered(t *testing.T, d *carrier.Driver, req func() *http.Request) {
	t.Helper()
	rcv := &receiver{fail: 1}
	h := d.Handler(rcv)
	for i, want := range []int{http.StatusInternalServerError, http.StatusOK} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req())
		if rec.Code != want {
			t.Fatalf("delivery %d answered %d %q, want %d", i+1, rec.Code, rec.Body.String(), want)
		}
	}
	if len(rcv.inbound) != 1 {
		t.Errorf("recorded %d messages, want 1", len(rcv.inbound))
	}
}

const hookHost = "http://127.0.0.1:8080"

// The example of Twilio's documentation of webhook security.
func TestTwilioSignature_Vector(t *testing.T) {
	params := url.Values{
		"CallSid": {"CA1234567890ABCDE"},
		"Caller":  {"+12349013030"},
		"Digits":  {"1234"},
		"From":    {"+12349013030"},
		"To":      {"+18005551212"},
	}
	got := carrier.TwilioSignature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", params)
	if want := "0/KCTR6DLpKmkAf8muzZqo1nDgQ="; got != want {
		t.Errorf("TwilioSignature = %q, want %q", got, want)
	}
	if other := carrier.TwilioSignature("12346", "https://mycompany.com/myapp.php?foo=1&bar=2", params); other == got {
		t.Error("another token gives the same signature")
	}
}

// Names are sorted, and a name's values too, however the form had them.
func TestTwilioSignature_Order(t *testing.T) {
	params := url.Values{}
	for _, n := range []string{"To", "Body", "From", "NumMedia", "ApiVersion", "SmsSid", "AccountSid", "MessageSid", "NumSegments", "SmsStatus", "MediaUrl0", "FromCity"} {
		params.Set(n, "v"+n)
	}
	params["Multi"] = []string{"b", "a", "c"}
	want := "https://sms.example.com/carrier/inbound" +
		"AccountSidvAccountSidApiVersionvApiVersionBodyvBodyFromvFromFromCityvFromCityMediaUrl0vMediaUrl0" +
		"MessageSidvMessageSidMultiaMultibMulticNumMediavNumMediaNumSegmentsvNumSegmentsSmsSidvSmsSidSmsStatusvSmsStatusTovTo"
	mac := hmac.New(sha1.New, []byte("tok"))
	mac.Write([]byte(want))
	if got, w := carrier.TwilioSignature("tok", "https://sms.example.com/carrier/inbound", params), b64(mac.Sum(nil)); got != w {
		t.Errorf("TwilioSignature = %q, want %q (HMAC-SHA1 of %q)", got, w, want)
	}
}

func twilioInbound() url.Values {
	return url.Values{
		"MessageSid": {"SM1f0e8ae6ade43cb3c0ce4525424e404f"}, "SmsSid": {"SM1f0e8ae6ade43cb3c0ce4525424e404f"},
		"AccountSid": {twilioSID}, "From": {"+15555550123"}, "To": {"+15555551000"},
		"Body": {"Can you call me back after 5? Thanks & bye"}, "NumSegments": {"1"}, "NumMedia": {"0"},
		"SmsStatus": {"received"}, "ApiVersion": {"2010-04-01"},
	}
}

// twilioReq builds a Twilio webhook to path on textback, signed over
// signedURL (what Twilio called), or with sig when it is not "".
func twilioReq(path string, params url.Values, signedURL, sig string) func() *http.Request {
	return func() *http.Request {
		r := httptest.NewRequest(http.MethodPost, hookHost+path, strings.NewReader(params.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if sig == "" {
			sig = carrier.TwilioSignature(twilioToken, signedURL, params)
		}
		if sig != "-" {
			r.Header.Set("X-Twilio-Signature", sig)
		}
		return r
	}
}

func TestHandler_Twilio(t *testing.T) {
	d, err := carrier.New(twilioConfig("http://127.0.0.1:9"))
	if err != nil {
		t.Fatal(err)
	}
	const pub = "https://sms.example.com/textback/carrier"
	in := twilioInbound()
	valid := twilioReq("/carrier/inbound", in, pub+"/inbound", "")
	status := func(st, code string) url.Values {
		v := url.Values{"MessageSid": {"SM0123"}, "MessageStatus": {st}, "AccountSid": {twilioSID}, "From": {"+15555551000"}, "To": {"+15555550123"}}
		if code != "" {
			v.Set("ErrorCode", code)
		}
		return v
	}
	tamper := twilioInbound()
	tamper.Set("Body", "STOP")
	big := twilioInbound()
	big.Set("Body", strings.Repeat("x", carrier.MaxWebhookBody))
	runHooks(t, d, []hookCase{
		{name: "Valid", req: valid, status: 200, calls: 1, check: func(t *testing.T, r *receiver, rec *httptest.ResponseRecorder) {
			want := sms.Inbound{Provider: "twilio", ProviderID: "SM1f0e8ae6ade43cb3c0ce4525424e404f", From: "+15555550123", To: "+15555551000", Body: "Can you call me back after 5? Thanks & bye"}
			if len(r.inbound) != 1 || r.inbound[0] != want {
				t.Errorf("received %+v, want %+v", r.inbound, want)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/xml") {
				t.Errorf("Content-Type %q, want text/xml", ct)
			}
			if b := rec.Body.String(); !strings.HasSuffix(b, "<Response/>") || strings.Contains(b, "<Message") {
				t.Errorf("answer %q, want an empty TwiML Response", b)
			}
		}},
		{name: "MountedWithStripPrefix", req: twilioReq("/inbound", in, pub+"/inbound", ""), status: 200, calls: 1},
		{name: "DefaultPortInSignedURL", req: twilioReq("/carrier/inbound", in, "https://sms.example.com:443/textback/carrier/inbound", ""), status: 200, calls: 1},
		{name: "QueryInConsoleURL", req: twilioReq("/carrier/inbound?line=main", in, pub+"/inbound?line=main", ""), status: 200, calls: 1},
		{name: "Forged", req: twilioReq("/carrier/inbound", in, pub+"/inbound", "0/KCTR6DLpKmkAf8muzZqo1nDgQ="), status: 403},
		{name: "SignedByAnotherToken", req: twilioReq("/carrier/inbound", in, pub+"/inbound", carrier.TwilioSignature("other", pub+"/inbound", in)), status: 403},
		{name: "Tampered", req: func() *http.Request {
			r := twilioReq("/carrier/inbound", tamper, pub+"/inbound", carrier.TwilioSignature(twilioToken, pub+"/inbound", in))()
			return r
		}, status: 403},
		{name: "WrongPublicURL", req: twilioReq("/carrier/inbound", in, "http://10.0.0.5:8080/carrier/inbound", ""), status: 403},
		{name: "SignedForStatusPosted", req: twilioReq("/carrier/inbound", in, pub+"/status", ""), status: 403},
		{name: "Unsigned", req: twilioReq("/carrier/inbound", in, "", "-"), status: 401},
		{name: "Oversized", req: twilioReq("/carrier/inbound", big, pub+"/inbound", ""), status: 413},
		{name: "MalformedForm", req: func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, hookHost+"/carrier/inbound", strings.NewReader("From=%zz&Body=x"))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set("X-Twilio-Signature", "x")
			return r
		}, status: 400},
		{name: "NotAForm", req: func() *http.Request {
			r := twilioReq("/carrier/inbound", in, pub+"/inbound", "")()
			r.Header.Set("Content-Type", "application/json")
			return r
		}, status: 415},
		{name: "NoMessageSid", req: twilioReq("/carrier/inbound", url.Values{"From": {"+15555550123"}, "Body": {"hi"}}, pub+"/inbound", ""), status: 400},
		{name: "GET", req: func() *http.Request { return httptest.NewRequest(http.MethodGet, hookHost+"/carrier/inbound", nil) }, status: 405},
		{name: "UnknownPath", req: twilioReq("/carrier/other", in, pub+"/other", ""), status: 404},
		{name: "ReceiverFails", req: valid, fail: 1, status: 500, calls: 1},
		{name: "StatusDelivered", req: twilioReq("/carrier/status", status("delivered", ""), pub+"/status", ""), status: 200, calls: 1,
			check: func(t *testing.T, r *receiver, _ *httptest.ResponseRecorder) {
				if len(r.statuses) != 1 || !r.statuses[0].Delivered || r.statuses[0].ProviderID != "SM0123" || r.statuses[0].Provider != "twilio" {
					t.Errorf("statuses %+v, want SM0123 delivered", r.statuses)
				}
			}},
		{name: "StatusLandline", req: twilioReq("/carrier/status", status("undelivered", "30006"), pub+"/status", ""), status: 200, calls: 1,
			check: func(t *testing.T, r *receiver, _ *httptest.ResponseRecorder) {
				if len(r.statuses) != 1 || r.statuses[0].Delivered || r.statuses[0].Outcome != sms.NotMobile || r.statuses[0].Code != "30006" {
					t.Errorf("statuses %+v, want not_mobile 30006", r.statuses)
				}
			}},
		{name: "StatusFailedOther", req: twilioReq("/carrier/status", status("failed", "30007"), pub+"/status", ""), status: 200, calls: 1,
			check: func(t *testing.T, r *receiver, _ *httptest.ResponseRecorder) {
				if len(r.statuses) != 1 || r.statuses[0].Outcome != sms.Rejected {
					t.Errorf("statuses %+v, want rejected", r.statuses)
				}
			}},
		{name: "StatusSent", req: twilioReq("/carrier/status", status("sent", ""), pub+"/status", ""), status: 200, calls: 1,
			check: func(t *testing.T, r *receiver, _ *httptest.ResponseRecorder) {
				if len(r.statuses) != 1 || r.statuses[0].Delivered || r.statuses[0].Outcome != sms.Accepted {
					t.Errorf("statuses %+v, want an intermediate report", r.statuses)
				}
			}},
		{name: "StatusForged", req: twilioReq("/carrier/status", status("undelivered", "21610"), pub+"/status", "bm90IGEgc2lnbmF0dXJl"), status: 403},
	})
	t.Run("Duplicate", func(t *testing.T) { twice(t, d, valid) })
	t.Run("Redelivered", func(t *testing.T) { redelivered(t, d, valid) })
}

// telnyxReq builds a Telnyx webhook signed by key at ts, or with the
// headers given.
func telnyxReq(body string, key ed25519.PrivateKey, ts time.Time) func() *http.Request {
	return func() *http.Request {
		r := httptest.NewRequest(http.MethodPost, hookHost+"/carrier/inbound", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		stamp := strconv.FormatInt(ts.Unix(), 10)
		if key != nil {
			r.Header.Set("Telnyx-Timestamp", stamp)
			r.Header.Set("Telnyx-Signature-Ed25519", b64(ed25519.Sign(key, []byte(stamp+"|"+body))))
		}
		return r
	}
}

const telnyxReceived = `{"data":{"event_type":"message.received","id":"b301ed3f-1490-491f-995f-6e64e69674d4",` +
	`"occurred_at":"2026-03-14T15:09:20.000+00:00","payload":{"id":"84cca175-9755-4859-b67f-4730d7f58aa3",` +
	`"direction":"inbound","from":{"carrier":"T-Mobile USA","line_type":"long_code","phone_number":"+15555550123"},` +
	`"to":[{"phone_number":"+15555551000","status":"webhook_delivered"}],"text":"Stop texting me, thanks 👍",` +
	`"received_at":"2026-03-14T15:09:19.500+00:00","type":"SMS"},"record_type":"event"},"meta":{"attempt":1}}`

func telnyxFinalized(status, code string) string {
	errs := "[]"
	if code != "" {
		errs = `[{"code":"` + code + `","title":"t"}]`
	}
	return `{"data":{"event_type":"message.finalized","occurred_at":"2026-03-14T15:09:25.000+00:00","payload":{"id":"4031-abc",` +
		`"to":[{"phone_number":"+15555550123","status":"` + status + `"}],"errors":` + errs + `}}}`
}

func TestHandler_Telnyx(t *testing.T) {
	d, err := carrier.New(telnyxConfig("http://127.0.0.1:9"), carrier.WithClock(func() time.Time { return clock }))
	if err != nil {
		t.Fatal(err)
	}
	other := ed25519.NewKeyFromSeed([]byte("another-telnyx-key-seed-32-bytes"))
	valid := telnyxReq(telnyxReceived, testKey, clock.Add(-10*time.Second))
	runHooks(t, d, []hookCase{
		{name: "Valid", req: valid, status: 200, calls: 1, check: func(t *testing.T, r *receiver, _ *httptest.ResponseRecorder) {
			want := sms.Inbound{Provider: "telnyx", ProviderID: "84cca175-9755-4859-b67f-4730d7f58aa3", From: "+15555550123",
				To: "+15555551000", Body: "Stop texting me, thanks 👍", ReceivedAt: time.Date(2026, 3, 14, 15, 9, 19, 5e8, time.UTC)}
			if len(r.inbound) != 1 || !r.inbound[0].ReceivedAt.Equal(want.ReceivedAt) {
				t.Fatalf("received %+v, want %+v", r.inbound, want)
			}
			got := r.inbound[0]
			got.ReceivedAt = want.ReceivedAt
			if got != want {
				t.Errorf("received %+v, want %+v", got, want)
			}
		}},
		{name: "AtTheEdgeOfTheWindow", req: telnyxReq(telnyxReceived, testKey, clock.Add(-carrier.TelnyxTolerance)), status: 200, calls: 1},
		{name: "Stale", req: telnyxReq(telnyxReceived, testKey, clock.Add(-carrier.TelnyxTolerance-time.Second)), status: 403},
		{name: "FromTheFuture", req: telnyxReq(telnyxReceived, testKey, clock.Add(carrier.TelnyxTolerance+time.Second)), status: 403},
		{name: "Forged", req: telnyxReq(telnyxReceived, other, clock), status: 403},
		{name: "Tampered", req: func() *http.Request {
			r := valid()
			r.Body = io.NopCloser(strings.NewReader(strings.Replace(telnyxReceived, "Stop texting", "Start texting", 1)))
			return r
		}, status: 403},
		{name: "TimestampChanged", req: func() *http.Request {
			r := valid()
			r.Header.Set("Telnyx-Timestamp", strconv.FormatInt(clock.Unix(), 10))
			return r
		}, status: 403},
		{name: "Unsigned", req: telnyxReq(telnyxReceived, nil, clock), status: 401},
		{name: "SignatureNotBase64", req: func() *http.Request {
			r := valid()
			r.Header.Set("Telnyx-Signature-Ed25519", "not base64!")
			return r
		}, status: 403},
		{name: "Oversized", req: telnyxReq(`{"pad":"`+strings.Repeat("x", carrier.MaxWebhookBody)+`"}`, testKey, clock), status: 413},
		{name: "MalformedJSON", req: telnyxReq(`{"data":{"event_type":"message.received",`, testKey, clock), status: 400},
		{name: "NoEventType", req: telnyxReq(`{"data":{}}`, testKey, clock), status: 400},
		{name: "ReceivedWithoutSender", req: telnyxReq(`{"data":{"event_type":"message.received","payload":{"id":"x"}}}`, testKey, clock), status: 400},
		{name: "OtherEventIgnored", req: telnyxReq(`{"data":{"event_type":"number_order.complete","payload":{}}}`, testKey, clock), status: 200, calls: 0},
		{name: "ReceiverFails", req: valid, fail: 1, status: 500, calls: 1},
		{name: "FinalizedDelivered", req: telnyxReq(telnyxFinalized("delivered", ""), testKey, clock), status: 200, calls: 1,
			check: func(t *testing.T, r *receiver, _ *httptest.ResponseRecorder) {
				if len(r.statuses) != 1 || !r.statuses[0].Delivered || r.statuses[0].ProviderID != "4031-abc" {
					t.Errorf("statuses %+v, want 4031-abc delivered", r.statuses)
				}
			}},
		{name: "FinalizedNotRoutable", req: telnyxReq(telnyxFinalized("delivery_failed", "40001"), testKey, clock), status: 200, calls: 1,
			check: func(t *testing.T, r *receiver, _ *httptest.ResponseRecorder) {
				if len(r.statuses) != 1 || r.statuses[0].Outcome != sms.NotMobile || r.statuses[0].Code != "40001" {
					t.Errorf("statuses %+v, want not_mobile 40001", r.statuses)
				}
			}},
		{name: "FinalizedBlocked", req: telnyxReq(telnyxFinalized("sending_failed", "40300"), testKey, clock), status: 200, calls: 1,
			check: func(t *testing.T, r *receiver, _ *httptest.ResponseRecorder) {
				if len(r.statuses) != 1 || r.statuses[0].Outcome != sms.OptedOut {
					t.Errorf("statuses %+v, want opted_out", r.statuses)
				}
			}},
	})
	t.Run("Duplicate", func(t *testing.T) { twice(t, d, valid) })
	t.Run("Redelivered", func(t *testing.T) { redelivered(t, d, valid) })
}

// kannelGet builds an sms-service get-url call.
func kannelGet(q url.Values) func() *http.Request {
	return func() *http.Request {
		return httptest.NewRequest(http.MethodGet, hookHost+"/carrier/inbound?"+q.Encode(), nil)
	}
}

func TestHandler_Kannel(t *testing.T) {
	d, err := carrier.New(kannelConfig("http://127.0.0.1:9"))
	if err != nil {
		t.Fatal(err)
	}
	get := url.Values{"token": {hookToken}, "id": {"9f40f547-04b9-446b-9ec4-e44afaed3da6"}, "from": {"+15555550123"},
		"to": {"+15555551000"}, "text": {"Call me back   after 5pm,\nok?"}, "charset": {"UTF-8"}, "coding": {"0"}, "ts": {"2026-03-14 15:09:19"}}
	with := func(k, v string) url.Values {
		q := url.Values{}
		for kk, vv := range get {
			q[kk] = vv
		}
		if v == "" {
			q.Del(k)
		} else {
			q.Set(k, v)
		}
		return q
	}
	ucs2 := with("charset", "UTF-16BE")
	ucs2.Set("text", string(utf16be("Ça 👍")))
	post := func(token, body string) func() *http.Request {
		return func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, hookHost+"/carrier/inbound?token="+token+"&id=aa5e", strings.NewReader(body))
			r.Header.Set("Content-Type", `text/plain; charset="UTF-8"`)
			r.Header.Set("X-Kannel-From", "+15555550123")
			r.Header.Set("X-Kannel-To", "+15555551000")
			r.Header.Set("X-Kannel-Time", "2026-03-14 15:09:19")
			return r
		}
	}
	dlr := func(q string) func() *http.Request {
		return func() *http.Request { return httptest.NewRequest(http.MethodGet, hookHost+"/carrier/status?"+q, nil) }
	}
	valid := kannelGet(get)
	runHooks(t, d, []hookCase{
		{name: "Valid", req: valid, status: 200, calls: 1, check: func(t *testing.T, r *receiver, rec *httptest.ResponseRecorder) {
			want := sms.Inbound{Provider: "kannel", ProviderID: "9f40f547-04b9-446b-9ec4-e44afaed3da6", From: "+15555550123", To: "+15555551000", Body: "Call me back   after 5pm,\nok?"}
			if len(r.inbound) != 1 || r.inbound[0] != want {
				t.Errorf("received %+v, want %+v", r.inbound, want)
			}
			if rec.Body.Len() != 0 {
				t.Errorf("answered %q, want an empty body (Kannel would text it back)", rec.Body.String())
			}
		}},
		{name: "UCS2", req: kannelGet(ucs2), status: 200, calls: 1, check: func(t *testing.T, r *receiver, _ *httptest.ResponseRecorder) {
			if len(r.inbound) != 1 || r.inbound[0].Body != "Ça 👍" {
				t.Errorf("received %+v, want Ça 👍", r.inbound)
			}
		}},
		{name: "Latin1", req: kannelGet(with("charset", "ISO-8859-1")), status: 200, calls: 1},
		{name: "PostURL", req: post(hookToken, "STOP"), status: 200, calls: 1, check: func(t *testing.T, r *receiver, _ *httptest.ResponseRecorder) {
			want := sms.Inbound{Provider: "kannel", ProviderID: "aa5e", From: "+15555550123", To: "+15555551000", Body: "STOP"}
			if len(r.inbound) != 1 || r.inbound[0] != want {
				t.Errorf("received %+v, want %+v", r.inbound, want)
			}
		}},
		{name: "NoIDDerived", req: kannelGet(with("id", "")), status: 200, calls: 1, check: func(t *testing.T, r *receiver, _ *httptest.ResponseRecorder) {
			if len(r.inbound) != 1 || !strings.HasPrefix(r.inbound[0].ProviderID, "sha256:") {
				t.Errorf("received %+v, want a derived id", r.inbound)
			}
		}},
		{name: "WrongToken", req: kannelGet(with("token", "webhook-token-secret-0005")), status: 403},
		{name: "WrongTokenPost", req: post("nope", "STOP"), status: 403},
		{name: "NoToken", req: kannelGet(with("token", "")), status: 401},
		{name: "Oversized", req: post(hookToken, strings.Repeat("x", carrier.MaxWebhookBody+1)), status: 413},
		{name: "OversizedQuery", req: kannelGet(with("text", strings.Repeat("x", carrier.MaxWebhookBody))), status: 413},
		{name: "NoSender", req: kannelGet(with("from", "")), status: 400},
		{name: "ReceiverFails", req: valid, fail: 1, status: 500, calls: 1},
		{name: "PUT", req: func() *http.Request { return httptest.NewRequest(http.MethodPut, hookHost+"/carrier/inbound", nil) }, status: 405},
		{name: "DLRDelivered", req: dlr("token=" + hookToken + "&id=abc123&status=1"), status: 200, calls: 1,
			check: func(t *testing.T, r *receiver, _ *httptest.ResponseRecorder) {
				if len(r.statuses) != 1 || !r.statuses[0].Delivered || r.statuses[0].ProviderID != "abc123" || r.statuses[0].Provider != "kannel" {
					t.Errorf("statuses %+v, want abc123 delivered", r.statuses)
				}
			}},
		{name: "DLRRejectedBySMSC", req: dlr("token=" + hookToken + "&id=abc123&status=16"), status: 200, calls: 1,
			check: func(t *testing.T, r *receiver, _ *httptest.ResponseRecorder) {
				if len(r.statuses) != 1 || r.statuses[0].Delivered || r.statuses[0].Outcome != sms.Rejected {
					t.Errorf("statuses %+v, want rejected", r.statuses)
				}
			}},
		{name: "DLRAcceptedBySMSC", req: dlr("token=" + hookToken + "&id=abc123&status=8"), status: 200, calls: 1},
		{name: "DLRBadType", req: dlr("token=" + hookToken + "&id=abc123&status=%d"), status: 400},
		{name: "DLRForged", req: dlr("token=guess&id=abc123&status=2"), status: 403},
	})
	t.Run("Duplicate", func(t *testing.T) { twice(t, d, valid) })
	t.Run("Redelivered", func(t *testing.T) { redelivered(t, d, valid) })
}

func utf16be(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u>>8), byte(u))
	}
	return b
}

// The http preset's webhooks, through the Vonage and Plivo configs of
// contrib.
func TestHandler_HTTP(t *testing.T) {
	vonage, err := carrier.New(contribConfig(t, "vonage", "http://127.0.0.1:9"))
	if err != nil {
		t.Fatal(err)
	}
	const vtok = "5d0c6a2f9e8b7c41a3f2"
	vq := "msisdn=447700900001&to=15555551000&messageId=0A0000001234ABCD&text=Yes%2C+please+call&type=text&keyword=YES"
	vget := func(q string) func() *http.Request {
		return func() *http.Request { return httptest.NewRequest(http.MethodGet, hookHost+"/carrier/inbound?"+q, nil) }
	}
	vjson := func(body string) func() *http.Request {
		return func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, hookHost+"/carrier/inbound?token="+vtok, strings.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			return r
		}
	}
	vdlr := func(q string) func() *http.Request {
		return func() *http.Request {
			return httptest.NewRequest(http.MethodGet, hookHost+"/carrier/status?token="+vtok+"&"+q, nil)
		}
	}
	valid := vget("token=" + vtok + "&" + vq)
	wantIn := sms.Inbound{Provider: "vonage", ProviderID: "0A0000001234ABCD", From: "+447700900001", To: "+15555551000", Body: "Yes, please call"}
	runHooks(t, vonage, []hookCase{
		{name: "VonageGET", req: valid, status: 200, calls: 1, check: func(t *testing.T, r *receiver, _ *httptest.ResponseRecorder) {
			if len(r.inbound) != 1 || r.inbound[0] != wantIn {
				t.Errorf("received %+v, want %+v", r.inbound, wantIn)
			}
		}},
		{name: "VonageJSON", req: vjson(`{"msisdn":"447700900001","to":"15555551000","messageId":"0A0000001234ABCD","text":"Yes, please call","type":"text"}`), status: 200, calls: 1,
			check: func(t *testing.T, r *receiver, _ *httptest.ResponseRecorder) {
				if len(r.inbound) != 1 || r.inbound[0] != wantIn {
					t.Errorf("received %+v, want %+v", r.inbound, wantIn)
				}
			}},
		{name: "VonageMalformedJSON", req: vjson(`{"msisdn":`), status: 400},
		{name: "VonageNoID", req: vget("token=" + vtok + "&msisdn=447700900001&text=hi"), status: 400},
		{name: "VonageWrongToken", req: vget("token=5d0c6a2f9e8b7c41a3f3&" + vq), status: 403},
		{name: "VonageNoToken", req: vget(vq), status: 401},
		{name: "VonageReceiverFails", req: valid, fail: 1, status: 500, calls: 1},
		{name: "VonageDLROptedOut", req: vdlr("messageId=0C00A&status=failed&err-code=9"), status: 200, calls: 1,
			check: func(t *testing.T, r *receiver, _ *httptest.ResponseRecorder) {
				if len(r.statuses) != 1 || r.statuses[0].Outcome != sms.OptedOut || r.statuses[0].ProviderID != "0C00A" {
					t.Errorf("statuses %+v, want 0C00A opted_out", r.statuses)
				}
			}},
		{name: "VonageDLRDelivered", req: vdlr("messageId=0C00A&status=delivered&err-code=0"), status: 200, calls: 1,
			check: func(t *testing.T, r *receiver, _ *httptest.ResponseRecorder) {
				if len(r.statuses) != 1 || !r.statuses[0].Delivered {
					t.Errorf("statuses %+v, want delivered", r.statuses)
				}
			}},
		{name: "VonageDLRBuffered", req: vdlr("messageId=0C00A&status=buffered"), status: 200, calls: 1,
			check: func(t *testing.T, r *receiver, _ *httptest.ResponseRecorder) {
				if len(r.statuses) != 1 || r.statuses[0].Delivered || r.statuses[0].Outcome != sms.Accepted {
					t.Errorf("statuses %+v, want an intermediate report", r.statuses)
				}
			}},
	})
	t.Run("VonageDuplicate", func(t *testing.T) { twice(t, vonage, valid) })

	plivo, err := carrier.New(contribConfig(t, "plivo", "http://127.0.0.1:9"))
	if err != nil {
		t.Fatal(err)
	}
	pform := func(path string, v url.Values) func() *http.Request {
		return func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, hookHost+path+"?token=7a1e4c9b2d8f6e3a0c5b", strings.NewReader(v.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}
	}
	runHooks(t, plivo, []hookCase{
		{name: "PlivoInbound", req: pform("/carrier/inbound", url.Values{"From": {"14155550123"}, "To": {"15555551000"}, "Text": {"STOP"}, "Type": {"sms"}, "MessageUUID": {"db3ce55a-7f1d"}}),
			status: 200, calls: 1, check: func(t *testing.T, r *receiver, _ *httptest.ResponseRecorder) {
				want := sms.Inbound{Provider: "plivo", ProviderID: "db3ce55a-7f1d", From: "+14155550123", To: "+15555551000", Body: "STOP"}
				if len(r.inbound) != 1 || r.inbound[0] != want {
					t.Errorf("received %+v, want %+v", r.inbound, want)
				}
			}},
		{name: "PlivoStatusBlockedBySTOP", req: pform("/carrier/status", url.Values{"MessageUUID": {"db3c-1"}, "Status": {"failed"}, "ErrorCode": {"200"}}),
			status: 200, calls: 1, check: func(t *testing.T, r *receiver, _ *httptest.ResponseRecorder) {
				if len(r.statuses) != 1 || r.statuses[0].Outcome != sms.OptedOut {
					t.Errorf("statuses %+v, want opted_out", r.statuses)
				}
			}},
		{name: "PlivoMalformedForm", req: func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, hookHost+"/carrier/inbound?token=7a1e4c9b2d8f6e3a0c5b", strings.NewReader("From=%zz"))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}, status: 400},
		{name: "PlivoOversized", req: pform("/carrier/inbound", url.Values{"Text": {strings.Repeat("x", carrier.MaxWebhookBody)}}), status: 413},
	})

	// An http config without webhooks takes none.
	c := contribConfig(t, "vonage", "http://127.0.0.1:9")
	c.HTTP.Inbound, c.HTTP.Status = carrier.InboundConfig{}, carrier.StatusConfig{}
	bare, err := carrier.New(c)
	if err != nil {
		t.Fatal(err)
	}
	runHooks(t, bare, []hookCase{{name: "NotConfigured", req: valid, status: 404}})
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
