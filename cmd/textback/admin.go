package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"
	"github.com/textback/textback/ledger"
)

// configFlag adds --config to fs.
func configFlag(fs interface {
	String(name, value, usage string) *string
}) *string {
	return fs.String("config", "", "config file (default "+defaultConfigPath+" when it exists)")
}

// loadConfigFlag loads the config named by --config, or the default file
// when it exists, or the built-in defaults.
func loadConfigFlag(path string) (*Config, error) {
	if path == "" {
		if _, err := os.Stat(defaultConfigPath); err == nil {
			path = defaultConfigPath
		}
	}
	return LoadConfig(path)
}

// openStore opens the ledger file for a command that needs the file
// itself (send). The running daemon holds the file's lock, so such a
// command needs it stopped; the errors say so, and say when there is no
// ledger yet. The other admin commands use openAdminLedger, which asks the
// running daemon instead.
func openStore(cfg *Config, readOnly bool) (*ledger.Store, error) {
	path := cfg.LedgerPath()
	if readOnly {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no ledger at %s yet: textback run creates it (is state_dir right?)", path)
		}
	}
	store, err := ledger.Open(path, ledger.StoreOptions{LockTimeout: cfg.lockTimeout(), ReadOnly: readOnly})
	if errors.Is(err, ledger.ErrLocked) {
		return nil, fmt.Errorf("%w; stop the daemon (systemctl stop textback) to use this command", err)
	}
	return store, err
}

// openLedger opens the ledger the config names and builds the core on it,
// for the admin commands.
func openLedger(cfg *Config, readOnly bool) (*ledger.Ledger, error) {
	store, err := openStore(cfg, readOnly)
	if err != nil {
		return nil, err
	}
	policy, err := cfg.Policy()
	if err != nil {
		store.Close()
		return nil, err
	}
	lines, err := cfg.Lines()
	if err != nil {
		store.Close()
		return nil, err
	}
	core, err := ledger.New(store, ledger.Config{Lines: lines, Policy: policy}, ledger.Options{Log: zerolog.Nop()})
	if err != nil {
		store.Close()
		return nil, err
	}
	return core, nil
}

// stateWarnings says what would stop the daemon from opening the ledger
// at path. They are warnings: under systemd the state directory is made
// when the service starts, and check may run as another user.
func stateWarnings(path string) []string {
	fi, err := os.Stat(path)
	switch {
	case err == nil && fi.IsDir():
		return []string{fmt.Sprintf("ledger %s is a directory", path)}
	case err == nil:
		return nil
	case !errors.Is(err, os.ErrNotExist):
		return []string{fmt.Sprintf("ledger %s: %v", path, err)}
	}
	if err := ledger.CheckStateDir(filepath.Dir(path)); err != nil {
		return []string{fmt.Sprintf("%v: textback run cannot create the ledger there (under systemd, StateDirectory= creates it when the service starts)", err)}
	}
	return nil
}

func cmdCheck(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "check", "[--config FILE] [--pbx] [--offline]")
	path := configFlag(fs)
	pbx := fs.Bool("pbx", false, "also connect to the PBX as the daemon would, and report what it found")
	offline := fs.Bool("offline", false, "do not ask the carrier whether its credentials work")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfigFlag(*path)
	if err != nil {
		return err
	}
	if err := cfg.ValidateForRun(); err != nil {
		return err
	}
	policy, err := cfg.Policy()
	if err != nil {
		return err
	}
	lines, err := cfg.Lines()
	if err != nil {
		return err
	}
	warnings, err := ledger.Validate(ledger.Config{Lines: lines, Policy: policy})
	if err != nil {
		return err
	}
	masked, err := cfg.Masked()
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "# effective config (secrets masked)\n%s", masked)
	warnings = append(warnings, stateWarnings(cfg.LedgerPath())...)
	for _, w := range warnings {
		fmt.Fprintf(e.stderr, "warning: %s\n", w)
	}
	fmt.Fprintf(e.stderr, "config ok: %d line(s), ledger %s\n", len(lines), cfg.LedgerPath())
	if cfg.Driver.Type == "carrier" && !*offline {
		if err := checkCarrier(ctx, cfg); err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "driver ok: %s accepted the credentials\n", cfg.Driver.Carrier.Preset)
	}
	if !*pbx {
		return nil
	}
	summary, warnings, err := probePBX(ctx, cfg)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		fmt.Fprintf(e.stderr, "warning: %s\n", w)
	}
	fmt.Fprintf(e.stderr, "pbx ok: %s\n", summary)
	return nil
}

func cmdOptout(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "optout", "list | add NUMBER [--line L] [--note TEXT] | remove NUMBER [--line L] [--note TEXT] | show NUMBER")
	path := configFlag(fs)
	line := fs.String("line", "", "the line the change is for (default: all lines)")
	note := fs.String("note", "", "why, kept in the consent history")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return fmt.Errorf("%w: optout needs list, add, remove or show", errUsage)
	}
	sub, operands := rest[0], rest[1:]
	want := map[string]int{"list": 0, "add": 1, "remove": 1, "show": 1}
	n, ok := want[sub]
	if !ok {
		return fmt.Errorf("%w: unknown optout command %q (list, add, remove, show)", errUsage, sub)
	}
	if len(operands) != n {
		return fmt.Errorf("%w: optout %s takes %d number(s)", errUsage, sub, n)
	}
	cfg, err := loadConfigFlag(*path)
	if err != nil {
		return err
	}
	led, err := openAdminLedger(ctx, cfg, sub == "add" || sub == "remove")
	if err != nil {
		return err
	}
	defer led.Close()
	switch sub {
	case "list":
		numbers, err := led.OptedOutNumbers()
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NUMBER\tSINCE")
		for _, ns := range numbers {
			fmt.Fprintf(tw, "%s\t%s\n", ns.Number, ns.Changed.Format(time.RFC3339))
		}
		tw.Flush()
		fmt.Fprintf(e.stderr, "%d number(s) opted out\n", len(numbers))
	case "add", "remove":
		ch, err := led.SetConsent(sub == "add", operands[0], *line, *note)
		if err != nil {
			return err
		}
		state := map[string]string{"add": "opted out", "remove": "opted in"}[sub]
		if ch.Changed {
			fmt.Fprintf(e.stdout, "%s is now %s\n", ch.Number, state)
		} else {
			fmt.Fprintf(e.stdout, "%s was already %s; nothing changed\n", ch.Number, state)
		}
	case "show":
		rep, err := led.Number(operands[0], *line)
		if err != nil {
			return err
		}
		state := "not opted out"
		if rep.State.OptedOut {
			state = "opted out since " + rep.State.Changed.Format(time.RFC3339)
		}
		fmt.Fprintf(e.stdout, "%s: %s\n", rep.Number, state)
		if rep.State.NotMobile {
			fmt.Fprintln(e.stdout, "the carrier reported it cannot receive texts")
		}
		writeConsent(e.stdout, rep.History)
	}
	return nil
}

func cmdCalls(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "calls", "[-n N] [--json]")
	path := configFlag(fs)
	n := fs.Int("n", 20, "how many of the newest calls to show (0: all); the table ends with the newest, --json starts with it")
	asJSON := fs.Bool("json", false, "one JSON object per line")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfigFlag(*path)
	if err != nil {
		return err
	}
	led, err := openAdminLedger(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer led.Close()
	calls, err := led.Calls(*n)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		for _, c := range calls {
			if err := enc.Encode(c); err != nil {
				return err
			}
		}
		return nil
	}
	writeCalls(e.stdout, calls)
	return nil
}

func cmdExplain(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "explain", "CALL")
	path := configFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: explain takes one call id (see textback calls)", errUsage)
	}
	cfg, err := loadConfigFlag(*path)
	if err != nil {
		return err
	}
	led, err := openAdminLedger(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer led.Close()
	c, err := led.Call(fs.Arg(0))
	if err != nil {
		return err
	}
	w := e.stdout
	fmt.Fprintf(w, "call %s (%s call id %s)\n", c.ID, c.PBX, c.PBXCall)
	fmt.Fprintf(w, "  from %s", orDash(c.From))
	if c.Number != "" && c.Number != c.From {
		fmt.Fprintf(w, " (%s)", c.Number)
	}
	if c.Withheld {
		fmt.Fprint(w, ", number withheld")
	}
	fmt.Fprintf(w, "\n  to line %s", orDash(c.Line))
	if c.LineRaw != "" {
		fmt.Fprintf(w, " (the PBX said %q)", c.LineRaw)
	}
	fmt.Fprintf(w, "\n  offered %s, ended %s, rang %s\n", c.OfferedAt.Format(time.RFC3339), c.EndedAt.Format(time.RFC3339), c.RingTime.Round(time.Millisecond))
	fmt.Fprintf(w, "  verdict: %s", c.Outcome)
	if c.Reason != "" {
		fmt.Fprintf(w, " (%s)", c.Reason)
	}
	fmt.Fprintln(w)
	switch {
	case c.Action == ledger.ActionText:
		fmt.Fprintf(w, "  texted: yes, text #%d\n", c.Text)
	default:
		fmt.Fprintf(w, "  texted: no, %s", c.Skip)
		if c.Detail != "" {
			fmt.Fprintf(w, ": %s", c.Detail)
		}
		fmt.Fprintln(w)
	}
	if c.Text != 0 {
		t, err := led.Text(c.Text)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "  text #%d to %s from %s: %s", t.Seq, t.To, t.From, t.Status)
		if t.Attempts > 0 {
			fmt.Fprintf(w, " after %d attempt(s)", t.Attempts)
		}
		if t.ProviderID != "" {
			fmt.Fprintf(w, ", provider id %s", t.ProviderID)
		}
		if t.Error != "" {
			fmt.Fprintf(w, ", %s", t.Error)
		}
		fmt.Fprintf(w, "\n  body: %q\n", t.Body)
	}
	return nil
}

func cmdLedger(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: ledger needs export, backup, stats or purge", errUsage)
	}
	sub, args := args[0], args[1:]
	fs := newFlags(e, "ledger "+sub, "")
	path := configFlag(fs)
	var what, format, out, since *string
	var before *time.Duration
	switch sub {
	case "export":
		what = fs.String("what", "calls", "calls, consent, messages or texts")
		format = fs.String("format", "jsonl", "jsonl or csv")
		since = fs.String("since", "", "only records from this RFC 3339 time or duration ago (e.g. 720h)")
	case "backup":
		out = fs.String("out", "", "backup file to write (required)")
	case "stats":
	case "purge":
		before = fs.Duration("older-than", 0, "purge bodies of records older than this (default: ledger.retention)")
	default:
		return fmt.Errorf("%w: unknown ledger command %q (export, backup, stats, purge)", errUsage, sub)
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	// The command line is checked before the ledger is opened.
	var from time.Time
	switch sub {
	case "export":
		var err error
		if from, err = parseSince(*since, time.Now()); err != nil {
			return err
		}
	case "backup":
		if *out == "" {
			return fmt.Errorf("%w: backup needs --out FILE", errUsage)
		}
	}
	cfg, err := loadConfigFlag(*path)
	if err != nil {
		return err
	}
	if sub == "purge" {
		// Purging nothing must not create an empty ledger.
		if _, err := os.Stat(cfg.LedgerPath()); errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("no ledger at %s: nothing to purge", cfg.LedgerPath())
		}
	}
	led, err := openAdminLedger(ctx, cfg, sub == "purge")
	if err != nil {
		return err
	}
	defer led.Close()
	switch sub {
	case "export":
		n, err := led.Export(e.stdout, *what, *format, from)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "%d %s record(s) exported\n", n, *what)
	case "backup":
		n, err := led.Backup(*out)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "backup of %s written to %s (%d bytes)\n", led.Path(), *out, n)
	case "stats":
		st, err := led.Stats()
		if err != nil {
			return err
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	case "purge":
		age := *before
		if age <= 0 {
			age = cfg.retention()
		}
		if age <= 0 {
			return fmt.Errorf("%w: no retention configured: give --older-than", errUsage)
		}
		st, err := led.Purge(time.Now().Add(-age))
		if err != nil {
			return err
		}
		enc := json.NewEncoder(e.stdout)
		return enc.Encode(st)
	}
	return nil
}

// parseSince reads an RFC 3339 time or a duration ago; "" is the zero time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%w: --since %q is neither an RFC 3339 time nor a duration", errUsage, s)
}

func cmdSend(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "send", "--line LINE NUMBER TEXT...")
	path := configFlag(fs)
	line := fs.String("line", "", "the line to send from (required)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *line == "" || fs.NArg() < 2 {
		return fmt.Errorf("%w: send needs --line LINE NUMBER TEXT", errUsage)
	}
	cfg, err := loadConfigFlag(*path)
	if err != nil {
		return err
	}
	driver, err := newDriver(cfg, e, zerolog.Nop())
	if err != nil {
		return err
	}
	core, err := openLedger(cfg, false)
	if err != nil {
		return err
	}
	defer core.Store().Close()
	// A modem sends only while its session runs; start it, and wait
	// until it is ready (or gives up).
	if rd, ok := driver.(receivingDriver); ok {
		stop, err := startSession(ctx, rd, core)
		if err != nil {
			return err
		}
		defer stop() // before the ledger closes: a reply may be arriving
	}
	seq, err := core.SendManual(*line, fs.Arg(0), strings.Join(fs.Args()[1:], " "))
	if err != nil {
		return err
	}
	text, err := core.SendNow(ctx, driver, seq)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "text #%d to %s: %s", text.Seq, text.To, text.Status)
	if text.ProviderID != "" {
		fmt.Fprintf(e.stdout, " (provider id %s)", text.ProviderID)
	}
	if text.Error != "" {
		fmt.Fprintf(e.stdout, ": %s", text.Error)
	}
	fmt.Fprintln(e.stdout)
	if text.Status != ledger.StatusSent && text.Status != ledger.StatusDelivered {
		return fmt.Errorf("text #%d was not sent (%s)", text.Seq, text.Status)
	}
	return nil
}
