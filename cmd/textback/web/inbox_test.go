package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/textback/textback/ledger"
)

const testPassword = "correct horse battery"

// esc is s as html/template writes it in text and URLs (+ is &#43;).
func esc(s string) string { return strings.ReplaceAll(s, "+", "&#43;") }

// login adds an account and logs a new client in.
func (f *fixture) login(name string) *client {
	f.t.Helper()
	if _, err := f.users.Add(name, testPassword); err != nil {
		f.t.Fatal(err)
	}
	c := newClient(f.t, f.inbox)
	w := c.do("GET", "/inbox/login", nil)
	w = c.do("POST", "/inbox/login", url.Values{"csrf": {csrfOf(f.t, w)}, "user": {name}, "password": {testPassword}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/inbox/" {
		f.t.Fatalf("login: %d %v\n%s", w.Code, w.Header(), w.Body)
	}
	return c
}

func TestInbox_Login(t *testing.T) {
	f := newFixture(t)
	c := newClient(t, f.inbox)
	if w := c.do("GET", "/inbox/", nil); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/inbox/login" {
		t.Errorf("inbox without a login: %d %v", w.Code, w.Header())
	}
	w := c.do("GET", "/inbox/login", nil)
	if !strings.Contains(w.Body.String(), "textback user add NAME") {
		t.Errorf("login page without accounts does not say how to add one")
	}
	if _, err := f.users.Add("ann", testPassword); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(f.users.Path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("accounts file mode %v %v", fi.Mode(), err)
	}
	data, _ := os.ReadFile(f.users.Path)
	if strings.Contains(string(data), testPassword) || !strings.Contains(string(data), "ann:$2a$04$") {
		t.Errorf("accounts file:\n%s", data)
	}
	w = c.do("GET", "/inbox/login", nil)
	csrf := csrfOf(t, w)
	if w := c.do("POST", "/inbox/login", url.Values{"user": {"ann"}, "password": {testPassword}}); w.Code != http.StatusForbidden {
		t.Errorf("login without the form token: %d", w.Code)
	}
	if w := c.do("POST", "/inbox/login", url.Values{"csrf": {csrf}, "user": {"ann"}, "password": {"wrong password"}}); w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), "Wrong name or password") {
		t.Errorf("wrong password: %d", w.Code)
	}
	if w := c.do("POST", "/inbox/login", url.Values{"csrf": {csrf}, "user": {"nobody"}, "password": {testPassword}}); w.Code != http.StatusUnauthorized {
		t.Errorf("unknown user: %d", w.Code)
	}
	w = c.do("POST", "/inbox/login", url.Values{"csrf": {csrf}, "user": {"ann"}, "password": {testPassword}})
	if w.Code != http.StatusSeeOther {
		t.Fatalf("login: %d\n%s", w.Code, w.Body)
	}
	ck := c.cookies[sessionCookie]
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure || ck.Path != "/inbox/" {
		t.Errorf("session cookie %+v", ck)
	}
	if w := c.do("GET", "/inbox/", nil); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "ann") {
		t.Errorf("inbox after login: %d", w.Code)
	}
	// Logout ends the session on the server, not just in the browser.
	old := *c.cookies[sessionCookie]
	page := c.do("GET", "/inbox/", nil)
	if w := c.do("POST", "/inbox/logout", url.Values{"csrf": {csrfOf(t, page)}}); w.Code != http.StatusSeeOther {
		t.Errorf("logout: %d", w.Code)
	}
	c.cookies[sessionCookie] = &old
	if w := c.do("GET", "/inbox/", nil); w.Code != http.StatusSeeOther {
		t.Errorf("old session after logout: %d", w.Code)
	}
	// A forged session cookie is no session.
	c.cookies[sessionCookie] = &http.Cookie{Name: sessionCookie, Value: randomID()}
	if w := c.do("GET", "/inbox/", nil); w.Code != http.StatusSeeOther {
		t.Errorf("forged session: %d", w.Code)
	}
	// Sessions expire.
	s := f.login("bob")
	f.clock.Advance(13 * time.Hour)
	if w := s.do("GET", "/inbox/", nil); w.Code != http.StatusSeeOther {
		t.Errorf("expired session: %d", w.Code)
	}
}

func TestInbox_SecureCookieBehindTLSProxy(t *testing.T) {
	f := newFixture(t)
	if _, err := f.users.Add("ann", testPassword); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, f.inbox)
	c.remote = "127.0.0.1:3000"
	c.header.Set("X-Forwarded-Proto", "https")
	w := c.do("GET", "/inbox/login", nil)
	c.do("POST", "/inbox/login", url.Values{"csrf": {csrfOf(t, w)}, "user": {"ann"}, "password": {testPassword}})
	if ck := c.cookies[sessionCookie]; ck == nil || !ck.Secure {
		t.Errorf("session cookie behind a TLS proxy: %+v", ck)
	}
}

func TestInbox_LoginRateLimit(t *testing.T) {
	f := newFixture(t)
	if _, err := f.users.Add("ann", testPassword); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, f.inbox)
	csrf := csrfOf(t, c.do("GET", "/inbox/login", nil))
	for i := 0; i < loginFailures; i++ {
		if w := c.do("POST", "/inbox/login", url.Values{"csrf": {csrf}, "user": {"ann"}, "password": {"guess number " + string(rune('a'+i))}}); w.Code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i, w.Code)
		}
	}
	// Even the right password is refused now.
	if w := c.do("POST", "/inbox/login", url.Values{"csrf": {csrf}, "user": {"ann"}, "password": {testPassword}}); w.Code != http.StatusTooManyRequests {
		t.Errorf("login after %d failures: %d", loginFailures, w.Code)
	}
	f.clock.Advance(loginWindow)
	if w := c.do("POST", "/inbox/login", url.Values{"csrf": {csrf}, "user": {"ann"}, "password": {testPassword}}); w.Code != http.StatusSeeOther {
		t.Errorf("login after the window: %d", w.Code)
	}
}

func TestInbox_ConversationAndReply(t *testing.T) {
	f := newFixture(t)
	_, token := f.missed(testCaller)
	ic := newClient(t, f.intake)
	w := ic.do("GET", "/i/"+token, nil)
	if w := ic.do("POST", "/i/"+token, validForm(csrfOf(t, w))); w.Code != 200 {
		t.Fatalf("intake: %d", w.Code)
	}
	f.text(testCaller, "Reply "+xss)
	f.missed("+15559876543")

	c := f.login("ann")
	w = c.do("GET", "/inbox/", nil)
	list := w.Body.String()
	if w.Code != 200 || !strings.Contains(list, esc(testCaller)) || !strings.Contains(list, esc("+15559876543")) || !strings.Contains(list, `title="unhandled">2</span>`) {
		t.Fatalf("list: %d\n%s", w.Code, list)
	}
	if strings.Index(list, esc("+15559876543")) > strings.Index(list, esc(testCaller)) {
		t.Errorf("list is not newest first")
	}
	noRawXSS(t, list)
	if !strings.Contains(w.Header().Get("Content-Security-Policy"), "script-src 'self'") {
		t.Errorf("inbox CSP %q", w.Header().Get("Content-Security-Policy"))
	}
	// Search by number, any format.
	if w := c.do("GET", "/inbox/?q="+url.QueryEscape("987-6543"), nil); strings.Contains(w.Body.String(), esc("/inbox/c/main/+15557654321")) || !strings.Contains(w.Body.String(), esc("/inbox/c/main/+15559876543")) {
		t.Errorf("search:\n%s", w.Body)
	}
	// The conversation: the call, the text-back, the intake form, the reply.
	conv := "/inbox/c/main/" + testCaller
	w = c.do("GET", conv, nil)
	page := w.Body.String()
	for _, want := range []string{"Missed call", "Text-back", "Intake form", "Your name", "Leak\nunder &lt;script&gt;", "Text from the caller", "Reply &lt;script&gt;", `name="body"`} {
		if !strings.Contains(page, want) {
			t.Errorf("conversation lacks %q", want)
		}
	}
	noRawXSS(t, page)
	csrf := csrfOf(t, w)

	// Every POST needs the session's form token.
	for _, a := range []string{"reply", "claim", "release", "handled"} {
		if w := c.do("POST", conv+"/"+a, url.Values{"csrf": {"nope"}, "body": {"x"}}); w.Code != http.StatusForbidden {
			t.Errorf("%s without the token: %d", a, w.Code)
		}
	}
	c.header.Set("Sec-Fetch-Site", "cross-site")
	if w := c.do("POST", conv+"/claim", url.Values{"csrf": {csrf}}); w.Code != http.StatusForbidden {
		t.Errorf("cross-site claim: %d", w.Code)
	}
	c.header.Del("Sec-Fetch-Site")
	if w := c.do("POST", conv+"/reply", url.Values{"csrf": {csrf}, "body": {strings.Repeat("x", maxInboxBody)}}); w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized reply: %d", w.Code)
	}
	if w := c.do("POST", conv+"/reply", url.Values{"csrf": {csrf}, "body": {strings.Repeat("x", MaxReply+1)}}); w.Code != http.StatusUnprocessableEntity {
		t.Errorf("too long reply: %d", w.Code)
	}
	if w := c.do("POST", "/inbox/c/main/not-a-number/reply", url.Values{"csrf": {csrf}, "body": {"x"}}); w.Code != http.StatusNotFound {
		t.Errorf("reply to a bad number: %d", w.Code)
	}
	if w := c.do("POST", "/inbox/c/other/"+testCaller+"/reply", url.Values{"csrf": {csrf}, "body": {"x"}}); w.Code != http.StatusNotFound {
		t.Errorf("reply on an unknown line: %d", w.Code)
	}
	if texts := operatorTexts(t, f); len(texts) != 0 {
		t.Fatalf("refused posts queued texts: %+v", texts)
	}

	// Reply.
	w = c.do("POST", conv+"/reply", url.Values{"csrf": {csrf}, "body": {"We can come at 3. " + xss}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != conv+"?m=sent" {
		t.Fatalf("reply: %d %v\n%s", w.Code, w.Header(), w.Body)
	}
	texts := operatorTexts(t, f)
	if len(texts) != 1 || texts[0].From != testLine || texts[0].To != testCaller || texts[0].Status != ledger.StatusQueued {
		t.Fatalf("reply texts %+v", texts)
	}
	w = c.do("GET", conv+"?m=sent", nil)
	if !strings.Contains(w.Body.String(), "Reply queued") || !strings.Contains(w.Body.String(), "Reply by ann") {
		t.Errorf("after reply:\n%s", w.Body)
	}
	noRawXSS(t, w.Body.String())
	if w := c.do("GET", conv+"?m="+url.QueryEscape(xss), nil); strings.Contains(w.Body.String(), `class="flash`) {
		t.Errorf("an unknown flash code shows a flash")
	} else {
		noRawXSS(t, w.Body.String())
	}

	// Claim: the next missed call is not texted; the page says so.
	if w := c.do("POST", conv+"/claim", url.Values{"csrf": {csrf}}); w.Code != http.StatusSeeOther {
		t.Errorf("claim: %d", w.Code)
	}
	f.clock.Advance(time.Minute)
	id, _ := f.missed(testCaller)
	call, _ := f.core.Store().Call(id)
	if call.Skip != ledger.SkipClaimed {
		t.Errorf("call while claimed: %+v", call)
	}
	w = c.do("GET", conv, nil)
	if !strings.Contains(w.Body.String(), "claimed by ann") || !strings.Contains(w.Body.String(), "Not texted: claimed") {
		t.Errorf("claimed page:\n%s", w.Body)
	}
	// Handled: the count drops.
	if w := c.do("POST", conv+"/handled", url.Values{"csrf": {csrf}}); w.Code != http.StatusSeeOther {
		t.Errorf("handled: %d", w.Code)
	}
	if w := c.do("GET", "/inbox/?line=main", nil); !strings.Contains(w.Body.String(), `title="unhandled">1</span>`) {
		t.Errorf("after handled:\n%s", w.Body)
	}
}

func operatorTexts(t *testing.T, f *fixture) []ledger.Text {
	t.Helper()
	all, err := f.core.Store().Texts(0)
	if err != nil {
		t.Fatal(err)
	}
	var out []ledger.Text
	for _, x := range all {
		if x.Kind == ledger.KindOperator {
			out = append(out, x)
		}
	}
	return out
}

func TestInbox_OptedOutRefused(t *testing.T) {
	f := newFixture(t)
	f.missed(testCaller)
	c := f.login("ann")
	conv := "/inbox/c/main/" + testCaller
	w := c.do("GET", conv, nil)
	csrf := csrfOf(t, w)
	f.text(testCaller, "STOP")
	w = c.do("GET", conv, nil)
	if !strings.Contains(w.Body.String(), "This number opted out") || strings.Contains(w.Body.String(), `name="body"`) {
		t.Errorf("opted-out page offers a reply:\n%s", w.Body)
	}
	// A reply posted from a page loaded before the STOP is refused.
	w = c.do("POST", conv+"/reply", url.Values{"csrf": {csrf}, "body": {"hello?"}})
	if w.Code != http.StatusConflict || !strings.Contains(w.Body.String(), "Not sent: this number opted out") {
		t.Errorf("reply to an opted-out number: %d\n%s", w.Code, w.Body)
	}
	if texts := operatorTexts(t, f); len(texts) != 0 {
		t.Errorf("queued %+v", texts)
	}
}

func TestInbox_Poll(t *testing.T) {
	f := newFixture(t)
	f.missed(testCaller)
	c := f.login("ann")
	if w := newClient(t, f.inbox).do("GET", "/inbox/poll", nil); w.Code != http.StatusUnauthorized {
		t.Errorf("poll without a session: %d", w.Code)
	}
	v := func(q string) string {
		w := c.do("GET", "/inbox/poll"+q, nil)
		var out struct{ V string }
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || out.V == "" {
			t.Fatalf("poll: %d %s %v", w.Code, w.Body, err)
		}
		return out.V
	}
	list, conv := v(""), v("?c=main/"+url.QueryEscape(testCaller))
	page := c.do("GET", "/inbox/", nil).Body.String()
	if !strings.Contains(page, `data-v="`+list+`"`) {
		t.Errorf("the list page's fingerprint is not the poll's")
	}
	f.text(testCaller, "hello")
	if v("") == list || v("?c=main/"+url.QueryEscape(testCaller)) == conv {
		t.Error("a new message did not change the fingerprints")
	}
	if w := c.do("GET", "/inbox/poll?c=nope/123", nil); w.Code != http.StatusNotFound {
		t.Errorf("poll of an unknown conversation: %d", w.Code)
	}
	if w := c.do("GET", "/inbox/static/inbox.js", nil); w.Code != 200 || !strings.Contains(w.Body.String(), "data-poll") {
		t.Errorf("inbox.js %d", w.Code)
	}
}

func TestUsers(t *testing.T) {
	u := Users{Path: t.TempDir() + "/users", Cost: 4}
	if names, err := u.Names(); err != nil || len(names) != 0 {
		t.Errorf("no file: %v %v", names, err)
	}
	for _, bad := range []string{"", "a b", "-x", "ann:x", strings.Repeat("a", 65)} {
		if _, err := u.Add(bad, testPassword); err == nil {
			t.Errorf("name %q accepted", bad)
		}
	}
	if _, err := u.Add("ann", "short"); err == nil {
		t.Error("short password accepted")
	}
	if _, err := u.Add("ann", strings.Repeat("x", 73)); err == nil {
		t.Error("password over 72 bytes accepted")
	}
	if created, err := u.Add("ann", testPassword); err != nil || !created {
		t.Fatal(created, err)
	}
	if created, err := u.Add("ann", testPassword+"2"); err != nil || created {
		t.Fatal(created, err)
	}
	if ok, _ := u.check("ann", testPassword); ok {
		t.Error("old password still works")
	}
	if ok, _ := u.check("ann", testPassword+"2"); !ok {
		t.Error("new password does not work")
	}
	if err := u.Remove("ann"); err != nil {
		t.Fatal(err)
	}
	if err := u.Remove("ann"); err == nil {
		t.Error("removing a missing account succeeded")
	}
	if err := os.WriteFile(u.Path, []byte("ann:plaintext\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Names(); err == nil || strings.Contains(err.Error(), "plaintext") {
		t.Errorf("a bad file: %v", err)
	}
}
