package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/textback/textback/ledger"
)

// testLoader reads no environment and fails every file read unless files
// has it.
func testLoader(env map[string]string, files map[string]string) loader {
	return loader{
		getenv: func(k string) string { return env[k] },
		readFile: func(name string) ([]byte, error) {
			if s, ok := files[name]; ok {
				return []byte(s), nil
			}
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		},
	}
}

func parseTest(t *testing.T, src string) (*Config, error) {
	t.Helper()
	return parseConfig("/etc/textback/test.yaml", []byte(src), testLoader(nil, nil))
}

func mustParse(t *testing.T, src string) *Config {
	t.Helper()
	c, err := parseTest(t, src)
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, src)
	}
	return c
}

const lineYAML = `
lines:
  main:
    number: "+12125550100"
    business: Acme Plumbing
    template: "Sorry we missed your call."
`

func TestParseConfig_Good(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		check func(t *testing.T, c *Config)
	}{
		{"ReplayOnlyAsteriskTrunks", "asterisk: {trunks: [carrier, backup]}\n", func(t *testing.T, c *Config) {
			if got := c.Asterisk.Trunks; !reflect.DeepEqual(got, []string{"carrier", "backup"}) {
				t.Errorf("trunks = %q", got)
			}
			if c.Asterisk.URL != "http://127.0.0.1:8088" || c.Asterisk.App != "textback-observer" {
				t.Errorf("asterisk defaults lost: %+v", c.Asterisk)
			}
			if len(c.LineConfigs) != 0 || c.PBX != "" || c.Driver.Type != "" {
				t.Errorf("unexpected lines/pbx/driver: %v %q %q", c.LineConfigs, c.PBX, c.Driver.Type)
			}
		}},
		{"ReplayOnlyFreeSWITCHProfiles", "freeswitch:\n  inbound_profiles: [external, carrier2]\n", func(t *testing.T, c *Config) {
			if got := c.FreeSWITCH.InboundProfiles; !reflect.DeepEqual(got, []string{"external", "carrier2"}) {
				t.Errorf("profiles = %q", got)
			}
		}},
		{"ReplayOnlyBoth", "asterisk: {trunks: [carrier]}\nfreeswitch: {inbound_profiles: [external]}\n", nil},
		{"EmptyProfilesMeanDefault", "freeswitch: {inbound_profiles: []}\n", func(t *testing.T, c *Config) {
			if got := c.FreeSWITCH.InboundProfiles; !reflect.DeepEqual(got, []string{"external"}) {
				t.Errorf("profiles = %q", got)
			}
		}},
		{"EmptySectionsKeepDefaults", "ledger:\nlog:\npolicy:\n  cooldown:\n", func(t *testing.T, c *Config) {
			if c.Ledger.LockTimeout != Duration(2*time.Second) || c.Log.Level != "info" || c.PolicyConfig.Cooldown != Duration(24*time.Hour) {
				t.Errorf("defaults lost: %+v %+v %v", c.Ledger, c.Log, c.PolicyConfig.Cooldown)
			}
		}},
		{"PartialNestedSectionKeepsSiblings", "policy:\n  quiet_hours: {action: drop}\n  retry: {attempts: 3}\n", func(t *testing.T, c *Config) {
			p, _ := c.Policy()
			if p.Quiet != ledger.QuietDrop || p.QuietStart != 21*60 || p.QuietEnd != 8*60 {
				t.Errorf("quiet = %v %d %d", p.Quiet, p.QuietStart, p.QuietEnd)
			}
			if p.MaxAttempts != 3 || p.RetryBase != 5*time.Second || p.RetryMax != 5*time.Minute {
				t.Errorf("retry = %v %v %d", p.RetryBase, p.RetryMax, p.MaxAttempts)
			}
		}},
		{"PolicyValues", `
policy:
  cooldown: 12h
  min_ring: 8s
  reasons: [noanswer, Busy, voicemail]
  countries: [us, CA]
  max_per_hour: 10
  max_per_day: 0
  shadow: true
  quiet_hours: {start: "22:30", end: "07:00", action: drop}
  max_delay: 30m
  help_cooldown: 2h30m
  retry: {base: 1s, max: 1m, attempts: 3}
  token_secret: "0123456789abcdef0123"
  token_ttl: 24h
`, func(t *testing.T, c *Config) {
			p, err := c.Policy()
			if err != nil {
				t.Fatal(err)
			}
			want := ledger.Policy{
				Cooldown: 12 * time.Hour, MinRing: 8 * time.Second,
				Reasons:   []ledger.Reason{ledger.ReasonNoAnswer, ledger.ReasonBusy, ledger.ReasonVoicemail},
				Countries: []string{"US", "CA"}, MaxPerHour: 10, MaxPerDay: 0, Shadow: true,
				QuietStart: 22*60 + 30, QuietEnd: 7 * 60, Quiet: ledger.QuietDrop,
				MaxDelay: 30 * time.Minute, HelpCooldown: 150 * time.Minute,
				RetryBase: time.Second, RetryMax: time.Minute, MaxAttempts: 3,
				TokenSecret: []byte("0123456789abcdef0123"), TokenTTL: 24 * time.Hour,
			}
			if !reflect.DeepEqual(p, want) {
				t.Errorf("policy:\n got %+v\nwant %+v", p, want)
			}
		}},
		{"LineValues", `
lines:
  zeta:
    number: +12125550111        # unquoted: YAML reads an int, we keep the text
    business: Zeta
    template: hi
  main:
    number: "+12125550100"
    aliases: ["2125550100", 5550100]
    country: us
    business: Acme Plumbing
    template: "Sorry we missed your call to {{.Business}}."
    after_hours: "Closed."
    help: "Help."
    staff: ["+12125550199"]
    webhook: https://hooks.example/T0/B0/XXXX
    link: "https://acme.example/i/{{.Token}}"
    hours: {tz: America/New_York, mon-fri: ["08:00-17:00"], sat: []}
    keywords: {opt_out: [ARRET], opt_in: [OUI], help: [AIDE]}
    max_per_hour: 5
    max_per_day: 20
policy:
  token_secret: "0123456789abcdef"
`, func(t *testing.T, c *Config) {
			lines, err := c.Lines()
			if err != nil {
				t.Fatal(err)
			}
			if len(lines) != 2 || lines[0].Name != "main" || lines[1].Name != "zeta" {
				t.Fatalf("lines not sorted by name: %+v", lines)
			}
			if lines[1].Number != "+12125550111" {
				t.Errorf("unquoted number = %q", lines[1].Number)
			}
			m := lines[0]
			if m.Hours.Location == nil || m.Hours.Location.String() != "America/New_York" {
				t.Errorf("hours location = %v", m.Hours.Location)
			}
			m.Hours = ledger.Hours{}
			want := ledger.Line{
				Name: "main", Number: "+12125550100", Aliases: []string{"2125550100", "5550100"}, Country: "US",
				Business: "Acme Plumbing", Template: "Sorry we missed your call to {{.Business}}.",
				AfterHours: "Closed.", Help: "Help.", Staff: []string{"+12125550199"},
				Webhook: "https://hooks.example/T0/B0/XXXX", Link: "https://acme.example/i/{{.Token}}",
				Keywords:   ledger.KeywordConfig{OptOut: []string{"ARRET"}, OptIn: []string{"OUI"}, Help: []string{"AIDE"}},
				MaxPerHour: 5, MaxPerDay: 20,
			}
			if !reflect.DeepEqual(m, want) {
				t.Errorf("line:\n got %+v\nwant %+v", m, want)
			}
			h := c.LineConfigs["main"].Hours
			if h.TZ != "America/New_York" || !reflect.DeepEqual(h.Days, map[string][]string{"mon-fri": {"08:00-17:00"}, "sat": {}}) {
				t.Errorf("hours = %+v", h)
			}
		}},
		{"AnchorsAndAliases", `
lines:
  main:
    number: "+12125550100"
    business: &biz Acme
    template: &tpl "Sorry we missed your call to {{.Business}}."
    hours: &hours {tz: UTC, mon-fri: ["08:00-17:00"]}
  annex:
    number: "+12125550101"
    business: *biz
    template: *tpl
    hours: *hours
`, func(t *testing.T, c *Config) {
			a := c.LineConfigs["annex"]
			if a.Business != "Acme" || a.Template != c.LineConfigs["main"].Template || a.Hours.TZ != "UTC" {
				t.Errorf("aliases not followed: %+v", a)
			}
		}},
		{"MergeKey", `
lines:
  main: &main
    number: "+12125550100"
    business: Acme
    template: hi
  annex:
    <<: *main
    number: "+12125550101"
`, func(t *testing.T, c *Config) {
			a := c.LineConfigs["annex"]
			if a.Business != "Acme" || a.Number != "+12125550101" {
				t.Errorf("merge: %+v", a)
			}
		}},
		{"LeadingDocumentMarkerAndComments", "# textback\n---\n# the PBX\npbx: none  # for now\n", func(t *testing.T, c *Config) {
			if c.PBX != "none" {
				t.Errorf("pbx = %q", c.PBX)
			}
		}},
		{"QuietHoursOff", "policy: {quiet_hours: {start: \"00:00\", end: \"00:00\"}}\n", nil},
		{"Zeros", "ledger: {retention: 0s}\npolicy: {cooldown: 0, min_ring: 0s, max_per_hour: 0}\n", func(t *testing.T, c *Config) {
			if c.retention() != 0 || c.PolicyConfig.Cooldown != 0 {
				t.Errorf("zeros: %v %v", c.retention(), c.PolicyConfig.Cooldown)
			}
		}},
		{"OneLine", lineYAML, func(t *testing.T, c *Config) {
			lines, _ := c.Lines()
			if len(lines) != 1 || len(lines[0].Hours.Open) != 0 {
				t.Errorf("lines = %+v", lines)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, tt.src)
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

// badConfigs are configs that must fail, with the line their error names
// (0: none, -1: any) and a part of the message. Messages from package ledger
// (hours, clock times) are its own; only the path is checked.
var badConfigs = []struct {
	name string
	src  string
	line int
	want string
}{
	{"UnknownKeyInPolicy", "pbx: none\npolicy:\n  cooldwon: 1h\n", 3, `unknown key "cooldwon" in policy (did you mean cooldown?)`},
	{"UnknownTopLevelKey", "polcy: {}\n", 1, `unknown key "polcy" (did you mean policy?)`},
	{"UnknownKeyFarFromAnything", "pbx: none\nfrobnicate: 3\n", 2, `unknown key "frobnicate"`},
	{"UnknownKeyInLine", "lines:\n  main:\n    numbr: \"+12125550100\"\n", 3, `unknown key "numbr" in lines.main (did you mean number?)`},
	{"UnknownKeyInNestedSection", "policy:\n  retry:\n    tries: 3\n", 3, `unknown key "tries" in policy.retry`},
	{"UnknownKeyInDriver", "driver:\n  type: console\n  token: x\n", 3, `unknown key "token" in driver`},
	{"UnknownKeyInMerge", "base: &b {x: 1}\n", 1, `unknown key "base"`},
	{"DuplicateTopLevelKey", "pbx: none\nlog: {}\npbx: asterisk\n", 3, `pbx is set twice (first on line 1)`},
	{"DuplicateNestedKey", "policy:\n  cooldown: 1h\n  cooldown: 2h\n", 3, `policy.cooldown is set twice (first on line 2)`},
	{"DuplicateLine", "lines:\n  main: {}\n  main: {}\n", 3, `lines.main is defined twice (first on line 2)`},
	{"DuplicateDay", "lines:\n  main:\n    hours:\n      mon: []\n      mon: []\n", 5, `lines.main.hours.mon is set twice`},
	{"Empty", "", 0, "the file is empty"},
	{"BlankLines", "\n  \n\n", 0, "the file is empty"},
	{"OnlyComments", "# nothing\n# here\n", 0, "no settings, only comments"},
	{"NullDocument", "---\n", 0, "no settings"},
	{"SyntaxError", "pbx: none\npolicy: {cooldown: 1h\n", 2, "invalid YAML: did not find expected ',' or '}'"},
	{"SyntaxErrorBadIndent", "policy:\n  cooldown: 1h\n max_delay: 2h\n", 3, "invalid YAML: did not find expected key"},
	{"TabIndent", "policy:\n\tcooldown: 1h\n", 2, "indented with a tab; YAML indents with spaces only"},
	{"TabIndentAfterKey", "pbx: none\nlog:\n  level: info\n\tformat: json\n", 4, "indented with a tab"},
	{"TopLevelList", "- pbx: none\n", 1, "the top level must be a mapping of keys (state_dir:, pbx:, lines: ...), not a list"},
	{"TopLevelScalar", "textback\n", 1, `the top level must be a mapping of keys (state_dir:, pbx:, lines: ...), not "textback"`},
	{"SyntaxErrorFirstLine", "pbx: a: b\n", 1, "invalid YAML: mapping values are not allowed in this context"},
	{"UnclosedQuote", "pbx: none\nlines:\n  main:\n    number: \"+1\n", 4, "invalid YAML: found unexpected end of stream"},
	{"UnknownAnchor", "pbx: none\nlog: *nope\n", 2, "invalid YAML: unknown anchor 'nope' referenced"},
	{"WrongTag", "pbx: none\nlog: {level: !!int info}\n", 2, "invalid YAML: cannot decode !!str `info` as a !!int"},
	{"ControlCharacter", "pbx: \x01\n", 0, "invalid YAML: control characters are not allowed"},
	{"SelfAlias", "lines: &l\n  main: *l\n", 2, `unknown key "main" in lines.main`},
	{"SelfMerge", "lines:\n  main: &m\n    <<: *m\n", 3, "values nested more than 50 deep"},
	{"SecondDocument", "pbx: none\n---\npbx: asterisk\n", 2, "a second YAML document"},
	{"NonScalarKey", "? [a, b]\n: c\n", 1, "keys are plain words"},
	{"BadDuration", "policy:\n  cooldown: 1d\n", 2, `policy.cooldown: "1d" is not a duration`},
	{"DurationWithoutUnit", "policy:\n  cooldown: 24\n", 2, `policy.cooldown: "24" is not a duration`},
	{"DurationAsList", "ledger:\n  lock_timeout: [2s]\n", 2, `ledger.lock_timeout: want a duration like 90s, 15m or 24h, got a list`},
	{"BadInt", "policy:\n  max_per_hour: lots\n", 2, `policy.max_per_hour: "lots" is not a whole number`},
	{"FloatInt", "policy:\n  max_per_day: 1.5\n", 2, `policy.max_per_day: "1.5" is not a whole number`},
	{"BadBool", "policy:\n  shadow: maybe\n", 2, `policy.shadow: "maybe" is not true or false`},
	{"ScalarForList", "asterisk:\n  trunks: carrier\n", 2, `asterisk.trunks: want a list ([a, b], or lines starting with -), got "carrier"`},
	{"ScalarForSection", "policy: 5\n", 1, `policy: want a mapping (key: value), got "5"`},
	{"MappingForString", "pbx: {type: asterisk}\n", 1, `pbx: want text, got a mapping`},
	{"ListInList", "asterisk:\n  trunks:\n    - [a]\n", 3, `asterisk.trunks[0]: want text, got a list`},
	{"ListForLines", "lines:\n  - main\n", 2, `lines: want a mapping of names to settings, got a list`},
	{"ScalarForHours", "lines:\n  main:\n    hours: 9-5\n", 3, `lines.main.hours: want a mapping of tz and days`},
	{"ScalarForDay", "lines:\n  main:\n    hours: {mon: \"08:00-17:00\"}\n", 3, `lines.main.hours.mon: want a list`},
	{"ListForTZ", "lines:\n  main:\n    hours:\n      tz: [UTC]\n", 4, `lines.main.hours.tz: want a time zone name`},
	{"BadPBX", "pbx: cisco\n", 1, `pbx: "cisco" is not asterisk, freeswitch or none`},
	{"BadDriver", "driver:\n  type: pigeon\n", 2, `driver.type: "pigeon" is not a driver this build has (console, carrier, modem, none)`},
	{"BadLogLevel", "log:\n  level: verbose\n", 2, `log.level: "verbose" is not a log level (trace, debug, info, warn, error)`},
	{"BadLogFormat", "log:\n  format: xml\n", 2, `log.format: "xml" is not a log format (auto, console, json)`},
	{"NegativeLockTimeout", "ledger:\n  lock_timeout: -1s\n", 2, "ledger.lock_timeout: must not be negative"},
	{"NegativeRetention", "ledger:\n  retention: -24h\n", 2, "ledger.retention: must not be negative"},
	{"BadAsteriskURL", "asterisk:\n  url: 127.0.0.1:8088\n", 2, `asterisk.url: "127.0.0.1:8088" is not an http:// or https:// URL`},
	{"CredentialsInURL", "asterisk:\n  url: http://u:p@127.0.0.1:8088\n", 2, "asterisk.url: put the credentials in asterisk.username and asterisk.password"},
	{"EmptyTrunk", "asterisk:\n  trunks: [carrier, \"\"]\n", 2, "asterisk.trunks[1]: empty trunk name"},
	{"BadFreeSWITCHAddress", "freeswitch:\n  address: localhost\n", 2, `freeswitch.address: "localhost" is not HOST:PORT`},
	{"NegativeCooldown", "policy:\n  cooldown: -1h\n", 2, "policy.cooldown: must not be negative"},
	{"ZeroTokenTTL", "policy:\n  token_ttl: 0s\n", 2, "policy.token_ttl: must be more than 0"},
	{"NegativeCap", "policy:\n  max_per_hour: -1\n", 2, "policy.max_per_hour: must not be negative"},
	{"BadReason", "policy:\n  reasons:\n    - noanswer\n    - rang_out\n", 4, `policy.reasons[1]: "rang_out" is not a missed-call reason (noanswer, busy,`},
	{"BadCountry", "policy:\n  countries: [USA]\n", 2, `policy.countries[0]: "USA" is not a two-letter ISO country code`},
	{"BadQuietAction", "policy:\n  quiet_hours:\n    action: queue\n", 3, `policy.quiet_hours.action: "queue" is not hold or drop`},
	{"BadQuietStart", "policy:\n  quiet_hours:\n    start: 9pm\n", 3, `policy.quiet_hours.start: `},
	{"RetryMaxBelowBase", "policy:\n  retry: {base: 1m, max: 10s}\n", 2, "policy.retry.max: 10s is less than policy.retry.base (1m)"},
	{"RetryZeroAttempts", "policy:\n  retry:\n    attempts: 0\n", 3, "policy.retry.attempts: must be at least 1"},
	{"ShortTokenSecret", "policy:\n  token_secret: short\n", 2, "policy.token_secret: too short (5 bytes)"},
	{"BadLineName", "lines:\n  \"main line\":\n    number: \"+12125550100\"\n", 2, `lines.main line: "main line" is not a line name`},
	{"NoNumber", "lines:\n  main:\n    business: Acme\n", 2, "lines.main.number: a number is needed"},
	{"ShortNumber", "lines:\n  main:\n    number: \"555\"\n", 3, `lines.main.number: "555" is not a valid number`},
	{"NumberWithoutPlus", "lines:\n  main:\n    number: 12125550100\n", 3, `lines.main.number: "12125550100" is not a valid number`},
	{"NoBusiness", "lines:\n  main:\n    number: \"+12125550100\"\n    template: hi\n", 2, "lines.main.business: a line needs the business name"},
	{"NoTemplate", "lines:\n  main:\n    number: \"+12125550100\"\n    business: Acme\n", 2, "lines.main.template: a line needs the text to send"},
	{"BadStaff", lineYAML + "    staff:\n      - \"+12125550199\"\n      - \"2125550199\"\n", 9, `lines.main.staff[1]: "2125550199" is not a valid number`},
	{"EmptyAlias", lineYAML + "    aliases: [\"\"]\n", 7, "lines.main.aliases[0]: empty alias"},
	{"BadLineCountry", lineYAML + "    country: USA\n", 7, `lines.main.country: "USA" is not a two-letter`},
	{"BadWebhook", lineYAML + "    webhook: hooks.example/x\n", 7, "lines.main.webhook: not an http:// or https:// URL"},
	{"LinkWithoutToken", lineYAML + "    link: https://acme.example/intake\n", 7, `lines.main.link: "https://acme.example/intake" needs {{.Token}}`},
	{"LinkWithoutSecret", lineYAML + "    link: \"https://acme.example/i/{{.Token}}\"\n", 7, "lines.main.link: an intake link needs policy.token_secret"},
	{"EmptyKeyword", lineYAML + "    keywords: {opt_out: [ARRET, \" \"]}\n", 7, "lines.main.keywords.opt_out[1]: empty keyword"},
	{"NegativeLineCap", lineYAML + "    max_per_day: -5\n", 7, "lines.main.max_per_day: must not be negative"},
	{"BadTimeZone", lineYAML + "    hours:\n      tz: Mars/Olympus_Mons\n", 8, `lines.main.hours.tz: `},
	{"BadDay", lineYAML + "    hours:\n      tz: UTC\n      mon-fri: [\"08:00-17:00\"]\n      satu: [\"09:00-12:00\"]\n", 10, `lines.main.hours.satu: `},
	{"BadInterval", lineYAML + "    hours:\n      mon-fri:\n        - \"8-17\"\n", 8, `lines.main.hours.mon-fri: `},
	{"DayTwice", lineYAML + "    hours:\n      mon-fri: []\n      fri: []\n", 7, `lines.main.hours: `},
	{"BothPasswordAndFile", "asterisk:\n  password: hunter2\n  password_file: /run/secret\n", 3, "asterisk.password_file: asterisk.password is also set; give the secret inline or in a file, not both"},
	{"MissingPasswordFile", "freeswitch:\n  password_file: /etc/textback/esl-password\n", 2, "freeswitch.password_file: cannot read /etc/textback/esl-password: file does not exist"},
	{"RelativePasswordFileMissing", "freeswitch:\n  password_file: esl-password\n", 2, "freeswitch.password_file: cannot read /etc/textback/esl-password"},
	{"MissingTokenSecretFile", "policy:\n  token_secret_file: token\n", 2, "policy.token_secret_file: cannot read /etc/textback/token"},
	{"AliasBomb", aliasBomb(), -1, "the file expands to more than 100000 values"},
}

// aliasBomb is a "billion laughs" document that is a valid config shape:
// each line merges the one before ten times.
func aliasBomb() string {
	var b strings.Builder
	b.WriteString("lines:\n  l0: &l0 {number: \"+12125550100\", business: x, template: y}\n")
	for i := 1; i < 8; i++ {
		fmt.Fprintf(&b, "  l%d: &l%d {<<: [", i, i)
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*l%d", i-1)
		}
		b.WriteString("]}\n")
	}
	return b.String()
}

func TestParseConfig_Bad(t *testing.T) {
	for _, tt := range badConfigs {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseTest(t, tt.src)
			if err == nil {
				t.Fatalf("no error; config %+v", c)
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error is more than one line: %q", msg)
			}
			prefix := "config /etc/textback/test.yaml: "
			if tt.line < 0 {
				prefix = "config /etc/textback/test.yaml line "
			} else if tt.line > 0 {
				prefix = fmt.Sprintf("config /etc/textback/test.yaml line %d: ", tt.line)
			}
			if !strings.HasPrefix(msg, prefix) {
				t.Errorf("error %q\ndoes not start with %q", msg, prefix)
			}
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error %q\ndoes not contain %q", msg, tt.want)
			}
			var ce *configError
			if !errors.As(err, &ce) || ce.Line != tt.line && tt.line >= 0 {
				t.Errorf("error %#v: want a *configError with line %d", err, tt.line)
			}
		})
	}
}

// The brief's own example, word for word.
func TestParseConfig_UnknownKeyMessage(t *testing.T) {
	src := strings.Repeat("\n", 10) + "policy:\n  cooldwon: 24h\n"
	_, err := parseConfig("/etc/textback/textback.yaml", []byte(src), testLoader(nil, nil))
	want := `config /etc/textback/textback.yaml line 12: unknown key "cooldwon" in policy (did you mean cooldown?)`
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
}

func TestLoadConfig_NoFileGivesDefaults(t *testing.T) {
	c, err := LoadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Policy()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p, ledger.DefaultPolicy()) {
		t.Errorf("policy:\n got %+v\nwant %+v", p, ledger.DefaultPolicy())
	}
	if lines, err := c.Lines(); err != nil || len(lines) != 0 {
		t.Errorf("lines = %v, %v", lines, err)
	}
	if got := c.LedgerPath(); got != "/var/lib/textback/textback.db" {
		t.Errorf("LedgerPath = %q", got)
	}
	if c.lockTimeout() != 2*time.Second || c.retention() != 2160*time.Hour {
		t.Errorf("lock timeout %v, retention %v", c.lockTimeout(), c.retention())
	}
	err = c.ValidateForRun()
	if err == nil || !strings.Contains(err.Error(), "lines: run needs at least one line") {
		t.Errorf("ValidateForRun = %v", err)
	}
	if _, err := c.Masked(); err != nil {
		t.Error(err)
	}
}

func TestLoadConfig_Errors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope.yaml")
	_, err := LoadConfig(missing)
	if err == nil || err.Error() != "config "+missing+": "+missing+": no such file or directory" {
		t.Errorf("missing file: %v", err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("pbx: none\nlogg: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = LoadConfig(bad)
	if want := "config " + bad + ` line 2: unknown key "logg" (did you mean log?)`; err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
}

func TestConfig_ValidateForRun(t *testing.T) {
	run := lineYAML + "driver: {type: console}\n"
	tests := []struct {
		name string
		src  string
		want string // "" for valid
	}{
		{"PBXNone", run + "pbx: none\n", ""},
		{"Asterisk", run + "pbx: asterisk\nasterisk: {password: pw, trunks: [carrier]}\n", ""},
		{"FreeSWITCH", run + "pbx: freeswitch\nfreeswitch: {password: ClueCon}\n", ""},
		{"NoLines", "pbx: none\ndriver: {type: console}\n", "lines: run needs at least one line"},
		{"NoPBX", run, "pbx: run needs pbx: asterisk, freeswitch or none"},
		{"NoDriver", lineYAML + "pbx: none\n", "driver.type: run needs a driver"},
		{"DriverNone", lineYAML + "pbx: none\ndriver:\n  type: none\n", "line 9: driver.type: run needs a driver"},
		{"AsteriskNoPassword", run + "pbx: asterisk\nasterisk: {trunks: [carrier]}\n", "asterisk.password: pbx asterisk needs the ARI password"},
		{"AsteriskNoTrunks", run + "pbx: asterisk\nasterisk: {password: pw}\n", "asterisk.trunks: pbx asterisk needs the trunk endpoints"},
		{"AsteriskNoUser", run + "pbx: asterisk\nasterisk: {username: \"\", password: pw, trunks: [c]}\n", "asterisk.username:"},
		{"FreeSWITCHNoPassword", run + "pbx: freeswitch\n", "freeswitch.password: pbx freeswitch needs the event socket password"},
		{"NoStateDir", run + "pbx: none\nstate_dir: \"\"\n", "state_dir: run needs a directory for the ledger"},
		{"NoStateDirButLedgerPath", run + "pbx: none\nstate_dir: \"\"\nledger: {path: /srv/textback.db}\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, tt.src)
			err := c.ValidateForRun()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("ValidateForRun: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("ValidateForRun = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestConfig_LedgerPath(t *testing.T) {
	tests := []struct{ stateDir, path, want string }{
		{"/var/lib/textback", "", "/var/lib/textback/textback.db"},
		{"/var/lib/textback", "other.db", "/var/lib/textback/other.db"},
		{"/var/lib/textback", "/srv/tb/x.db", "/srv/tb/x.db"},
		{"", "", ""},
		{"", "x.db", "x.db"},
		{"state", "", "state/textback.db"},
	}
	for _, tt := range tests {
		c := &Config{StateDir: tt.stateDir, Ledger: LedgerConfig{Path: tt.path}}
		if got := c.LedgerPath(); got != tt.want {
			t.Errorf("state_dir %q path %q: LedgerPath = %q, want %q", tt.stateDir, tt.path, got, tt.want)
		}
	}
}

func TestConfig_SecretFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	abs := write("ari-password", "hunter2\n")
	write("etc/esl-password", "ClueCon2\r\n\n")
	write("creds/token", "0123456789abcdef-from-credentials\n")
	write("creds/ari", "from-credentials\n")
	write("etc/empty", "\n")
	cfgPath := filepath.Join(dir, "etc", "textback.yaml")
	osRead := loader{readFile: readSmallFile}

	t.Run("Inline", func(t *testing.T) {
		c := mustParse(t, "asterisk: {password: inline-pw}\n")
		if c.Asterisk.Password.Reveal() != "inline-pw" {
			t.Errorf("password = %q", c.Asterisk.Password.Reveal())
		}
	})
	t.Run("AbsoluteFileTrimsNewline", func(t *testing.T) {
		l := osRead
		l.getenv = func(string) string { return "" }
		c, err := parseConfig(cfgPath, []byte("asterisk: {password_file: "+abs+"}\n"), l)
		if err != nil {
			t.Fatal(err)
		}
		if c.Asterisk.Password.Reveal() != "hunter2" {
			t.Errorf("password = %q", c.Asterisk.Password.Reveal())
		}
	})
	t.Run("RelativeToConfigDir", func(t *testing.T) {
		l := osRead
		l.getenv = func(string) string { return "" }
		c, err := parseConfig(cfgPath, []byte("freeswitch: {password_file: esl-password}\n"), l)
		if err != nil {
			t.Fatal(err)
		}
		if c.FreeSWITCH.Password.Reveal() != "ClueCon2" {
			t.Errorf("password = %q", c.FreeSWITCH.Password.Reveal())
		}
	})
	t.Run("LoadConfigReadsNextToFile", func(t *testing.T) {
		if err := os.WriteFile(cfgPath, []byte("freeswitch: {password_file: esl-password}\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("CREDENTIALS_DIRECTORY", "")
		c, err := LoadConfig(cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		if c.FreeSWITCH.Password.Reveal() != "ClueCon2" {
			t.Errorf("password = %q", c.FreeSWITCH.Password.Reveal())
		}
	})
	t.Run("SystemdCredentials", func(t *testing.T) {
		l := osRead
		l.getenv = func(k string) string {
			if k == "CREDENTIALS_DIRECTORY" {
				return filepath.Join(dir, "creds")
			}
			return ""
		}
		src := "asterisk: {password_file: ari}\nfreeswitch: {password_file: " + abs + "}\npolicy: {token_secret_file: token}\n"
		c, err := parseConfig(cfgPath, []byte(src), l)
		if err != nil {
			t.Fatal(err)
		}
		if c.Asterisk.Password.Reveal() != "from-credentials" {
			t.Errorf("bare name: password = %q", c.Asterisk.Password.Reveal())
		}
		if c.FreeSWITCH.Password.Reveal() != "hunter2" {
			t.Errorf("path with a slash: password = %q", c.FreeSWITCH.Password.Reveal())
		}
		p, err := c.Policy()
		if err != nil {
			t.Fatal(err)
		}
		if string(p.TokenSecret) != "0123456789abcdef-from-credentials" {
			t.Errorf("token secret = %q", p.TokenSecret)
		}
	})
	t.Run("MissingCredential", func(t *testing.T) {
		l := osRead
		l.getenv = func(k string) string {
			if k == "CREDENTIALS_DIRECTORY" {
				return filepath.Join(dir, "creds")
			}
			return ""
		}
		_, err := parseConfig(cfgPath, []byte("pbx: none\nasterisk:\n  password_file: nope\n"), l)
		want := fmt.Sprintf("config %s line 3: asterisk.password_file: cannot read %s: no such file or directory", cfgPath, filepath.Join(dir, "creds", "nope"))
		if err == nil || err.Error() != want {
			t.Errorf("got  %v\nwant %s", err, want)
		}
	})
	t.Run("EmptyFile", func(t *testing.T) {
		l := osRead
		l.getenv = func(string) string { return "" }
		_, err := parseConfig(cfgPath, []byte("asterisk: {password_file: empty}\n"), l)
		if err == nil || !strings.Contains(err.Error(), "asterisk.password_file: "+filepath.Join(dir, "etc", "empty")+" is empty") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("TooLarge", func(t *testing.T) {
		big := write("big", strings.Repeat("x", maxSecretSize+1))
		l := osRead
		l.getenv = func(string) string { return "" }
		_, err := parseConfig(cfgPath, []byte("asterisk: {password_file: "+big+"}\n"), l)
		if err == nil || !strings.Contains(err.Error(), "larger than") {
			t.Errorf("got %v", err)
		}
	})
}

// Every Secret has a NAME_file sibling, so every secret can stay out of
// the config file.
func TestConfig_EverySecretHasFileKey(t *testing.T) {
	var walk func(t reflect.Type, path string) []string
	walk = func(typ reflect.Type, path string) []string {
		var found []string
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			name := yamlName(f)
			if !f.IsExported() || name == "" {
				continue
			}
			ft := f.Type
			for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Map || ft.Kind() == reflect.Slice {
				ft = ft.Elem()
			}
			switch {
			case ft == secretType:
				found = append(found, join(path, name))
				sib, ok := fieldTypeByYAMLName(typ, name+"_file")
				if !ok || sib.Kind() != reflect.String {
					t.Errorf("%s is a Secret without a string %s_file sibling", join(path, name), name)
				}
				if f.Type.Kind() != reflect.String {
					t.Errorf("%s: a Secret must be a direct field", join(path, name))
				}
			case ft.Kind() == reflect.Struct && ft != hoursType:
				if f.Type.Kind() == reflect.Map || f.Type.Kind() == reflect.Slice {
					// readSecrets does not walk maps or lists.
					for _, s := range walk(ft, join(path, name)) {
						t.Errorf("%s: secrets inside maps and lists are not read from files", s)
					}
					continue
				}
				found = append(found, walk(ft, join(path, name))...)
			}
		}
		return found
	}
	got := walk(reflect.TypeOf(Config{}), "")
	if len(got) < 3 {
		t.Errorf("found only the secrets %v", got)
	}
}

func fieldTypeByYAMLName(t reflect.Type, name string) (reflect.Type, bool) {
	for i := 0; i < t.NumField(); i++ {
		if f := t.Field(i); f.IsExported() && yamlName(f) == name {
			return f.Type, true
		}
	}
	return nil, false
}

// setSecrets sets every Secret and SecretURL in v to a distinct value and
// returns the values.
func setSecrets(v reflect.Value, path string) []string {
	var set []string
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return setSecrets(v.Elem(), path)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			set = append(set, setSecrets(v.Field(i), join(path, yamlName(f)))...)
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(v.MapIndex(k))
			set = append(set, setSecrets(e, path+"."+k.String())...)
			v.SetMapIndex(k, e)
		}
	case reflect.String:
		switch v.Type() {
		case secretType:
			s := "s3cret-" + path
			v.SetString(s)
			set = append(set, s)
		case reflect.TypeOf(SecretURL("")):
			s := "https://hooks.example/T0/B0/s3cret-" + path
			v.SetString(s)
			set = append(set, "s3cret-"+path)
		}
	}
	return set
}

func TestConfig_MaskedHidesSecrets(t *testing.T) {
	c := mustParse(t, lineYAML)
	secrets := setSecrets(reflect.ValueOf(c), "")
	if len(secrets) < 4 {
		t.Fatalf("set only %v", secrets)
	}
	out, err := c.Masked()
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	shown := map[string]string{
		"Masked": string(out), "json": string(js),
		"%v": fmt.Sprintf("%v", c), "%+v": fmt.Sprintf("%+v", c), "%#v": fmt.Sprintf("%#v", c),
	}
	for how, s := range shown {
		for _, secret := range secrets {
			if strings.Contains(s, secret) {
				t.Errorf("%s shows the secret %q", how, secret)
			}
		}
	}
	for _, want := range []string{"password: '********'", "token_secret: '********'", "webhook: https://hooks.example/********"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("Masked lacks %q:\n%s", want, out)
		}
	}
}

// Masked is a valid config that reads back to the same effective config.
func TestConfig_MaskedRoundTrip(t *testing.T) {
	c := mustParse(t, lineYAML+`    after_hours: "Closed; {{.Business}}"
    hours: {tz: America/New_York, mon-fri: ["08:00-12:00", "13:00-17:00"], sat: ["09:00-12:00"]}
    keywords: {opt_out: [ARRET]}
pbx: asterisk
asterisk: {password: pw, trunks: [carrier]}
policy: {reasons: [noanswer], min_ring: 1m30s}
`)
	out, err := c.Masked()
	if err != nil {
		t.Fatal(err)
	}
	c2, err := parseTest(t, string(out))
	if err != nil {
		t.Fatalf("Masked does not parse: %v\n%s", err, out)
	}
	out2, err := c2.Masked()
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != string(out2) {
		t.Errorf("round trip differs:\n%s\n----\n%s", out, out2)
	}
	for _, want := range []string{"min_ring: 1m30s", "cooldown: 24h\n", "hours: {tz: America/New_York, mon-fri: ['08:00-12:00', '13:00-17:00'], sat: ['09:00-12:00']}"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("Masked lacks %q:\n%s", want, out)
		}
	}
}

func exampleLoader(t *testing.T) loader {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ari-password"), []byte("example\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return loader{
		getenv: func(k string) string {
			if k == "CREDENTIALS_DIRECTORY" {
				return dir
			}
			return ""
		},
		readFile: readSmallFile,
	}
}

// The shipped example parses, is enough to run, and tells the truth about
// the defaults it shows.
func TestExampleConfig(t *testing.T) {
	c, err := parseConfig("textback.example.yaml", exampleConfig, exampleLoader(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ValidateForRun(); err != nil {
		t.Fatal(err)
	}
	lines, err := c.Lines()
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 1 || lines[0].Name != "main" {
		t.Errorf("lines = %+v", lines)
	}
	p, err := c.Policy()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p, ledger.DefaultPolicy()) {
		t.Errorf("the example's policy is not the default:\n got %+v\nwant %+v", p, ledger.DefaultPolicy())
	}
	d := defaultConfig()
	if c.StateDir != d.StateDir || c.Ledger != d.Ledger || c.Log != d.Log || !reflect.DeepEqual(c.FreeSWITCH, d.FreeSWITCH) {
		t.Errorf("the example's defaults are not the defaults:\n got %v %+v %+v %+v\nwant %v %+v %+v %+v",
			c.StateDir, c.Ledger, c.Log, c.FreeSWITCH, d.StateDir, d.Ledger, d.Log, d.FreeSWITCH)
	}
	if a := c.Asterisk; a.URL != d.Asterisk.URL || a.Username != d.Asterisk.Username || a.App != d.Asterisk.App {
		t.Errorf("the example's asterisk defaults are not the defaults: %+v", a)
	}
	out, err := c.Masked()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "example\n") || !strings.Contains(string(out), "password: '********'") {
		t.Errorf("Masked shows the ARI password:\n%s", out)
	}
}

// Every key textback reads is documented in the example (as a key, or in a
// comment for sections the example leaves out).
func TestExampleConfig_DocumentsEveryKey(t *testing.T) {
	var walk func(typ reflect.Type, path string)
	walk = func(typ reflect.Type, path string) {
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			name := yamlName(f)
			if !f.IsExported() || name == "" {
				continue
			}
			p := join(path, name)
			if !regexp.MustCompile(`(?m)^[ #]*` + regexp.QuoteMeta(name) + `:`).Match(exampleConfig) {
				t.Errorf("textback.example.yaml does not document %s", p)
			}
			ft := f.Type
			for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Map {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && ft != hoursType {
				walk(ft, p)
			}
		}
	}
	walk(reflect.TypeOf(Config{}), "")
}

func TestDuration_Format(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 90 * time.Second: "1m30s", 24 * time.Hour: "24h", 2160 * time.Hour: "2160h",
		2*time.Hour + 30*time.Minute: "2h30m", 5 * time.Minute: "5m", 1500 * time.Millisecond: "1.5s",
		time.Hour + time.Second: "1h0m1s",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestConfig_LoggerAndNumberFormatter(t *testing.T) {
	c := mustParse(t, "log: {format: json, level: warn, mask_numbers: true}\n")
	var out strings.Builder
	log, err := c.logger(&env{stdout: &out, getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	show := c.numberFormatter()
	log.Info().Msg("dropped")
	log.Warn().Str("from", show("+15557654321")).Msg("kept")
	var rec map[string]any
	if err := json.Unmarshal([]byte(out.String()), &rec); err != nil {
		t.Fatalf("%v: %q", err, out.String())
	}
	if rec["message"] != "kept" || rec["from"] != "+1555…4321" {
		t.Errorf("record = %v", rec)
	}
	var f func(string) string = NumberFormatter(nil) // assignable to ledger.Options.ShowNumber
	_ = f
}

func FuzzParseConfig(f *testing.F) {
	f.Add(exampleConfig)
	f.Add([]byte(lineYAML))
	for _, tt := range badConfigs {
		if tt.name != "AliasBomb" {
			f.Add([]byte(tt.src))
		}
	}
	l := testLoader(nil, nil)
	l.readFile = func(string) ([]byte, error) { return []byte("from-a-file\n"), nil }
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parseConfig("fuzz.yaml", data, l)
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "config fuzz.yaml") || len(msg) <= len("config fuzz.yaml: ") || strings.Contains(msg, "\n") {
				t.Fatalf("bad error %q", msg)
			}
			return
		}
		out, err := c.Masked()
		if err != nil {
			t.Fatalf("Masked: %v", err)
		}
		if strings.Contains(string(out), "from-a-file") {
			t.Fatalf("Masked shows a secret:\n%s", out)
		}
		_ = c.ValidateForRun()
		_ = c.LedgerPath()
	})
}
