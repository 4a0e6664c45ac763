package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// TestRun_IntakeAndInbox: the daemon's listeners serve the intake page and
// the inbox, end to end over HTTP without a browser: missed call, text
// with the link, form sent, forwarded to staff, operator logs in and
// replies, the reply leaves through the carrier; then STOP, and a reply is
// refused.
func TestRun_IntakeAndInbox(t *testing.T) {
	s := startStack(t)
	link := linkPattern.FindString(s.waitText(testCaller, linkPattern))
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(u string) (int, string) {
		t.Helper()
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	post := func(u string, v url.Values) (int, string, string) {
		t.Helper()
		resp, err := c.PostForm(u, v)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header.Get("Location")
	}
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`)

	code, page := get(link)
	if code != 200 || !strings.Contains(page, "How can we help?") {
		t.Fatalf("intake page: %d\n%s", code, page)
	}
	if code, _ := get(s.public + "/i/_/line/main.css"); code != 200 {
		t.Errorf("line css: %d", code)
	}
	code, page, _ = post(link, url.Values{"csrf": {csrf.FindStringSubmatch(page)[1]}, "name": {"Ann"}, "need": {"a leak"}})
	if code != 200 || !strings.Contains(page, "(555) 555-1000") {
		t.Fatalf("intake post: %d\n%s", code, page)
	}
	s.waitText(testStaff, regexp.MustCompile(`Intake form for Acme Plumbing from \+15557654321`))
	if code, _ := get(link); code != http.StatusGone {
		t.Errorf("used link: %d", code)
	}
	// The admin listener's root leads to the inbox, which wants a login.
	if code, _ := get(s.admin + "/"); code != http.StatusSeeOther {
		t.Errorf("admin root: %d", code)
	}
	_, page = get(s.admin + "/inbox/login")
	code, _, loc := post(s.admin+"/inbox/login", url.Values{"csrf": {csrf.FindStringSubmatch(page)[1]}, "user": {"ann"}, "password": {operatorPassword}})
	if code != http.StatusSeeOther || loc != "/inbox/" {
		t.Fatalf("login: %d %s", code, loc)
	}
	conv := s.admin + "/inbox/c/main/" + url.PathEscape(testCaller)
	code, page = get(conv)
	if code != 200 || !strings.Contains(page, "Intake form") || !strings.Contains(page, "a leak") {
		t.Fatalf("conversation: %d\n%s", code, page)
	}
	token := csrf.FindStringSubmatch(page)[1]
	if code, _, _ := post(conv+"/reply", url.Values{"csrf": {token}, "body": {"On our way"}}); code != http.StatusSeeOther {
		t.Fatalf("reply: %d", code)
	}
	s.waitText(testCaller, regexp.MustCompile(`^On our way$`))
	s.inbound("mo-stop-1", "STOP")
	s.waitText(testCaller, regexp.MustCompile(`unsubscribed`))
	if code, page, _ := post(conv+"/reply", url.Values{"csrf": {token}, "body": {"Hello?"}}); code != http.StatusConflict || !strings.Contains(page, "opted out") {
		t.Errorf("reply after STOP: %d", code)
	}
	// SIGHUP: the page takes the new colour.
	cfgText, err := os.ReadFile(s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.cfg, []byte(strings.Replace(string(cfgText), `colour: "#0b5cad"`, `colour: "#aa3300"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	s.d.signal(syscall.SIGHUP)
	s.d.waitLog("config reloaded", 1)
	if code, css := get(s.public + "/i/_/line/main.css"); code != 200 || !strings.Contains(css, "--accent: #aa3300;") {
		t.Errorf("line css after reload: %d %s", code, css)
	}
	// A reload whose branding is broken changes nothing, colour included.
	broken := strings.Replace(string(cfgText), `colour: "#0b5cad"`, "colour: \"#123456\"\n      logo_file: nope.png", 1)
	if err := os.WriteFile(s.cfg, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	s.d.signal(syscall.SIGHUP)
	if rejected := s.d.waitLog("reload rejected; the running config stays", 1); !strings.Contains(fmt.Sprint(rejected["error"]), "logo_file") {
		t.Errorf("reload with a missing logo: %v", rejected)
	}
	if code, css := get(s.public + "/i/_/line/main.css"); code != 200 || !strings.Contains(css, "--accent: #aa3300;") {
		t.Errorf("line css after a rejected reload: %d %s", code, css)
	}
	if err := os.WriteFile(s.cfg, cfgText, 0o600); err != nil {
		t.Fatal(err)
	}
	s.d.stop()
	for _, m := range s.kannel.texts() {
		if m.Get("text") == "Hello?" {
			t.Errorf("a reply went to an opted-out number")
		}
	}
	// user list shows the account; remove takes it away.
	if r := mustRun(t, "user", "list", "--config", s.cfg); r.stdout != "ann\n" {
		t.Errorf("user list: %q", r.stdout)
	}
	mustRun(t, "user", "remove", "ann", "--config", s.cfg)
	if r := textbackStdin(t, "short\n", "user", "add", "bob", "--config", s.cfg); r.code != 1 || !strings.Contains(r.stderr, "too short") {
		t.Errorf("short password: %v", r)
	}
	if r := textback(t, "user", "add", "b b", "--config", s.cfg); r.code != 2 {
		t.Errorf("bad name: %v", r)
	}
}

func TestConfig_Intake(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "secret", "0123456789abcdef0123456789abcdef\n")
	writeFile(t, dir, "logo.png", "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	writeFile(t, dir, "logo.svg", `<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`)
	base := configFor(dir, "") + "    link: \"https://acme.example/i/{{.Token}}\"\n"
	withSecret := strings.Replace(base, "pbx: none\n", "pbx: none\npolicy: {token_secret_file: secret}\n", 1)
	t.Run("Good", func(t *testing.T) {
		cfg := writeFile(t, dir, "good.yaml", withSecret+`    intake:
      colour: "#ffeb3b"
      logo_file: logo.png
      intro: Hello
      fields:
        - {name: name, label: Name, required: true, autocomplete: name}
        - {name: job, label: The job, type: textarea, max: 2000}
`)
		mustRun(t, "check", "--offline", "--config", cfg)
		c, err := LoadConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		sites, err := c.sites()
		if err != nil {
			t.Fatal(err)
		}
		s := sites["main"]
		if s.LogoType != "image/png" || s.Accent != "#ffeb3b" || len(s.Fields) != 2 || !s.Fields[1].Multiline || s.Fields[1].Max != 2000 ||
			s.Fields[0].Max != 200 || s.Phone != "(555) 555-1000" || s.PhoneE164 != testLine {
			t.Errorf("site %+v", s)
		}
	})
	for _, tc := range []struct{ name, src, want string }{
		{"LinkWithoutSecret", base, "lines.main.link: an intake link needs policy.token_secret"},
		{"IntakeWithoutLink", configFor(dir, "    intake: {intro: hi}\n"), "lines.main.intake: an intake page needs the line's link"},
		{"BadColour", withSecret + "    intake: {colour: blue}\n", `lines.main.intake.colour: "blue" is not a colour like #0b5cad`},
		{"SVGLogo", withSecret + "    intake: {logo_file: logo.svg}\n", "lines.main.intake.logo_file: " + dir + "/logo.svg is text/plain; charset=utf-8; a logo is a PNG, JPEG, GIF or WebP image"},
		{"MissingLogo", withSecret + "    intake: {logo_file: nope.png}\n", "lines.main.intake.logo_file: cannot read " + dir + "/nope.png"},
		{"BadFieldName", withSecret + "    intake: {fields: [{name: Name, label: x}]}\n", `lines.main.intake.fields[0].name: "Name" is not a field name`},
		{"DuplicateField", withSecret + "    intake: {fields: [{name: a, label: x}, {name: a, label: y}]}\n", `lines.main.intake.fields[1].name: "a" is used twice`},
		{"CSRFField", withSecret + "    intake: {fields: [{name: csrf, label: x}]}\n", "lines.main.intake.fields[0].name: csrf is the form's own field"},
		{"NoLabel", withSecret + "    intake: {fields: [{name: a}]}\n", "lines.main.intake.fields[0].label: a question needs a label"},
		{"BadType", withSecret + "    intake: {fields: [{name: a, label: x, type: select}]}\n", `lines.main.intake.fields[0].type: "select" is not text or textarea`},
		{"TooLong", withSecret + "    intake: {fields: [{name: a, label: x, max: 5000}]}\n", "lines.main.intake.fields[0].max: 5000 is not between 1 and 4000"},
		{"UnknownKey", withSecret + "    intake: {color: red}\n", `unknown key "color" in lines.main.intake (did you mean colour?)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := writeFile(t, dir, tc.name+".yaml", tc.src)
			wantError(t, textback(t, "check", "--offline", "--config", cfg), 1, "check", tc.want)
		})
	}
}
