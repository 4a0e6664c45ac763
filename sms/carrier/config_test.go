package carrier_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/textback/textback/sms/carrier"
	"go.yaml.in/yaml/v3"
)

// Every example config in contrib/carrier parses strictly, validates, and
// makes a driver: they cannot rot.
func TestContribExamples(t *testing.T) {
	files, err := filepath.Glob("../../contrib/carrier/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"twilio.yaml": "twilio", "telnyx.yaml": "telnyx", "kannel.yaml": "kannel", "vonage.yaml": "vonage", "plivo.yaml": "plivo"}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			c := loadConfig(t, f)
			if err := c.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			d, err := carrier.New(c)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if w, ok := want[name]; ok && d.Name() != w {
				t.Errorf("Name %q, want %q", d.Name(), w)
			}
			delete(want, name)
		})
	}
	for name := range want {
		t.Errorf("contrib/carrier/%s is missing", name)
	}
	// kannel.conf's get-url must carry kannel.yaml's token and the
	// fields the handler reads.
	conf, err := os.ReadFile("../../contrib/carrier/kannel.conf")
	if err != nil {
		t.Fatal(err)
	}
	k := loadConfig(t, "../../contrib/carrier/kannel.yaml")
	for _, want := range []string{"token=" + k.Kannel.WebhookToken, "id=%I", "from=%p", "text=%b", "charset=%C", "max-messages = 0", "username = " + k.Kannel.Username} {
		if !strings.Contains(string(conf), want) {
			t.Errorf("contrib/carrier/kannel.conf lacks %q", want)
		}
	}
}

// A config decodes from strict YAML with snake_case keys and durations.
func TestConfig_YAML(t *testing.T) {
	const doc = `
preset: kannel
name: gateway
url: http://127.0.0.1:13013
timeout: 2500ms
public_url: http://127.0.0.1:8080/carrier
senders: {"+15555551000": "ACME"}
codes: {temporary: ["7"]}
kannel: {username: u, password: p, smsc: s1, webhook_token: 0123456789abcdefXYZ}
`
	var c carrier.Config
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	want := carrier.Config{Preset: "kannel", Name: "gateway", URL: "http://127.0.0.1:13013", Timeout: 2500 * time.Millisecond,
		PublicURL: "http://127.0.0.1:8080/carrier", Senders: map[string]string{"+15555551000": "ACME"},
		Codes:  carrier.Codes{Temporary: []string{"7"}},
		Kannel: carrier.KannelConfig{Username: "u", Password: "p", SMSC: "s1", WebhookToken: "0123456789abcdefXYZ"}}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("decoded\n%+v\nwant\n%+v", c, want)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
	bad := yaml.NewDecoder(strings.NewReader("preset: twilio\ntwilio: {acount_sid: x}\n"))
	bad.KnownFields(true)
	if err := bad.Decode(&carrier.Config{}); err == nil || !strings.Contains(err.Error(), "acount_sid") {
		t.Errorf("a misspelt key decoded: %v", err)
	}
}

// Validate names the field at fault.
func TestConfig_Validate(t *testing.T) {
	tw := func(f func(c *carrier.Config)) carrier.Config {
		c := twilioConfig("")
		f(&c)
		return c
	}
	vonage := func(f func(c *carrier.Config)) carrier.Config {
		c := contribConfig(t, "vonage", "https://rest.nexmo.com")
		f(&c)
		return c
	}
	tests := []struct {
		name  string
		c     carrier.Config
		field string
	}{
		{"NoPreset", carrier.Config{}, "preset"},
		{"UnknownPreset", carrier.Config{Preset: "sinch"}, "preset"},
		{"NegativeTimeout", tw(func(c *carrier.Config) { c.Timeout = -time.Second }), "timeout"},
		{"URLNotHTTP", tw(func(c *carrier.Config) { c.URL = "ftp://api.twilio.com" }), "url"},
		{"URLWithCredentials", tw(func(c *carrier.Config) { c.URL = "https://user:pw@api.twilio.com" }), "url"},
		{"PublicURLWithQuery", tw(func(c *carrier.Config) { c.PublicURL = "https://x.example/carrier?a=1" }), "public_url"},
		{"TwilioWithoutPublicURL", tw(func(c *carrier.Config) { c.PublicURL = "" }), "public_url"},
		{"TwilioBadSID", tw(func(c *carrier.Config) { c.Twilio.AccountSID = "AC123" }), "twilio.account_sid"},
		{"TwilioNoToken", tw(func(c *carrier.Config) { c.Twilio.AuthToken = "" }), "twilio.auth_token"},
		{"TwilioKeyWithoutSecret", tw(func(c *carrier.Config) { c.Twilio.APIKeySID = "SK0123456789abcdef0123456789abcdef" }), "twilio.api_key_secret"},
		{"TwilioBadService", tw(func(c *carrier.Config) { c.Twilio.MessagingServiceSID = "MG1" }), "twilio.messaging_service_sid"},
		{"OtherSectionSet", tw(func(c *carrier.Config) { c.Kannel.Username = "x" }), "kannel"},
		{"CodeTwice", tw(func(c *carrier.Config) { c.Codes = carrier.Codes{Temporary: []string{"1"}, Rejected: []string{"1"}} }), "codes.rejected"},
		{"EmptySender", tw(func(c *carrier.Config) { c.Senders = map[string]string{"+15555551000": ""} }), "senders"},
		{"TelnyxNoKey", carrier.Config{Preset: "telnyx", Telnyx: carrier.TelnyxConfig{PublicKey: "x"}}, "telnyx.api_key"},
		{"TelnyxBadPublicKey", carrier.Config{Preset: "telnyx", Telnyx: carrier.TelnyxConfig{APIKey: "k", PublicKey: "c2hvcnQ="}}, "telnyx.public_key"},
		{"KannelShortToken", carrier.Config{Preset: "kannel", Kannel: carrier.KannelConfig{Username: "u", Password: "p", WebhookToken: "short"}}, "kannel.webhook_token"},
		{"KannelPercentInPublicURL", carrier.Config{Preset: "kannel", PublicURL: "http://127.0.0.1/a%20b", Kannel: carrier.KannelConfig{Username: "u", Password: "p", WebhookToken: hookToken}}, "public_url"},
		{"HTTPNoURL", vonage(func(c *carrier.Config) { c.HTTP.Request.URL = "" }), "http.request.url"},
		{"HTTPBadMethod", vonage(func(c *carrier.Config) { c.HTTP.Request.Method = "DELETE" }), "http.request.method"},
		{"HTTPTemplateSyntax", vonage(func(c *carrier.Config) { c.HTTP.Request.Body = "to={{.To" }), "http.request.body"},
		{"HTTPTemplateMissingVar", vonage(func(c *carrier.Config) { c.HTTP.Request.Body = "key={{.Vars.nope}}" }), "http.request"},
		{"HTTPTemplateNoField", vonage(func(c *carrier.Config) { c.HTTP.Request.Body = "x={{.Nope}}" }), "http.request"},
		{"HTTPURLTemplateNotURL", vonage(func(c *carrier.Config) { c.HTTP.Request.URL = "{{.Vars.api_key}}/sms" }), "http.request"},
		{"HTTPBodyWithoutContentType", vonage(func(c *carrier.Config) { c.HTTP.Request.Headers = nil }), "http.request.headers"},
		{"HTTPBadHeaderName", vonage(func(c *carrier.Config) { c.HTTP.Request.Headers["Bad Header"] = "x" }), "http.request.headers"},
		{"HTTPAuthType", vonage(func(c *carrier.Config) { c.HTTP.Auth.Type = "digest" }), "http.auth.type"},
		{"HTTPBasicWithoutPassword", vonage(func(c *carrier.Config) { c.HTTP.Auth = carrier.AuthConfig{Type: "basic", Username: "u"} }), "http.auth"},
		{"HTTPBadRegexp", vonage(func(c *carrier.Config) { c.HTTP.Response.MessageID = carrier.Extract{Regexp: "("} }), "http.response.message_id.regexp"},
		{"HTTPBadJSONPath", vonage(func(c *carrier.Config) { c.HTTP.Response.ErrorCode = carrier.Extract{JSON: "messages..status"} }), "http.response.error_code.json"},
		{"HTTPBadStatus", vonage(func(c *carrier.Config) { c.HTTP.Response.Success.Status = []int{2000} }), "http.response.success.status"},
		{"HTTPEqualsAlone", vonage(func(c *carrier.Config) { c.HTTP.Response.Success.Body = carrier.Match{Equals: []string{"0"}} }), "http.response.success.body.equals"},
		{"HTTPInboundWithoutID", vonage(func(c *carrier.Config) { c.HTTP.Inbound.ID = "" }), "http.inbound.id"},
		{"HTTPHooksWithoutToken", vonage(func(c *carrier.Config) { c.HTTP.WebhookToken = "" }), "http.webhook_token"},
		{"HTTPStatusWithoutValues", vonage(func(c *carrier.Config) { c.HTTP.Status.Delivered, c.HTTP.Status.Failed = nil, nil }), "http.status.delivered"},
		{"HTTPStatusBoth", vonage(func(c *carrier.Config) { c.HTTP.Status.Failed = append(c.HTTP.Status.Failed, "delivered") }), "http.status.failed"},
		{"HTTPCheckTemplate", vonage(func(c *carrier.Config) { c.HTTP.Check.URL = "{{.To" }), "http.check.url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Validate()
			var fe *carrier.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Validate: %v, want a *FieldError for %s", err, tt.field)
			}
			if fe.Field != tt.field {
				t.Errorf("Validate: %v; names %q, want %q", err, fe.Field, tt.field)
			}
			if _, err := carrier.New(tt.c); err == nil {
				t.Error("New accepted the config Validate refuses")
			}
		})
	}
}

// Masked hides every secret and nothing else.
func TestConfig_Masked(t *testing.T) {
	for _, name := range []string{"twilio", "telnyx", "kannel", "vonage", "plivo"} {
		c := loadConfig(t, "../../contrib/carrier/"+name+".yaml")
		out, err := yaml.Marshal(c.Masked())
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{c.Twilio.AuthToken, c.Telnyx.APIKey, c.Kannel.Password, c.Kannel.WebhookToken,
			c.HTTP.Auth.Password, c.HTTP.WebhookToken, c.HTTP.Secrets["api_secret"]} {
			if secret != "" && strings.Contains(string(out), secret) {
				t.Errorf("%s: Masked shows %q", name, secret)
			}
		}
		if c.Twilio.AccountSID != "" && !strings.Contains(string(out), c.Twilio.AccountSID) {
			t.Errorf("%s: Masked hides the account SID, which is not a secret", name)
		}
		if c.HTTP.Secrets != nil && c.Masked().HTTP.Secrets["api_secret"] == c.HTTP.Secrets["api_secret"] {
			t.Errorf("%s: Masked changed the original's secrets map", name)
		}
	}
}
