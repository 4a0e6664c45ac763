package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/textback/textback/ledger"
	"github.com/textback/textback/sms"
)

const (
	testSecret = "0123456789abcdef0123456789abcdef"
	testLine   = "+15555551000"
	testCaller = "+15557654321"
	testStaff  = "+15555550199"
	// xss is put in every field a person can type.
	xss = `<script>alert(1)</script>"'><img src=x onerror=alert(2)>`
)

type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	t      *testing.T
	core   *ledger.Ledger
	clock  *testClock
	sites  map[string]Site
	intake *Intake
	inbox  *Inbox
	users  Users
	calls  int
	msgs   int
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	st, err := ledger.Open(filepath.Join(dir, "textback.db"), ledger.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	p := ledger.DefaultPolicy()
	p.TokenSecret = []byte(testSecret)
	p.Cooldown = 0
	cfg := ledger.Config{Policy: p, Lines: []ledger.Line{{
		Name: "main", Number: testLine, Aliases: []string{"5551000"}, Country: "US",
		Business: "Acme <b>Plumbing</b>", Template: "{{.Business}}: sorry we missed you. {{.Link}}",
		Link: "https://acme.example/i/{{.Token}}", Staff: []string{testStaff},
	}}}
	clock := &testClock{now: time.Date(2026, 11, 24, 15, 0, 0, 0, time.UTC)}
	core, err := ledger.New(st, cfg, ledger.Options{Now: clock.Now, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, core: core, clock: clock, users: Users{Path: filepath.Join(dir, "users"), Cost: 4}}
	f.sites = map[string]Site{"main": {Line: "main", Business: "Acme <b>Plumbing</b>", Phone: "(555) 555-1000", PhoneE164: testLine,
		Accent: "#aa3300", Intro: "Tell us <i>everything</i>.", Fields: DefaultFields()}}
	sites := func() map[string]Site { return f.sites }
	if f.intake, err = NewIntake(IntakeOptions{Ledger: core, Secret: []byte(testSecret), Sites: sites, Now: clock.Now, Log: zerolog.Nop()}); err != nil {
		t.Fatal(err)
	}
	if f.inbox, err = NewInbox(InboxOptions{Ledger: core, Users: f.users, Sites: sites, Now: clock.Now, Log: zerolog.Nop()}); err != nil {
		t.Fatal(err)
	}
	return f
}

// missed records a missed call from caller and returns the token of its
// link.
func (f *fixture) missed(caller string) (callID, token string) {
	f.t.Helper()
	f.calls++
	f.clock.Advance(time.Minute)
	now := f.clock.Now()
	c, err := f.core.Record(ledger.Verdict{PBX: "test", Call: fmt.Sprint("c", f.calls), Outcome: ledger.Missed, Reason: ledger.ReasonNoAnswer,
		From: caller, Line: "5551000", OfferedAt: now.Add(-20 * time.Second), EndedAt: now, RingTime: 20 * time.Second})
	if err != nil {
		f.t.Fatal(err)
	}
	if c.Text == 0 {
		return c.ID, ledger.SignToken([]byte(testSecret), c.ID, now.Add(72*time.Hour))
	}
	txt, err := f.core.Store().Text(c.Text)
	if err != nil {
		f.t.Fatal(err)
	}
	m := regexp.MustCompile(`/i/([A-Za-z0-9_-]+)`).FindStringSubmatch(txt.Body)
	if m == nil {
		f.t.Fatalf("no link in %q", txt.Body)
	}
	return c.ID, m[1]
}

func (f *fixture) text(from, body string) {
	f.t.Helper()
	f.msgs++
	f.clock.Advance(time.Minute)
	if err := f.core.Receive(context.Background(), sms.Inbound{Provider: "test", ProviderID: fmt.Sprint("m", f.msgs), From: from, To: testLine, Body: body}); err != nil {
		f.t.Fatal(err)
	}
}

// client keeps cookies between requests to one handler.
type client struct {
	t       *testing.T
	h       http.Handler
	cookies map[string]*http.Cookie
	remote  string
	header  http.Header
}

func newClient(t *testing.T, h http.Handler) *client {
	return &client{t: t, h: h, cookies: map[string]*http.Cookie{}, remote: "192.0.2.10:40000", header: http.Header{}}
}

func (c *client) do(method, target string, form url.Values) *httptest.ResponseRecorder {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	return c.doBody(method, target, body, "application/x-www-form-urlencoded")
}

func (c *client) doBody(method, target string, body io.Reader, ctype string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, body)
	r.RemoteAddr = c.remote
	if body != nil {
		r.Header.Set("Content-Type", ctype)
	}
	for k, v := range c.header {
		r.Header[k] = v
	}
	for _, ck := range c.cookies {
		r.AddCookie(ck)
	}
	w := httptest.NewRecorder()
	c.h.ServeHTTP(w, r)
	for _, ck := range w.Result().Cookies() {
		if ck.MaxAge < 0 {
			delete(c.cookies, ck.Name)
		} else {
			c.cookies[ck.Name] = ck
		}
	}
	return w
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(w.Body.String())
	if m == nil {
		t.Fatalf("no csrf field in:\n%s", w.Body.String())
	}
	return m[1]
}

// noRawXSS fails when the page carries any part of the xss string
// unescaped.
func noRawXSS(t *testing.T, page string) {
	t.Helper()
	for _, bad := range []string{"<script>alert", "<img src=x", "onerror=alert(2)>", "<b>Plumbing", "<i>everything"} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q unescaped", bad)
		}
	}
}
