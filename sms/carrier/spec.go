package carrier

import (
	"crypto/ed25519"
	"net/url"
	"reflect"
	"slices"
	"strings"

	"github.com/textback/textback/sms"
)

// spec is a validated Config, compiled: what a Driver runs on.
type spec struct {
	cfg        Config // defaults applied
	send       *requestTemplate
	check      *requestTemplate // nil: the preset checks its own way, or cannot
	auth       AuthConfig
	resp       responseSpec
	codes      map[string]sms.Outcome
	statusMap  map[string]sms.Outcome // codes of failed delivery reports
	vars       map[string]string
	secretVars map[string]string
	token      string            // webhook token (kannel, http)
	telnyxKey  ed25519.PublicKey // telnyx
	inbound    InboundConfig     // http
	status     StatusConfig      // http
}

type responseSpec struct {
	successStatus []int // empty: any 2xx
	successBody   *matcher
	messageID     *extractor
	segments      *extractor
	errorCode     *extractor
	errorMessage  *extractor
}

// compile validates c and compiles it. Errors are *FieldError.
func (c Config) compile() (*spec, error) {
	c = c.withDefaults()
	if err := c.validateCommon(); err != nil {
		return nil, err
	}
	s := &spec{cfg: c}
	var h HTTPConfig
	var builtin Codes
	switch c.Preset {
	case PresetTwilio:
		if err := c.Twilio.check(c); err != nil {
			return nil, err
		}
		h, builtin = twilioHTTP(c.Twilio), twilioCodes
	case PresetTelnyx:
		if err := c.Telnyx.check(); err != nil {
			return nil, err
		}
		h, builtin = telnyxHTTP(c.Telnyx), telnyxCodes
		key, _ := telnyxKey(c.Telnyx.PublicKey) // checked above
		s.telnyxKey = key
	case PresetKannel:
		if err := c.Kannel.check(c); err != nil {
			return nil, err
		}
		h = kannelHTTP(c.Kannel)
		s.token = c.Kannel.WebhookToken
	case PresetHTTP:
		h = c.HTTP
		if err := checkHTTP(h); err != nil {
			return nil, err
		}
		s.token, s.inbound, s.status = h.WebhookToken, h.Inbound, h.Status
	}
	if err := s.compileHTTP(h, builtin); err != nil {
		return nil, err
	}
	// Run the templates once, so that a missing key or a bad URL shows now
	// rather than at the first missed call.
	if _, _, _, err := s.send.render(sampleData(s)); err != nil {
		return nil, fieldErr("http.request", "%v", err)
	}
	if s.check != nil {
		if _, _, _, err := s.check.render(sampleData(s)); err != nil {
			return nil, fieldErr("http.check", "%v", err)
		}
	}
	return s, nil
}

// compileHTTP compiles the request and response parts shared by every
// preset.
func (s *spec) compileHTTP(h HTTPConfig, builtin Codes) error {
	var err error
	if s.send, err = compileRequest("http.request", h.Request); err != nil {
		return err
	}
	if h.Check != nil {
		if s.check, err = compileRequest("http.check", *h.Check); err != nil {
			return err
		}
	}
	s.auth = h.Auth
	s.vars, s.secretVars = h.Vars, h.Secrets
	if s.vars == nil {
		s.vars = map[string]string{}
	}
	if s.secretVars == nil {
		s.secretVars = map[string]string{}
	}
	r := h.Response
	for _, st := range r.Success.Status {
		if st < 100 || st > 599 {
			return fieldErr("http.response.success.status", "%d is not an HTTP status", st)
		}
	}
	s.resp.successStatus = r.Success.Status
	x, err := compileExtract("http.response.success.body", r.Success.Body.Extract)
	if err != nil {
		return err
	}
	if x != nil {
		s.resp.successBody = &matcher{x: x, equals: r.Success.Body.Equals}
	} else if len(r.Success.Body.Equals) > 0 {
		return fieldErr("http.response.success.body.equals", "needs json or regexp to say what to compare")
	}
	for _, e := range []struct {
		field string
		x     Extract
		dst   **extractor
	}{
		{"http.response.message_id", r.MessageID, &s.resp.messageID},
		{"http.response.segments", r.Segments, &s.resp.segments},
		{"http.response.error_code", r.ErrorCode, &s.resp.errorCode},
		{"http.response.error_message", r.ErrorMessage, &s.resp.errorMessage},
	} {
		if *e.dst, err = compileExtract(e.field, e.x); err != nil {
			return err
		}
	}
	s.codes = codeMap(builtin, s.cfg.Codes)
	s.statusMap = s.codes
	if !reflect.ValueOf(h.Status.Codes).IsZero() {
		if err := h.Status.Codes.check("http.status.codes"); err != nil {
			return err
		}
		s.statusMap = codeMap(h.Status.Codes)
	}
	return nil
}

// checkHTTP checks what only the http preset has.
func checkHTTP(h HTTPConfig) error {
	a := h.Auth
	switch a.Type {
	case "", "none":
	case "basic":
		if a.Username == "" || a.Password == "" {
			return fieldErr("http.auth", "basic needs username and password")
		}
	case "bearer":
		if a.Token == "" {
			return fieldErr("http.auth.token", "required by bearer")
		}
	case "header":
		if !reHeaderName.MatchString(a.Header) {
			return fieldErr("http.auth.header", "%q is not a header name", a.Header)
		}
		if a.Token == "" {
			return fieldErr("http.auth.token", "required by header (the header's value)")
		}
	default:
		return fieldErr("http.auth.type", "%q is not one of none, basic, bearer, header", a.Type)
	}
	in, st := h.Inbound, h.Status
	hooks := in != InboundConfig{} || !reflect.ValueOf(st).IsZero()
	if hooks || h.WebhookToken != "" {
		if !reToken.MatchString(h.WebhookToken) {
			return fieldErr("http.webhook_token", "want at least 16 letters, digits, '-' or '_' (webhooks are verified by it)")
		}
	}
	if in != (InboundConfig{}) {
		for _, f := range []struct{ name, v string }{{"from", in.From}, {"body", in.Body}, {"id", in.ID}} {
			if f.v == "" {
				return fieldErr("http.inbound."+f.name, "required (the ledger dedupes replies by id)")
			}
		}
	}
	if !reflect.ValueOf(st).IsZero() {
		if st.ID == "" {
			return fieldErr("http.status.id", "required")
		}
		if st.Status == "" {
			return fieldErr("http.status.status", "required")
		}
		if len(st.Delivered) == 0 && len(st.Failed) == 0 {
			return fieldErr("http.status.delivered", "list the status values that mean delivered, failed, or both")
		}
		for _, v := range st.Delivered {
			if slices.Contains(st.Failed, v) {
				return fieldErr("http.status.failed", "%q is also listed as delivered", v)
			}
		}
	}
	return nil
}

// statusURL is where a text asks for its delivery reports, "" when the
// driver has no public URL. id is the request's own id.
func (s *spec) statusURL(id string) string {
	base := s.cfg.PublicURL
	if base == "" {
		return ""
	}
	switch s.cfg.Preset {
	case PresetKannel:
		// Kannel replaces %d with the report type (1 delivered, 2 failed,
		// 4 queued, 8 accepted by the SMSC, 16 rejected by the SMSC).
		return base + "/status?token=" + s.token + "&id=" + id + "&status=%d"
	case PresetHTTP:
		if s.token == "" {
			return ""
		}
		return base + "/status?token=" + url.QueryEscape(s.token)
	default:
		return base + "/status"
	}
}

// codeMap merges code tables, later ones overriding earlier ones.
func codeMap(tables ...Codes) map[string]sms.Outcome {
	m := map[string]sms.Outcome{}
	for _, t := range tables {
		for _, l := range []struct {
			o     sms.Outcome
			codes []string
		}{
			{sms.Temporary, t.Temporary}, {sms.Rejected, t.Rejected}, {sms.OptedOut, t.OptedOut},
			{sms.NotMobile, t.NotMobile}, {sms.Unknown, t.Unknown},
		} {
			for _, c := range l.codes {
				m[strings.TrimSpace(c)] = l.o
			}
		}
	}
	return m
}
