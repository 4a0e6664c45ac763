package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rs/zerolog"
	"github.com/textback/textback/ledger"
)

// Site is one line's intake page: its look and its questions.
type Site struct {
	// Line is the line's name in the config.
	Line     string
	Business string
	// Phone is the line's number as people write it; PhoneE164 for tel:
	// links.
	Phone     string
	PhoneE164 string
	// Accent is the brand colour, #rrggbb.
	Accent string
	Intro  string
	// Logo is an image file's contents (PNG, JPEG, GIF or WebP) and
	// LogoType its media type; nil shows the business name instead.
	Logo     []byte
	LogoType string
	Fields   []FieldSpec
}

// HasLogo reports whether the page shows a logo.
func (s Site) HasLogo() bool { return len(s.Logo) > 0 }

// FieldSpec is one question on the form.
type FieldSpec struct {
	// Name is the form field's name: [a-z][a-z0-9_]*.
	Name  string
	Label string
	// Multiline makes it a text area.
	Multiline bool
	Required  bool
	// Max is the most characters (runes) it takes.
	Max int
	// Autocomplete is the HTML autocomplete hint ("name", "street-address").
	Autocomplete string
}

// DefaultFields are the questions when a line configures none.
func DefaultFields() []FieldSpec {
	return []FieldSpec{
		{Name: "name", Label: "Your name", Required: true, Max: 100, Autocomplete: "name"},
		{Name: "need", Label: "What do you need?", Multiline: true, Required: true, Max: 1000},
		{Name: "callback", Label: "Address, or the best time to call you back", Multiline: false, Max: 200},
	}
}

// Limits of the intake page.
const (
	// maxIntakeBody bounds a form post (all fields, encoded).
	maxIntakeBody = 32 << 10
	// intakePerIP and intakePerToken bound requests per client address
	// per minute, and form posts per link per hour.
	intakePerIP    = 30
	intakePerToken = 10
)

// IntakeOptions configure the intake page.
type IntakeOptions struct {
	Ledger *ledger.Ledger
	// Secret is policy.token_secret: it verifies the links' tokens and
	// keys the form's CSRF tokens.
	Secret []byte
	// Sites returns the lines' pages by line name; it is called on each
	// request so that a reload takes effect.
	Sites func() map[string]Site
	Now   func() time.Time
	Log   zerolog.Logger
}

// Intake serves /i/: the form a caller opens from the text's link.
type Intake struct {
	o        IntakeOptions
	pages    pages
	csrfKey  []byte
	perIP    *limiter
	perToken *limiter
	mux      *http.ServeMux
}

// NewIntake builds the intake page's handler.
func NewIntake(o IntakeOptions) (*Intake, error) {
	if o.Ledger == nil || len(o.Secret) == 0 || o.Sites == nil {
		return nil, errors.New("web: the intake page needs the ledger, the token secret and the sites")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	p, err := parsePages("intake_layout", "intake_form", "intake_done")
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, o.Secret)
	m.Write([]byte("textback intake csrf key\x00"))
	h := &Intake{o: o, pages: p, csrfKey: m.Sum(nil),
		perIP: newLimiter(intakePerIP, time.Minute), perToken: newLimiter(intakePerToken, time.Hour), mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /i/_/intake.css", serveStatic("intake.css", "text/css; charset=utf-8"))
	h.mux.HandleFunc("GET /i/_/line/{file}", h.lineCSS)
	h.mux.HandleFunc("GET /i/_/logo/{line}", h.logo)
	h.mux.HandleFunc("GET /i/{token}", h.get)
	h.mux.HandleFunc("POST /i/{token}", h.post)
	return h, nil
}

// ServeHTTP serves everything under /i/.
func (h *Intake) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Intake) lineCSS(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutSuffix(r.PathValue("file"), ".css")
	site, found := h.o.Sites()[name]
	if !ok || !found {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	accent := site.Accent
	if !validColour(accent) {
		accent = "#0b5cad"
	}
	fmt.Fprintf(w, ":root { --accent: %s; --on-accent: %s; }\n", accent, onAccent(accent))
}

func (h *Intake) logo(w http.ResponseWriter, r *http.Request) {
	site, ok := h.o.Sites()[r.PathValue("line")]
	if !ok || !site.HasLogo() {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", site.LogoType)
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'none'")
	w.Write(site.Logo)
}

// formField is a question as the form shows it.
type formField struct {
	FieldSpec
	Value string
	Error string
}

type formError struct{ Name, Label, Msg string }

type intakePage struct {
	Site   Site
	Token  string
	CSRF   string
	Fields []formField
	Errors []formError
	// The done and gone pages.
	Heading, Message string
}

// lookup verifies the token and finds its call's page. When it cannot, it
// answers the request itself and returns ok false.
func (h *Intake) lookup(w http.ResponseWriter, r *http.Request) (token string, ic ledger.IntakeCall, site Site, ok bool) {
	now := h.o.Now()
	if !h.perIP.allow(clientIP(r), now) {
		h.gone(w, http.StatusTooManyRequests, h.anySite(), "Too many tries", "Please wait a minute and open the link again.")
		return "", ic, site, false
	}
	token = r.PathValue("token")
	call, err := ledger.VerifyToken(h.o.Secret, token, now)
	expired := errors.Is(err, ledger.ErrTokenExpired)
	if err != nil && !expired {
		h.o.Log.Info().Str("client", clientIP(r)).Str("why", err.Error()).Msg("intake: invalid link")
		h.gone(w, http.StatusNotFound, h.anySite(), "This link does not work", "The link may be incomplete. Please check it against the text you received, or call us.")
		return "", ic, site, false
	}
	ic, lerr := h.o.Ledger.IntakeCall(call)
	if lerr == nil {
		site, ok = h.o.Sites()[ic.Call.Line]
	}
	if lerr != nil || !ok {
		if lerr != nil && !errors.Is(lerr, ledger.ErrNotFound) && !errors.Is(lerr, ledger.ErrIntakeNoLine) {
			h.o.Log.Error().Err(lerr).Str("call", call).Msg("intake: look up call")
			h.gone(w, http.StatusInternalServerError, h.anySite(), "Something went wrong", "Please try again in a moment, or call us.")
			return "", ic, site, false
		}
		h.o.Log.Info().Str("call", call).Msg("intake: link for a call with no form")
		h.gone(w, http.StatusNotFound, h.anySite(), "This link does not work", "We could not find the call this link is for. Please call us.")
		return "", ic, site, false
	}
	if ic.Used != nil {
		h.gone(w, http.StatusGone, site, "We already have your answers", "Thank you: this form was already sent, and "+site.Business+" has it. Each link can be used once.")
		return "", ic, site, false
	}
	if expired {
		h.gone(w, http.StatusGone, site, "This link has expired", "Links in our texts work for a few days. Please call us, or reply to our text.")
		return "", ic, site, false
	}
	return token, ic, site, true
}

// anySite is the page for a link that names no line: the only line's, or
// a plain one.
func (h *Intake) anySite() Site {
	sites := h.o.Sites()
	if len(sites) == 1 {
		for _, s := range sites {
			return s
		}
	}
	return Site{Business: "Sorry"}
}

func (h *Intake) gone(w http.ResponseWriter, status int, site Site, heading, msg string) {
	h.pages.render(w, h.o.Log, status, "intake_done", intakePage{Site: site, Heading: heading, Message: msg}, false)
}

const intakeCookie = "tb_intake"

func (h *Intake) get(w http.ResponseWriter, r *http.Request) {
	token, _, site, ok := h.lookup(w, r)
	if !ok {
		return
	}
	fields := make([]formField, len(site.Fields))
	for i, f := range site.Fields {
		fields[i] = formField{FieldSpec: f}
	}
	h.form(w, r, http.StatusOK, site, token, fields, nil)
}

// form renders the form with a CSRF token bound to the link and to a
// cookie.
func (h *Intake) form(w http.ResponseWriter, r *http.Request, status int, site Site, token string, fields []formField, errs []formError) {
	nonce := ""
	if c, err := r.Cookie(intakeCookie); err == nil && validNonce(c.Value) {
		nonce = c.Value
	} else {
		nonce = randomID()
	}
	http.SetCookie(w, &http.Cookie{Name: intakeCookie, Value: nonce, Path: "/i/", HttpOnly: true, Secure: overTLS(r),
		SameSite: http.SameSiteStrictMode, MaxAge: 24 * 3600})
	h.pages.render(w, h.o.Log, status, "intake_form", intakePage{Site: site, Token: token, CSRF: h.csrf(token, nonce), Fields: fields, Errors: errs}, false)
}

func (h *Intake) csrf(token, nonce string) string {
	m := hmac.New(sha256.New, h.csrfKey)
	m.Write([]byte(token))
	m.Write([]byte{0})
	m.Write([]byte(nonce))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// validNonce accepts what randomID makes: base32, 52 characters.
func validNonce(s string) bool {
	if len(s) != 52 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('A' <= c && c <= 'Z' || '2' <= c && c <= '7') {
			return false
		}
	}
	return true
}

func (h *Intake) post(w http.ResponseWriter, r *http.Request) {
	token, ic, site, ok := h.lookup(w, r)
	if !ok {
		return
	}
	if !h.perToken.allow(token, h.o.Now()) {
		h.gone(w, http.StatusTooManyRequests, site, "Too many tries", "Please wait a while, or call us.")
		return
	}
	if !sameOrigin(r) {
		h.o.Log.Warn().Str("call", ic.Call.ID).Str("client", clientIP(r)).Msg("intake: cross-site post refused")
		h.gone(w, http.StatusForbidden, site, "The form could not be sent", "Please open the link from your text again and send the form from there.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxIntakeBody)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.gone(w, http.StatusRequestEntityTooLarge, site, "That was too long", "Please go back and shorten your answers.")
			return
		}
		h.gone(w, http.StatusBadRequest, site, "The form could not be sent", "Please open the link from your text again.")
		return
	}
	c, err := r.Cookie(intakeCookie)
	if err != nil || !validNonce(c.Value) || !hmac.Equal([]byte(r.PostForm.Get("csrf")), []byte(h.csrf(token, c.Value))) {
		h.o.Log.Info().Str("call", ic.Call.ID).Str("client", clientIP(r)).Msg("intake: form token did not match")
		h.gone(w, http.StatusForbidden, site, "The form could not be sent", "The page was open too long, or your browser blocks cookies. Please open the link from your text again.")
		return
	}
	fields, answers, errs := readFields(site.Fields, r.PostForm)
	if len(errs) > 0 {
		h.form(w, r, http.StatusUnprocessableEntity, site, token, fields, errs)
		return
	}
	if _, err := h.o.Ledger.SubmitIntake(ic.Call.ID, answers); err != nil {
		if errors.Is(err, ledger.ErrIntakeUsed) {
			h.gone(w, http.StatusGone, site, "We already have your answers", "Thank you: this form was already sent, and "+site.Business+" has it.")
			return
		}
		h.o.Log.Error().Err(err).Str("call", ic.Call.ID).Msg("intake: store the form")
		h.gone(w, http.StatusInternalServerError, site, "Something went wrong", "Your answers were not saved. Please try again in a moment, or call us.")
		return
	}
	h.pages.render(w, h.o.Log, http.StatusOK, "intake_done", intakePage{Site: site,
		Heading: "Thank you, we have your message",
		Message: site.Business + " will get back to you as soon as they can."}, false)
}

// readFields checks the posted answers against the questions: required,
// at most Max characters, valid UTF-8, no control characters but line
// breaks and tabs in a text area. Fields the form did not ask are
// ignored.
func readFields(specs []FieldSpec, form map[string][]string) ([]formField, []ledger.Field, []formError) {
	var fields []formField
	var answers []ledger.Field
	var errs []formError
	for _, f := range specs {
		var raw string
		if v := form[f.Name]; len(v) > 0 {
			raw = v[0]
		}
		v, msg := cleanValue(raw, f)
		ff := formField{FieldSpec: f, Value: v, Error: msg}
		fields = append(fields, ff)
		if msg != "" {
			errs = append(errs, formError{Name: f.Name, Label: f.Label, Msg: msg})
			continue
		}
		answers = append(answers, ledger.Field{Name: f.Name, Label: f.Label, Value: v})
	}
	return fields, answers, errs
}

// cleanValue normalises one answer and says what is wrong with it.
func cleanValue(raw string, f FieldSpec) (string, string) {
	if !utf8.ValidString(raw) {
		raw = strings.ToValidUTF8(raw, "\uFFFD")
	}
	raw = strings.ReplaceAll(raw, "\r\n", "\n")
	var b strings.Builder
	for _, c := range raw {
		switch {
		case c == '\n' || c == '\t':
			if f.Multiline {
				b.WriteRune(c)
			} else {
				b.WriteRune(' ')
			}
		case unicode.IsControl(c), c == '\u2028', c == '\u2029', c == '\uFEFF':
		default:
			b.WriteRune(c)
		}
	}
	v := strings.TrimSpace(b.String())
	switch n := utf8.RuneCountInString(v); {
	case f.Required && n == 0:
		return v, "please fill this in"
	case f.Max > 0 && n > f.Max:
		return v, "at most " + strconv.Itoa(f.Max) + " characters, please (this is " + strconv.Itoa(n) + ")"
	}
	return v, ""
}

func validColour(s string) bool {
	if len(s) != 7 || s[0] != '#' {
		return false
	}
	for i := 1; i < 7; i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// onAccent is the text colour on the accent: white or near-black,
// whichever contrasts more (WCAG relative luminance).
func onAccent(accent string) string {
	if ContrastOnWhite(accent) >= 4.5 {
		return "#fff"
	}
	return "#111"
}

// ContrastOnWhite is the WCAG contrast ratio of white text on colour
// (#rrggbb); 4.5 is the least for normal text.
func ContrastOnWhite(colour string) float64 {
	if !validColour(colour) {
		return 0
	}
	lin := func(hex string) float64 {
		v, _ := strconv.ParseUint(hex, 16, 8)
		c := float64(v) / 255
		if c <= 0.03928 {
			return c / 12.92
		}
		return math.Pow((c+0.055)/1.055, 2.4)
	}
	l := 0.2126*lin(colour[1:3]) + 0.7152*lin(colour[3:5]) + 0.0722*lin(colour[5:7])
	return 1.05 / (l + 0.05)
}
