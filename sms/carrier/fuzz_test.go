package carrier_test

import (
	"crypto/ed25519"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/textback/textback/sms/carrier"
)

// fuzzHook sends r to d's handler and checks what every webhook must
// honour: no panic, a 4xx whenever the receiver was not reached for a
// reason of the request's, 2xx only after the receiver took it, and what
// reaches the receiver has a provider id (and a sender, for a reply).
func fuzzHook(t *testing.T, d *carrier.Driver, r *http.Request, authentic bool) {
	t.Helper()
	rcv := &receiver{}
	rec := httptest.NewRecorder()
	d.Handler(rcv).ServeHTTP(rec, r)
	switch {
	case rec.Code == http.StatusOK:
		if !authentic {
			t.Fatalf("an unauthenticated request answered 200: %s %s", r.Method, r.URL)
		}
	case rec.Code >= 400 && rec.Code < 500:
		if rcv.calls != 0 {
			t.Fatalf("answered %d after calling the receiver", rec.Code)
		}
	default:
		t.Fatalf("answered %d %q", rec.Code, rec.Body.String())
	}
	for _, in := range rcv.inbound {
		if in.ProviderID == "" || in.From == "" || in.Provider == "" {
			t.Errorf("received %+v without provider, id or sender", in)
		}
	}
	for _, st := range rcv.statuses {
		if st.ProviderID == "" {
			t.Errorf("status %+v without an id", st)
		}
	}
}

func FuzzTwilioWebhook(f *testing.F) {
	f.Add(twilioInbound().Encode(), "", true, true)
	f.Add("MessageSid=SM1&MessageStatus=undelivered&ErrorCode=30006", "", false, true)
	f.Add("From=%zz", "line=1", true, false)
	f.Add("MessageSid=&From=", "", true, true)
	d, err := carrier.New(twilioConfig("http://127.0.0.1:9"))
	if err != nil {
		f.Fatal(err)
	}
	const pub = "https://sms.example.com/textback/carrier"
	f.Fuzz(func(t *testing.T, body, query string, inbound, sign bool) {
		kind := map[bool]string{true: "inbound", false: "status"}[inbound]
		target := hookHost + "/carrier/" + kind
		if query != "" {
			target += "?" + query
		}
		if _, err := url.ParseRequestURI(target); err != nil || strings.ContainsAny(query, " #") {
			return
		}
		r := httptest.NewRequest(http.MethodPost, target, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		signed := pub + "/" + kind
		if r.URL.RawQuery != "" {
			signed += "?" + r.URL.RawQuery
		}
		params, perr := url.ParseQuery(body)
		authentic := sign && perr == nil
		if authentic {
			r.Header.Set("X-Twilio-Signature", carrier.TwilioSignature(twilioToken, signed, params))
		} else {
			r.Header.Set("X-Twilio-Signature", carrier.TwilioSignature("not-the-token", signed, params))
		}
		fuzzHook(t, d, r, authentic)
	})
}

func FuzzTelnyxWebhook(f *testing.F) {
	f.Add([]byte(telnyxReceived), int64(-10), true)
	f.Add([]byte(telnyxFinalized("delivery_failed", "40300")), int64(0), true)
	f.Add([]byte(`{"data":{"event_type":"message.finalized","payload":{"id":"x","to":[],"errors":[{"code":1.5e3}]}}}`), int64(0), true)
	f.Add([]byte(`{}`), int64(400), true)
	now := clock
	d, err := carrier.New(telnyxConfig("http://127.0.0.1:9"), carrier.WithClock(func() time.Time { return now }))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, offset int64, sign bool) {
		if offset > 1e6 || offset < -1e6 {
			return
		}
		ts := strconv.FormatInt(now.Unix()+offset, 10)
		r := httptest.NewRequest(http.MethodPost, hookHost+"/carrier/inbound", strings.NewReader(string(body)))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Telnyx-Timestamp", ts)
		key := testKey
		if !sign {
			key = ed25519.NewKeyFromSeed([]byte("another-telnyx-key-seed-32-bytes"))
		}
		r.Header.Set("Telnyx-Signature-Ed25519", b64(ed25519.Sign(key, append([]byte(ts+"|"), body...))))
		inWindow := offset <= int64(carrier.TelnyxTolerance/time.Second) && offset >= -int64(carrier.TelnyxTolerance/time.Second)
		fuzzHook(t, d, r, sign && inWindow)
	})
}

func FuzzKannelWebhook(f *testing.F) {
	f.Add("id=9f40&from=%2B15555550123&to=%2B15555551000&text=Call+me&charset=UTF-8", []byte(nil), false, true, true)
	f.Add("id=aa5e", []byte("STOP"), true, true, true)
	f.Add("id=abc&status=16", []byte(nil), false, false, true)
	f.Add("from=x&text=%00%C7&charset=UTF-16BE", []byte(nil), false, true, false)
	d, err := carrier.New(kannelConfig("http://127.0.0.1:9"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, query string, body []byte, post, inbound, token bool) {
		kind := map[bool]string{true: "inbound", false: "status"}[inbound]
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		q.Del("token")
		if token {
			q.Set("token", hookToken)
		} else {
			q.Set("token", "not-the-webhook-token")
		}
		method := map[bool]string{true: http.MethodPost, false: http.MethodGet}[post]
		r := httptest.NewRequest(method, hookHost+"/carrier/"+kind+"?"+q.Encode(), strings.NewReader(string(body)))
		if post {
			r.Header.Set("Content-Type", "text/plain; charset=UTF-8")
			r.Header.Set("X-Kannel-From", q.Get("from"))
		}
		fuzzHook(t, d, r, token)
	})
}

func FuzzHTTPWebhook(f *testing.F) {
	f.Add("msisdn=447700900001&to=15555551000&messageId=0A00&text=Yes", "", "", true, true)
	f.Add("", `{"msisdn":"447700900001","messageId":"0A00","text":"hi"}`, "application/json", true, true)
	f.Add("messageId=0C00A&status=failed&err-code=9", "", "", false, true)
	f.Add("", "msisdn=1&messageId=2", "application/x-www-form-urlencoded", true, false)
	d, err := carrier.New(contribConfig(f, "vonage", "http://127.0.0.1:9"))
	if err != nil {
		f.Fatal(err)
	}
	const tok = "5d0c6a2f9e8b7c41a3f2"
	f.Fuzz(func(t *testing.T, query, body, contentType string, inbound, token bool) {
		if strings.ContainsFunc(contentType, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return
		}
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		q.Set("token", map[bool]string{true: tok, false: "5d0c6a2f9e8b7c41a3f3"}[token])
		kind := map[bool]string{true: "inbound", false: "status"}[inbound]
		r := httptest.NewRequest(http.MethodPost, hookHost+"/carrier/"+kind+"?"+q.Encode(), strings.NewReader(body))
		if contentType != "" {
			r.Header.Set("Content-Type", contentType)
		}
		fuzzHook(t, d, r, token)
	})
}
