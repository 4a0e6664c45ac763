package main

// The config file: /etc/textback/textback.yaml. textback.example.yaml
// documents every key; a test parses it so it cannot rot.
//
// Parsing is strict, in the manner of corerad: an unknown key, a key given
// twice, a value of the wrong shape or an invalid value is an error naming
// the file, the line and the key's path. Errors are one line each, because
// admins read them in `journalctl -u textback` or after `textback check`.

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/textback/textback/ledger"
	"github.com/textback/textback/sms/carrier"
	"github.com/textback/textback/sms/modem"
	"go.yaml.in/yaml/v3"
)

// exampleConfig is the shipped, commented reference config.
//
//go:embed textback.example.yaml
var exampleConfig []byte

// Config is the parsed config file. Build it with LoadConfig or
// ParseConfig, which apply the defaults, read the secrets and validate;
// a Config from them is valid for replay, demo and the admin commands.
// ValidateForRun adds what the daemon needs.
//
// Adding a driver: give DriverConfig a pointer field for its section
// (`Twilio *TwilioConfig yaml:"twilio"`), a case in DriverConfig.validate
// and a case in newDriver. A credential is a Secret field with a sibling
// string field tagged NAME_file: reading the file or systemd credential,
// refusing both, and masking in Masked come with the type. Document the
// section in textback.example.yaml (TestExampleConfig_DocumentsEveryKey).
type Config struct {
	// StateDir holds the ledger file (systemd StateDirectory=).
	StateDir   string           `yaml:"state_dir"`
	Ledger     LedgerConfig     `yaml:"ledger"`
	Log        LogConfig        `yaml:"log"`
	PBX        string           `yaml:"pbx"`
	Asterisk   AsteriskConfig   `yaml:"asterisk"`
	FreeSWITCH FreeSWITCHConfig `yaml:"freeswitch"`
	Driver     DriverConfig     `yaml:"driver"`
	HTTP       HTTPConfig       `yaml:"http"`
	Admin      AdminConfig      `yaml:"admin"`
	// PolicyConfig and LineConfigs are the raw sections; Policy and Lines
	// return them in the core's types.
	PolicyConfig PolicyConfig          `yaml:"policy"`
	LineConfigs  map[string]LineConfig `yaml:"lines"`

	file     string         // name errors report; base of relative *_file paths
	keyLines map[string]int // key path ("policy.cooldown") → its line in file
}

// LedgerConfig is the ledger file.
type LedgerConfig struct {
	// Path overrides state_dir/textback.db; relative to state_dir.
	Path        string   `yaml:"path"`
	LockTimeout Duration `yaml:"lock_timeout"`
	// Retention is how long call and message bodies are kept; consent
	// history is kept forever. 0 keeps everything.
	Retention Duration `yaml:"retention"`
	// Backup is the daemon's own copies of the ledger (`ledger backup`
	// makes one by hand, through the daemon while it runs).
	Backup BackupConfig `yaml:"backup"`
}

// BackupConfig: every Every, the running daemon writes a consistent copy
// of the ledger into Dir (relative to state_dir) and keeps the newest Keep.
type BackupConfig struct {
	Every Duration `yaml:"every"`
	Keep  int      `yaml:"keep"`
	Dir   string   `yaml:"dir"`
}

// LogConfig is the logger (see NewLogger).
type LogConfig struct {
	Level       string `yaml:"level"`
	Format      string `yaml:"format"`
	MaskNumbers bool   `yaml:"mask_numbers"`
}

// AsteriskConfig is the ARI connection and what counts as inbound.
type AsteriskConfig struct {
	URL          string   `yaml:"url"`
	Username     string   `yaml:"username"`
	Password     Secret   `yaml:"password"`
	PasswordFile string   `yaml:"password_file"`
	App          string   `yaml:"app"`
	Trunks       []string `yaml:"trunks"`
}

// FreeSWITCHConfig is the event socket connection and what counts as
// inbound.
type FreeSWITCHConfig struct {
	Address         string   `yaml:"address"`
	Password        Secret   `yaml:"password"`
	PasswordFile    string   `yaml:"password_file"`
	InboundProfiles []string `yaml:"inbound_profiles"`
	LineVariable    string   `yaml:"line_variable"`
}

// DriverConfig chooses the driver texts go out through. Each driver with
// settings adds its own section here, named like its type.
type DriverConfig struct {
	Type string `yaml:"type"`
	// Carrier is the HTTP carrier driver's section (type carrier): the
	// files in contrib/carrier. Its secrets may be given as NAME_file.
	Carrier *CarrierConfig `yaml:"carrier"`
	// Modem is the USB GSM modem's section (type modem). Its pin may be
	// given as pin_file.
	Modem *ModemConfig `yaml:"modem"`
}

// ModemConfig is sms/modem's config as a section of textback's. It prints
// with the PIN masked.
type ModemConfig struct {
	modem.Config `yaml:",inline"`
}

// MarshalYAML prints the section with the PIN masked.
func (c ModemConfig) MarshalYAML() (any, error) { return c.Config.Masked(), nil }

// HTTPConfig is the listener carriers' webhooks come to (replies and
// delivery reports), under /carrier/, and the intake page, under /i/.
// Keep it on loopback behind a TLS reverse proxy (contrib/proxy).
type HTTPConfig struct {
	Listen string `yaml:"listen"`
}

// defaultListen is where the webhook listener binds by default.
const defaultListen = "127.0.0.1:8380"

// AdminConfig is the admin listener: /metrics, /healthz, /readyz,
// /status (textback status), /admin/ (the admin commands), and the
// operator inbox (/inbox/, which has its own login). The rest has no
// authentication, so it binds to loopback unless AllowRemote says
// otherwise.
type AdminConfig struct {
	Listen      string `yaml:"listen"`
	AllowRemote bool   `yaml:"allow_remote"`
}

// defaultAdminListen is where the admin listener binds by default.
const defaultAdminListen = "127.0.0.1:8381"

// CarrierConfig is sms/carrier's config as a section of textback's. It
// prints with its secrets masked.
type CarrierConfig struct {
	carrier.Config `yaml:",inline"`
}

// MarshalYAML prints the section with its secrets masked.
func (c CarrierConfig) MarshalYAML() (any, error) { return c.Config.Masked(), nil }

// drivers are the driver types this build knows; "none" sends nothing.
var drivers = []string{"console", "carrier", "modem", "none"}

// PolicyConfig is the policy section; Config.Policy turns it into a
// ledger.Policy.
type PolicyConfig struct {
	Cooldown        Duration         `yaml:"cooldown"`
	MinRing         Duration         `yaml:"min_ring"`
	Reasons         []string         `yaml:"reasons"`
	Countries       []string         `yaml:"countries"`
	MaxPerHour      int              `yaml:"max_per_hour"`
	MaxPerDay       int              `yaml:"max_per_day"`
	Shadow          bool             `yaml:"shadow"`
	QuietHours      QuietHoursConfig `yaml:"quiet_hours"`
	MaxDelay        Duration         `yaml:"max_delay"`
	HelpCooldown    Duration         `yaml:"help_cooldown"`
	Retry           RetryConfig      `yaml:"retry"`
	TokenSecret     Secret           `yaml:"token_secret"`
	TokenSecretFile string           `yaml:"token_secret_file"`
	TokenTTL        Duration         `yaml:"token_ttl"`
}

// QuietHoursConfig bounds the hours no delayed text goes out in.
type QuietHoursConfig struct {
	Start  string `yaml:"start"`
	End    string `yaml:"end"`
	Action string `yaml:"action"`
}

// RetryConfig governs temporary send failures.
type RetryConfig struct {
	Base     Duration `yaml:"base"`
	Max      Duration `yaml:"max"`
	Attempts int      `yaml:"attempts"`
}

// LineConfig is one entry of lines; Config.Lines turns it into a
// ledger.Line.
type LineConfig struct {
	Number     string         `yaml:"number"`
	Aliases    []string       `yaml:"aliases"`
	Country    string         `yaml:"country"`
	Business   string         `yaml:"business"`
	Template   string         `yaml:"template"`
	AfterHours string         `yaml:"after_hours"`
	Help       string         `yaml:"help"`
	Staff      []string       `yaml:"staff"`
	Webhook    SecretURL      `yaml:"webhook"`
	Link       string         `yaml:"link"`
	Hours      HoursConfig    `yaml:"hours"`
	Keywords   KeywordsConfig `yaml:"keywords"`
	MaxPerHour int            `yaml:"max_per_hour"`
	MaxPerDay  int            `yaml:"max_per_day"`
	// Intake is the look and the questions of the line's intake page
	// (intakeconfig.go); the page is served when Link is set.
	Intake *IntakeConfig `yaml:"intake"`
}

// KeywordsConfig lists a line's extra keywords.
type KeywordsConfig struct {
	OptOut []string `yaml:"opt_out"`
	OptIn  []string `yaml:"opt_in"`
	Help   []string `yaml:"help"`
}

// HoursConfig is a line's business hours: a time zone under "tz" and, under
// any other key, a day or day range ("mon-fri", "sat") with its open
// intervals. ledger.ParseHours reads the days.
type HoursConfig struct {
	TZ   string
	Days map[string][]string
	// order is the order the days were written in, for Masked.
	order []string
}

// Secret is a password, token or key. It never prints: String, GoString,
// MarshalText and MarshalYAML give "********" (empty when unset), so a
// Config can be logged or shown. Reveal returns the value.
type Secret string

const masked = "********"

// Reveal returns the secret itself.
func (s Secret) Reveal() string { return string(s) }

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return masked
}

// GoString masks %#v too.
func (s Secret) GoString() string { return strconv.Quote(s.String()) }

// MarshalText masks JSON and any text encoding.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// MarshalYAML masks the secret in Masked.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// SecretURL is a URL that may carry a credential in its path or query (a
// Slack or Teams webhook). It shows as scheme://host/********.
type SecretURL string

func (u SecretURL) String() string {
	if u == "" {
		return ""
	}
	p, err := url.Parse(string(u))
	if err != nil || p.Scheme == "" || p.Host == "" {
		return masked
	}
	return p.Scheme + "://" + p.Host + "/" + masked
}

// GoString masks %#v too.
func (u SecretURL) GoString() string { return strconv.Quote(u.String()) }

// MarshalText masks JSON and any text encoding.
func (u SecretURL) MarshalText() ([]byte, error) { return []byte(u.String()), nil }

// MarshalYAML masks the URL in Masked.
func (u SecretURL) MarshalYAML() (any, error) { return u.String(), nil }

// Duration is a time.Duration written in Go syntax ("90s", "24h").
type Duration time.Duration

// UnmarshalYAML reads Go duration syntax.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseDuration(n)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the shortest Go syntax ("24h", not "24h0m0s").
func (d Duration) MarshalYAML() (any, error) { return formatDuration(time.Duration(d)), nil }

func parseDuration(n *yaml.Node) (time.Duration, error) {
	if n.Kind != yaml.ScalarNode {
		return 0, fmt.Errorf("want a duration like 90s, 15m or 24h, got %s", describe(n))
	}
	v, err := time.ParseDuration(strings.TrimSpace(n.Value))
	if err != nil {
		return 0, fmt.Errorf("%s is not a duration (write 90s, 15m, 24h, 2h30m; there is no d)", describe(n))
	}
	return v, nil
}

func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// UnmarshalYAML reads the tz key and the day keys.
func (h *HoursConfig) UnmarshalYAML(n *yaml.Node) error {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("want a mapping of tz and days, got %s", describe(n))
	}
	out := HoursConfig{Days: map[string][]string{}}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key := resolve(n.Content[i]).Value
		if key == "tz" {
			if err := n.Content[i+1].Decode(&out.TZ); err != nil {
				return err
			}
			continue
		}
		var spans []string
		if err := n.Content[i+1].Decode(&spans); err != nil {
			return err
		}
		if _, dup := out.Days[key]; !dup {
			out.order = append(out.order, key)
		}
		out.Days[key] = spans
	}
	*h = out
	return nil
}

// MarshalYAML writes tz first, then the days in the order they were read.
func (h HoursConfig) MarshalYAML() (any, error) {
	n := &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
	str := func(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }
	if h.TZ != "" {
		n.Content = append(n.Content, str("tz"), str(h.TZ))
	}
	for _, d := range h.keys() {
		seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle}
		for _, s := range h.Days[d] {
			seq.Content = append(seq.Content, str(s))
		}
		n.Content = append(n.Content, str(d), seq)
	}
	return n, nil
}

// keys are the day keys in the order they were written (sorted when the
// HoursConfig was not read from YAML).
func (h HoursConfig) keys() []string {
	if len(h.order) == len(h.Days) {
		return h.order
	}
	days := make([]string, 0, len(h.Days))
	for d := range h.Days {
		days = append(days, d)
	}
	sort.Strings(days)
	return days
}

// defaultConfig is the config when the file says nothing: every default in
// one place. The policy defaults come from ledger.DefaultPolicy.
func defaultConfig() *Config {
	p := ledger.DefaultPolicy()
	return &Config{
		StateDir: "/var/lib/textback",
		Ledger: LedgerConfig{LockTimeout: Duration(2 * time.Second), Retention: Duration(90 * 24 * time.Hour),
			Backup: BackupConfig{Every: Duration(24 * time.Hour), Keep: 7, Dir: "backups"}},
		Log:      LogConfig{Level: "info", Format: "auto"},
		HTTP:     HTTPConfig{Listen: defaultListen},
		Admin:    AdminConfig{Listen: defaultAdminListen},
		Asterisk: AsteriskConfig{URL: "http://127.0.0.1:8088", Username: "textback", App: "textback-observer"},
		FreeSWITCH: FreeSWITCHConfig{
			Address:         "127.0.0.1:8021",
			InboundProfiles: []string{"external"},
		},
		PolicyConfig: PolicyConfig{
			Cooldown:     Duration(p.Cooldown),
			MinRing:      Duration(p.MinRing),
			MaxPerHour:   p.MaxPerHour,
			MaxPerDay:    p.MaxPerDay,
			Shadow:       p.Shadow,
			QuietHours:   QuietHoursConfig{Start: formatClock(p.QuietStart), End: formatClock(p.QuietEnd), Action: string(p.Quiet)},
			MaxDelay:     Duration(p.MaxDelay),
			HelpCooldown: Duration(p.HelpCooldown),
			Retry:        RetryConfig{Base: Duration(p.RetryBase), Max: Duration(p.RetryMax), Attempts: p.MaxAttempts},
			TokenTTL:     Duration(p.TokenTTL),
		},
		keyLines: map[string]int{},
	}
}

func formatClock(min int) string { return fmt.Sprintf("%02d:%02d", min/60, min%60) }

// LoadConfig reads and parses the config file at path. An empty path gives
// the built-in defaults (for demo and replay). Secrets are read from their
// files and $CREDENTIALS_DIRECTORY.
func LoadConfig(path string) (*Config, error) {
	return loadConfig(path, osLoader())
}

// ParseConfig parses a config file's contents; name is what errors call
// it and the directory relative *_file paths are read from.
func ParseConfig(name string, data []byte) (*Config, error) {
	return parseConfig(name, data, osLoader())
}

// loader is what parsing needs from the process, injectable for tests.
type loader struct {
	getenv   func(string) string
	readFile func(string) ([]byte, error)
}

func osLoader() loader { return loader{getenv: os.Getenv, readFile: readSmallFile} }

const maxConfigSize = 1 << 20

func loadConfig(path string, l loader) (*Config, error) {
	if path == "" {
		c := defaultConfig()
		if err := c.finish(l); err != nil {
			return nil, err
		}
		return c, nil
	}
	data, err := readSmallFileLimit(path, maxConfigSize)
	if err != nil {
		return nil, &configError{File: path, Msg: pathErrorText(err)}
	}
	return parseConfig(path, data, l)
}

// parseConfig: check the YAML against the Config type (unknown keys,
// duplicates, shapes, with lines), decode it over the defaults, read the
// secrets, validate the values.
func parseConfig(name string, data []byte, l loader) (*Config, error) {
	doc, err := parseDocument(name, data)
	if err != nil {
		return nil, err
	}
	c := defaultConfig()
	c.file = name
	// Sections that are other packages' configs take NAME_file secrets
	// by rewriting the document before it is checked and decoded.
	if d := mappingValue(doc, "driver"); d != nil {
		for _, section := range []string{"carrier", "modem"} {
			sn := mappingValue(d, section)
			if sn == nil {
				continue
			}
			if err := c.readFileKeys(l, sn, "driver."+section); err != nil {
				return nil, err
			}
			if data, err = yaml.Marshal(doc); err != nil {
				return nil, fmt.Errorf("config %s: %w", name, err)
			}
		}
	}
	k := &checker{file: name, lines: c.keyLines, budget: maxNodes}
	if err := k.check(doc, reflect.TypeOf(c).Elem(), ""); err != nil {
		return nil, err
	}
	// The checker has vetted every key and value; the decoder fills the
	// struct, and with KnownFields it is a second line of defence.
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		return nil, yamlError(name, data, err)
	}
	if err := c.finish(l); err != nil {
		return nil, err
	}
	return c, nil
}

// finish reads the secrets, fills derived defaults and validates.
func (c *Config) finish(l loader) error {
	if c.keyLines == nil {
		c.keyLines = map[string]int{}
	}
	if err := c.readSecrets(l, reflect.ValueOf(c).Elem(), ""); err != nil {
		return err
	}
	if len(c.FreeSWITCH.InboundProfiles) == 0 {
		c.FreeSWITCH.InboundProfiles = []string{"external"}
	}
	if c.Admin.Listen == "" {
		c.Admin.Listen = defaultAdminListen
	}
	if err := c.validate(); err != nil {
		return err
	}
	// Policy and Lines convert and also check (clock times, hours, reasons):
	// run them now so their errors come at load, with line numbers.
	if _, err := c.Policy(); err != nil {
		return err
	}
	if _, err := c.Lines(); err != nil {
		return err
	}
	return nil
}

// mappingValue is the value of key in the mapping n, or nil.
func mappingValue(n *yaml.Node, key string) *yaml.Node {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return resolve(n.Content[i+1])
		}
	}
	return nil
}

// parseDocument parses data into the top-level mapping node, turning the
// ways a file can fail to be one into clear errors.
func parseDocument(name string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, syntaxError(name, data, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 || isNull(doc.Content[0]) {
		if len(bytes.TrimSpace(data)) == 0 {
			return nil, &configError{File: name, Msg: "the file is empty; textback.example.yaml shows the settings"}
		}
		return nil, &configError{File: name, Msg: "the file has no settings, only comments"}
	}
	var next yaml.Node
	if err := dec.Decode(&next); err == nil {
		return nil, &configError{File: name, Line: next.Line, Msg: "a second YAML document (after ---); textback reads one document"}
	} else if !errors.Is(err, io.EOF) {
		return nil, syntaxError(name, data, err)
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return nil, &configError{File: name, Line: top.Line, Msg: fmt.Sprintf("the top level must be a mapping of keys (state_dir:, pbx:, lines: ...), not %s", describe(top))}
	}
	return top, nil
}

var yamlLineError = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError turns a YAML parser error into one line with the line number,
// and says "tab" when a tab in the indentation is the cause.
func syntaxError(name string, data []byte, err error) error {
	msg := oneLine(err.Error())
	line := 0
	if m := yamlLineError.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	// yaml.v3 numbers lines from 1 in scanner errors but from 0 in parser
	// errors, leaves out line 0 (of either), and gives no line for errors
	// about bytes or about anchors and tags.
	switch {
	case composerProblem.MatchString(msg):
		return &configError{File: name, Line: locate(data, msg), Msg: "invalid YAML: " + msg}
	case readerProblem(msg):
		return &configError{File: name, Msg: "invalid YAML: " + msg}
	case parserProblems[msg]:
		line++
	case line == 0:
		line = 1
	}
	// A tab in the indentation makes the scanner or the parser give up
	// where it is, or a line later.
	for i, l := range strings.Split(string(data), "\n") {
		if i+1 > line+1 {
			break
		}
		indent := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
		if strings.Contains(indent, "\t") && strings.TrimSpace(l) != "" {
			return &configError{File: name, Line: i + 1, Msg: "indented with a tab; YAML indents with spaces only"}
		}
	}
	return &configError{File: name, Line: line, Msg: "invalid YAML: " + msg}
}

// parserProblems are the messages of yaml.v3's parser (parserc.go), whose
// line numbers count from 0.
var parserProblems = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected <stream-start>":   true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found duplicate %TAG directive":         true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

// readerProblem reports a yaml.v3 error about the bytes (encoding, control
// characters), which has no line.
func readerProblem(msg string) bool {
	for _, p := range []string{"UTF-8", "Unicode", "control characters", "input error", "UTF-16"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// composerProblem matches yaml.v3's errors about anchors, aliases and tags,
// which come without a line.
var composerProblem = regexp.MustCompile(`^(unknown anchor|anchor '|document contains excessive aliasing|cannot decode|!!binary|map merge requires|invalid map key|invalid array|attempted to go past)`)

var (
	anchorName = regexp.MustCompile(`anchor '([^']*)'`)
	tagName    = regexp.MustCompile(`as a (!!\w+)`)
)

// locate finds the line an anchor or tag error is about: the first use of
// the anchor or tag it names.
func locate(data []byte, msg string) int {
	var token string
	switch {
	case strings.HasPrefix(msg, "unknown anchor"):
		if m := anchorName.FindStringSubmatch(msg); m != nil {
			token = "*" + m[1]
		}
	case strings.HasPrefix(msg, "anchor '"):
		if m := anchorName.FindStringSubmatch(msg); m != nil {
			token = "&" + m[1]
		}
	case strings.HasPrefix(msg, "cannot decode"):
		if m := tagName.FindStringSubmatch(msg); m != nil {
			token = m[1]
		}
	case strings.HasPrefix(msg, "!!binary"):
		token = "!!binary"
	}
	if token == "" {
		return 0
	}
	for i, l := range strings.Split(string(data), "\n") {
		if strings.Contains(l, token) {
			return i + 1
		}
	}
	return 0
}

var yamlErrorLine = regexp.MustCompile(`^line (\d+): (.*)$`)

// yamlError turns a decoding error into one line.
func yamlError(name string, data []byte, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg := te.Errors[0]
		if m := yamlErrorLine.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			return &configError{File: name, Line: line, Msg: oneLine(m[2])}
		}
		return &configError{File: name, Msg: oneLine(msg)}
	}
	return syntaxError(name, data, err)
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// configError is an error in the config file. It prints as
// `config FILE line N: MESSAGE`.
type configError struct {
	File string
	Line int
	Msg  string
}

func (e *configError) Error() string {
	var b strings.Builder
	b.WriteString("config")
	if e.File != "" {
		b.WriteString(" " + e.File)
	}
	if e.Line > 0 {
		b.WriteString(" line " + strconv.Itoa(e.Line))
	}
	b.WriteString(": " + e.Msg)
	return b.String()
}

// fieldErr is an error about the value at path; the message starts with
// the path.
func (c *Config) fieldErr(path, format string, a ...any) error {
	return &configError{File: c.file, Line: c.lineOf(path), Msg: path + ": " + fmt.Sprintf(format, a...)}
}

// lineOf is the line path was written on, or its nearest written parent's.
func (c *Config) lineOf(path string) int {
	for path != "" {
		if l, ok := c.keyLines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

// ---- the checker ----------------------------------------------------------

// maxNodes bounds the nodes the checker visits, aliases expanded, and
// maxDepth their nesting, merges included.
const (
	maxNodes = 100000
	maxDepth = 50
)

var (
	durationType = reflect.TypeOf(Duration(0))
	hoursType    = reflect.TypeOf(HoursConfig{})
)

// checker walks a YAML node tree against a Go type: every key must be a
// field, no key twice, every value of the field's shape. It records the
// line of every key for later errors.
type checker struct {
	file   string
	lines  map[string]int
	budget int // nodes left to visit
	depth  int
}

func (k *checker) errorf(line int, format string, a ...any) error {
	return &configError{File: k.file, Line: line, Msg: fmt.Sprintf(format, a...)}
}

// enter counts a visit and a level of nesting; leave undoes the nesting.
func (k *checker) enter(n *yaml.Node) error {
	k.depth++
	if k.budget--; k.budget < 0 {
		return k.errorf(n.Line, "the file expands to more than %d values (anchors and aliases); simplify it", maxNodes)
	}
	if k.depth > maxDepth {
		return k.errorf(n.Line, "values nested more than %d deep (anchors and aliases); simplify it", maxDepth)
	}
	return nil
}

func (k *checker) leave() { k.depth-- }

func (k *checker) check(n *yaml.Node, t reflect.Type, path string) error {
	defer k.leave()
	if err := k.enter(n); err != nil {
		return err
	}
	n = resolve(n)
	if isNull(n) {
		return nil // an empty value keeps the default
	}
	switch t {
	case stdDurationType:
		var d time.Duration
		if n.Kind != yaml.ScalarNode || n.Decode(&d) != nil {
			return k.errorf(n.Line, "%s: %s is not a duration (like 15s, 5m or 2h)", path, describe(n))
		}
		return nil
	case durationType:
		if _, err := parseDuration(n); err != nil {
			return k.errorf(n.Line, "%s: %v", path, err)
		}
		return nil
	case hoursType:
		return k.checkHours(n, path)
	}
	switch t.Kind() {
	case reflect.Pointer:
		return k.check(n, t.Elem(), path)
	case reflect.Struct:
		return k.checkStruct(n, t, path)
	case reflect.Map:
		return k.checkMap(n, t, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return k.errorf(n.Line, "%s: want a list ([a, b], or lines starting with -), got %s", path, describe(n))
		}
		for i, e := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			k.lines[p] = e.Line
			if err := k.check(e, t.Elem(), p); err != nil {
				return err
			}
		}
		return nil
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			return k.errorf(n.Line, "%s: want text, got %s", path, describe(n))
		}
		return nil
	case reflect.Int:
		var v int
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&v) != nil {
			return k.errorf(n.Line, "%s: %s is not a whole number", path, describe(n))
		}
		return nil
	case reflect.Bool:
		var v bool
		if n.Kind != yaml.ScalarNode || n.Decode(&v) != nil {
			return k.errorf(n.Line, "%s: %s is not true or false", path, describe(n))
		}
		return nil
	}
	return k.errorf(n.Line, "%s: internal error: no check for %s", path, t)
}

func (k *checker) checkStruct(n *yaml.Node, t reflect.Type, path string) error {
	if n.Kind != yaml.MappingNode {
		return k.errorf(n.Line, "%s: want a mapping (key: value), got %s", path, describe(n))
	}
	fields := map[string]reflect.StructField{}
	var collect func(t reflect.Type)
	collect = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			switch {
			case !f.IsExported():
			case isInline(f) && f.Type.Kind() == reflect.Struct:
				collect(f.Type) // its keys are this mapping's
			case yamlName(f) != "":
				fields[yamlName(f)] = f
			}
		}
	}
	collect(t)
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := resolve(n.Content[i]), n.Content[i+1]
		if kn.Kind != yaml.ScalarNode {
			return k.errorf(kn.Line, "a key%s is %s; keys are plain words", inPath(path), describe(kn))
		}
		key := kn.Value
		if key == "<<" && kn.ShortTag() == "!!merge" {
			if err := k.checkMerge(vn, t, path); err != nil {
				return err
			}
			continue
		}
		if first, dup := seen[key]; dup {
			return k.errorf(kn.Line, "%s is set twice (first on line %d)", join(path, key), first)
		}
		seen[key] = kn.Line
		f, ok := fields[key]
		if !ok {
			return k.errorf(kn.Line, "unknown key %q%s%s", key, inPath(path), suggest(key, fields))
		}
		p := join(path, key)
		k.lines[p] = kn.Line
		if err := k.check(vn, f.Type, p); err != nil {
			return err
		}
	}
	return nil
}

// checkMerge checks the mappings a YAML merge key (<<: *base) brings in.
func (k *checker) checkMerge(n *yaml.Node, t reflect.Type, path string) error {
	defer k.leave()
	if err := k.enter(n); err != nil {
		return err
	}
	n = resolve(n)
	if n.Kind == yaml.SequenceNode {
		for _, m := range n.Content {
			if err := k.checkMerge(m, t, path); err != nil {
				return err
			}
		}
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return k.errorf(n.Line, "%s: a merge (<<) needs a mapping, got %s", path, describe(n))
	}
	return k.checkStruct(n, t, path)
}

func (k *checker) checkMap(n *yaml.Node, t reflect.Type, path string) error {
	if n.Kind != yaml.MappingNode {
		return k.errorf(n.Line, "%s: want a mapping of names to settings, got %s", path, describe(n))
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := resolve(n.Content[i]), n.Content[i+1]
		if kn.Kind != yaml.ScalarNode || kn.ShortTag() == "!!merge" {
			return k.errorf(kn.Line, "%s: a name is %s; names are plain words", path, describe(kn))
		}
		key := kn.Value
		if first, dup := seen[key]; dup {
			return k.errorf(kn.Line, "%s is defined twice (first on line %d)", join(path, key), first)
		}
		seen[key] = kn.Line
		p := join(path, key)
		k.lines[p] = kn.Line
		if err := k.check(vn, t.Elem(), p); err != nil {
			return err
		}
	}
	return nil
}

func (k *checker) checkHours(n *yaml.Node, path string) error {
	if n.Kind != yaml.MappingNode {
		return k.errorf(n.Line, "%s: want a mapping of tz and days ({tz: America/New_York, mon-fri: [\"08:00-17:00\"]}), got %s", path, describe(n))
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := resolve(n.Content[i]), resolve(n.Content[i+1])
		if kn.Kind != yaml.ScalarNode || kn.ShortTag() == "!!merge" {
			return k.errorf(kn.Line, "%s: a key is %s; write tz or a day (mon, mon-fri)", path, describe(kn))
		}
		key := kn.Value
		if first, dup := seen[key]; dup {
			return k.errorf(kn.Line, "%s is set twice (first on line %d)", join(path, key), first)
		}
		seen[key] = kn.Line
		p := join(path, key)
		k.lines[p] = kn.Line
		if key == "tz" {
			if vn.Kind != yaml.ScalarNode {
				return k.errorf(vn.Line, "%s: want a time zone name like America/New_York, got %s", p, describe(vn))
			}
			continue
		}
		if err := k.check(vn, reflect.TypeOf([]string(nil)), p); err != nil {
			return err
		}
	}
	return nil
}

// resolve follows aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names a node's shape for errors.
func describe(n *yaml.Node) string {
	n = resolve(n)
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		v := n.Value
		if r := []rune(v); len(r) > 40 {
			v = string(r[:40]) + "…"
		}
		return strconv.Quote(v)
	}
	return "nothing"
}

// isInline: f's keys are written in its parent's mapping (yaml ",inline").
func isInline(f reflect.StructField) bool {
	_, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return slices.Contains(strings.Split(opts, ","), "inline")
}

var stdDurationType = reflect.TypeOf(time.Duration(0))

func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	return name
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func inPath(path string) string {
	if path == "" {
		return ""
	}
	return " in " + path
}

// suggest proposes the known key closest to a misspelt one.
func suggest(key string, fields map[string]reflect.StructField) string {
	best, bestD := "", 3
	for name := range fields {
		if d := editDistance(strings.ToLower(key), name); d < bestD || d == bestD && best != "" && name < best {
			best, bestD = name, d
		}
	}
	if best == "" {
		return ""
	}
	return " (did you mean " + best + "?)"
}

func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// ---- secrets --------------------------------------------------------------

var secretType = reflect.TypeOf(Secret(""))

// readSecrets fills every Secret field whose NAME_file sibling is set,
// walking structs and pointers to structs.
func (c *Config) readSecrets(l loader, v reflect.Value, path string) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := yamlName(f)
		if !f.IsExported() || name == "" {
			continue
		}
		fv := v.Field(i)
		switch {
		case f.Type == secretType:
			file := fieldByYAMLName(v, name+"_file")
			if !file.IsValid() || file.Kind() != reflect.String || file.String() == "" {
				continue
			}
			if fv.String() != "" {
				return c.fieldErr(join(path, name+"_file"), "%s is also set; give the secret inline or in a file, not both", join(path, name))
			}
			s, err := c.readSecret(l, join(path, name+"_file"), file.String())
			if err != nil {
				return err
			}
			fv.SetString(s)
		case f.Type.Kind() == reflect.Struct && f.Type != hoursType:
			if err := c.readSecrets(l, fv, join(path, name)); err != nil {
				return err
			}
		case f.Type.Kind() == reflect.Pointer && f.Type.Elem().Kind() == reflect.Struct && !fv.IsNil():
			if err := c.readSecrets(l, fv.Elem(), join(path, name)); err != nil {
				return err
			}
		}
	}
	return nil
}

// fieldByYAMLName is the field of struct v tagged name, or the zero Value.
func fieldByYAMLName(v reflect.Value, name string) reflect.Value {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		if f := t.Field(i); f.IsExported() && yamlName(f) == name {
			return v.Field(i)
		}
	}
	return reflect.Value{}
}

// maxSecretSize bounds a secret file.
const maxSecretSize = 64 << 10

// readSecret reads a *_file value: a bare name (no slash) is a systemd
// credential when $CREDENTIALS_DIRECTORY is set; otherwise a relative path
// is relative to the config file's directory. One trailing newline (or
// several) is trimmed.
func (c *Config) readSecret(l loader, path, name string) (string, error) {
	var full string
	switch dir := l.getenv("CREDENTIALS_DIRECTORY"); {
	case dir != "" && !strings.ContainsRune(name, '/'):
		full = filepath.Join(dir, name)
	case filepath.IsAbs(name):
		full = name
	default:
		full = filepath.Join(filepath.Dir(c.file), name)
	}
	b, err := l.readFile(full)
	if err != nil {
		return "", c.fieldErr(path, "cannot read %s", pathErrorText(err))
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", c.fieldErr(path, "%s is empty", full)
	}
	return s, nil
}

// pathErrorText is "FILE: REASON" for an *fs.PathError, without "open".
func pathErrorText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Path + ": " + pe.Err.Error()
	}
	return err.Error()
}

func readSmallFile(name string) ([]byte, error) { return readSmallFileLimit(name, maxSecretSize) }

func readSmallFileLimit(name string, limit int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	if int64(len(b)) > limit {
		return nil, &fs.PathError{Op: "read", Path: name, Err: fmt.Errorf("larger than %d bytes", limit)}
	}
	return b, nil
}

// ---- validation -----------------------------------------------------------

var (
	lineName   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)
	regionCode = regexp.MustCompile(`^[A-Za-z]{2}$`)
)

// validate checks the values parsing cannot: enumerations, ranges, shapes.
// It requires nothing that only the daemon needs (ValidateForRun).
func (c *Config) validate() error {
	if _, err := parseLevel(c.Log.Level); err != nil {
		return c.fieldErr("log.level", "%v", err)
	}
	if err := checkFormat(c.Log.Format); err != nil {
		return c.fieldErr("log.format", "%v", err)
	}
	if c.Ledger.LockTimeout < 0 {
		return c.fieldErr("ledger.lock_timeout", "must not be negative")
	}
	if c.Ledger.Retention < 0 {
		return c.fieldErr("ledger.retention", "must not be negative (0 keeps everything)")
	}
	if b := c.Ledger.Backup; b.Every < 0 || b.Keep < 0 {
		return c.fieldErr("ledger.backup", "every and keep must not be negative (every: 0 turns backups off)")
	} else if b.Every > 0 && b.Every < Duration(time.Second) {
		return c.fieldErr("ledger.backup.every", "%s is too often; a day (24h) is usual", time.Duration(b.Every))
	}
	switch c.PBX {
	case "", "asterisk", "freeswitch", "none":
	default:
		return c.fieldErr("pbx", "%q is not asterisk, freeswitch or none", c.PBX)
	}
	if err := c.validateAsterisk(); err != nil {
		return err
	}
	if err := c.validateFreeSWITCH(); err != nil {
		return err
	}
	if err := c.Driver.validate(c); err != nil {
		return err
	}
	if err := c.validatePolicy(); err != nil {
		return err
	}
	if err := c.validateAdmin(); err != nil {
		return err
	}
	for _, name := range c.lineNames() {
		if err := c.validateLine(name, c.LineConfigs[name]); err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) validateAsterisk() error {
	a := c.Asterisk
	if a.URL != "" {
		u, err := url.Parse(a.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return c.fieldErr("asterisk.url", "%q is not an http:// or https:// URL (the ARI base, like http://127.0.0.1:8088)", a.URL)
		}
		if u.User != nil {
			return c.fieldErr("asterisk.url", "put the credentials in asterisk.username and asterisk.password, not in the URL")
		}
	}
	for i, t := range a.Trunks {
		if strings.TrimSpace(t) == "" {
			return c.fieldErr(fmt.Sprintf("asterisk.trunks[%d]", i), "empty trunk name")
		}
	}
	return nil
}

func (c *Config) validateFreeSWITCH() error {
	f := c.FreeSWITCH
	if f.Address != "" {
		if _, port, err := net.SplitHostPort(f.Address); err != nil || port == "" {
			return c.fieldErr("freeswitch.address", "%q is not HOST:PORT (like 127.0.0.1:8021)", f.Address)
		}
	}
	for i, p := range f.InboundProfiles {
		if strings.TrimSpace(p) == "" {
			return c.fieldErr(fmt.Sprintf("freeswitch.inbound_profiles[%d]", i), "empty profile name")
		}
	}
	return nil
}

// validate checks the driver section. A driver with settings checks its
// own section here.
func (d DriverConfig) validate(c *Config) error {
	if d.Type != "" && !slices.Contains(drivers, d.Type) {
		return c.fieldErr("driver.type", "%q is not a driver this build has (%s)", d.Type, strings.Join(drivers, ", "))
	}
	switch {
	case d.Type == "carrier" && d.Carrier == nil:
		return c.fieldErr("driver.carrier", "driver type carrier needs a carrier section (examples in contrib/carrier)")
	case d.Type != "carrier" && d.Carrier != nil:
		return c.fieldErr("driver.carrier", "is set but driver.type is %q; say type: carrier to use it", d.Type)
	case d.Carrier != nil:
		if err := d.Carrier.Validate(); err != nil {
			var fe *carrier.FieldError
			if errors.As(err, &fe) {
				return c.fieldErr(join("driver.carrier", fe.Field), "%s", fe.Msg)
			}
			return c.fieldErr("driver.carrier", "%v", err)
		}
	}
	switch {
	case d.Type == "modem" && d.Modem == nil:
		return c.fieldErr("driver.modem", "driver type modem needs a modem section (at least device: /dev/serial/by-id/...)")
	case d.Type != "modem" && d.Modem != nil:
		return c.fieldErr("driver.modem", "is set but driver.type is %q; say type: modem to use it", d.Type)
	case d.Modem != nil:
		if err := d.Modem.Validate(); err != nil {
			var fe *modem.FieldError
			if errors.As(err, &fe) {
				return c.fieldErr(join("driver.modem", fe.Field), "%v", fe.Err)
			}
			return c.fieldErr("driver.modem", "%v", err)
		}
	}
	return nil
}

// readFileKeys replaces, in the mapping n and the mappings below it, each
// key NAME_file by NAME with the secret read from that file (or systemd
// credential), as readSecrets does for Secret fields: sections that are
// another package's config (driver.carrier) get *_file that way.
func (c *Config) readFileKeys(l loader, n *yaml.Node, path string) error {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	keys := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		keys[n.Content[i].Value] = true
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], resolve(n.Content[i+1])
		name, isFile := strings.CutSuffix(kn.Value, "_file")
		if !isFile || vn == nil || vn.Kind != yaml.ScalarNode {
			if err := c.readFileKeys(l, vn, join(path, kn.Value)); err != nil {
				return err
			}
			continue
		}
		if keys[name] {
			return &configError{File: c.file, Line: kn.Line, Msg: fmt.Sprintf("%s is also set; give the secret inline or in a file, not both", join(path, name))}
		}
		c.keyLines[join(path, kn.Value)] = kn.Line
		secret, err := c.readSecret(l, join(path, kn.Value), vn.Value)
		if err != nil {
			return err
		}
		*kn = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: name, Line: kn.Line, Column: kn.Column}
		n.Content[i+1] = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: secret, Style: yaml.DoubleQuotedStyle, Line: vn.Line, Column: vn.Column}
	}
	return nil
}

func (c *Config) validatePolicy() error {
	p := c.PolicyConfig
	for _, d := range []struct {
		path string
		v    Duration
	}{
		{"policy.cooldown", p.Cooldown}, {"policy.min_ring", p.MinRing}, {"policy.max_delay", p.MaxDelay},
		{"policy.help_cooldown", p.HelpCooldown}, {"policy.token_ttl", p.TokenTTL},
	} {
		if d.v < 0 {
			return c.fieldErr(d.path, "must not be negative")
		}
	}
	if p.TokenTTL == 0 {
		return c.fieldErr("policy.token_ttl", "must be more than 0")
	}
	if p.MaxPerHour < 0 {
		return c.fieldErr("policy.max_per_hour", "must not be negative (0 means no cap)")
	}
	if p.MaxPerDay < 0 {
		return c.fieldErr("policy.max_per_day", "must not be negative (0 means no cap)")
	}
	if p.Retry.Base <= 0 {
		return c.fieldErr("policy.retry.base", "must be more than 0")
	}
	if p.Retry.Max < p.Retry.Base {
		return c.fieldErr("policy.retry.max", "%s is less than policy.retry.base (%s)", formatDuration(time.Duration(p.Retry.Max)), formatDuration(time.Duration(p.Retry.Base)))
	}
	if p.Retry.Attempts < 1 {
		return c.fieldErr("policy.retry.attempts", "must be at least 1")
	}
	for i, r := range p.Countries {
		if !regionCode.MatchString(r) {
			return c.fieldErr(fmt.Sprintf("policy.countries[%d]", i), "%q is not a two-letter ISO country code like US", r)
		}
	}
	switch p.QuietHours.Action {
	case string(ledger.QuietHold), string(ledger.QuietDrop):
	default:
		return c.fieldErr("policy.quiet_hours.action", "%q is not hold or drop", p.QuietHours.Action)
	}
	if n := len(p.TokenSecret); n > 0 && n < 16 {
		return c.fieldErr("policy.token_secret", "too short (%d bytes); use at least 16 random bytes (openssl rand -hex 32)", n)
	}
	return nil
}

func (c *Config) validateLine(name string, l LineConfig) error {
	path := "lines." + name
	if !lineName.MatchString(name) {
		return c.fieldErr(path, "%q is not a line name: use letters, digits, - and _", name)
	}
	if err := c.checkNumber(path+".number", l.Number); err != nil {
		return err
	}
	for i, a := range l.Aliases {
		if strings.TrimSpace(a) == "" {
			return c.fieldErr(fmt.Sprintf("%s.aliases[%d]", path, i), "empty alias")
		}
	}
	if l.Country != "" && !regionCode.MatchString(l.Country) {
		return c.fieldErr(path+".country", "%q is not a two-letter ISO country code like US", l.Country)
	}
	if strings.TrimSpace(l.Business) == "" {
		return c.fieldErr(path+".business", "a line needs the business name its texts sign with")
	}
	if strings.TrimSpace(l.Template) == "" {
		return c.fieldErr(path+".template", "a line needs the text to send")
	}
	for i, s := range l.Staff {
		if err := c.checkNumber(fmt.Sprintf("%s.staff[%d]", path, i), s); err != nil {
			return err
		}
	}
	if l.Webhook != "" {
		u, err := url.Parse(string(l.Webhook))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return c.fieldErr(path+".webhook", "not an http:// or https:// URL")
		}
	}
	if l.Link != "" {
		if !strings.Contains(l.Link, "{{.Token}}") {
			return c.fieldErr(path+".link", "%q needs {{.Token}} where the per-call token goes", l.Link)
		}
		if c.PolicyConfig.TokenSecret == "" {
			return c.fieldErr(path+".link", "an intake link needs policy.token_secret (or token_secret_file) to sign its tokens")
		}
	}
	for _, kw := range []struct {
		key   string
		words []string
	}{{"opt_out", l.Keywords.OptOut}, {"opt_in", l.Keywords.OptIn}, {"help", l.Keywords.Help}} {
		for i, w := range kw.words {
			if strings.TrimSpace(w) == "" {
				return c.fieldErr(fmt.Sprintf("%s.keywords.%s[%d]", path, kw.key, i), "empty keyword")
			}
		}
	}
	if err := c.validateIntake(path, l); err != nil {
		return err
	}
	if l.MaxPerHour < 0 {
		return c.fieldErr(path+".max_per_hour", "must not be negative (0 means the global cap only)")
	}
	if l.MaxPerDay < 0 {
		return c.fieldErr(path+".max_per_day", "must not be negative (0 means the global cap only)")
	}
	return nil
}

// checkNumber checks a number's shape; the core checks that it is a real
// number.
func (c *Config) checkNumber(path, n string) error {
	if strings.TrimSpace(n) == "" {
		return c.fieldErr(path, "a number is needed, in E.164 form like +15551000")
	}
	if !strings.HasPrefix(strings.TrimSpace(n), "+") {
		return c.fieldErr(path, "%q is not a valid number: write it in E.164 form, + and the country code, like +15551000", n)
	}
	return nil
}

// ValidateForRun checks what the daemon needs beyond what parsing checks:
// a line, a PBX and its credentials, a driver, and somewhere to keep the
// ledger.
func (c *Config) ValidateForRun() error {
	if len(c.LineConfigs) == 0 {
		return c.fieldErr("lines", "run needs at least one line (the number callers dial); see textback.example.yaml")
	}
	switch c.PBX {
	case "":
		return c.fieldErr("pbx", "run needs pbx: asterisk, freeswitch or none")
	case "asterisk":
		a := c.Asterisk
		if a.URL == "" {
			return c.fieldErr("asterisk.url", "pbx asterisk needs the ARI URL, like http://127.0.0.1:8088")
		}
		if a.Username == "" {
			return c.fieldErr("asterisk.username", "pbx asterisk needs the ARI user (ari.conf)")
		}
		if a.Password == "" {
			return c.fieldErr("asterisk.password", "pbx asterisk needs the ARI password (asterisk.password or asterisk.password_file)")
		}
		if a.App == "" {
			return c.fieldErr("asterisk.app", "pbx asterisk needs an ARI application name no dialplan uses")
		}
		if len(a.Trunks) == 0 {
			return c.fieldErr("asterisk.trunks", "pbx asterisk needs the trunk endpoints inbound calls arrive on (like [carrier])")
		}
	case "freeswitch":
		f := c.FreeSWITCH
		if f.Address == "" {
			return c.fieldErr("freeswitch.address", "pbx freeswitch needs the event socket address, like 127.0.0.1:8021")
		}
		if f.Password == "" {
			return c.fieldErr("freeswitch.password", "pbx freeswitch needs the event socket password (freeswitch.password or freeswitch.password_file)")
		}
	}
	switch c.Driver.Type {
	case "", "none":
		return c.fieldErr("driver.type", "run needs a driver to send texts (console prints them to the log)")
	}
	if c.LedgerPath() == "" {
		return c.fieldErr("state_dir", "run needs a directory for the ledger (like /var/lib/textback), or ledger.path")
	}
	return nil
}

// ---- conversions ----------------------------------------------------------

// Policy returns the policy section in the core's type.
func (c *Config) Policy() (ledger.Policy, error) {
	p := c.PolicyConfig
	out := ledger.DefaultPolicy()
	out.Cooldown = time.Duration(p.Cooldown)
	out.MinRing = time.Duration(p.MinRing)
	out.Reasons = nil
	for i, r := range p.Reasons {
		reason := ledger.Reason(strings.ToLower(strings.TrimSpace(r)))
		if !isMissedReason(reason) {
			return ledger.Policy{}, c.fieldErr(fmt.Sprintf("policy.reasons[%d]", i), "%q is not a missed-call reason (%s)", r, missedReasonList())
		}
		out.Reasons = append(out.Reasons, reason)
	}
	out.Countries = nil
	for _, r := range p.Countries {
		out.Countries = append(out.Countries, strings.ToUpper(r))
	}
	out.MaxPerHour = p.MaxPerHour
	out.MaxPerDay = p.MaxPerDay
	out.Shadow = p.Shadow
	var err error
	if out.QuietStart, err = ledger.ParseClock(p.QuietHours.Start); err != nil {
		return ledger.Policy{}, c.fieldErr("policy.quiet_hours.start", "%v", err)
	}
	if out.QuietEnd, err = ledger.ParseClock(p.QuietHours.End); err != nil {
		return ledger.Policy{}, c.fieldErr("policy.quiet_hours.end", "%v", err)
	}
	out.Quiet = ledger.QuietAction(p.QuietHours.Action)
	out.MaxDelay = time.Duration(p.MaxDelay)
	out.HelpCooldown = time.Duration(p.HelpCooldown)
	out.RetryBase = time.Duration(p.Retry.Base)
	out.RetryMax = time.Duration(p.Retry.Max)
	out.MaxAttempts = p.Retry.Attempts
	out.TokenSecret = nil
	if p.TokenSecret != "" {
		out.TokenSecret = []byte(p.TokenSecret.Reveal())
	}
	out.TokenTTL = time.Duration(p.TokenTTL)
	return out, nil
}

func isMissedReason(r ledger.Reason) bool {
	for _, m := range ledger.MissedReasons {
		if m == r {
			return true
		}
	}
	return false
}

func missedReasonList() string {
	s := make([]string, len(ledger.MissedReasons))
	for i, r := range ledger.MissedReasons {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}

// Lines returns the lines in the core's type, sorted by name.
func (c *Config) Lines() ([]ledger.Line, error) {
	var out []ledger.Line
	for _, name := range c.lineNames() {
		l := c.LineConfigs[name]
		hours, err := c.parseHours("lines."+name+".hours", l.Hours)
		if err != nil {
			return nil, err
		}
		out = append(out, ledger.Line{
			Name:       name,
			Number:     strings.TrimSpace(l.Number),
			Aliases:    clone(l.Aliases),
			Country:    strings.ToUpper(l.Country),
			Business:   l.Business,
			Template:   l.Template,
			AfterHours: l.AfterHours,
			Help:       l.Help,
			Staff:      clone(l.Staff),
			Webhook:    string(l.Webhook),
			Link:       l.Link,
			Hours:      hours,
			Keywords: ledger.KeywordConfig{
				OptOut: clone(l.Keywords.OptOut),
				OptIn:  clone(l.Keywords.OptIn),
				Help:   clone(l.Keywords.Help),
			},
			MaxPerHour: l.MaxPerHour,
			MaxPerDay:  l.MaxPerDay,
		})
	}
	return out, nil
}

// parseHours reads a line's hours, blaming the time zone or the day entry
// at fault when it can, so the error has that entry's line.
func (c *Config) parseHours(path string, h HoursConfig) (ledger.Hours, error) {
	if _, err := ledger.ParseHours(h.TZ, nil); err != nil {
		return ledger.Hours{}, c.fieldErr(path+".tz", "%v", err)
	}
	for _, day := range h.keys() {
		if _, err := ledger.ParseHours(h.TZ, map[string][]string{day: h.Days[day]}); err != nil {
			return ledger.Hours{}, c.fieldErr(path+"."+day, "%v", err)
		}
	}
	hours, err := ledger.ParseHours(h.TZ, h.Days)
	if err != nil {
		return ledger.Hours{}, c.fieldErr(path, "%v", err)
	}
	return hours, nil
}

func clone(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return append([]string(nil), s...)
}

func (c *Config) lineNames() []string {
	names := make([]string, 0, len(c.LineConfigs))
	for name := range c.LineConfigs {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// core returns what ledger.New and Ledger.Reload take.
func (c *Config) core() (ledger.Config, error) {
	policy, err := c.Policy()
	if err != nil {
		return ledger.Config{}, err
	}
	lines, err := c.Lines()
	if err != nil {
		return ledger.Config{}, err
	}
	return ledger.Config{Lines: lines, Policy: policy}, nil
}

// LedgerPath is the ledger file: ledger.path, relative to state_dir, or
// state_dir/textback.db.
func (c *Config) LedgerPath() string {
	switch {
	case c.Ledger.Path == "":
		if c.StateDir == "" {
			return ""
		}
		return filepath.Join(c.StateDir, "textback.db")
	case filepath.IsAbs(c.Ledger.Path) || c.StateDir == "":
		return filepath.Clean(c.Ledger.Path)
	}
	return filepath.Join(c.StateDir, c.Ledger.Path)
}

func (c *Config) lockTimeout() time.Duration { return time.Duration(c.Ledger.LockTimeout) }

func (c *Config) retention() time.Duration { return time.Duration(c.Ledger.Retention) }

// backupDir is where the daemon keeps its ledger backups ("" when off).
func (c *Config) backupDir() string {
	b := c.Ledger.Backup
	switch {
	case b.Every <= 0 || b.Keep <= 0:
		return ""
	case filepath.IsAbs(b.Dir):
		return filepath.Clean(b.Dir)
	case c.StateDir != "":
		return filepath.Join(c.StateDir, b.Dir)
	}
	return filepath.Join(filepath.Dir(c.LedgerPath()), b.Dir)
}

// numberFormatter is how the components show phone numbers in logs.
func (c *Config) numberFormatter() NumberFormatter { return NewNumberFormatter(c.Log.MaskNumbers) }

// logger builds the process logger on e.stdout from the log section.
func (c *Config) logger(e *env) (zerolog.Logger, error) {
	return NewLogger(e.stdout, LogOptions{
		Level:      c.Log.Level,
		Format:     c.Log.Format,
		Getenv:     e.getenv,
		IsTerminal: e.isTerminal,
		Stream:     FileIDOf(e.stdout),
	})
}

// Masked returns the effective config as YAML, every secret replaced by
// ******** (and webhook URLs cut to their host), for textback check.
func (c *Config) Masked() ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return b.Bytes(), nil
}
