package carrier

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/textback/textback/sms"
)

func fuzzDrivers(t testing.TB) map[string]*Driver {
	t.Helper()
	const pub = "https://sms.example.com/carrier"
	cfgs := map[string]Config{
		"twilio": {Preset: PresetTwilio, PublicURL: pub, Twilio: TwilioConfig{AccountSID: "AC0123456789abcdef0123456789abcdef", AuthToken: "tok"}},
		"telnyx": {Preset: PresetTelnyx, PublicURL: pub, Telnyx: TelnyxConfig{APIKey: "k", PublicKey: "2w5o8S3MZ+mAYqPNn4tLKdA5QtBx2OYLlbyhNg8ajR8=", MessagingProfileID: "p-1"}},
		"kannel": {Preset: PresetKannel, PublicURL: "http://127.0.0.1:8080/carrier", Kannel: KannelConfig{Username: "u", Password: "p&w=1", WebhookToken: "0123456789abcdefgh"}},
	}
	out := map[string]*Driver{}
	for name, c := range cfgs {
		d, err := New(c)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = d
	}
	return out
}

// Whatever a text holds, each preset's request carries it exactly: the
// carrier decodes the To, From and Body that were sent.
func FuzzRequestTemplate(f *testing.F) {
	f.Add("+15555550123", "+15555551000", "Sorry we missed your call & we'll ring back = soon?")
	f.Add("+15555550123", "MG00000000000000000000000000000001", "Quote: 120€ [parts] {labour} ~2h ^ | \\ done\n\"ok\"")
	f.Add("+44 7700 900123", "ACME", "Café 😀👍🏽 日本語 <b>&amp;</b> %d %A +")
	f.Add("", "", "")
	ds := fuzzDrivers(f)
	f.Fuzz(func(t *testing.T, to, from, body string) {
		for name, d := range ds {
			data := &requestData{To: to, From: from, Body: body, Key: "k", ID: "0123456789abcdef0123",
				StatusURL: d.s.statusURL("0123456789abcdef0123"), BaseURL: d.s.cfg.URL, Vars: d.s.vars, Secrets: d.s.secretVars}
			raw, _, b, err := d.s.send.render(data)
			if err != nil {
				t.Fatalf("%s: render: %v", name, err)
			}
			u, err := url.Parse(raw)
			if err != nil {
				t.Fatalf("%s: URL %q: %v", name, raw, err)
			}
			var gotTo, gotFrom, gotBody string
			switch name {
			case "twilio":
				form, err := url.ParseQuery(string(b))
				if err != nil {
					t.Fatalf("twilio: form %q: %v", b, err)
				}
				gotTo, gotBody = form.Get("To"), form.Get("Body")
				gotFrom = form.Get("From")
				if strings.HasPrefix(from, "MG") {
					gotFrom = form.Get("MessagingServiceSid")
				}
				if form.Get("StatusCallback") != "https://sms.example.com/carrier/status" {
					t.Errorf("twilio: StatusCallback %q", form.Get("StatusCallback"))
				}
			case "telnyx":
				if !utf8.ValidString(to) || !utf8.ValidString(from) || !utf8.ValidString(body) {
					return // JSON carries UTF-8 only
				}
				var m map[string]string
				if err := json.Unmarshal(b, &m); err != nil {
					t.Fatalf("telnyx: body %q: %v", b, err)
				}
				gotTo, gotFrom, gotBody = m["to"], m["from"], m["text"]
			case "kannel":
				q := u.Query()
				gotTo, gotFrom, gotBody = q.Get("to"), q.Get("from"), q.Get("text")
				if q.Get("password") != "p&w=1" {
					t.Errorf("kannel: password %q", q.Get("password"))
				}
				if wantCoding := map[bool]string{true: "0", false: "2"}[isGSM7(body)]; q.Get("coding") != wantCoding {
					t.Errorf("kannel: coding %q for %q", q.Get("coding"), body)
				}
			}
			if gotTo != to || gotFrom != from || gotBody != body {
				t.Errorf("%s: carrier reads to %q from %q body %q, want %q %q %q", name, gotTo, gotFrom, gotBody, to, from, body)
			}
		}
	})
}

// Whatever a carrier answers, the driver never calls a refusal accepted,
// and an accepted text always has an id.
func FuzzJudge(f *testing.F) {
	f.Add(201, []byte(`{"sid":"SM1","num_segments":"2"}`), "")
	f.Add(400, []byte(`{"code":21610,"message":"x"}`), "")
	f.Add(429, []byte(`{"errors":[{"code":"10011"}]}`), "12")
	f.Add(202, []byte("0: Accepted for delivery"), "")
	f.Add(200, []byte(`{"data":{"id":"x","parts":-1}}`), "Wed, 21 Oct 2015 07:28:00 GMT")
	f.Add(500, []byte(`{"code":`), "")
	ds := fuzzDrivers(f)
	f.Fuzz(func(t *testing.T, status int, raw []byte, retry string) {
		if status < 100 || status > 599 {
			return
		}
		h := http.Header{"Retry-After": {retry}}
		for name, d := range ds {
			res, err := d.judge(status, h, raw, nil, "own-id")
			o := sms.OutcomeOf(err)
			if status < 200 || status > 299 {
				if err == nil {
					t.Fatalf("%s: HTTP %d %q accepted", name, status, raw)
				}
			}
			if err == nil && res.ProviderID == "" {
				t.Errorf("%s: accepted without an id: HTTP %d %q", name, status, raw)
			}
			if err == nil && res.Segments < 0 {
				t.Errorf("%s: %d segments", name, res.Segments)
			}
			if err != nil && o == sms.Accepted {
				t.Errorf("%s: an error with outcome accepted: %v", name, err)
			}
			if o == sms.Temporary && status >= 500 && status != 503 && err != nil {
				var se *sms.Error
				if errors.As(err, &se) && se.Code == "" {
					t.Errorf("%s: HTTP %d without a code judged temporary", name, status)
				}
			}
		}
	})
}

// Extraction takes any body and any path without failing.
func FuzzExtract(f *testing.F) {
	f.Add([]byte(`{"messages":[{"status":"0","message-id":"A"}]}`), "messages.0.message-id", "")
	f.Add([]byte("0: Accepted for delivery"), "", `^\s*([03]):`)
	f.Add([]byte(`[1,{"a":null}]`), "1.a", "(.*)")
	f.Fuzz(func(t *testing.T, raw []byte, path, re string) {
		x, err := compileExtract("x", Extract{JSON: path, Regexp: re})
		if err != nil || x == nil {
			return
		}
		v, found, err := x.find(&body{raw: raw})
		if !found && v != "" {
			t.Errorf("nothing found, yet %q", v)
		}
		_ = err
	})
}
