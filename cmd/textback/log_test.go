package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func envOf(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

// journal is what systemd gives a service whose stdout is the journal.
var (
	journalStream = FileID{Dev: 8, Ino: 1234}
	journalEnv    = envOf("JOURNAL_STREAM", "8:1234")
)

// missedCall logs the line DESIGN.md shows.
func missedCall(log zerolog.Logger) {
	log = log.With().Str("component", "ledger").Logger()
	log.Info().
		Str("reason", "noanswer").Str("line", "5551000").Str("from", MaskNumber("+15557654321")).
		Str("call", "1795711522.0").Msg("missed call")
}

func newTestLogger(t *testing.T, o LogOptions) (zerolog.Logger, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	log, err := NewLogger(&buf, o)
	if err != nil {
		t.Fatal(err)
	}
	return log, &buf
}

func TestNewLogger_Journal(t *testing.T) {
	log, buf := newTestLogger(t, LogOptions{Getenv: journalEnv, Stream: journalStream})
	missedCall(log)
	log.Warn().Str("call", "1795711530.4").Str("business", "Acme Plumbing").Str("text", "Café").Msg("text is 2 segments")
	log.Error().Err(errors.New("carrier said 503")).Str("call", "1795711530.4").Int("attempt", 3).Msg("send failed")
	log.Debug().Msg("not shown at info")
	want := "<6>INF missed call call=1795711522.0 from=+1555…4321 line=5551000 reason=noanswer component=ledger\n" +
		"<4>WRN text is 2 segments call=1795711530.4 business=\"Acme Plumbing\" text=Café\n" +
		"<3>ERR send failed error=\"carrier said 503\" call=1795711530.4 attempt=3\n"
	if got := buf.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestNewLogger_JournalLevels(t *testing.T) {
	log, buf := newTestLogger(t, LogOptions{Level: "trace", Getenv: journalEnv, Stream: journalStream})
	log.Trace().Msg("t")
	log.Debug().Msg("d")
	log.Info().Msg("i")
	log.Warn().Msg("w")
	log.Error().Msg("e")
	log.Log().Msg("no level")
	want := "<7>TRC t\n<7>DBG d\n<6>INF i\n<4>WRN w\n<3>ERR e\n<6>??? no level\n"
	if got := buf.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestNewLogger_Terminal(t *testing.T) {
	t.Setenv("NO_COLOR", "") // zerolog reads it too
	log, buf := newTestLogger(t, LogOptions{Getenv: envOf(), IsTerminal: true})
	missedCall(log)
	got := buf.String()
	re := regexp.MustCompile(`^\x1b\[90m\d\d:\d\d:\d\d\x1b\[0m \x1b\[32mINF\x1b\[0m \x1b\[1mmissed call\x1b\[0m \x1b\[36mcall=\x1b\[0m1795711522.0 .*from=\x1b\[0m\+1555…4321 .*\x1b\[36mcomponent=\x1b\[0mledger\n$`)
	if !re.MatchString(got) {
		t.Errorf("got %q", got)
	}
}

func TestNewLogger_TerminalNoColor(t *testing.T) {
	log, buf := newTestLogger(t, LogOptions{Getenv: envOf("NO_COLOR", "1"), IsTerminal: true})
	missedCall(log)
	re := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d) INF missed call call=1795711522.0 from=\+1555…4321 line=5551000 reason=noanswer component=ledger\n$`)
	if got := buf.String(); !re.MatchString(got) {
		t.Errorf("got %q", got)
	}
}

func TestNewLogger_JSON(t *testing.T) {
	tests := []struct {
		name string
		o    LogOptions
	}{
		{"Pipe", LogOptions{Getenv: envOf()}},
		{"NilGetenv", LogOptions{}},
		{"OtherJournalStream", LogOptions{Getenv: envOf("JOURNAL_STREAM", "8:9999"), Stream: journalStream}},
		{"JournalStreamButUnknownWriter", LogOptions{Getenv: journalEnv}},
		{"ForcedUnderJournal", LogOptions{Format: "json", Getenv: journalEnv, Stream: journalStream}},
		{"ForcedOnTerminal", LogOptions{Format: "json", IsTerminal: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log, buf := newTestLogger(t, tt.o)
			before := time.Now().Add(-time.Second)
			missedCall(log)
			var rec map[string]any
			if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
				t.Fatalf("not JSON: %v: %q", err, buf.String())
			}
			for k, v := range map[string]string{"level": "info", "message": "missed call", "call": "1795711522.0", "from": "+1555…4321", "component": "ledger"} {
				if rec[k] != v {
					t.Errorf("%s = %v, want %q", k, rec[k], v)
				}
			}
			ts, err := time.Parse(time.RFC3339, fmt.Sprint(rec["time"]))
			if err != nil || ts.Before(before.Truncate(time.Second)) {
				t.Errorf("time = %v (%v)", rec["time"], err)
			}
		})
	}
}

func TestNewLogger_ForcedConsole(t *testing.T) {
	t.Run("File", func(t *testing.T) {
		log, buf := newTestLogger(t, LogOptions{Format: "console", Getenv: envOf()})
		missedCall(log)
		re := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d) INF missed call call=1795711522.0 `)
		if got := buf.String(); !re.MatchString(got) || strings.Contains(got, "\x1b[") {
			t.Errorf("got %q", got)
		}
	})
	t.Run("Journal", func(t *testing.T) {
		log, buf := newTestLogger(t, LogOptions{Format: "console", Getenv: journalEnv, Stream: journalStream, IsTerminal: true})
		missedCall(log)
		if got := buf.String(); !strings.HasPrefix(got, "<6>INF missed call call=") {
			t.Errorf("got %q", got)
		}
	})
	t.Run("Terminal", func(t *testing.T) {
		t.Setenv("NO_COLOR", "")
		log, buf := newTestLogger(t, LogOptions{Format: "console", IsTerminal: true})
		missedCall(log)
		if got := buf.String(); !strings.Contains(got, "\x1b[32mINF") {
			t.Errorf("got %q", got)
		}
	})
}

func TestNewLogger_Level(t *testing.T) {
	log, buf := newTestLogger(t, LogOptions{Level: "warn", Format: "console", Getenv: journalEnv, Stream: journalStream})
	log.Info().Msg("quiet")
	log.Warn().Msg("loud")
	if got := buf.String(); got != "<4>WRN loud\n" {
		t.Errorf("got %q", got)
	}
}

func TestNewLogger_Errors(t *testing.T) {
	for _, tt := range []struct {
		o    LogOptions
		want string
	}{
		{LogOptions{Level: "verbose"}, `log level: "verbose" is not a log level (trace, debug, info, warn, error)`},
		{LogOptions{Level: "INFO"}, `log level: "INFO" is not a log level`},
		{LogOptions{Format: "xml"}, `log format: "xml" is not a log format (auto, console, json)`},
		{LogOptions{Format: "journal"}, `log format: "journal" is not a log format`},
	} {
		var buf bytes.Buffer
		_, err := NewLogger(&buf, tt.o)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%+v: error %v, want %q", tt.o, err, tt.want)
		}
	}
}

// The real thing: JOURNAL_STREAM as systemd would set it for the file the
// logger writes to.
func TestNewLogger_JournalStreamOfRealFile(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	id := FileIDOf(f)
	if id == (FileID{}) {
		t.Fatal("no FileID for a file")
	}
	log, err := NewLogger(f, LogOptions{Getenv: envOf("JOURNAL_STREAM", fmt.Sprintf("%d:%d", id.Dev, id.Ino)), Stream: id})
	if err != nil {
		t.Fatal(err)
	}
	log.Info().Msg("hello")
	got, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "<6>INF hello\n" {
		t.Errorf("got %q", got)
	}
	if FileIDOf(&bytes.Buffer{}) != (FileID{}) {
		t.Error("FileIDOf(buffer) is not zero")
	}
}

func TestUnderJournal(t *testing.T) {
	id := FileID{Dev: 64769, Ino: 31337}
	for s, want := range map[string]bool{
		"64769:31337": true, "64769:31338": false, "1:31337": false, "": false,
		"64769": false, "64769:": false, ":31337": false, "a:b": false, "64769:31337:1": false,
	} {
		if got := underJournal(s, id); got != want {
			t.Errorf("underJournal(%q) = %v, want %v", s, got, want)
		}
	}
	if underJournal("0:0", FileID{}) {
		t.Error("the zero FileID matched")
	}
}

func TestMaskNumber(t *testing.T) {
	for in, want := range map[string]string{
		"+15557654321":  "+1555…4321",
		"+447911123456": "+4479…3456",
		"+4930901820":   "+4930…1820",
		"0123456789":    "…89",
		"5551000":       "…00",
		"123":           "…23",
		"12":            "…",
		"7":             "…",
		"":              "",
		"anonymous":     "anonymous",
		"Restricted":    "Restricted",
		"+1555765432１":  "+1555…432１",
	} {
		if got := MaskNumber(in); got != want {
			t.Errorf("MaskNumber(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNewNumberFormatter(t *testing.T) {
	if got := NewNumberFormatter(false)("+15557654321"); got != "+15557654321" {
		t.Errorf("unmasked: %q", got)
	}
	if got := NewNumberFormatter(true)("+15557654321"); got != "+1555…4321" {
		t.Errorf("masked: %q", got)
	}
}
