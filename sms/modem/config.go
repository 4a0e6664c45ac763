package modem

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Defaults for the zero fields of Config.
const (
	DefaultBaud           = 115200
	DefaultSendTimeout    = 60 * time.Second
	DefaultCommandTimeout = 5 * time.Second
	DefaultMinGap         = 2 * time.Second
	DefaultMaxPerHour     = 60
	DefaultMaxPerDay      = 300
	DefaultHealthInterval = time.Minute
	DefaultMaxBackoff     = time.Minute
	DefaultPartialTimeout = 24 * time.Hour
)

// Config configures a Driver. It is meant to be embedded in textback's YAML
// config (under `modem:`) and decoded strictly; every field has a snake_case
// yaml key. PIN is a secret: Masked hides it, and it is never logged.
type Config struct {
	// Device is the modem's serial port. Prefer the stable
	// /dev/serial/by-id/usb-... path (or the udev symlink from
	// contrib/udev) to /dev/ttyUSB2, whose number changes across replugs.
	Device string `yaml:"device"`
	// Baud is the line speed (default 115200). USB modems ignore it.
	Baud int `yaml:"baud"`
	// PIN is the SIM's PIN, needed only when the SIM asks for one. It is
	// entered at most once: after a rejection the driver stops with an
	// error and never tries again, so that it cannot lock the SIM.
	PIN string `yaml:"pin"`
	// SMSC is the SMS service centre number, when the SIM does not carry
	// the right one (AT+CSCA). Empty keeps the SIM's.
	SMSC string `yaml:"smsc"`
	// SendTimeout bounds one text, all its segments, from the first
	// AT+CMGS to the last +CMGS answer (default 60s; real networks take
	// tens of seconds). A text that times out after its first segment was
	// written is Unknown and is not retried.
	SendTimeout time.Duration `yaml:"send_timeout"`
	// CommandTimeout bounds every other AT command (default 5s).
	CommandTimeout time.Duration `yaml:"command_timeout"`
	// MinGap is the least time between two texts (default 2s). Negative
	// means no gap.
	MinGap time.Duration `yaml:"min_gap"`
	// MaxPerHour and MaxPerDay cap the texts sent in any rolling hour and
	// day (defaults 60 and 300, well under consumer SIM fair-use limits).
	// A text over a cap is Temporary with RetryAfter set. Negative means
	// no cap.
	MaxPerHour int `yaml:"max_per_hour"`
	MaxPerDay  int `yaml:"max_per_day"`
	// HealthInterval is how often an idle modem is checked with AT and its
	// signal and registration refreshed (default 1m).
	HealthInterval time.Duration `yaml:"health_interval"`
	// MaxBackoff caps the wait between attempts to reopen a modem that is
	// unplugged or not answering (default 1m; the first wait is 1s).
	MaxBackoff time.Duration `yaml:"max_backoff"`
	// DeliveryReports (delivery_reports: true, false or absent) asks the
	// network for a report of each text's delivery (TP-SRR) and hands the
	// reports to the Receiver as sms.Status. Unset (the default) means on
	// when the modem can indicate them (AT+CNMI=? lists a ds of 1 or 2, or
	// accepts AT+CNMI with ds 2), off otherwise; false never asks; true
	// asks whenever the modem accepts a ds of 2 or 1, and warns when it
	// accepts neither. Reports are matched to texts in memory: one
	// arriving after a restart of textback is deleted unrecorded.
	DeliveryReports *bool `yaml:"delivery_reports"`
	// PartialTimeout (partial_timeout) is how long a received multipart
	// text waits for its missing parts, counted from the first part this
	// process saw (default 24h). After it the text is handed to the
	// Receiver with "[…]" where parts are missing, a warning is logged, and
	// its stored parts are deleted from the SIM. Until then the parts stay
	// on the SIM: after a restart of textback they are read again and the
	// wait starts again from that read.
	PartialTimeout time.Duration `yaml:"partial_timeout"`
	// Number is the SIM's own number in E.164 form, for status and for the
	// To of received messages. Optional.
	Number string `yaml:"number"`
}

// FieldError is a Config error that names its yaml key.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return "modem." + e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// Validate reports every invalid field, each as a *FieldError, joined.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, a ...any) {
		errs = append(errs, &FieldError{Field: field, Err: fmt.Errorf(format, a...)})
	}
	switch {
	case strings.TrimSpace(c.Device) == "":
		bad("device", "required: the modem's serial port, e.g. /dev/serial/by-id/usb-...-if02-port0")
	case !strings.HasPrefix(c.Device, "/"):
		bad("device", "%q is not an absolute path", c.Device)
	}
	if c.Baud < 0 {
		bad("baud", "%d is negative", c.Baud)
	}
	if c.PIN != "" && !isDigits(c.PIN, 4, 8) {
		bad("pin", "must be 4 to 8 digits") // never echo the PIN
	}
	if c.SMSC != "" && !isE164(c.SMSC) {
		bad("smsc", "%q is not an E.164 number (+ and digits)", c.SMSC)
	}
	if c.Number != "" && !isE164(c.Number) {
		bad("number", "%q is not an E.164 number (+ and digits)", c.Number)
	}
	if c.SendTimeout < 0 {
		bad("send_timeout", "%v is negative", c.SendTimeout)
	} else if c.SendTimeout > 0 && c.SendTimeout < time.Second {
		bad("send_timeout", "%v is too short for a real network (at least 1s, default %v)", c.SendTimeout, DefaultSendTimeout)
	}
	if c.CommandTimeout < 0 {
		bad("command_timeout", "%v is negative", c.CommandTimeout)
	}
	if c.HealthInterval < 0 {
		bad("health_interval", "%v is negative", c.HealthInterval)
	}
	if c.MaxBackoff < 0 {
		bad("max_backoff", "%v is negative", c.MaxBackoff)
	}
	if c.PartialTimeout < 0 {
		bad("partial_timeout", "%v is negative (default %v)", c.PartialTimeout, DefaultPartialTimeout)
	}
	if c.MaxPerHour > 0 && c.MaxPerDay > 0 && c.MaxPerHour > c.MaxPerDay {
		bad("max_per_hour", "%d is more than max_per_day (%d)", c.MaxPerHour, c.MaxPerDay)
	}
	return errors.Join(errs...)
}

// withDefaults returns c with its zero fields set to the defaults.
func (c Config) withDefaults() Config {
	if c.Baud == 0 {
		c.Baud = DefaultBaud
	}
	if c.SendTimeout == 0 {
		c.SendTimeout = DefaultSendTimeout
	}
	if c.CommandTimeout == 0 {
		c.CommandTimeout = DefaultCommandTimeout
	}
	if c.MinGap == 0 {
		c.MinGap = DefaultMinGap
	}
	if c.MaxPerHour == 0 {
		c.MaxPerHour = DefaultMaxPerHour
	}
	if c.MaxPerDay == 0 {
		c.MaxPerDay = DefaultMaxPerDay
	}
	if c.HealthInterval == 0 {
		c.HealthInterval = DefaultHealthInterval
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.PartialTimeout == 0 {
		c.PartialTimeout = DefaultPartialTimeout
	}
	return c
}

// Masked returns a copy of c with the PIN hidden, for printing.
func (c Config) Masked() Config {
	if c.PIN != "" {
		c.PIN = "****"
	}
	return c
}

func isDigits(s string, min, max int) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func isE164(s string) bool {
	return strings.HasPrefix(s, "+") && isDigits(s[1:], 3, 15)
}
