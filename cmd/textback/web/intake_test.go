package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/textback/textback/ledger"
)

func validForm(csrf string) url.Values {
	return url.Values{"csrf": {csrf}, "name": {"Ann " + xss}, "need": {"Leak\r\nunder " + xss}, "callback": {"after 5 " + xss}}
}

func TestIntake_SubmitOnce(t *testing.T) {
	f := newFixture(t)
	callID, token := f.missed(testCaller)
	c := newClient(t, f.intake)
	w := c.do("GET", "/i/"+token, nil)
	if w.Code != http.StatusOK {
		t.Fatalf("GET: %d\n%s", w.Code, w.Body)
	}
	page := w.Body.String()
	for _, want := range []string{`<label for="f-name">Your name`, `<textarea id="f-need" name="need"`, "Acme &lt;b&gt;Plumbing&lt;/b&gt;",
		`href="tel:&#43;15555551000"`, "(555) 555-1000", `action="/i/` + token + `"`, `<link rel="stylesheet" href="/i/_/line/main.css">`} {
		if !strings.Contains(page, want) {
			t.Errorf("form lacks %q", want)
		}
	}
	if !strings.Contains(page, `autocomplete="name"`) || strings.Contains(page, `autocomplete=""`) {
		t.Errorf("autocomplete hints wrong")
	}
	noRawXSS(t, page)
	h := w.Result().Header
	if !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") || h.Get("Referrer-Policy") != "no-referrer" ||
		h.Get("X-Frame-Options") != "DENY" || h.Get("Cache-Control") != "no-store" {
		t.Errorf("security headers %v", h)
	}
	ck := c.cookies[intakeCookie]
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/i/" || ck.Secure {
		t.Errorf("intake cookie %+v", ck)
	}

	w = c.do("POST", "/i/"+token, validForm(csrfOf(t, w)))
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "Thank you") || !strings.Contains(w.Body.String(), "(555) 555-1000") {
		t.Fatalf("POST: %d\n%s", w.Code, w.Body)
	}
	noRawXSS(t, w.Body.String())
	// Stored before the answer, with the call.
	subs, err := f.core.Store().Submissions(0)
	if err != nil || len(subs) != 1 {
		t.Fatalf("submissions %v %v", subs, err)
	}
	s := subs[0]
	if s.Call != callID || s.Number != testCaller || len(s.Fields) != 3 || s.Fields[1].Value != "Leak\nunder "+xss || s.Fields[0].Label != "Your name" {
		t.Errorf("stored %+v", s)
	}
	staff, _ := f.core.Store().Text(s.Texts[0])
	if staff.To != testStaff || !strings.Contains(staff.Body, "Your name: Ann") {
		t.Errorf("staff text %+v", staff)
	}

	// Used: the link now says so, and a second post changes nothing.
	w = c.do("GET", "/i/"+token, nil)
	if w.Code != http.StatusGone || !strings.Contains(w.Body.String(), "already have your answers") || strings.Contains(w.Body.String(), "<form") {
		t.Errorf("GET after use: %d\n%s", w.Code, w.Body)
	}
	w = c.do("POST", "/i/"+token, validForm("x"))
	if w.Code != http.StatusGone {
		t.Errorf("second POST: %d", w.Code)
	}
	if subs, _ := f.core.Store().Submissions(0); len(subs) != 1 {
		t.Errorf("%d submissions after a reuse", len(subs))
	}
}

func TestIntake_BadLinks(t *testing.T) {
	f := newFixture(t)
	_, token := f.missed(testCaller)
	c := newClient(t, f.intake)
	flip := []byte(token)
	flip[10] ^= 1 // still base64url, wrong signature
	other := ledger.SignToken([]byte("another secret, another ledger!!"), "test:c1", f.clock.Now().Add(time.Hour))
	unknown := ledger.SignToken([]byte(testSecret), "test:nope", f.clock.Now().Add(time.Hour))
	for name, tok := range map[string]string{"Forged": string(flip), "Garbage": "abc", "OtherSecret": other, "UnknownCall": unknown,
		"Long": strings.Repeat("A", 600), "Dots": "..%2f..%2fetc"} {
		t.Run(name, func(t *testing.T) {
			for _, m := range []string{"GET", "POST"} {
				w := c.do(m, "/i/"+tok, url.Values{"csrf": {"x"}})
				if w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), "does not work") || strings.Contains(w.Body.String(), "<form") {
					t.Errorf("%s: %d\n%s", m, w.Code, w.Body)
				}
			}
		})
	}
	if subs, _ := f.core.Store().Submissions(0); len(subs) != 0 {
		t.Errorf("a bad link stored %d submissions", len(subs))
	}
}

func TestIntake_Expired(t *testing.T) {
	f := newFixture(t)
	_, token := f.missed(testCaller)
	c := newClient(t, f.intake)
	w := c.do("GET", "/i/"+token, nil)
	csrf := csrfOf(t, w)
	f.clock.Advance(72*time.Hour + time.Second)
	for _, m := range []string{"GET", "POST"} {
		w := c.do(m, "/i/"+token, validForm(csrf))
		if w.Code != http.StatusGone || !strings.Contains(w.Body.String(), "expired") || !strings.Contains(w.Body.String(), "tel:&#43;15555551000") {
			t.Errorf("%s expired: %d\n%s", m, w.Code, w.Body)
		}
	}
	if subs, _ := f.core.Store().Submissions(0); len(subs) != 0 {
		t.Errorf("an expired link stored %d submissions", len(subs))
	}
}

func TestIntake_CSRF(t *testing.T) {
	f := newFixture(t)
	_, token := f.missed(testCaller)
	_, token2 := f.missed("+15559876543")
	c := newClient(t, f.intake)
	csrf := csrfOf(t, c.do("GET", "/i/"+token, nil))
	csrf2 := csrfOf(t, c.do("GET", "/i/"+token2, nil))
	cases := map[string]func(c *client) url.Values{
		"NoField":       func(c *client) url.Values { v := validForm(""); v.Del("csrf"); return v },
		"WrongField":    func(c *client) url.Values { return validForm(strings.Repeat("A", 43)) },
		"OtherLinks":    func(c *client) url.Values { return validForm(csrf2) },
		"NoCookie":      func(c *client) url.Values { delete(c.cookies, intakeCookie); return validForm(csrf) },
		"OtherCookie":   func(c *client) url.Values { c.cookies[intakeCookie].Value = randomID(); return validForm(csrf) },
		"CrossSite":     func(c *client) url.Values { c.header.Set("Sec-Fetch-Site", "cross-site"); return validForm(csrf) },
		"ForeignOrigin": func(c *client) url.Values { c.header.Set("Origin", "https://evil.example"); return validForm(csrf) },
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			cc := newClient(t, f.intake)
			for k, v := range c.cookies {
				cp := *v
				cc.cookies[k] = &cp
			}
			form := mk(cc)
			w := cc.do("POST", "/i/"+token, form)
			if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "could not be sent") {
				t.Errorf("%d\n%s", w.Code, w.Body)
			}
		})
	}
	if subs, _ := f.core.Store().Submissions(0); len(subs) != 0 {
		t.Errorf("a refused post stored %d submissions", len(subs))
	}
	// Same origin is fine.
	c.header.Set("Origin", "http://example.com")
	c.header.Set("Sec-Fetch-Site", "same-origin")
	if w := c.do("POST", "/i/"+token, validForm(csrf)); w.Code != http.StatusOK {
		t.Errorf("same-origin post: %d\n%s", w.Code, w.Body)
	}
}

func TestIntake_Validation(t *testing.T) {
	f := newFixture(t)
	_, token := f.missed(testCaller)
	c := newClient(t, f.intake)
	csrf := csrfOf(t, c.do("GET", "/i/"+token, nil))
	t.Run("Missing", func(t *testing.T) {
		w := c.do("POST", "/i/"+token, url.Values{"csrf": {csrf}, "name": {"  "}, "need": {xss}})
		b := w.Body.String()
		if w.Code != http.StatusUnprocessableEntity || !strings.Contains(b, `role="alert"`) || !strings.Contains(b, "please fill this in") ||
			!strings.Contains(b, `aria-invalid="true" aria-describedby="e-name"`) || !strings.Contains(b, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("%d\n%s", w.Code, b)
		}
		noRawXSS(t, b)
	})
	t.Run("TooLong", func(t *testing.T) {
		w := c.do("POST", "/i/"+token, url.Values{"csrf": {csrf}, "name": {strings.Repeat("é", 101)}, "need": {"x"}})
		if w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), "at most 100 characters") {
			t.Errorf("%d\n%s", w.Code, w.Body)
		}
	})
	t.Run("Oversized", func(t *testing.T) {
		w := c.do("POST", "/i/"+token, url.Values{"csrf": {csrf}, "name": {"a"}, "need": {strings.Repeat("x", maxIntakeBody)}})
		if w.Code != http.StatusRequestEntityTooLarge || !strings.Contains(w.Body.String(), "too long") {
			t.Errorf("%d\n%s", w.Code, w.Body)
		}
	})
	t.Run("ControlCharacters", func(t *testing.T) {
		v, msg := cleanValue("a\x00b\x1b[31m\u2028c\nd\xff", FieldSpec{Max: 100})
		if v != "ab[31mc d\uFFFD" || msg != "" {
			t.Errorf("cleanValue = %q, %q", v, msg)
		}
	})
	if subs, _ := f.core.Store().Submissions(0); len(subs) != 0 {
		t.Errorf("an invalid post stored %d submissions", len(subs))
	}
}

func TestIntake_RateLimit(t *testing.T) {
	f := newFixture(t)
	_, token := f.missed(testCaller)
	c := newClient(t, f.intake)
	for i := 0; i < intakePerIP; i++ {
		if w := c.do("GET", "/i/"+token, nil); w.Code != http.StatusOK {
			t.Fatalf("request %d: %d", i, w.Code)
		}
	}
	if w := c.do("GET", "/i/"+token, nil); w.Code != http.StatusTooManyRequests {
		t.Errorf("over the limit: %d", w.Code)
	}
	// Another client is not affected; a forged X-Forwarded-For from a
	// non-proxy is ignored.
	c.header.Set("X-Forwarded-For", "198.51.100.7")
	if w := c.do("GET", "/i/"+token, nil); w.Code != http.StatusTooManyRequests {
		t.Errorf("X-Forwarded-For from a non-loopback peer changed the client: %d", w.Code)
	}
	d := newClient(t, f.intake)
	d.remote = "192.0.2.11:5000"
	if w := d.do("GET", "/i/"+token, nil); w.Code != http.StatusOK {
		t.Errorf("another client: %d", w.Code)
	}
	// Behind a local proxy, the forwarded address is the client.
	p := newClient(t, f.intake)
	p.remote = "127.0.0.1:5000"
	p.header.Set("X-Forwarded-For", "198.51.100.7")
	if w := p.do("GET", "/i/"+token, nil); w.Code != http.StatusOK {
		t.Errorf("proxied client: %d", w.Code)
	}
	// Posts per link.
	q := newClient(t, f.intake)
	q.remote = "192.0.2.12:5000"
	csrf := csrfOf(t, q.do("GET", "/i/"+token, nil))
	for i := 0; i < intakePerToken; i++ {
		q.do("POST", "/i/"+token, url.Values{"csrf": {csrf}})
	}
	if w := q.do("POST", "/i/"+token, validForm(csrf)); w.Code != http.StatusTooManyRequests {
		t.Errorf("posts over the per-link limit: %d", w.Code)
	}
}

func TestIntake_Assets(t *testing.T) {
	f := newFixture(t)
	c := newClient(t, f.intake)
	w := c.do("GET", "/i/_/line/main.css", nil)
	if w.Code != 200 || !strings.Contains(w.Body.String(), "--accent: #aa3300; --on-accent: #fff;") {
		t.Errorf("line css %d %s", w.Code, w.Body)
	}
	if w := c.do("GET", "/i/_/intake.css", nil); w.Code != 200 || w.Header().Get("Content-Type") != "text/css; charset=utf-8" {
		t.Errorf("intake.css %d", w.Code)
	}
	if w := c.do("GET", "/i/_/line/nope.css", nil); w.Code != 404 {
		t.Errorf("unknown line css %d", w.Code)
	}
	if w := c.do("GET", "/i/_/logo/main", nil); w.Code != 404 {
		t.Errorf("no logo: %d", w.Code)
	}
	s := f.sites["main"]
	s.Logo, s.LogoType = []byte("\x89PNG\r\n\x1a\n"), "image/png"
	f.sites["main"] = s
	if w := c.do("GET", "/i/_/logo/main", nil); w.Code != 200 || w.Header().Get("Content-Type") != "image/png" {
		t.Errorf("logo: %d %v", w.Code, w.Header())
	}
	if onAccent("#ffeb3b") != "#111" || onAccent("#0b5cad") != "#fff" {
		t.Error("onAccent picks the wrong text colour")
	}
}

func TestIntake_NoFormForLine(t *testing.T) {
	f := newFixture(t)
	_, token := f.missed(testCaller)
	delete(f.sites, "main")
	c := newClient(t, f.intake)
	if w := c.do("GET", "/i/"+token, nil); w.Code != http.StatusNotFound {
		t.Errorf("line without a page: %d", w.Code)
	}
	if _, err := NewIntake(IntakeOptions{}); err == nil || errors.Is(err, nil) {
		t.Error("NewIntake without options succeeded")
	}
}
