package carrier

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/textback/textback/sms"
)

// TwilioSignature computes Twilio's X-Twilio-Signature for a request to
// fullURL (scheme, host, path and query exactly as Twilio called it) with
// the POST parameters params: base64 of the HMAC-SHA1, keyed with the auth
// token, of the URL followed by each parameter name and value, the names
// sorted, and each name's values sorted.
func TwilioSignature(authToken, fullURL string, params url.Values) string {
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(fullURL))
	names := make([]string, 0, len(params))
	for name := range params {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		values := slices.Clone(params[name])
		slices.Sort(values)
		for _, v := range slices.Compact(values) {
			mac.Write([]byte(name))
			mac.Write([]byte(v))
		}
	}
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// twilioVerify checks sig against fullURL and, as Twilio's own libraries
// do, the same URL with its default port added or removed (Twilio may sign
// either, depending on how the URL was entered). Constant time.
func twilioVerify(authToken, fullURL string, params url.Values, sig string) bool {
	ok := 0
	for _, u := range portVariants(fullURL) {
		want := TwilioSignature(authToken, u, params)
		ok |= subtle.ConstantTimeCompare([]byte(want), []byte(sig))
	}
	return ok == 1
}

// portVariants returns raw and raw with the scheme's default port toggled.
func portVariants(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil {
		return []string{raw}
	}
	def := map[string]string{"https": "443", "http": "80"}[u.Scheme]
	if def == "" {
		return []string{raw}
	}
	v := *u
	switch u.Port() {
	case "":
		v.Host = net.JoinHostPort(u.Hostname(), def)
	case def:
		v.Host = u.Hostname()
		if strings.Contains(v.Host, ":") {
			v.Host = "[" + v.Host + "]"
		}
	default:
		return []string{raw}
	}
	return []string{raw, v.String()}
}

// twilioWebhook verifies and reads a Twilio webhook: a form POST, an
// incoming message on inbound, a status callback on status.
func (d *Driver) twilioWebhook(kind string, r *http.Request, raw []byte) (event, *hookError) {
	sig := r.Header.Get("X-Twilio-Signature")
	if sig == "" {
		return event{}, refuse(http.StatusUnauthorized, "missing X-Twilio-Signature")
	}
	if mt, _ := mediaType(r); mt != "application/x-www-form-urlencoded" {
		return event{}, refuse(http.StatusUnsupportedMediaType, "want a form POST, got %q", r.Header.Get("Content-Type"))
	}
	params, err := url.ParseQuery(string(raw))
	if err != nil {
		return event{}, refuse(http.StatusBadRequest, "malformed form: %v", err)
	}
	signed := d.s.cfg.PublicURL + "/" + kind
	if r.URL.RawQuery != "" {
		signed += "?" + r.URL.RawQuery
	}
	if !twilioVerify(d.s.cfg.Twilio.AuthToken, signed, params, sig) {
		return event{}, refuse(http.StatusForbidden, "X-Twilio-Signature does not match %s (public_url must be the URL entered in Twilio's console, without /%s)", signed, kind)
	}
	sid := firstOf(params, "MessageSid", "SmsMessageSid", "SmsSid")
	if sid == "" {
		return event{}, refuse(http.StatusBadRequest, "no MessageSid")
	}
	if kind == "inbound" {
		from := params.Get("From")
		if from == "" {
			return event{}, refuse(http.StatusBadRequest, "no From")
		}
		return event{inbound: &sms.Inbound{Provider: d.Name(), ProviderID: sid, From: from, To: params.Get("To"), Body: params.Get("Body")}}, nil
	}
	status := firstOf(params, "MessageStatus", "SmsStatus")
	if status == "" {
		return event{}, refuse(http.StatusBadRequest, "no MessageStatus")
	}
	st := &sms.Status{Provider: d.Name(), ProviderID: sid, Code: params.Get("ErrorCode"), At: d.now()}
	switch status {
	case "delivered", "read":
		st.Delivered = true
	case "undelivered", "failed", "canceled":
		st.Outcome = d.failure(st.Code)
	default: // queued, sending, sent, accepted, scheduled, ...: not final
		st.Outcome = sms.Accepted
	}
	return event{status: st}, nil
}

// failure is the outcome of a delivery failure with code: by the status
// code table, Rejected when it lists the code nowhere (or as temporary or
// unknown: after the carrier accepted a text, a failure is final).
func (d *Driver) failure(code string) sms.Outcome {
	switch o := d.s.statusMap[code]; o {
	case sms.OptedOut, sms.NotMobile:
		return o
	default:
		return sms.Rejected
	}
}

func firstOf(v url.Values, names ...string) string {
	for _, n := range names {
		if s := v.Get(n); s != "" {
			return s
		}
	}
	return ""
}
