package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/textback/textback/ledger"
)

// Limits of the inbox.
const (
	// MaxReply is the longest reply an operator may type (five segments
	// of plain text).
	MaxReply = 765
	// maxInboxBody bounds a form post.
	maxInboxBody = 16 << 10
	// loginFailures bounds failed logins per client address and name in
	// loginWindow, and per client address alone (loginFailures*4).
	loginFailures = 5
	loginWindow   = 15 * time.Minute
)

// InboxOptions configure the operator inbox.
type InboxOptions struct {
	Ledger *ledger.Ledger
	Users  Users
	// Sites gives each line's business name and phone number, by line
	// name, as for the intake page.
	Sites func() map[string]Site
	// SessionTTL is how long a login lasts (default 12 h).
	SessionTTL time.Duration
	Now        func() time.Time
	Log        zerolog.Logger
}

// Inbox serves /inbox/ on the admin listener.
type Inbox struct {
	o         InboxOptions
	pages     pages
	sessions  *sessions
	loginKey  []byte
	failures  *limiter // per client and name
	failuresA *limiter // per client
	mux       *http.ServeMux
}

// NewInbox builds the inbox's handler.
func NewInbox(o InboxOptions) (*Inbox, error) {
	if o.Ledger == nil || o.Users.Path == "" || o.Sites == nil {
		return nil, errors.New("web: the inbox needs the ledger, the accounts file and the sites")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = 12 * time.Hour
	}
	p, err := parsePages("inbox_layout", "login", "inbox_list", "inbox_conv")
	if err != nil {
		return nil, err
	}
	h := &Inbox{o: o, pages: p, sessions: newSessions(o.SessionTTL), loginKey: []byte(randomID()),
		failures: newLimiter(loginFailures, loginWindow), failuresA: newLimiter(loginFailures*4, loginWindow), mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /inbox/static/inbox.css", serveStatic("inbox.css", "text/css; charset=utf-8"))
	h.mux.HandleFunc("GET /inbox/static/inbox.js", serveStatic("inbox.js", "text/javascript; charset=utf-8"))
	h.mux.HandleFunc("GET /inbox/login", h.loginPage)
	h.mux.HandleFunc("POST /inbox/login", h.login)
	h.mux.HandleFunc("POST /inbox/logout", h.auth(h.logout))
	h.mux.HandleFunc("GET /inbox/{$}", h.auth(h.list))
	h.mux.HandleFunc("GET /inbox/poll", h.auth(h.poll))
	h.mux.HandleFunc("GET /inbox/c/{line}/{number}", h.auth(h.conv))
	h.mux.HandleFunc("POST /inbox/c/{line}/{number}/{action}", h.auth(h.act))
	return h, nil
}

// ServeHTTP serves everything under /inbox/.
func (h *Inbox) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

const (
	sessionCookie = "tb_session"
	loginCookie   = "tb_login"
)

// page is what every inbox page gets.
type page struct {
	User, CSRF     string
	Flash          string
	FlashBad       bool
	Poll, PollV    string
	NoUsers        bool
	Name           string
	TotalUnhandled int
	Lines          []lineTab
	Line, Query    string
	Convs          []convRow
	Conv           ledger.Conversation
	Business       string
	LineNumber     string
	URL            string
	Unhandled      bool
	ClaimedBy      string
	ClaimedUntil   string
	HandledBy      string
	OptedOut       bool
	MaxReply       int
	Entries        []entryView
}

type lineTab struct {
	Name, Business string
	Unhandled      int
}

type convRow struct {
	Number, Business, URL string
	LastAt, LastISO       string
	Summary               string
	Unhandled, OptedOut   bool
	ClaimedBy             string
}

type entryView struct {
	When, ISO, Title, Status, Body, Note, Class string
	Fields                                      []ledger.Field
}

type handler func(w http.ResponseWriter, r *http.Request, se *session)

// auth requires a session; POSTs also need the session's CSRF token and a
// same-origin request.
func (h *Inbox) auth(next handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var se *session
		if c, err := r.Cookie(sessionCookie); err == nil {
			se = h.sessions.get(c.Value, h.o.Now())
		}
		if se == nil {
			if r.Method == http.MethodGet && r.URL.Path != "/inbox/poll" {
				http.Redirect(w, r, "/inbox/login", http.StatusSeeOther)
				return
			}
			securityHeaders(w, false)
			http.Error(w, "log in first", http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxInboxBody)
			if err := r.ParseForm(); err != nil {
				securityHeaders(w, false)
				http.Error(w, "bad or too large form", http.StatusRequestEntityTooLarge)
				return
			}
			if !sameOrigin(r) || !hmac.Equal([]byte(r.PostForm.Get("csrf")), []byte(se.csrf)) {
				h.o.Log.Warn().Str("user", se.user).Str("path", r.URL.Path).Msg("inbox: form token did not match")
				securityHeaders(w, false)
				http.Error(w, "the form is out of date: go back, reload the page and try again", http.StatusForbidden)
				return
			}
		}
		next(w, r, se)
	}
}

func (h *Inbox) loginCSRF(nonce string) string {
	m := hmac.New(sha256.New, h.loginKey)
	m.Write([]byte(nonce))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (h *Inbox) loginPage(w http.ResponseWriter, r *http.Request) {
	h.renderLogin(w, r, http.StatusOK, "", "")
}

func (h *Inbox) renderLogin(w http.ResponseWriter, r *http.Request, status int, name, flash string) {
	nonce := ""
	if c, err := r.Cookie(loginCookie); err == nil && validNonce(c.Value) {
		nonce = c.Value
	} else {
		nonce = randomID()
	}
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: nonce, Path: "/inbox/", HttpOnly: true, Secure: overTLS(r), SameSite: http.SameSiteStrictMode})
	h.pages.render(w, h.o.Log, status, "login", page{CSRF: h.loginCSRF(nonce), Name: name, Flash: flash, FlashBad: flash != "", NoUsers: !h.o.Users.any()}, false)
}

func (h *Inbox) login(w http.ResponseWriter, r *http.Request) {
	now := h.o.Now()
	r.Body = http.MaxBytesReader(w, r.Body, maxInboxBody)
	if err := r.ParseForm(); err != nil {
		h.renderLogin(w, r, http.StatusRequestEntityTooLarge, "", "The form was too large.")
		return
	}
	name := strings.TrimSpace(r.PostForm.Get("user"))
	c, err := r.Cookie(loginCookie)
	if err != nil || !validNonce(c.Value) || !sameOrigin(r) || !hmac.Equal([]byte(r.PostForm.Get("csrf")), []byte(h.loginCSRF(c.Value))) {
		h.renderLogin(w, r, http.StatusForbidden, "", "The login form was out of date. Please try again.")
		return
	}
	ip := clientIP(r)
	key := ip + "\x00" + name
	if h.failures.blocked(key, now) || h.failuresA.blocked(ip, now) {
		h.o.Log.Warn().Str("client", ip).Str("user", name).Msg("inbox: login refused, too many failures")
		h.renderLogin(w, r, http.StatusTooManyRequests, "", "Too many failed logins. Wait 15 minutes and try again.")
		return
	}
	ok, err := h.o.Users.check(name, r.PostForm.Get("password"))
	if err != nil {
		h.o.Log.Error().Err(err).Msg("inbox: read accounts")
		h.renderLogin(w, r, http.StatusInternalServerError, "", "The accounts file cannot be read; see the log.")
		return
	}
	if !ok {
		h.failures.allow(key, now)
		h.failuresA.allow(ip, now)
		h.o.Log.Warn().Str("client", ip).Str("user", name).Msg("inbox: login failed")
		h.renderLogin(w, r, http.StatusUnauthorized, "", "Wrong name or password.")
		return
	}
	h.failures.reset(key)
	id, _ := h.sessions.create(name, now)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/inbox/", HttpOnly: true, Secure: overTLS(r),
		SameSite: http.SameSiteStrictMode, MaxAge: int(h.o.SessionTTL / time.Second)})
	h.o.Log.Info().Str("client", ip).Str("user", name).Msg("inbox: login")
	http.Redirect(w, r, "/inbox/", http.StatusSeeOther)
}

func (h *Inbox) logout(w http.ResponseWriter, r *http.Request, se *session) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		h.sessions.end(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/inbox/", HttpOnly: true, Secure: overTLS(r), SameSite: http.SameSiteStrictMode, MaxAge: -1})
	h.o.Log.Info().Str("user", se.user).Msg("inbox: logout")
	http.Redirect(w, r, "/inbox/login", http.StatusSeeOther)
}

// listData builds the conversation list for a query.
func (h *Inbox) listData(line, q string) (page, error) {
	all, err := h.o.Ledger.Store().Conversations(ledger.ConvQuery{Number: q})
	if err != nil {
		return page{}, err
	}
	sites := h.o.Sites()
	counts := map[string]int{}
	total := 0
	p := page{Line: line, Query: q}
	for _, c := range all {
		if c.Unhandled() {
			counts[c.Line]++
			total++
		}
		if line != "" && c.Line != line {
			continue
		}
		p.Convs = append(p.Convs, convRow{
			Number: c.Number, Business: businessOf(sites, c.Line), URL: convURL(c.Line, c.Number),
			LastAt: h.when(c.LastAt), LastISO: c.LastAt.UTC().Format(time.RFC3339), Summary: summary(c.Last),
			Unhandled: c.Unhandled(), OptedOut: c.OptedOut, ClaimedBy: claimer(c.State, h.o.Now()),
		})
	}
	for _, l := range h.o.Ledger.Lines() {
		p.Lines = append(p.Lines, lineTab{Name: l.Name, Business: businessOf(sites, l.Name), Unhandled: counts[l.Name]})
	}
	p.TotalUnhandled = total
	p.PollV = fingerprint(p.Convs, p.Lines)
	return p, nil
}

func (h *Inbox) list(w http.ResponseWriter, r *http.Request, se *session) {
	line, q := r.URL.Query().Get("line"), strings.TrimSpace(r.URL.Query().Get("q"))
	if len(q) > 40 {
		q = q[:40]
	}
	p, err := h.listData(line, q)
	if err != nil {
		h.fail(w, err)
		return
	}
	p.User, p.CSRF = se.user, se.csrf
	p.Poll = "/inbox/poll?" + url.Values{"line": {line}, "q": {q}}.Encode()
	h.pages.render(w, h.o.Log, http.StatusOK, "inbox_list", p, true)
}

// poll answers the page's script with the fingerprint of what it shows.
func (h *Inbox) poll(w http.ResponseWriter, r *http.Request, _ *session) {
	qv := r.URL.Query()
	var v string
	if c := qv.Get("c"); c != "" {
		line, number, _ := strings.Cut(c, "/")
		p, ok := h.findConv(w, line, number)
		if !ok {
			return
		}
		v = p.PollV
	} else {
		p, err := h.listData(qv.Get("line"), qv.Get("q"))
		if err != nil {
			h.fail(w, err)
			return
		}
		v = p.PollV
	}
	securityHeaders(w, false)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]string{"v": v})
}

func fingerprint(parts ...any) string {
	b, _ := json.Marshal(parts)
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:12])
}

// convData builds a conversation's page; the line must be configured.
func (h *Inbox) convData(line, number string) (page, error) {
	var known bool
	for _, l := range h.o.Ledger.Lines() {
		known = known || l.Name == line
	}
	if !known {
		return page{}, errNoConversation
	}
	num, err := h.o.Ledger.Normalize(number, line)
	if err != nil {
		return page{}, errNoConversation
	}
	c, err := h.o.Ledger.Store().Conversation(line, num)
	if err != nil {
		return page{}, err
	}
	sites := h.o.Sites()
	p := page{Conv: c, Business: businessOf(sites, line), LineNumber: sites[line].Phone, URL: convURL(line, num),
		Unhandled: c.Unhandled(), ClaimedBy: claimer(c.State, h.o.Now()), HandledBy: c.State.HandledBy, OptedOut: c.OptedOut, MaxReply: MaxReply}
	if p.ClaimedBy != "" {
		p.ClaimedUntil = h.when(c.State.ClaimedAt.Add(ledger.ClaimTTL))
	}
	// An operator's reply is one entry: the text, with who sent it.
	by := map[uint64]string{}
	for _, e := range c.Entries {
		if e.Kind == ledger.EntryAction && e.Action.Kind == ledger.ActReply {
			by[e.Action.Text] = e.Action.User
		}
	}
	for _, e := range c.Entries {
		if e.Kind == ledger.EntryAction && e.Action.Kind == ledger.ActReply {
			continue
		}
		v := h.entry(e)
		if e.Kind == ledger.EntryText && by[e.Text.Seq] != "" {
			v.Title = "Reply by " + by[e.Text.Seq]
		}
		p.Entries = append(p.Entries, v)
	}
	p.PollV = fingerprint(p.Entries, p.ClaimedBy, p.Unhandled, p.OptedOut)
	return p, nil
}

var errNoConversation = errors.New("no such conversation")

// findConv is convData for a handler: it answers 404 for a conversation that
// does not exist (and 500 for a ledger error) and returns false then.
func (h *Inbox) findConv(w http.ResponseWriter, line, number string) (page, bool) {
	p, err := h.convData(line, number)
	if errors.Is(err, errNoConversation) {
		securityHeaders(w, false)
		http.Error(w, "no such conversation", http.StatusNotFound)
		return page{}, false
	}
	if err != nil {
		h.fail(w, err)
		return page{}, false
	}
	return p, true
}

// claimer is who holds a conversation now, or "".
func claimer(st ledger.ConvState, now time.Time) string {
	if st.Claimed(now) {
		return st.ClaimedBy
	}
	return ""
}

func (h *Inbox) conv(w http.ResponseWriter, r *http.Request, se *session) {
	h.showConv(w, r, se, http.StatusOK, flashes[r.URL.Query().Get("m")], false)
}

// flashes are the messages a redirect after an action may show; the
// query names one, so nothing a user typed is reflected.
var flashes = map[string]string{
	"sent":     "Reply queued; it leaves from the line's number now. Its status shows below.",
	"claimed":  "Claimed: automatic texts to this caller are paused until you release it or mark it handled (at most 24 hours).",
	"released": "Released: automatic texts resume.",
	"handled":  "Marked handled.",
}

func (h *Inbox) showConv(w http.ResponseWriter, r *http.Request, se *session, status int, flash string, bad bool) {
	line, number := r.PathValue("line"), r.PathValue("number")
	p, ok := h.findConv(w, line, number)
	if !ok {
		return
	}
	p.User, p.CSRF, p.Flash, p.FlashBad = se.user, se.csrf, flash, bad
	p.Poll = "/inbox/poll?" + url.Values{"c": {line + "/" + p.Conv.Number}}.Encode()
	h.pages.render(w, h.o.Log, status, "inbox_conv", p, true)
}

func (h *Inbox) act(w http.ResponseWriter, r *http.Request, se *session) {
	line, number, action := r.PathValue("line"), r.PathValue("number"), r.PathValue("action")
	if _, ok := h.findConv(w, line, number); !ok {
		return
	}
	l := h.o.Ledger
	var err error
	code := ""
	switch action {
	case "reply":
		body := r.PostForm.Get("body")
		if n := len([]rune(strings.TrimSpace(body))); n == 0 || n > MaxReply {
			h.showConv(w, r, se, http.StatusUnprocessableEntity, fmt.Sprintf("A reply is 1 to %d characters.", MaxReply), true)
			return
		}
		_, err = l.Reply(line, number, se.user, body)
		code = "sent"
	case "claim":
		_, err = l.Claim(line, number, se.user)
		code = "claimed"
	case "release":
		_, err = l.Release(line, number, se.user)
		code = "released"
	case "handled":
		_, err = l.MarkHandled(line, number, se.user)
		code = "handled"
	default:
		http.NotFound(w, r)
		return
	}
	if errors.Is(err, ledger.ErrOptedOutReply) {
		h.showConv(w, r, se, http.StatusConflict, "Not sent: this number opted out (STOP). textback will not text it.", true)
		return
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	num, _ := l.Normalize(number, line)
	http.Redirect(w, r, convURL(line, num)+"?m="+code, http.StatusSeeOther)
}

func (h *Inbox) fail(w http.ResponseWriter, err error) {
	h.o.Log.Error().Err(err).Msg("inbox")
	securityHeaders(w, false)
	http.Error(w, "internal error; see the log", http.StatusInternalServerError)
}

func convURL(line, number string) string {
	return "/inbox/c/" + url.PathEscape(line) + "/" + url.PathEscape(number)
}

func businessOf(sites map[string]Site, line string) string {
	if s, ok := sites[line]; ok && s.Business != "" {
		return s.Business
	}
	return line
}

func (h *Inbox) when(t time.Time) string {
	return t.Local().Format("Mon Jan 2 15:04")
}

// summary is a conversation's newest event in a few words.
func summary(e ledger.Entry) string {
	v := entryText(e)
	if e.Kind == ledger.EntryIntake {
		var parts []string
		for _, f := range e.Intake.Fields {
			if f.Value != "" {
				parts = append(parts, f.Value)
			}
		}
		v.Body = strings.Join(parts, " · ")
	}
	if v.Body != "" {
		return v.Title + ": " + oneLine(v.Body, 90)
	}
	return v.Title
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func (h *Inbox) entry(e ledger.Entry) entryView {
	v := entryText(e)
	v.When, v.ISO = h.when(e.At), e.At.UTC().Format(time.RFC3339)
	return v
}

// entryText describes an entry for people.
func entryText(e ledger.Entry) entryView {
	var v entryView
	switch e.Kind {
	case ledger.EntryCall:
		c := e.Call
		v.Class, v.Title = "in", "Missed call"
		if c.Reason != "" {
			v.Title += " (" + strings.ReplaceAll(string(c.Reason), "_", " ") + ")"
		}
		if c.Action == ledger.ActionText {
			v.Note = "Texted back."
		} else if c.Skip != "" {
			v.Note = "Not texted: " + strings.ReplaceAll(string(c.Skip), "_", " ")
			if c.Detail != "" {
				v.Note += " (" + c.Detail + ")"
			}
		}
	case ledger.EntryText:
		t := e.Text
		v.Class, v.Status, v.Body = "out", string(t.Status), t.Body
		switch t.Kind {
		case ledger.KindCallback:
			v.Title = "Text-back"
		case ledger.KindOperator:
			v.Title = "Reply by an operator"
		case ledger.KindConfirm:
			v.Title = "Consent confirmation"
		case ledger.KindHelp:
			v.Title = "Help answer"
		default:
			v.Title = "Text (" + string(t.Kind) + ")"
		}
		if t.Error != "" && (t.Status == ledger.StatusFailed || t.Status == ledger.StatusDropped || t.Status == ledger.StatusUnknown) {
			v.Note = t.Error
		}
		if t.Purged {
			v.Note = "Text removed by retention."
		}
	case ledger.EntryMessage:
		m := e.Message
		v.Class, v.Title, v.Body = "in", "Text from the caller", m.Body
		switch m.Kind {
		case ledger.MsgOptOut:
			v.Title = "Text from the caller: opt-out"
		case ledger.MsgOptIn:
			v.Title = "Text from the caller: opt-in"
		case ledger.MsgHelp:
			v.Title = "Text from the caller: help"
		}
		if m.Suppressed != "" {
			v.Note = "No automatic answer: " + string(m.Suppressed)
		}
	case ledger.EntryIntake:
		v.Class, v.Title, v.Fields = "intake", "Intake form", e.Intake.Fields
		if e.Intake.Purged {
			v.Note = "Answers removed by retention."
		}
	case ledger.EntryConsent:
		c := e.Consent
		v.Class = "consent"
		if c.State == ledger.ConsentOptedOut {
			v.Title = "Opted out"
		} else {
			v.Title = "Opted in"
		}
		v.Note = "By " + string(c.Source) + ": " + c.Evidence
	case ledger.EntryAction:
		a := e.Action
		v.Class = "op"
		switch a.Kind {
		case ledger.ActClaim:
			v.Title = "Claimed by " + a.User
		case ledger.ActRelease:
			v.Title = "Released by " + a.User
		case ledger.ActHandled:
			v.Title = "Marked handled by " + a.User
		case ledger.ActReply:
			v.Title = "Reply sent by " + a.User
		}
	}
	return v
}
