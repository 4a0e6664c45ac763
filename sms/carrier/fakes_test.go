package carrier_test

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"unicode/utf16"

	"github.com/textback/textback/sms"
	"github.com/textback/textback/sms/carrier"
	"github.com/textback/textback/sms/smstest"
	"go.yaml.in/yaml/v3"
)

// Credentials of the fake carriers.
const (
	twilioSID     = "AC0123456789abcdef0123456789abcdef"
	twilioToken   = "twilio-auth-token-secret-0001"
	telnyxKey     = "KEY-telnyx-secret-0002"
	telnyxProfile = "40017f1d-1b0a-4c6e-9e55-0123456789ab"
	kannelUser    = "textback"
	kannelPass    = "kannel-secret-0003"
	hookToken     = "webhook-token-secret-0004"
)

// peer is an httptest.Server standing in for a carrier. Its api function
// decodes each request as the carrier's API documents it, and answers as
// the carrier does; the peer keeps what it accepted and fails the next send
// on demand.
type peer struct {
	t       *testing.T
	srv     *httptest.Server
	api     func(p *peer, w http.ResponseWriter, r *http.Request)
	release chan struct{}

	mu       sync.Mutex
	sent     []sms.Message
	fault    *smstest.Fault
	requests []*http.Request // every request, body drained
	bodies   []string
	n        int
}

func newPeer(t *testing.T, api func(p *peer, w http.ResponseWriter, r *http.Request)) *peer {
	t.Helper()
	p := &peer{t: t, api: api, release: make(chan struct{})}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	t.Cleanup(func() { close(p.release) }) // runs first: hung handlers return
	return p
}

func (p *peer) URL() string { return p.srv.URL }

func (p *peer) serve(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(strings.NewReader(string(b)))
	p.mu.Lock()
	p.requests = append(p.requests, r)
	p.bodies = append(p.bodies, string(b))
	p.mu.Unlock()
	p.api(p, w, r)
}

// Sent returns what the peer accepted.
func (p *peer) Sent() []sms.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]sms.Message(nil), p.sent...)
}

// Requests returns how many requests the peer got.
func (p *peer) Requests() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.requests)
}

// last returns the last request and its body.
func (p *peer) last() (*http.Request, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.requests) == 0 {
		p.t.Fatal("the peer got no request")
	}
	return p.requests[len(p.requests)-1], p.bodies[len(p.bodies)-1]
}

func (p *peer) setFault(f smstest.Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fault = &f
}

// takeFault returns the pending fault, if any, and clears it.
func (p *peer) takeFault() (smstest.Fault, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fault == nil {
		return 0, false
	}
	f := *p.fault
	p.fault = nil
	return f, true
}

// hang holds the request until the client gives up or the test ends.
func (p *peer) hang(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-p.release:
	}
}

// accept records m and returns a fresh id.
func (p *peer) accept(m sms.Message) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sent = append(p.sent, m)
	p.n++
	return p.n
}

func hexID(n int) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%08x%s", n, hex.EncodeToString(b[:])[8:])
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func isForm(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "application/x-www-form-urlencoded"
}

func isJSON(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "application/json"
}

func readForm(r *http.Request) (url.Values, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	return url.ParseQuery(string(b))
}

// Twilio, REST API 2010-04-01: form POST with Basic auth, 201 with the
// Message resource, errors as {code, message, more_info, status}.
func twilioAPI(p *peer, w http.ResponseWriter, r *http.Request) {
	twErr := func(status, code int, msg string) {
		writeJSON(w, status, map[string]any{"code": code, "message": msg,
			"more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code), "status": status})
	}
	if user, pass, ok := r.BasicAuth(); !ok || user != twilioSID || pass != twilioToken {
		twErr(401, 20003, "Authentication Error - invalid username")
		return
	}
	base := "/2010-04-01/Accounts/" + twilioSID
	switch {
	case r.Method == http.MethodGet && r.URL.Path == base+".json":
		writeJSON(w, 200, map[string]any{"sid": twilioSID, "status": "active", "friendly_name": "fake"})
		return
	case r.Method != http.MethodPost || r.URL.Path != base+"/Messages.json":
		twErr(404, 20404, "The requested resource "+r.URL.Path+" was not found")
		return
	}
	if !isForm(r) {
		twErr(415, 20415, "Unsupported Media Type")
		return
	}
	f, err := readForm(r)
	if err != nil {
		twErr(400, 20001, "malformed form: "+err.Error())
		return
	}
	from, svc := f.Get("From"), f.Get("MessagingServiceSid")
	switch {
	case f.Get("To") == "":
		twErr(400, 21604, "A 'To' phone number is required.")
		return
	case from == "" && svc == "":
		twErr(400, 21603, "A 'From' phone number is required.")
		return
	case f.Get("Body") == "":
		twErr(400, 21602, "Message body is required.")
		return
	}
	if cb := f.Get("StatusCallback"); cb != "" {
		if u, err := url.Parse(cb); err != nil || !u.IsAbs() {
			twErr(400, 21609, "Invalid StatusCallback")
			return
		}
	}
	if fault, ok := p.takeFault(); ok {
		switch fault {
		case smstest.FaultTemporary:
			w.Header().Set("Retry-After", "2")
			twErr(429, 20429, "Too Many Requests")
		case smstest.FaultRejected:
			twErr(400, 21211, "The 'To' number "+f.Get("To")+" is not a valid phone number.")
		case smstest.FaultOptedOut:
			twErr(400, 21610, "Attempt to send to unsubscribed recipient")
		case smstest.FaultNotMobile:
			twErr(400, 21614, "'To' number is not a valid mobile number")
		case smstest.FaultHang:
			p.hang(r)
		}
		return
	}
	if from == "" {
		from = svc
	}
	m := sms.Message{From: from, To: f.Get("To"), Body: f.Get("Body")}
	n := p.accept(m)
	writeJSON(w, 201, map[string]any{
		"sid": "SM" + hexID(n), "account_sid": twilioSID, "to": m.To, "from": f.Get("From"), "body": m.Body,
		"messaging_service_sid": nilIfEmpty(svc), "status": "queued", "num_segments": fmt.Sprint(segments(m.Body)),
		"direction": "outbound-api", "api_version": "2010-04-01", "error_code": nil, "error_message": nil,
	})
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Telnyx, API v2: JSON POST with a Bearer key, 200 {data: message},
// errors as {errors: [{code, title, detail}]}.
func telnyxAPI(p *peer, w http.ResponseWriter, r *http.Request) {
	txErr := func(status int, code, title, detail string) {
		writeJSON(w, status, map[string]any{"errors": []any{map[string]any{"code": code, "title": title, "detail": detail}}})
	}
	if r.Header.Get("Authorization") != "Bearer "+telnyxKey {
		txErr(401, "10009", "Authentication failed", "The API key is not valid.")
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/v2/messaging_profiles/"+telnyxProfile:
		writeJSON(w, 200, map[string]any{"data": map[string]any{"id": telnyxProfile, "record_type": "messaging_profile"}})
		return
	case r.Method == http.MethodGet && r.URL.Path == "/v2/messaging_profiles":
		writeJSON(w, 200, map[string]any{"data": []any{}, "meta": map[string]any{"page_size": r.URL.Query().Get("page[size]")}})
		return
	case r.Method != http.MethodPost || r.URL.Path != "/v2/messages":
		txErr(404, "10005", "Resource not found", r.URL.Path)
		return
	}
	if !isJSON(r) {
		txErr(415, "10015", "Unsupported media type", "")
		return
	}
	var req struct {
		From               string `json:"from"`
		To                 string `json:"to"`
		Text               string `json:"text"`
		MessagingProfileID string `json:"messaging_profile_id"`
		WebhookURL         string `json:"webhook_url"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		txErr(400, "10015", "Bad request", "malformed JSON: "+err.Error())
		return
	}
	if req.To == "" || req.Text == "" || req.From == "" && req.MessagingProfileID == "" {
		txErr(422, "10005", "Invalid parameter", "to, text and from or messaging_profile_id are required")
		return
	}
	if fault, ok := p.takeFault(); ok {
		switch fault {
		case smstest.FaultTemporary:
			w.Header().Set("Retry-After", "2")
			txErr(429, "10011", "Too many requests", "")
		case smstest.FaultRejected:
			txErr(400, "40310", "Invalid 'to' address", "The 'to' address is not valid.")
		case smstest.FaultOptedOut:
			txErr(400, "40300", "Blocked due to STOP message", "Messages cannot be sent from '"+req.From+"' to '"+req.To+"' due to an existing block rule.")
		case smstest.FaultNotMobile:
			txErr(400, "40001", "Not routable", "The destination is a landline or non-routable number.")
		case smstest.FaultHang:
			p.hang(r)
		}
		return
	}
	n := p.accept(sms.Message{From: req.From, To: req.To, Body: req.Text})
	writeJSON(w, 200, map[string]any{"data": map[string]any{
		"record_type": "message", "id": fmt.Sprintf("40317f1d-%04x-4c6e-9e55-%s", n, hexID(n)[:12]), "direction": "outbound",
		"type": "SMS", "text": req.Text, "parts": segments(req.Text), "from": map[string]any{"phone_number": req.From},
		"to": []any{map[string]any{"phone_number": req.To, "status": "queued"}}, "webhook_url": nilIfEmpty(req.WebhookURL),
	}})
}

// Kannel 1.4.5 smsbox sendsms: GET with the sendsms-user in the query,
// 202 "0: Accepted for delivery"; a 7-bit text (coding=0) that is not GSM
// comes out mangled, as from a real SMSC.
func kannelAPI(p *peer, w http.ResponseWriter, r *http.Request) {
	answer := func(status int, text string) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, text)
	}
	if r.URL.Path != "/cgi-bin/sendsms" {
		answer(404, "Unknown request.")
		return
	}
	q := r.URL.Query()
	if r.Method != http.MethodGet || q.Get("username") != kannelUser || q.Get("password") != kannelPass {
		answer(403, "Authorization failed for sendsms")
		return
	}
	switch {
	case q.Get("to") == "":
		answer(400, "Missing receiver number, rejected")
		return
	case q.Get("from") == "":
		answer(400, "Sender missing and no global set, rejected")
		return
	case q.Get("text") == "":
		answer(400, "Missing text, rejected")
		return
	case q.Get("charset") != "UTF-8":
		answer(400, "Unknown charset, rejected")
		return
	}
	if dlr := q.Get("dlr-url"); dlr != "" && (!strings.Contains(dlr, "%d") || q.Get("dlr-mask") == "") {
		answer(400, "dlr-url without %d or dlr-mask")
		return
	}
	if fault, ok := p.takeFault(); ok {
		switch fault {
		case smstest.FaultTemporary:
			answer(503, "Temporal failure, try again later.")
		case smstest.FaultRejected:
			answer(403, "Authorization failed for sendsms")
		case smstest.FaultHang:
			p.hang(r)
		}
		return
	}
	text := q.Get("text")
	if q.Get("coding") != "2" {
		text = mangleToGSM(text)
	}
	p.accept(sms.Message{From: q.Get("from"), To: q.Get("to"), Body: text})
	answer(202, "0: Accepted for delivery")
}

// Vonage SMS API: form POST with api_key and api_secret, HTTP 200 with
// messages[].status "0" on success and a non-zero status on failure.
// Numbers go without the +. A non-GSM text without type=unicode comes out
// mangled.
func vonageAPI(p *peer, w http.ResponseWriter, r *http.Request) {
	fail := func(status, text string) {
		writeJSON(w, 200, map[string]any{"message-count": "1", "messages": []any{map[string]any{"status": status, "error-text": text}}})
	}
	if r.URL.Path == "/account/get-balance" && r.Method == http.MethodGet {
		q := r.URL.Query()
		if q.Get("api_key") != "abcd1234" || q.Get("api_secret") != "example-api-secret" {
			writeJSON(w, 401, map[string]any{"type": "https://developer.nexmo.com/api-errors#unauthorized", "title": "Bad Credentials"})
			return
		}
		writeJSON(w, 200, map[string]any{"value": 10.28, "autoReload": false})
		return
	}
	if r.URL.Path != "/sms/json" || r.Method != http.MethodPost || !isForm(r) {
		http.Error(w, "not found", 404)
		return
	}
	f, err := readForm(r)
	if err != nil {
		fail("3", "Invalid parameters")
		return
	}
	switch {
	case f.Get("api_key") != "abcd1234" || f.Get("api_secret") != "example-api-secret":
		fail("4", "Bad Credentials")
		return
	case f.Get("from") == "" || f.Get("to") == "" || f.Get("text") == "":
		fail("2", "Missing from, to or text")
		return
	case strings.HasPrefix(f.Get("to"), "+") || strings.HasPrefix(f.Get("from"), "+"):
		fail("3", "Invalid to or from: omit the leading +")
		return
	}
	if fault, ok := p.takeFault(); ok {
		switch fault {
		case smstest.FaultTemporary:
			fail("1", "Throughput Rate Exceeded - please wait [ 30 ] and retry")
		case smstest.FaultRejected:
			fail("6", "Invalid Message: unroutable")
		case smstest.FaultHang:
			p.hang(r)
		}
		return
	}
	text := f.Get("text")
	if f.Get("type") != "unicode" {
		text = mangleToGSM(text)
	}
	parts := segments(text)
	n := p.accept(sms.Message{From: "+" + f.Get("from"), To: "+" + f.Get("to"), Body: text})
	var msgs []any
	for i := range parts {
		msgs = append(msgs, map[string]any{"to": f.Get("to"), "message-id": fmt.Sprintf("%s-%d", hexID(n)[:16], i), "status": "0",
			"remaining-balance": "15.53590000", "message-price": "0.03330000", "network": "23410"})
	}
	writeJSON(w, 200, map[string]any{"message-count": fmt.Sprint(parts), "messages": msgs})
}

// Plivo Message API: JSON POST with Basic auth (auth id, auth token),
// 202 {message_uuid: [...]}, errors as {api_id, error}.
func plivoAPI(p *peer, w http.ResponseWriter, r *http.Request) {
	const authID, authToken = "MAXXXXXXXXXXXXXXXXXX", "example-auth-token"
	plErr := func(status int, msg string) {
		writeJSON(w, status, map[string]any{"api_id": hexID(0), "error": msg})
	}
	if user, pass, ok := r.BasicAuth(); !ok || user != authID || pass != authToken {
		plErr(401, "authentication failed")
		return
	}
	base := "/v1/Account/" + authID + "/"
	if r.Method == http.MethodGet && r.URL.Path == base {
		writeJSON(w, 200, map[string]any{"account_type": "standard", "auth_id": authID})
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != base+"Message/" || !isJSON(r) {
		plErr(404, "not found")
		return
	}
	var req struct {
		Src, Dst, Text, URL, Method string
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		plErr(400, "malformed JSON")
		return
	}
	if req.Src == "" || req.Dst == "" || req.Text == "" {
		plErr(400, "src, dst and text are required")
		return
	}
	if fault, ok := p.takeFault(); ok {
		switch fault {
		case smstest.FaultTemporary:
			w.Header().Set("Retry-After", "2")
			plErr(429, "too many requests")
		case smstest.FaultRejected:
			plErr(400, "dst parameter is not a valid number")
		case smstest.FaultHang:
			p.hang(r)
		}
		return
	}
	n := p.accept(sms.Message{From: req.Src, To: req.Dst, Body: req.Text})
	writeJSON(w, 202, map[string]any{"api_id": hexID(0), "message": "message(s) queued",
		"message_uuid": []string{fmt.Sprintf("db3ce55a-%04x-11e4-a2d1-%s", n, hexID(n)[:12])}})
}

// The GSM 03.38 alphabet, for the fakes (written out independently of the
// driver's table).
const gsmChars = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
	"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
const gsmExt = "^{}\\[~]|€\f"

// mangleToGSM is what a 7-bit SMSC makes of a text: characters outside
// GSM-7 become '?'.
func mangleToGSM(s string) string {
	return strings.Map(func(r rune) rune {
		if strings.ContainsRune(gsmChars, r) || strings.ContainsRune(gsmExt, r) {
			return r
		}
		return '?'
	}, s)
}

// segments counts SMS segments: GSM-7 septets (extension characters take
// two) in 160 or 153, otherwise UTF-16 units in 70 or 67.
func segments(s string) int {
	units, gsm := 0, true
	for _, r := range s {
		switch {
		case strings.ContainsRune(gsmChars, r):
			units++
		case strings.ContainsRune(gsmExt, r):
			units += 2
		default:
			gsm = false
		}
	}
	one, many := 160, 153
	if !gsm {
		units, one, many = len(utf16.Encode([]rune(s))), 70, 67
	}
	if units <= one {
		return 1
	}
	return (units + many - 1) / many
}

// loadConfig reads a YAML driver section strictly, as textback's config
// does.
func loadConfig(t testing.TB, path string) carrier.Config {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var c carrier.Config
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return c
}
