package main

// The process logger. Admins read textback with `journalctl -fu textback`,
// so under journald each event is one plain line with no timestamp (journald
// adds one) and a syslog priority prefix (so `journalctl -p warning` works
// and errors show in red):
//
//	INF missed call call=1795711522.0 from=+1555…4321 line=5551000 reason=noanswer component=ledger
//
// On a terminal the same with colour and time; anywhere else (a pipe, a
// file, a container) JSON for log shippers.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"unicode"
	"unicode/utf8"

	"github.com/rs/zerolog"
	"golang.org/x/term"
)

// LogOptions say how NewLogger writes. The zero value is info-level JSON.
type LogOptions struct {
	// Level is trace, debug, info, warn or error ("" is info).
	Level string
	// Format is auto, console or json ("" is auto). auto is console
	// without colour or time under journald, console with both on a
	// terminal, JSON otherwise; console and json force one.
	Format string
	// Getenv reads JOURNAL_STREAM and NO_COLOR; nil reads nothing.
	Getenv func(string) string
	// IsTerminal says the writer is a terminal.
	IsTerminal bool
	// Stream identifies the file the writer writes to (FileIDOf), to match
	// against $JOURNAL_STREAM; the zero FileID never matches.
	Stream FileID
}

// FileID is a file's device and inode numbers.
type FileID struct{ Dev, Ino uint64 }

// FileIDOf identifies the file w writes to, when w is an *os.File; the zero
// FileID otherwise.
func FileIDOf(w io.Writer) FileID {
	f, ok := w.(*os.File)
	if !ok {
		return FileID{}
	}
	fi, err := f.Stat()
	if err != nil {
		return FileID{}
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return FileID{}
	}
	return FileID{Dev: uint64(st.Dev), Ino: uint64(st.Ino)}
}

// stdoutIsTerminal reports whether the process's stdout is a terminal.
func stdoutIsTerminal() bool { return term.IsTerminal(int(os.Stdout.Fd())) }

// underJournal reports whether $JOURNAL_STREAM ("DEV:INODE", set by systemd
// when stdout or stderr is connected to the journal) names the stream.
func underJournal(journalStream string, id FileID) bool {
	if id == (FileID{}) {
		return false
	}
	dev, ino, ok := strings.Cut(journalStream, ":")
	if !ok {
		return false
	}
	d, err1 := strconv.ParseUint(dev, 10, 64)
	i, err2 := strconv.ParseUint(ino, 10, 64)
	return err1 == nil && err2 == nil && d == id.Dev && i == id.Ino
}

// logStyle is how log lines look.
type logStyle int

const (
	styleJSON     logStyle = iota
	styleJournal           // console, no colour, no time, priority prefix
	styleTerminal          // console, colour, time
	stylePlain             // console, no colour, time (a file, a pipe)
)

// chooseStyle picks the style for a format; see LogOptions.Format.
func chooseStyle(o LogOptions) (logStyle, error) {
	if err := checkFormat(o.Format); err != nil {
		return 0, err
	}
	getenv := o.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	journal := underJournal(getenv("JOURNAL_STREAM"), o.Stream)
	color := o.IsTerminal && getenv("NO_COLOR") == ""
	switch o.Format {
	case "json":
		return styleJSON, nil
	case "console":
		switch {
		case journal:
			return styleJournal, nil
		case color:
			return styleTerminal, nil
		}
		return stylePlain, nil
	}
	switch {
	case journal:
		return styleJournal, nil
	case color:
		return styleTerminal, nil
	case o.IsTerminal:
		return stylePlain, nil
	}
	return styleJSON, nil
}

var logLevels = []string{"trace", "debug", "info", "warn", "error"}

// parseLevel reads a log level; "" is info.
func parseLevel(s string) (zerolog.Level, error) {
	switch s {
	case "":
		return zerolog.InfoLevel, nil
	case "trace", "debug", "info", "warn", "error":
		return zerolog.ParseLevel(s)
	}
	return 0, fmt.Errorf("%q is not a log level (%s)", s, strings.Join(logLevels, ", "))
}

func checkFormat(s string) error {
	switch s {
	case "", "auto", "console", "json":
		return nil
	}
	return fmt.Errorf("%q is not a log format (auto, console, json)", s)
}

// NewLogger returns the process logger writing to w. Components scope it
// with .With().Str("component", ...); the console styles print component
// last and call first so every line about a call reads alike.
func NewLogger(w io.Writer, o LogOptions) (zerolog.Logger, error) {
	level, err := parseLevel(o.Level)
	if err != nil {
		return zerolog.Nop(), fmt.Errorf("log level: %w", err)
	}
	style, err := chooseStyle(o)
	if err != nil {
		return zerolog.Nop(), fmt.Errorf("log format: %w", err)
	}
	switch style {
	case styleJournal:
		return zerolog.New(consoleWriter(w, style)).Level(level), nil
	case styleTerminal, stylePlain:
		return zerolog.New(consoleWriter(w, style)).Level(level).With().Timestamp().Logger(), nil
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger(), nil
}

const componentField = "component"

func consoleWriter(w io.Writer, style logStyle) zerolog.ConsoleWriter {
	noColor := style != styleTerminal
	cw := zerolog.ConsoleWriter{
		Out:           w,
		NoColor:       noColor,
		PartsOrder:    []string{zerolog.TimestampFieldName, zerolog.LevelFieldName, zerolog.MessageFieldName},
		FieldsOrder:   []string{"call"},
		FieldsExclude: []string{componentField},
		FormatPrepare: unquotePrintable,
		FormatExtra: func(evt map[string]any, buf *bytes.Buffer) error {
			c, ok := evt[componentField]
			if !ok {
				return nil
			}
			s := fmt.Sprint(c)
			if needsQuote(s) {
				s = strconv.Quote(s)
			}
			name := componentField + "="
			if !noColor {
				name = "\x1b[36m" + name + "\x1b[0m"
			}
			buf.WriteString(" " + name + s)
			return nil
		},
	}
	switch style {
	case styleJournal:
		cw.PartsOrder = cw.PartsOrder[1:]
		cw.FormatLevel = journalLevel
	case styleTerminal:
		cw.TimeFormat = "15:04:05"
	case stylePlain:
		cw.TimeFormat = "2006-01-02T15:04:05Z07:00"
	}
	return cw
}

// journalLevel writes the level as zerolog's three letters after the
// syslog priority prefix journald reads and strips (SyslogLevelPrefix=,
// on by default).
func journalLevel(i any) string {
	s, _ := i.(string)
	level, err := zerolog.ParseLevel(s)
	if err != nil || s == "" {
		return "<6>???"
	}
	prio := 6
	switch level {
	case zerolog.TraceLevel, zerolog.DebugLevel:
		prio = 7
	case zerolog.WarnLevel:
		prio = 4
	case zerolog.ErrorLevel:
		prio = 3
	case zerolog.FatalLevel:
		prio = 2
	case zerolog.PanicLevel:
		prio = 1
	}
	name, ok := zerolog.FormattedLevels[level]
	if !ok {
		name = "???"
	}
	return "<" + strconv.Itoa(prio) + ">" + name
}

// unquotePrintable stops the console writer quoting values whose only
// "unusual" characters are printable non-ASCII ones (from=+1555…4321,
// business=Café): it quotes any byte above 0x7e, but prints json.Number
// values as they are.
func unquotePrintable(evt map[string]any) error {
	for k, v := range evt {
		s, ok := v.(string)
		if !ok || k == zerolog.MessageFieldName || k == zerolog.LevelFieldName || k == zerolog.TimestampFieldName {
			continue
		}
		if !needsQuote(s) && !isASCII(s) {
			evt[k] = json.Number(s)
		}
	}
	return nil
}

// needsQuote reports whether a console value must be quoted to read back
// unambiguously: empty, or with a space, quote, backslash, '=' or a
// character that does not print.
func needsQuote(s string) bool {
	if s == "" || !utf8.ValidString(s) {
		return true
	}
	for _, r := range s {
		if r == ' ' || r == '"' || r == '\\' || r == '=' || !unicode.IsPrint(r) {
			return true
		}
	}
	return false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// NumberFormatter shows a phone number in logs: as it is, or masked
// (log.mask_numbers). The ledger and the adapters take one.
type NumberFormatter func(string) string

// NewNumberFormatter returns MaskNumber when mask is set, the identity
// otherwise.
func NewNumberFormatter(mask bool) NumberFormatter {
	if mask {
		return MaskNumber
	}
	return func(n string) string { return n }
}

// MaskNumber hides the middle of a phone number: "+15557654321" becomes
// "+1555…4321" (country and area code stay, so an admin can still tell a
// local caller from a premium-rate pump). Numbers shorter than 11
// characters keep only their last 2 ("5551000" → "…00"). The placeholders
// PBXs use for a withheld number (anonymous, restricted, ...) carry no
// number and stay.
func MaskNumber(n string) string {
	switch strings.ToLower(strings.TrimSpace(n)) {
	case "", "anonymous", "unknown", "restricted", "private", "unavailable", "withheld":
		return n
	}
	r := []rune(n)
	switch {
	case len(r) >= 11:
		return string(r[:5]) + "…" + string(r[len(r)-4:])
	case len(r) > 2:
		return "…" + string(r[len(r)-2:])
	}
	return "…"
}
