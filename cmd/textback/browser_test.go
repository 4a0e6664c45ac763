package main

// The browser tier: the real daemon (a child process) watching a fake
// Asterisk that replays a captured missed call, sending through a fake
// Kannel that records every text, and a real headless Chromium driven over
// the DevTools protocol playing the caller and the operator.
//
// It runs when TEXTBACK_BROWSER names a Chromium binary
// (TEXTBACK_BROWSER=/usr/bin/chromium; Debian: apt-get install chromium)
// and is skipped otherwise. Screenshots go to $TEXTBACK_ARTIFACTS, or to
// the test's temporary directory.

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/textback/textback/ari/aritest"
)

const operatorPassword = "a long enough password"

// browserStack is one daemon with its fakes.
type browserStack struct {
	t       *testing.T
	d       *daemon
	kannel  *kannelFake
	public  string // http://127.0.0.1:PORT
	admin   string
	cfg     string
	browser string
}

// freeAddr is a loopback address nothing listens on (the daemon's
// public listener must be known before its config is written: the text's
// link names it).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func browserPath(t *testing.T) string {
	t.Helper()
	p := os.Getenv("TEXTBACK_BROWSER")
	if p == "" {
		t.Skip("browser tier: set TEXTBACK_BROWSER=/usr/bin/chromium (Debian: apt-get install chromium) to run it")
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("TEXTBACK_BROWSER=%s: %v", p, err)
	}
	return p
}

func artifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("TEXTBACK_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startBrowserStack is startStack with a browser.
func startBrowserStack(t *testing.T) *browserStack {
	t.Helper()
	browser := browserPath(t)
	s := startStack(t)
	s.browser = browser
	return s
}

// startStack starts the fakes and the daemon, adds the operator "ann",
// and plays one missed call from testCaller.
func startStack(t *testing.T) *browserStack {
	t.Helper()
	s := &browserStack{t: t, kannel: newKannelFake(t, "textback", kannelPass)}
	ast := aritest.NewServer()
	t.Cleanup(ast.Close)
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "kannel-password", kannelPass+"\n")
	writeFile(t, dir, "token-secret", "0123456789abcdef0123456789abcdef\n")
	pub := freeAddr(t)
	s.public = "http://" + pub
	s.cfg = writeFile(t, dir, "textback.yaml", fmt.Sprintf(`state_dir: %q
ledger: {lock_timeout: 300ms}
log: {format: json}
pbx: asterisk
asterisk: {url: %q, username: %q, password: %q, trunks: [carrier]}
driver:
  type: carrier
  carrier:
    preset: kannel
    url: %s
    public_url: %s/carrier
    kannel: {username: textback, password_file: kannel-password, webhook_token: %s}
http: {listen: %q}
admin: {listen: "127.0.0.1:0"}
policy: {token_secret_file: token-secret}
lines:
  main:
    number: %q
    aliases: [%q]
    country: US
    business: Acme Plumbing
    template: "{{.Business}} missed your call. Tell us what you need: {{.Link}} STOP to opt out"
    staff: [%q]
    link: "%s/i/{{.Token}}"
    intake:
      colour: "#0b5cad"
      intro: "Sorry we missed your call. Tell us what you need and we will call you back today."
`, state, ast.URL, ast.User, ast.Password, s.kannel.srv.URL, s.public, kannelToken, pub, testLine, testDID, testStaff, s.public))
	r := textbackStdin(t, operatorPassword+"\n", "user", "add", "ann", "--config", s.cfg)
	if r.code != 0 || !strings.Contains(r.stdout, "added ann") {
		t.Fatalf("user add: %v", r)
	}
	s.d = startDaemon(t, s.cfg)
	started := s.d.waitLog("textback starting", 1)
	admin, _ := started["admin"].(string)
	if intake, _ := started["intake"].(string); intake != s.public+"/i/" || admin == "" {
		t.Fatalf("starting line: %v", started)
	}
	s.admin = strings.TrimSuffix(admin, "/")
	ctx, cancel := context.WithTimeout(context.Background(), daemonWait)
	defer cancel()
	if err := ast.Wait(ctx, func(st aritest.Stats) bool { return st.Open > 0 && len(st.Filters) > 0 }); err != nil {
		t.Fatalf("the daemon did not connect to ARI: %v", err)
	}
	f, err := os.Open(filepath.Join(asteriskCaptures, "a_noanswer.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := ast.Replay(f, ""); err != nil {
		t.Fatal(err)
	}
	return s
}

// waitText waits until the carrier has been asked to send a text to to
// whose body matches, and returns the body.
func (s *browserStack) waitText(to string, body *regexp.Regexp) string {
	s.t.Helper()
	deadline := time.Now().Add(daemonWait)
	for time.Now().Before(deadline) {
		for _, m := range s.kannel.texts() {
			if m.Get("to") == to && body.MatchString(m.Get("text")) {
				return m.Get("text")
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("no text to %s matching %s; the carrier got %v", to, body, s.kannel.texts())
	return ""
}

// inbound delivers a text from the caller on the carrier's webhook.
func (s *browserStack) inbound(id, text string) {
	s.t.Helper()
	s.inboundFrom(testCaller, id, text)
}

// inboundFrom delivers a text from any number.
func (s *browserStack) inboundFrom(from, id, text string) {
	s.t.Helper()
	q := url.Values{"token": {kannelToken}, "id": {id}, "from": {from}, "to": {testLine}, "text": {text}, "charset": {"UTF-8"}}
	resp, err := http.Get(s.public + "/carrier/inbound?" + q.Encode())
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		s.t.Fatalf("inbound webhook: HTTP %d", resp.StatusCode)
	}
}

// newBrowser starts Chromium with the flags a closed network needs and a
// fresh profile.
func (s *browserStack) newBrowser() context.Context {
	s.t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(s.browser),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(s.t.TempDir()),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	s.t.Cleanup(func() { cancelT(); cancelB(); cancelA() })
	if err := chromedp.Do(ctx); err != nil {
		s.t.Fatalf("start %s: %v", s.browser, err)
	}
	return ctx
}

func run(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("browser: %s: %v", what, err)
	}
}

// textOf is the text of the first element sel matches.
func textOf(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("browser: text of %s: %v", sel, err)
	}
	return s
}

// screenshot saves the whole page as a PNG artifact.
func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("browser: screenshot %s: %v", name, err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", path)
}

// checkAccessible checks what a screen reader and a keyboard need of a
// page: a language, one h1, a label for every field, a name for every
// button, no element out of the tab order, no script run for the form,
// and the page fits a phone's width without scrolling sideways.
func checkAccessible(t *testing.T, ctx context.Context) {
	t.Helper()
	problems, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`(() => {
		const p = [];
		if (!document.documentElement.lang) p.push("no lang");
		if (document.querySelectorAll("h1").length !== 1) p.push("not one h1");
		for (const el of document.querySelectorAll("input:not([type=hidden]), textarea, select")) {
			if (!el.labels || el.labels.length === 0) p.push("no label: " + el.name);
		}
		for (const b of document.querySelectorAll("button")) {
			if (!b.textContent.trim()) p.push("unnamed button");
		}
		for (const el of document.querySelectorAll("[tabindex]")) {
			if (el.tabIndex < 0) p.push("out of tab order: " + el.tagName);
		}
		if (document.scripts.length !== 0) p.push("scripts: " + document.scripts.length);
		if (document.documentElement.scrollWidth > window.innerWidth) p.push("scrolls sideways");
		return p;
	})()`))
	if err != nil {
		t.Fatalf("browser: accessibility check: %v", err)
	}
	for _, p := range problems {
		t.Errorf("accessibility: %s", p)
	}
}

// login signs the operator in from the admin listener's root.
func (s *browserStack) login(ctx context.Context) {
	s.t.Helper()
	run(s.t, ctx, "log in",
		chromedp.EmulateViewport(1280, 800),
		chromedp.Navigate(s.admin+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#password`)),
		chromedp.SendKeys(chromedp.CSS(`#user`), "ann"),
		chromedp.SendKeys(chromedp.CSS(`#password`), operatorPassword),
		chromedp.Click(chromedp.CSS(`form.login button`)),
		chromedp.WaitVisible(chromedp.Search(`//h1[text()="Conversations"]`)),
	)
}

var linkPattern = regexp.MustCompile(`http://127\.0\.0\.1:\d+/i/[A-Za-z0-9_-]+`)

// TestBrowser_IntakeToReply: missed call → text with the link → the caller
// fills in the form on a phone-sized screen → it is in the inbox → the
// operator logs in and replies → the reply leaves through the carrier.
func TestBrowser_IntakeToReply(t *testing.T) {
	s := startBrowserStack(t)
	dir := artifacts(t)
	text := s.waitText(testCaller, linkPattern)
	link := linkPattern.FindString(text)

	ctx := s.newBrowser()
	run(t, ctx, "open the intake link",
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.CSS(`#f-name`)),
	)
	heading := textOf(t, ctx, "h1")
	if heading != "How can we help?" {
		t.Errorf("intake heading %q", heading)
	}
	checkAccessible(t, ctx)
	screenshot(t, ctx, dir, "intake-phone.png")
	run(t, ctx, "fill in and send the form",
		chromedp.SendKeys(chromedp.CSS(`#f-name`), "Ann Lee"),
		chromedp.SendKeys(chromedp.CSS(`#f-need`), "The kitchen sink leaks under the cabinet."),
		chromedp.SendKeys(chromedp.CSS(`#f-callback`), "12 Elm St, after 4pm"),
		chromedp.Click(chromedp.CSS(`form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., "Thank you")]`)),
	)
	confirmation := textOf(t, ctx, "main")
	if !strings.Contains(confirmation, "(555) 555-1000") {
		t.Errorf("the confirmation does not show the business's number:\n%s", confirmation)
	}
	screenshot(t, ctx, dir, "intake-done-phone.png")
	s.waitText(testStaff, regexp.MustCompile(`(?s)Intake form for Acme Plumbing from \+15557654321.*Your name: Ann Lee`))

	// Two other people text the line (the list has more than one row).
	s.inboundFrom("+15559876543", "mo-other-1", "Do you service tankless water heaters? Mine shows error E3.")
	s.inboundFrom("+15552345678", "mo-other-2", "Thanks, the plumber fixed it this morning!")
	s.waitText(testStaff, regexp.MustCompile(`tankless`))

	// The operator.
	s.login(ctx)
	list := textOf(t, ctx, "main")
	if !strings.Contains(list, testCaller) || !strings.Contains(list, "unhandled") || !strings.Contains(list, "Intake form") || !strings.Contains(list, "tankless") {
		t.Errorf("inbox list:\n%s", list)
	}
	screenshot(t, ctx, dir, "inbox.png")
	run(t, ctx, "open the conversation",
		chromedp.Click(chromedp.CSS(`ul.convs a[href$="15557654321"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#body`)),
	)
	conv := textOf(t, ctx, "main")
	for _, want := range []string{"Intake form", "Ann Lee", "The kitchen sink leaks", "Missed call", "Text-back"} {
		if !strings.Contains(conv, want) {
			t.Errorf("conversation lacks %q:\n%s", want, conv)
		}
	}
	run(t, ctx, "reply",
		chromedp.SendKeys(chromedp.CSS(`#body`), "Hi Ann, we can come at 5pm today. Bob"),
		chromedp.Click(chromedp.CSS(`form.reply button`)),
		chromedp.WaitVisible(chromedp.Search(`//p[contains(., "Reply queued")]`)),
	)
	s.waitText(testCaller, regexp.MustCompile(`^Hi Ann, we can come at 5pm today\. Bob$`))
	// The page follows the reply's status without a reload by hand.
	run(t, ctx, "see the reply sent",
		chromedp.WaitVisible(chromedp.Search(`//li[contains(., "Reply by ann") and contains(., "· sent")]`)))
	screenshot(t, ctx, dir, "inbox-conversation.png")
	s.d.stop()
}

// TestBrowser_StopRefusesReply: the caller texts STOP while the operator
// has the conversation open; the page says so and a reply is refused.
func TestBrowser_StopRefusesReply(t *testing.T) {
	s := startBrowserStack(t)
	dir := artifacts(t)
	s.waitText(testCaller, linkPattern)
	ctx := s.newBrowser()
	s.login(ctx)
	run(t, ctx, "open the conversation",
		chromedp.Click(chromedp.CSS(`ul.convs a`)),
		chromedp.WaitVisible(chromedp.CSS(`#body`)),
		chromedp.SendKeys(chromedp.CSS(`#body`), "Are you still there?"),
	)
	// Markup in a caller's text stays text in a real browser.
	s.inbound("mo-xss-1", `<img src=x onerror="document.title='pwned'"><script>document.title='pwned'</script>`)
	s.inbound("mo-stop-1", "STOP")
	s.waitText(testCaller, regexp.MustCompile(`unsubscribed`))
	// The page notices (it does not reload under a reply being typed).
	run(t, ctx, "see the new activity",
		chromedp.WaitVisible(chromedp.CSS(`#live`)))
	run(t, ctx, "send the reply anyway",
		chromedp.Click(chromedp.CSS(`form.reply button`)),
		chromedp.WaitVisible(chromedp.Search(`//p[contains(., "Not sent: this number opted out")]`)),
	)
	refused := textOf(t, ctx, "main")
	if !strings.Contains(refused, "This number opted out") {
		t.Errorf("the refused page:\n%s", refused)
	}
	if !strings.Contains(refused, `<img src=x onerror="document.title='pwned'">`) {
		t.Errorf("the caller's text is not shown as text:\n%s", refused)
	}
	title, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.title + "|" + document.querySelectorAll("main img, main script").length`))
	if err != nil || title != "+15557654321: textback inbox|0" {
		t.Errorf("markup from a caller ran or was parsed: %q %v", title, err)
	}
	forms, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("form.reply").length`))
	if err != nil {
		t.Fatal(err)
	}
	if forms != 0 {
		t.Errorf("the page still offers a reply to an opted-out number")
	}
	screenshot(t, ctx, dir, "inbox-opted-out.png")
	for _, m := range s.kannel.texts() {
		if m.Get("to") == testCaller && strings.Contains(m.Get("text"), "still there") {
			t.Errorf("the reply to an opted-out number was sent: %v", m)
		}
	}
	s.d.stop()
}
