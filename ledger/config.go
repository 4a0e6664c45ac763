package ledger

import "time"

// Line is a business number customers call: a DID on the PBX, or the
// modem's SIM. Texts to callers of the line come from its Number.
// cmd/textback fills Lines from the YAML config; the core validates them
// with Config.Validate.
type Line struct {
	// Name is the config key of the line ("main", "plumbing"), used in logs,
	// records and the CLI.
	Name string
	// Number is the line's public number in E.164 form; texts are sent from
	// it and a call is on this line when the PBX's line value normalises to it.
	Number string
	// Aliases are other forms the PBX reports for this line (a bare DID
	// "5551000", an extension the public dialplan transfers to).
	Aliases []string
	// Country is the ISO 3166 region of the line ("US"); numbers without a
	// country code are read in it. Default: derived from Number.
	Country string
	// Business is the name texts sign with.
	Business string
	// Template is the text sent during business hours; AfterHours outside
	// them (default: Template). text/template with fields .Business,
	// .Caller, .Line, .Link, .Time.
	Template   string
	AfterHours string
	// Help is the answer to HELP/INFO (text/template, same fields).
	Help string
	// Staff are numbers that receive replies forwarded by SMS.
	Staff []string
	// Webhook, when set, receives replies as JSON.
	Webhook string
	// Link is an optional intake URL template; {{.Token}} is replaced by
	// a per-call signed token. When set, .Link in templates is the result.
	Link string
	// Hours are the business hours; empty means always open.
	Hours Hours
	// Keywords adds words (other languages, local habits) to the standard
	// ones; the standard ones cannot be removed.
	Keywords KeywordConfig
	// MaxPerHour and MaxPerDay cap texts to callers of this line; 0 means
	// the global caps only.
	MaxPerHour int
	MaxPerDay  int
}

// KeywordConfig lists extra keywords for a line.
type KeywordConfig struct {
	OptOut []string
	OptIn  []string
	Help   []string
}

// Hours are a line's business hours in its time zone.
type Hours struct {
	// Location is the line's time zone; nil means UTC.
	Location *time.Location
	// Open maps each weekday to its open intervals; a weekday with no
	// interval is closed all day. An empty Open means always open.
	Open map[time.Weekday][]Interval
}

// Interval is a span of a day, minutes since midnight, Start < End.
type Interval struct{ Start, End int }

// QuietAction says what happens to a text that, after a delay, would go out
// during quiet hours.
type QuietAction string

const (
	QuietHold QuietAction = "hold" // keep it queued until quiet hours end
	QuietDrop QuietAction = "drop" // drop it, recording why
)

// Policy decides whether and how a missed call is texted. The zero value is
// not useful: start from DefaultPolicy.
type Policy struct {
	// Cooldown is the least time between two texts to one caller on one
	// line (DESIGN invariant 4).
	Cooldown time.Duration
	// MinRing is the least ring time for a missed call to be texted.
	MinRing time.Duration
	// Reasons lists the missed reasons that trigger a text; empty means all.
	Reasons []Reason
	// Countries are the ISO regions callers may be texted in; empty means
	// each line's own country.
	Countries []string
	// MaxPerHour and MaxPerDay cap texts to callers across all lines
	// (anti SMS pumping). 0 means no cap.
	MaxPerHour int
	MaxPerDay  int
	// Shadow runs everything and records "would send" instead of sending.
	Shadow bool
	// QuietStart and QuietEnd bound the quiet hours, minutes since
	// midnight in the line's time zone (default 21:00 to 08:00). A text
	// delayed into them is held or dropped per Quiet.
	QuietStart, QuietEnd int
	Quiet                QuietAction
	// MaxDelay: a callback text not sent within this time of the call is
	// dropped as stale (default 2 h); the conversation has moved on.
	MaxDelay time.Duration
	// HelpCooldown is the least time between two automatic HELP answers
	// to one number on one line (loop guard).
	HelpCooldown time.Duration
	// Retry governs temporary failures.
	RetryBase, RetryMax time.Duration
	MaxAttempts         int
	// TokenSecret signs intake-link tokens; TokenTTL is their lifetime.
	TokenSecret []byte
	TokenTTL    time.Duration
}

// DefaultPolicy returns the policy used when the config says nothing.
func DefaultPolicy() Policy {
	return Policy{
		Cooldown:     24 * time.Hour,
		MaxPerHour:   60,
		MaxPerDay:    500,
		QuietStart:   21 * 60,
		QuietEnd:     8 * 60,
		Quiet:        QuietHold,
		MaxDelay:     2 * time.Hour,
		HelpCooldown: time.Hour,
		RetryBase:    5 * time.Second,
		RetryMax:     5 * time.Minute,
		MaxAttempts:  8,
		TokenTTL:     72 * time.Hour,
	}
}
