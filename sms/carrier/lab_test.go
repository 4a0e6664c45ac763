package carrier_test

// The real-peer tier: a real Kannel 1.4.5 (bearerbox, smsbox, fakesmsc) and
// Prism validating requests against Twilio's OpenAPI spec, started by
// .ci/lab/kannel/start.sh and .ci/lab/twilio/start.sh. Each test runs only
// when its variable is set, and then fails, not skips, when the peer is
// unreachable:
//
//	TEXTBACK_LAB_KANNEL=1                      (or the sendsms base URL)
//	TEXTBACK_LAB_TWILIO=http://127.0.0.1:4010  (Prism)

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/textback/textback/ledger"
	"github.com/textback/textback/sms"
	"github.com/textback/textback/sms/carrier"
)

// What .ci/lab/kannel/kannel.conf sets up.
const (
	labKannelURL   = "http://127.0.0.1:13113"
	labKannelUser  = "textback"
	labKannelPass  = "labsecret"
	labKannelToken = "lab-webhook-token-0001"
	labHookAddr    = "127.0.0.1:18181" // where its get-url, post-url point
	labLine        = "+15555551000"
)

// labWait bounds each wait for the peer to act (a few hundred ms here).
const labWait = 15 * time.Second

func labState() string {
	if s := os.Getenv("LAB_STATE"); s != "" {
		return s
	}
	return "/var/tmp/textback-lab"
}

// labKannel returns the Kannel peer's sendsms base URL, skipping the test
// when TEXTBACK_LAB_KANNEL is unset and failing it when Kannel is not there.
func labKannel(t *testing.T) string {
	t.Helper()
	v := os.Getenv("TEXTBACK_LAB_KANNEL")
	if v == "" {
		t.Skip("real-peer test: set TEXTBACK_LAB_KANNEL=1 after .ci/lab/kannel/start.sh")
	}
	base := labKannelURL
	if v != "1" {
		base = strings.TrimSuffix(v, "/")
	}
	resp, err := http.Get(base + "/cgi-bin/sendsms")
	if err != nil {
		t.Fatalf("TEXTBACK_LAB_KANNEL is set but Kannel's smsbox is not reachable at %s (start it with .ci/lab/kannel/start.sh): %v", base, err)
	}
	resp.Body.Close()
	return base
}

// eventually polls cond until it holds or labWait has passed.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(labWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", labWait, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mtLog reads what fakesmsc received, from offset on.
type mtLog struct {
	path   string
	offset int64
}

func newMTLog(t *testing.T) *mtLog {
	p := filepath.Join(labState(), "ci-kannel", "fakesmsc-mt.log")
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatalf("fakesmsc's log: %v (is the Kannel peer from .ci/lab/kannel running?)", err)
	}
	return &mtLog{path: p, offset: fi.Size()}
}

// fakesmsc prints "Got message N: <from to type [udh] data>" per SMS part.
var reGot = regexp.MustCompile(`Got message \d+: <(\S+) (\S+) (\S+) (.*)>$`)

// messages reassembles the texts fakesmsc got for to since the log was
// opened: text and ucs-2 parts as they are, udh parts joined in order.
func (l *mtLog) messages(t *testing.T, to string, ucs2 bool) []string {
	f, err := os.Open(l.path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Seek(l.offset, 0); err != nil {
		t.Fatal(err)
	}
	var out []string
	parts := map[byte]map[byte]string{} // reference → part number → data
	totals := map[byte]byte{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := reGot.FindStringSubmatch(sc.Text())
		if m == nil || m[2] != to {
			continue
		}
		switch typ, rest := m[3], m[4]; typ {
		case "text":
			out = append(out, rest)
		case "ucs-2":
			out = append(out, decodeUCS2(t, rest))
		case "udh":
			udhData := strings.SplitN(rest, " ", 3) // UDH, "data", payload
			udh, err := url.QueryUnescape(udhData[0])
			if err != nil || len(udh) < 6 || len(udhData) != 3 {
				t.Fatalf("fakesmsc line %q: bad udh part", sc.Text())
			}
			ref, total, seq := udh[3], udh[4], udh[5]
			if parts[ref] == nil {
				parts[ref] = map[byte]string{}
			}
			data, err := url.QueryUnescape(udhData[2])
			if err != nil {
				t.Fatalf("fakesmsc line %q: %v", sc.Text(), err)
			}
			parts[ref][seq], totals[ref] = data, total
			if len(parts[ref]) == int(total) {
				var whole strings.Builder
				for i := byte(1); i <= total; i++ {
					whole.WriteString(parts[ref][i])
				}
				s := whole.String()
				if ucs2 {
					s = utf16beString([]byte(s))
				}
				out = append(out, s)
				delete(parts, ref)
			}
		}
	}
	return out
}

func decodeUCS2(t *testing.T, escaped string) string {
	raw, err := url.QueryUnescape(escaped)
	if err != nil {
		t.Fatalf("ucs-2 data %q: %v", escaped, err)
	}
	return utf16beString([]byte(raw))
}

func utf16beString(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	return string(utf16.Decode(u))
}

// labReceiver passes what the handler hands on to the ledger, fails the
// first delivery of a reply whose body is failOnce, and records reports.
type labReceiver struct {
	l        *ledger.Ledger
	failOnce string
	mu       sync.Mutex
	failed   int
	bodies   []string
	statuses []sms.Status
}

func (r *labReceiver) Receive(ctx context.Context, in sms.Inbound) error {
	r.mu.Lock()
	r.bodies = append(r.bodies, in.Body)
	if in.Body == r.failOnce && r.failed == 0 {
		r.failed++
		r.mu.Unlock()
		return errors.New("the ledger is unavailable (on purpose)")
	}
	r.mu.Unlock()
	return r.l.Receive(ctx, in)
}

func (r *labReceiver) UpdateStatus(ctx context.Context, st sms.Status) error {
	r.mu.Lock()
	r.statuses = append(r.statuses, st)
	r.mu.Unlock()
	return r.l.UpdateStatus(ctx, st)
}

func (r *labReceiver) deliveries(body string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, b := range r.bodies {
		if b == body {
			n++
		}
	}
	return n
}

func openLedger(t *testing.T) (*ledger.Ledger, *ledger.Store) {
	t.Helper()
	st, err := ledger.Open(filepath.Join(t.TempDir(), "textback.db"), ledger.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	l, err := ledger.New(st, ledger.Config{
		Lines: []ledger.Line{{Name: "main", Number: labLine, Business: "Acme Plumbing",
			Template: "Sorry we missed your call to {{.Business}}. Reply STOP to opt out."}},
		Policy: ledger.DefaultPolicy(),
	}, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return l, st
}

// Texts go out through the real smsbox and reach the SMSC whole; replies
// injected at the SMSC come through Kannel's get-url and post-url into the
// ledger; delivery reports come back through the dlr-url.
func TestLab_Kannel(t *testing.T) {
	base := labKannel(t)
	l, st := openLedger(t)
	rcv := &labReceiver{l: l, failOnce: "Please call back, retry me"}

	cfg := carrier.Config{Preset: "kannel", URL: base, PublicURL: "http://" + labHookAddr + "/kannel",
		Kannel: carrier.KannelConfig{Username: labKannelUser, Password: labKannelPass, WebhookToken: labKannelToken}}
	d, err := carrier.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", labHookAddr)
	if err != nil {
		t.Fatalf("listen on %s, where the lab's Kannel sends webhooks: %v", labHookAddr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/kannel/", http.StripPrefix("/kannel", d.Handler(rcv)))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	t.Run("Check", func(t *testing.T) {
		if err := d.Check(t.Context()); err != nil {
			t.Errorf("Check with the lab's credentials: %v", err)
		}
		bad := cfg
		bad.Kannel.Password = "wrong"
		db, err := carrier.New(bad)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Check(t.Context()); !errors.Is(err, carrier.ErrCredentials) {
			t.Errorf("Check with a wrong password: %v, want ErrCredentials", err)
		}
		if _, err := db.Send(t.Context(), sms.Message{From: labLine, To: "+15555550100", Body: "x"}); sms.OutcomeOf(err) != sms.Rejected {
			t.Errorf("Send with a wrong password: %v, want rejected", err)
		}
	})

	long := strings.Repeat("Sentence of a long text, 0-9 & (brackets) @ £ $ ¿? ", 7)[:300]
	longUnicode := strings.Repeat("Ça 👍 merci ", 12)
	sends := []struct {
		name, to, body string
		ucs2           bool
	}{
		{"GSM7", "+15555550101", "Quote: 120€ [parts] {labour} ~2h ^ | \\ done", false},
		{"Unicode", "+15555550102", "Café 😀👍🏽 日本語 — «ok»", true},
		{"GSM7_300Characters", "+15555550103", long, false},
		{"UnicodeLong", "+15555550104", longUnicode, true},
	}
	ids := map[string]string{}
	for _, s := range sends {
		t.Run("Send/"+s.name, func(t *testing.T) {
			log := newMTLog(t)
			res, err := d.Send(t.Context(), sms.Message{Key: "lab-" + s.name, From: labLine, To: s.to, Body: s.body})
			if err != nil {
				t.Fatalf("Send: %v (outcome %s)", err, sms.OutcomeOf(err))
			}
			ids[s.to] = res.ProviderID
			var got []string
			eventually(t, "fakesmsc to get the text to "+s.to, func() bool {
				got = log.messages(t, s.to, s.ucs2)
				return len(got) > 0
			})
			if len(got) != 1 || got[0] != s.body {
				t.Errorf("fakesmsc got %q, want exactly %q", got, s.body)
			}
		})
	}

	t.Run("DeliveryReports", func(t *testing.T) {
		if len(ids) != len(sends) {
			t.Skip("a send failed")
		}
		// Waiting for every report also leaves Kannel nothing to deliver
		// after the test's listener is gone.
		for to, id := range ids {
			eventually(t, "Kannel's delivery report for the text to "+to, func() bool {
				rcv.mu.Lock()
				defer rcv.mu.Unlock()
				return slices.ContainsFunc(rcv.statuses, func(s sms.Status) bool { return s.ProviderID == id && s.Delivered })
			})
		}
	})

	inject := func(t *testing.T, from, text string) {
		t.Helper()
		cmd := exec.Command("../../.ci/lab/kannel/inject-mo.sh", from, labLine, text)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("inject-mo.sh: %v\n%s", err, out)
		}
	}
	message := func(from, body string) func() bool {
		return func() bool {
			ms, err := st.Messages(0)
			if err != nil {
				t.Fatal(err)
			}
			return slices.ContainsFunc(ms, func(m ledger.Message) bool { return m.From == from && m.Body == body && m.Provider == "kannel" })
		}
	}
	t.Run("Receive/STOP", func(t *testing.T) {
		const from = "+15555550111"
		inject(t, from, "STOP")
		eventually(t, "STOP to opt "+from+" out in the ledger", func() bool {
			out, err := st.OptedOut(from)
			if err != nil {
				t.Fatal(err)
			}
			return out
		})
		if !message(from, "STOP")() {
			t.Error("the STOP is not among the ledger's messages")
		}
	})
	for _, r := range []struct{ name, from, text string }{
		{"Reply", "+15555550112", "Call me back   after 5pm, ok? 100% [sure]"},
		{"UnicodeReply", "+15555550113", "Ça 👍 merci, à demain"},
		{"MultiLine", "+15555550114", "Two lines:\nsecond one"},
	} {
		t.Run("Receive/"+r.name, func(t *testing.T) {
			inject(t, r.from, r.text)
			eventually(t, fmt.Sprintf("%q from %s in the ledger", r.text, r.from), message(r.from, r.text))
			if out, _ := st.OptedOut(r.from); out {
				t.Errorf("%s opted out by %q", r.from, r.text)
			}
		})
	}
	t.Run("Receive/RedeliveredAfter500", func(t *testing.T) {
		const from = "+15555550115"
		inject(t, from, rcv.failOnce)
		eventually(t, "Kannel to deliver the reply again after a 500", message(from, rcv.failOnce))
		if n := rcv.deliveries(rcv.failOnce); n != 2 {
			t.Errorf("the handler saw the reply %d times, want 2 (refused once, then recorded)", n)
		}
		ms, _ := st.Messages(0)
		n := 0
		for _, m := range ms {
			if m.Body == rcv.failOnce {
				n++
			}
		}
		if n != 1 {
			t.Errorf("the ledger has the reply %d times, want once", n)
		}
	})
}

// labTwilio returns Prism's URL, skipping the test when
// TEXTBACK_LAB_TWILIO is unset and failing it when Prism is not there.
func labTwilio(t *testing.T) string {
	t.Helper()
	base := strings.TrimSuffix(os.Getenv("TEXTBACK_LAB_TWILIO"), "/")
	if base == "" {
		t.Skip("real-peer test: set TEXTBACK_LAB_TWILIO=http://127.0.0.1:4010 after .ci/lab/twilio/start.sh")
	}
	// start.sh runs Prism in a respawn loop: a Prism that died is back in
	// about two seconds (its log says how it ended)
	var err error
	for end := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		var resp *http.Response
		if resp, err = http.Get(base + "/2010-04-01/Accounts/" + twilioSID + ".json"); err == nil {
			resp.Body.Close()
			return base
		}
		if time.Now().After(end) {
			break
		}
	}
	t.Fatalf("TEXTBACK_LAB_TWILIO is set but Prism is not reachable at %s (start it with .ci/lab/twilio/start.sh; its log: /var/tmp/textback-lab/ci-twilio/prism.log): %v", base, err)
	return ""
}

// Every request the twilio preset makes passes Prism's validation against
// Twilio's OpenAPI spec; requests that break the spec are refused, and the
// driver reads the refusal as Rejected.
func TestLab_Twilio(t *testing.T) {
	base := labTwilio(t)
	cfg := twilioConfig(base)
	send := func(t *testing.T, c carrier.Config, m sms.Message) (sms.Result, error) {
		t.Helper()
		d, err := carrier.New(c)
		if err != nil {
			t.Fatal(err)
		}
		return d.Send(t.Context(), m)
	}
	valid := []struct {
		name string
		cfg  func(c *carrier.Config)
		body string
	}{
		{"GSM7", nil, "Sorry we missed your call to Acme Plumbing. Reply STOP to opt out."},
		{"Unicode", nil, "Café 😀👍🏽 日本語 — «ok» & <tags> = 100%"},
		{"Long", nil, strings.Repeat("Sentence of a long text. ", 60)},
		{"MessagingServiceForLine", func(c *carrier.Config) {
			c.Senders = map[string]string{testMsg.From: "MG00000000000000000000000000000001"}
		}, "From a messaging service."},
		{"MessagingServiceBesideFrom", func(c *carrier.Config) { c.Twilio.MessagingServiceSID = "MG0123456789abcdef0123456789abcdef" }, "With a service."},
		{"APIKey", func(c *carrier.Config) {
			c.Twilio.APIKeySID, c.Twilio.APIKeySecret = "SK0123456789abcdef0123456789abcdef", "api-key-secret"
		}, "Sent with an API key."},
		{"OtherPublicURL", func(c *carrier.Config) { c.PublicURL = "https://x.example:8443/c" }, "Callback elsewhere."},
	}
	for _, v := range valid {
		t.Run("Valid/"+v.name, func(t *testing.T) {
			c := cfg
			if v.cfg != nil {
				v.cfg(&c)
			}
			m := testMsg
			m.Body = v.body
			res, err := send(t, c, m)
			if err != nil {
				t.Fatalf("Prism refused the twilio preset's request: %v", err)
			}
			if !strings.HasPrefix(res.ProviderID, "SM") {
				t.Errorf("ProviderID %q, want a message SID", res.ProviderID)
			}
		})
	}
	t.Run("Check", func(t *testing.T) {
		d, err := carrier.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Check(t.Context()); err != nil {
			t.Errorf("Check: %v", err)
		}
	})

	// Requests that break the spec, made with http configs shaped like
	// Twilio's: Prism must refuse each (so the valid ones above prove
	// something), and the driver must call each refusal Rejected.
	broken := func(body, contentType, authType, sid string) carrier.Config {
		return carrier.Config{Preset: "http", Name: "twilio-broken", URL: base, HTTP: carrier.HTTPConfig{
			Request: carrier.RequestConfig{
				URL:     "{{.BaseURL}}/2010-04-01/Accounts/" + sid + "/Messages.json",
				Headers: map[string]string{"Content-Type": contentType},
				Body:    body,
			},
			Auth:     carrier.AuthConfig{Type: authType, Username: twilioSID, Password: twilioToken},
			Response: carrier.ResponseConfig{MessageID: carrier.Extract{JSON: "sid"}, ErrorCode: carrier.Extract{JSON: "code"}},
		}}
	}
	form := "To={{urlquery .To}}&From={{urlquery .From}}&Body={{urlquery .Body}}"
	refused := []struct {
		name   string
		cfg    carrier.Config
		status int
	}{
		{"NoTo", broken("From={{urlquery .From}}&Body={{urlquery .Body}}", "application/x-www-form-urlencoded", "basic", twilioSID), 422},
		{"JSONBody", broken(`{"To":{{json .To}},"Body":{{json .Body}}}`, "application/json", "basic", twilioSID), 415},
		{"NoAuth", broken(form, "application/x-www-form-urlencoded", "none", twilioSID), 401},
		{"BadAccountSid", broken(form, "application/x-www-form-urlencoded", "basic", "XYZ"), 422},
		{"StatusCallbackNotAURI", broken(form+"&StatusCallback=not+a+uri", "application/x-www-form-urlencoded", "basic", twilioSID), 422},
	}
	for _, r := range refused {
		t.Run("Refused/"+r.name, func(t *testing.T) {
			_, err := send(t, r.cfg, testMsg)
			var ae *carrier.APIError
			if !errors.As(err, &ae) || ae.Status != r.status {
				t.Fatalf("Send of a request that breaks Twilio's spec: %v, want HTTP %d from Prism", err, r.status)
			}
			if o := sms.OutcomeOf(err); o != sms.Rejected {
				t.Errorf("outcome %s, want rejected", o)
			}
		})
	}
}
