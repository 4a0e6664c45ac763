package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// kannelFake answers smsbox's sendsms as Kannel 1.4 does (202 "0: Accepted
// for delivery") and keeps what it was asked to send.
type kannelFake struct {
	srv  *httptest.Server
	mu   sync.Mutex
	sent []url.Values
}

func newKannelFake(t *testing.T, user, pass string) *kannelFake {
	k := &kannelFake{}
	k.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.URL.Path != "/cgi-bin/sendsms" {
			http.NotFound(w, r)
			return
		}
		if q.Get("username") != user || q.Get("password") != pass {
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, "Authorization failed for sendsms")
			return
		}
		if q.Get("to") == "" {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, "Missing receiver number, rejected")
			return
		}
		k.mu.Lock()
		k.sent = append(k.sent, q)
		k.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, "0: Accepted for delivery")
	}))
	t.Cleanup(k.srv.Close)
	return k
}

func (k *kannelFake) texts() []url.Values {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]url.Values(nil), k.sent...)
}

const (
	kannelPass  = "kannel-pass-1234"
	kannelToken = "hooktoken0123456789"
)

// carrierConfig is a daemon config with the kannel preset, its password
// in a file.
func carrierConfig(t *testing.T, dir, kannelURL string) string {
	t.Helper()
	state := filepath.Join(dir, "state")
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "kannel-password", kannelPass+"\n")
	c := configFor(state, "")
	c = strings.Replace(c, "driver: {type: console}\n", fmt.Sprintf(`driver:
  type: carrier
  carrier:
    preset: kannel
    url: %s
    public_url: http://127.0.0.1:8380/carrier
    kannel:
      username: textback
      password_file: kannel-password
      webhook_token: %s
http: {listen: "127.0.0.1:0"}
`, kannelURL, kannelToken), 1)
	return writeFile(t, dir, "textback.yaml", c)
}

func TestCheck_CarrierSecretsFromFiles(t *testing.T) {
	k := newKannelFake(t, "textback", kannelPass)
	cfg := carrierConfig(t, t.TempDir(), k.srv.URL)
	r := mustRun(t, "check", "--config", cfg)
	if strings.Contains(r.stdout+r.stderr, kannelPass) || strings.Contains(r.stdout+r.stderr, kannelToken) {
		t.Errorf("check shows a carrier secret:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "driver ok: kannel accepted the credentials") {
		t.Errorf("check did not ask the carrier:\n%s", r.stderr)
	}
	for _, w := range []string{"type: carrier\n", "preset: kannel\n", "password: '********'\n"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("the effective config does not show %q:\n%s", w, r.stdout)
		}
	}
}

func TestConfig_CarrierErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "kannel-password", kannelPass+"\n")
	base := "state_dir: " + dir + "\ndriver:\n  type: carrier\n  carrier:\n    preset: kannel\n"
	for _, tc := range []struct{ name, src, want string }{
		{"UnknownKey", base + "    kannel: {username: u, pasword: x}\n", `line 6: unknown key "pasword" in driver.carrier.kannel`},
		{"BothInlineAndFile", base + "    kannel: {username: u, password: x, password_file: kannel-password}\n", "line 6: driver.carrier.kannel.password is also set; give the secret inline or in a file, not both"},
		{"MissingFile", base + "    kannel: {username: u, password_file: nope}\n", "driver.carrier.kannel.password_file: cannot read " + filepath.Join(dir, "nope")},
		{"Invalid", base + "    kannel: {username: u}\n", "driver.carrier.kannel.password"},
		{"NoSection", "state_dir: " + dir + "\ndriver: {type: carrier}\n", "driver.carrier: driver type carrier needs a carrier section"},
		{"SectionWithoutType", "state_dir: " + dir + "\ndriver:\n  type: console\n  carrier: {preset: kannel}\n", `driver.carrier: is set but driver.type is "console"`},
		{"BadTimeout", base + "    timeout: soon\n", `driver.carrier.timeout: "soon" is not a duration`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := writeFile(t, dir, "textback.yaml", tc.src)
			r := textback(t, "check", "--config", cfg)
			wantError(t, r, 1, "check", tc.want)
		})
	}
}

// TestRun_CarrierTextsAndTakesReplies: the daemon sends a missed call's
// text through the carrier, and a STOP that comes back on the webhook
// listener opts the caller out, with one confirmation.
func TestRun_CarrierTextsAndTakesReplies(t *testing.T) {
	k := newKannelFake(t, "textback", kannelPass)
	dir := t.TempDir()
	cfg := carrierConfig(t, dir, k.srv.URL)
	cfgText, _ := os.ReadFile(cfg)
	// A scripted missed call through the events trace reader is not a
	// PBX; the daemon's own path here is the listener and the driver.
	d := startDaemon(t, cfg)
	started := d.waitLog("textback starting", 1)
	hooks, _ := started["webhooks"].(string)
	if !strings.HasPrefix(hooks, "http://127.0.0.1:") || !strings.HasSuffix(hooks, "/carrier/") {
		t.Fatalf("starting line: webhooks = %q\n%s", hooks, cfgText)
	}
	inbound := func(token, text string) int {
		q := url.Values{"token": {token}, "id": {"mo-" + text}, "from": {testCaller}, "to": {testLine}, "text": {text}, "charset": {"UTF-8"}}
		resp, err := http.Get(hooks + "inbound?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := inbound("forged-token", "STOP"); code/100 != 4 {
		t.Errorf("forged webhook: HTTP %d, want 4xx", code)
	}
	if code := inbound(kannelToken, "STOP"); code/100 != 2 {
		t.Fatalf("webhook: HTTP %d, want 2xx", code)
	}
	// The same delivery again is answered 2xx and ignored.
	if code := inbound(kannelToken, "STOP"); code/100 != 2 {
		t.Fatalf("duplicate webhook: HTTP %d, want 2xx", code)
	}
	d.waitLog("text accepted", 1)
	texts := k.texts()
	if len(texts) != 1 || texts[0].Get("to") != testCaller || !strings.Contains(texts[0].Get("text"), "unsubscribed") {
		t.Fatalf("carrier got %v, want one opt-out confirmation to %s", texts, testCaller)
	}
	d.stop()
	// The opt-out is in the ledger: textback optout show says so.
	r := mustRun(t, "optout", "show", "--config", cfg, testCaller)
	if !strings.Contains(r.stdout, "opted_out") || !strings.Contains(r.stdout, "keyword") {
		t.Errorf("optout show after a STOP on the webhook:\n%s", r.stdout)
	}
}

func TestCheck_CarrierCredentials(t *testing.T) {
	k := newKannelFake(t, "textback", "another-password")
	cfg := carrierConfig(t, t.TempDir(), k.srv.URL)
	r := textback(t, "check", "--config", cfg)
	wantCheckError(t, r, "driver.carrier: ", "textback check --offline skips this")
	if strings.Contains(r.stderr, kannelPass) {
		t.Errorf("the error shows the password: %s", r.stderr)
	}
	r = mustRun(t, "check", "--offline", "--config", cfg)
	if strings.Contains(r.stderr, "driver ok") {
		t.Errorf("check --offline asked the carrier:\n%s", r.stderr)
	}
	if len(k.texts()) != 0 {
		t.Errorf("check sent a text: %v", k.texts())
	}
}

// TestREADME_CarrierConfigs: the carrier configs README shows are valid
// configs, their secrets read from files as they say.
func TestREADME_CarrierConfigs(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	start := strings.Index(section, "## Send through a carrier")
	if start < 0 {
		t.Fatal("README has no carrier section")
	}
	section = section[start:]
	section = section[:strings.Index(section[3:], "\n## ")+3]
	dir := t.TempDir()
	for _, f := range []string{"twilio-auth-token", "telnyx-api-key", "kannel-password"} {
		writeFile(t, dir, f, "secret-from-"+f+"\n")
	}
	n := 0
	for _, block := range strings.Split(section, "```yaml\n")[1:] {
		block = block[:strings.Index(block, "```")]
		n++
		cfg := writeFile(t, dir, fmt.Sprintf("readme-%d.yaml", n), strings.Replace(configFor(dir, ""), "driver: {type: console}\n", block, 1))
		r := textback(t, "check", "--offline", "--config", cfg)
		if r.code != 0 {
			t.Errorf("README's carrier config %d does not check:\n%s\n%s", n, block, r.stderr)
		}
	}
	if n != 3 {
		t.Errorf("README shows %d carrier configs, want 3 (twilio, telnyx, kannel)", n)
	}
}
