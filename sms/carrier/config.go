package carrier

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Presets: the carriers the driver knows by name. PresetHTTP is any other
// HTTP API, described by Config.HTTP.
const (
	PresetTwilio = "twilio"
	PresetTelnyx = "telnyx"
	PresetKannel = "kannel"
	PresetHTTP   = "http"
)

// Presets lists the presets, for messages and documentation.
var Presets = []string{PresetTwilio, PresetTelnyx, PresetKannel, PresetHTTP}

// DefaultTimeout bounds one request to the carrier when Config.Timeout is 0.
const DefaultTimeout = 15 * time.Second

// Config configures a Driver. It is meant to be embedded in a YAML config
// (textback puts it under `driver:`) and decoded strictly; every field has a
// snake_case yaml key. Only the section of the chosen preset may be set.
//
// Secrets are plain strings here: Twilio's auth_token and api_key_secret,
// Telnyx's api_key, Kannel's password and webhook_token, and in the http
// section auth.password, auth.token, secrets and webhook_token. Masked
// returns a copy with them hidden.
type Config struct {
	// Preset is twilio, telnyx, kannel or http.
	Preset string `yaml:"preset"`
	// Name names the driver in logs and records, and is the Provider of
	// every Inbound and Status it hands on (the ledger dedupes replies by
	// provider and message id). Default: the preset.
	Name string `yaml:"name"`
	// URL is the carrier's API root. Defaults: https://api.twilio.com,
	// https://api.telnyx.com, http://127.0.0.1:13013 (Kannel's smsbox).
	// The http preset's templates see it as {{.BaseURL}}.
	URL string `yaml:"url"`
	// Timeout bounds one request to the carrier (default 15s). A request
	// that times out after it was written is reported Unknown.
	Timeout time.Duration `yaml:"timeout"`
	// PublicURL is the address the carrier reaches this driver's webhook
	// handler at, without the final /inbound or /status: the public https
	// URL of the reverse proxy in front of textback, as entered in the
	// carrier's console (https://sms.example.com/textback/carrier). Twilio
	// signs each webhook over this URL, so it must match what Twilio calls
	// exactly, scheme, host, port and path. Texts ask for delivery reports
	// at PublicURL/status (Twilio StatusCallback, Telnyx webhook_url,
	// Kannel dlr-url) when it is set. Required by the twilio preset.
	PublicURL string `yaml:"public_url"`
	// Senders maps a line's number (the From of a text) to what the carrier
	// should send it from instead: another number, an alphanumeric sender,
	// or for Twilio a messaging service SID (MG...).
	Senders map[string]string `yaml:"senders"`
	// Codes adds to or overrides the preset's table of carrier error codes.
	Codes Codes `yaml:"codes"`

	Twilio TwilioConfig `yaml:"twilio"`
	Telnyx TelnyxConfig `yaml:"telnyx"`
	Kannel KannelConfig `yaml:"kannel"`
	HTTP   HTTPConfig   `yaml:"http"`
}

// TwilioConfig is the twilio preset's section.
type TwilioConfig struct {
	// AccountSID is the account (AC followed by 32 hex digits).
	AccountSID string `yaml:"account_sid"`
	// AuthToken is the account's auth token. Twilio signs webhooks with
	// it, so it is required even when an API key sends.
	AuthToken string `yaml:"auth_token"`
	// APIKeySID and APIKeySecret, when set, authenticate requests instead
	// of the auth token (an API key can be revoked on its own).
	APIKeySID    string `yaml:"api_key_sid"`
	APIKeySecret string `yaml:"api_key_secret"`
	// MessagingServiceSID, when set, is sent with every text as
	// MessagingServiceSid (MG...), beside the line's From number.
	MessagingServiceSID string `yaml:"messaging_service_sid"`
}

// TelnyxConfig is the telnyx preset's section.
type TelnyxConfig struct {
	// APIKey is the API v2 key (sent as a Bearer token).
	APIKey string `yaml:"api_key"`
	// PublicKey is the account's webhook public key from the portal,
	// base64: it verifies the ed25519 signature of every webhook.
	PublicKey string `yaml:"public_key"`
	// MessagingProfileID, when set, is sent with every text.
	MessagingProfileID string `yaml:"messaging_profile_id"`
}

// KannelConfig is the kannel preset's section.
type KannelConfig struct {
	// Username and Password are a sendsms-user of smsbox.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// SMSC, when set, routes texts to that smsc-id.
	SMSC string `yaml:"smsc"`
	// WebhookToken authenticates Kannel's calls to the handler: the
	// sms-service get-url/post-url and the dlr-url carry it as ?token=.
	// At least 16 characters of letters, digits, '-' and '_'.
	WebhookToken string `yaml:"webhook_token"`
}

// HTTPConfig is the http preset's section: a carrier described by a
// request template, how to read its answer, and what its webhooks carry.
type HTTPConfig struct {
	// Request is the request that sends one text.
	Request RequestConfig `yaml:"request"`
	// Auth authenticates Request and Check.
	Auth AuthConfig `yaml:"auth"`
	// Vars are values for the templates: {{.Vars.name}}.
	Vars map[string]string `yaml:"vars"`
	// Secrets are values for the templates that must never show:
	// {{.Secrets.name}}. They are scrubbed from errors.
	Secrets map[string]string `yaml:"secrets"`
	// Response says how to read the carrier's answer.
	Response ResponseConfig `yaml:"response"`
	// Check, when set, is a request that succeeds (2xx) only with valid
	// credentials and sends nothing; Driver.Check makes it.
	Check *RequestConfig `yaml:"check"`
	// Inbound maps the fields of the carrier's reply webhook.
	Inbound InboundConfig `yaml:"inbound"`
	// Status maps the fields of the carrier's delivery report webhook.
	Status StatusConfig `yaml:"status"`
	// WebhookToken authenticates the carrier's webhooks: the URLs entered
	// in the carrier's console carry it as ?token=. Required when Inbound
	// or Status is set; at least 16 characters of letters, digits, '-'
	// and '_'.
	WebhookToken string `yaml:"webhook_token"`
}

// RequestConfig is a templated HTTP request. URL, header values and Body are
// Go text/template templates over the text being sent:
//
//	.To .From .Body  the text (From after Config.Senders)
//	.Key             the text's idempotency key
//	.ID              a fresh random id for this request (hex)
//	.StatusURL       PublicURL/status?token=WebhookToken, "" without PublicURL
//	.BaseURL         Config.URL
//	.Vars .Secrets   HTTPConfig.Vars and HTTPConfig.Secrets
//
// with the functions urlquery (form and query escaping), pathescape, json
// (a JSON string literal, quotes included), hasPrefix, trimPrefix, and gsm7
// (whether a text fits the GSM 7-bit alphabet). A missing map key is an
// error, caught by Validate.
type RequestConfig struct {
	// Method is GET, POST, PUT or PATCH (default POST).
	Method string `yaml:"method"`
	// URL is the absolute URL template.
	URL string `yaml:"url"`
	// Headers are header templates. A Body needs a Content-Type.
	Headers map[string]string `yaml:"headers"`
	// Body is the body template, empty for none.
	Body string `yaml:"body"`
}

// AuthConfig authenticates requests of the http preset.
type AuthConfig struct {
	// Type is none (default), basic, bearer or header.
	Type string `yaml:"type"`
	// Username and Password for basic.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// Token for bearer, and the value for header.
	Token string `yaml:"token"`
	// Header is the header name for header (X-Api-Key).
	Header string `yaml:"header"`
}

// ResponseConfig says how to read a carrier's answer to a send.
type ResponseConfig struct {
	// Success decides whether the carrier took the text.
	Success SuccessConfig `yaml:"success"`
	// MessageID is where the carrier's id for the text is. When set and
	// absent from a successful answer, the answer is not understood and
	// the outcome is Unknown. When unset, the driver's own .ID is the
	// message id (pass it in the request to match delivery reports).
	MessageID Extract `yaml:"message_id"`
	// Segments is where the number of SMS segments is, if anywhere.
	Segments Extract `yaml:"segments"`
	// ErrorCode is where the carrier's error code is; Config.Codes maps it.
	ErrorCode Extract `yaml:"error_code"`
	// ErrorMessage is where the carrier's error text is. Default: the
	// first line of the body.
	ErrorMessage Extract `yaml:"error_message"`
}

// SuccessConfig is the test of a successful send: the status is one of
// Status (default: any 2xx), and, when Body is set, the body passes it.
//
// A status that passes with a body that fails is a refusal when the answer
// carries an error code (mapped by Config.Codes, Rejected when unmapped),
// and Unknown when it carries none or cannot be read.
type SuccessConfig struct {
	Status []int `yaml:"status"`
	Body   Match `yaml:"body"`
}

// Extract takes one value from a body: by JSON path (dot-separated object
// keys and array indexes, "messages.0.message-id"), then, when Regexp is
// set, by the regexp's first group (or its whole match) applied to that
// value, or to the whole body when JSON is empty.
type Extract struct {
	JSON   string `yaml:"json"`
	Regexp string `yaml:"regexp"`
}

// Match is an Extract that must find a value, equal to one of Equals when
// Equals is not empty.
type Match struct {
	Extract `yaml:",inline"`
	Equals  []string `yaml:"equals"`
}

// Codes sorts carrier error codes into outcomes. A code listed nowhere is
// judged by the HTTP status: 429, 503 and 408 Temporary, any other 5xx
// Unknown, anything else Rejected.
type Codes struct {
	Temporary []string `yaml:"temporary"`
	Rejected  []string `yaml:"rejected"`
	OptedOut  []string `yaml:"opted_out"`
	NotMobile []string `yaml:"not_mobile"`
	// Unknown: the carrier may have sent the text (an internal error
	// after accepting it). Never retried.
	Unknown []string `yaml:"unknown"`
}

// InboundConfig names the fields of a reply webhook: form or query
// parameters, or JSON paths when the webhook's body is JSON.
type InboundConfig struct {
	From string `yaml:"from"`
	To   string `yaml:"to"`
	Body string `yaml:"body"`
	// ID is the carrier's message id, which the ledger dedupes on.
	ID string `yaml:"id"`
	// AddPlus puts a + before a From or To made of digits only: Vonage and
	// Plivo send international numbers without it.
	AddPlus bool `yaml:"add_plus"`
}

// StatusConfig names the fields of a delivery report webhook, and which
// status values mean delivered and failed; any other value is an
// intermediate report that changes nothing.
type StatusConfig struct {
	ID        string   `yaml:"id"`
	Status    string   `yaml:"status"`
	Code      string   `yaml:"code"`
	Delivered []string `yaml:"delivered"`
	Failed    []string `yaml:"failed"`
	// Codes maps the error codes of failed reports, when they are not
	// the codes of send answers (Config.Codes, the default).
	Codes Codes `yaml:"codes"`
}

// FieldError is a configuration error about one field, named by its yaml
// path within Config ("twilio.account_sid"). A caller embedding Config can
// prefix Field with its own path.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

var (
	reTwilioAccount = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
	reTwilioKey     = regexp.MustCompile(`^SK[0-9a-fA-F]{32}$`)
	reTwilioService = regexp.MustCompile(`^MG[0-9a-fA-F]{32}$`)
	reToken         = regexp.MustCompile(`^[A-Za-z0-9_-]{16,}$`)
	reHeaderName    = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
)

// Validate checks the config as New would use it and returns a *FieldError
// naming the first bad field.
func (c Config) Validate() error {
	_, err := c.compile()
	return err
}

// withDefaults returns c with the preset's defaults filled in.
func (c Config) withDefaults() Config {
	if c.Name == "" {
		c.Name = c.Preset
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.URL == "" {
		switch c.Preset {
		case PresetTwilio:
			c.URL = "https://api.twilio.com"
		case PresetTelnyx:
			c.URL = "https://api.telnyx.com"
		case PresetKannel:
			c.URL = "http://127.0.0.1:13013"
		}
	}
	c.URL = strings.TrimSuffix(c.URL, "/")
	c.PublicURL = strings.TrimSuffix(c.PublicURL, "/")
	return c
}

// validateCommon checks what every preset shares.
func (c Config) validateCommon() error {
	if c.Preset == "" {
		return fieldErr("preset", "required: one of %s", strings.Join(Presets, ", "))
	}
	if !slices.Contains(Presets, c.Preset) {
		return fieldErr("preset", "%q is not a preset (%s)", c.Preset, strings.Join(Presets, ", "))
	}
	if strings.TrimSpace(c.Name) == "" || strings.ContainsAny(c.Name, " \t\r\n\x00") {
		return fieldErr("name", "%q is not a usable name (no spaces)", c.Name)
	}
	if c.Timeout < 0 {
		return fieldErr("timeout", "must not be negative")
	}
	if c.URL != "" {
		if err := checkURL(c.URL, false); err != nil {
			return fieldErr("url", "%v", err)
		}
	} else if c.Preset != PresetHTTP {
		return fieldErr("url", "required")
	}
	if c.PublicURL != "" {
		if err := checkURL(c.PublicURL, true); err != nil {
			return fieldErr("public_url", "%v", err)
		}
	}
	for from, to := range c.Senders {
		if strings.TrimSpace(from) == "" || strings.TrimSpace(to) == "" {
			return fieldErr("senders", "empty number or sender (%q: %q)", from, to)
		}
	}
	if err := c.Codes.check("codes"); err != nil {
		return err
	}
	sections := []struct {
		preset string
		zero   bool
	}{
		{PresetTwilio, reflect.ValueOf(c.Twilio).IsZero()},
		{PresetTelnyx, reflect.ValueOf(c.Telnyx).IsZero()},
		{PresetKannel, reflect.ValueOf(c.Kannel).IsZero()},
		{PresetHTTP, reflect.ValueOf(c.HTTP).IsZero()},
	}
	for _, s := range sections {
		if s.preset != c.Preset && !s.zero {
			return fieldErr(s.preset, "set, but the preset is %s", c.Preset)
		}
	}
	return nil
}

// checkURL accepts an absolute http or https URL without a fragment (and,
// for a public webhook root, without a query).
func checkURL(raw string, public bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q is not an http or https URL", raw)
	}
	if u.Host == "" {
		return fmt.Errorf("%q has no host", raw)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Errorf("%q has a fragment", raw)
	}
	if public && (u.RawQuery != "" || strings.Contains(raw, "?")) {
		return fmt.Errorf("%q has a query: give the webhook root, /inbound and /status are added", raw)
	}
	if u.User != nil {
		return fmt.Errorf("credentials in a URL are not allowed here; use the auth settings")
	}
	return nil
}

func (t TwilioConfig) check(c Config) error {
	if !reTwilioAccount.MatchString(t.AccountSID) {
		return fieldErr("twilio.account_sid", "want AC followed by 32 hex digits")
	}
	if t.AuthToken == "" {
		return fieldErr("twilio.auth_token", "required (Twilio signs webhooks with it)")
	}
	if (t.APIKeySID == "") != (t.APIKeySecret == "") {
		if t.APIKeySID == "" {
			return fieldErr("twilio.api_key_sid", "required with api_key_secret")
		}
		return fieldErr("twilio.api_key_secret", "required with api_key_sid")
	}
	if t.APIKeySID != "" && !reTwilioKey.MatchString(t.APIKeySID) {
		return fieldErr("twilio.api_key_sid", "want SK followed by 32 hex digits")
	}
	if t.MessagingServiceSID != "" && !reTwilioService.MatchString(t.MessagingServiceSID) {
		return fieldErr("twilio.messaging_service_sid", "want MG followed by 32 hex digits")
	}
	if c.PublicURL == "" {
		return fieldErr("public_url", "required by twilio: webhooks are verified against it (the URL entered in Twilio's console, without /inbound)")
	}
	return nil
}

func (t TelnyxConfig) check() error {
	if t.APIKey == "" {
		return fieldErr("telnyx.api_key", "required")
	}
	if t.PublicKey == "" {
		return fieldErr("telnyx.public_key", "required: it verifies the signature of every webhook")
	}
	if _, err := telnyxKey(t.PublicKey); err != nil {
		return fieldErr("telnyx.public_key", "%v", err)
	}
	if t.MessagingProfileID != "" && strings.ContainsAny(t.MessagingProfileID, "/?#% ") {
		return fieldErr("telnyx.messaging_profile_id", "%q is not a profile id", t.MessagingProfileID)
	}
	return nil
}

func (k KannelConfig) check(c Config) error {
	if k.Username == "" {
		return fieldErr("kannel.username", "required (a sendsms-user)")
	}
	if k.Password == "" {
		return fieldErr("kannel.password", "required")
	}
	if !reToken.MatchString(k.WebhookToken) {
		return fieldErr("kannel.webhook_token", "want at least 16 letters, digits, '-' or '_'")
	}
	// Kannel expands %-escapes in the dlr-url: a percent-encoded public
	// URL would be mangled.
	if strings.Contains(c.PublicURL, "%") {
		return fieldErr("public_url", "must not contain '%%' with kannel (it expands %%-escapes in the dlr-url)")
	}
	return nil
}

// check reports a code listed under two outcomes.
func (cs Codes) check(field string) error {
	seen := map[string]string{}
	for _, l := range []struct {
		name  string
		codes []string
	}{
		{"temporary", cs.Temporary}, {"rejected", cs.Rejected}, {"opted_out", cs.OptedOut},
		{"not_mobile", cs.NotMobile}, {"unknown", cs.Unknown},
	} {
		for _, code := range l.codes {
			if strings.TrimSpace(code) == "" {
				return fieldErr(field+"."+l.name, "empty code")
			}
			if other, dup := seen[code]; dup {
				return fieldErr(field+"."+l.name, "code %q is also listed under %s", code, other)
			}
			seen[code] = l.name
		}
	}
	return nil
}

// telnyxKey decodes a Telnyx webhook public key.
func telnyxKey(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("not base64: %w", err)
	}
	if len(b) != 32 {
		return nil, fmt.Errorf("an ed25519 public key is 32 bytes, this one %d", len(b))
	}
	return b, nil
}

// Masked returns a copy of c with every secret replaced by "********" (an
// empty secret stays empty), for showing a config.
func (c Config) Masked() Config {
	mask := func(s *string) {
		if *s != "" {
			*s = "********"
		}
	}
	mask(&c.Twilio.AuthToken)
	mask(&c.Twilio.APIKeySecret)
	mask(&c.Telnyx.APIKey)
	mask(&c.Kannel.Password)
	mask(&c.Kannel.WebhookToken)
	mask(&c.HTTP.Auth.Password)
	mask(&c.HTTP.Auth.Token)
	mask(&c.HTTP.WebhookToken)
	if c.HTTP.Secrets != nil {
		m := make(map[string]string, len(c.HTTP.Secrets))
		for k, v := range c.HTTP.Secrets {
			mask(&v)
			m[k] = v
		}
		c.HTTP.Secrets = m
	}
	return c
}

// secrets lists the config's secret values, for scrubbing errors.
func (c Config) secrets() []string {
	var out []string
	for _, s := range []string{c.Twilio.AuthToken, c.Twilio.APIKeySecret, c.Telnyx.APIKey, c.Kannel.Password,
		c.Kannel.WebhookToken, c.HTTP.Auth.Password, c.HTTP.Auth.Token, c.HTTP.WebhookToken} {
		if s != "" {
			out = append(out, s)
		}
	}
	for _, s := range c.HTTP.Secrets {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
