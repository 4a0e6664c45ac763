package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"
	"github.com/textback/textback/ledger"
)

// replayLine is what replay prints for each decided inbound call.
type replayLine struct {
	Trace    string `json:"trace"`
	PBX      string `json:"pbx"`
	Call     string `json:"call"`
	From     string `json:"from"`
	Line     string `json:"line,omitempty"`
	Verdict  string `json:"verdict"`
	Reason   string `json:"reason,omitempty"`
	Textable bool   `json:"textable"`
	RingMS   int64  `json:"ring_ms"`
	Skip     string `json:"skip,omitempty"`
	Detail   string `json:"detail,omitempty"`
	Text     string `json:"text,omitempty"`
}

// cmdReplay feeds recorded PBX traffic through the same tracker and policy
// as the daemon, with no driver, and prints one JSON line per decided call.
// The ledger is a temporary one, so cooldowns and opt-outs act only within
// the replay.
func cmdReplay(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "replay", "--pbx asterisk|freeswitch|events [--config FILE] TRACE...")
	pbx := fs.String("pbx", "", "the PBX that recorded the traces: asterisk, freeswitch, or events (textback's own event lines)")
	cfgPath := fs.String("config", "", "config `FILE` (lines, policy, asterisk.trunks, freeswitch.inbound_profiles); default: built-in defaults")
	all := fs.Bool("all", false, "also print internal and originated calls (verdict ignored)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *pbx == "" {
		return fmt.Errorf("%w: --pbx is required", errUsage)
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("%w: give at least one trace file (- for standard input)", errUsage)
	}
	if _, err := traceReader(*pbx, nil); err != nil && errors.Is(err, errUsage) {
		return err // a wrong --pbx is reported before the config is read
	}
	cfg, err := LoadConfig(*cfgPath)
	if err != nil {
		return err
	}
	read, err := traceReader(*pbx, cfg)
	if err != nil {
		return err
	}
	var clock time.Time // replay runs on the trace's time
	core, cleanup, err := replayCore(cfg, func() time.Time { return clock })
	if err != nil {
		return err
	}
	defer cleanup()
	out := json.NewEncoder(e.stdout)
	for _, name := range fs.Args() {
		if err := ctx.Err(); err != nil {
			return err
		}
		tracker := ledger.NewTracker(ledger.TrackerOptions{})
		emit := func(ev ledger.Event) error {
			if ev.At.After(clock) {
				clock = ev.At
			}
			v, ok := tracker.Observe(ev)
			if !ok {
				return nil
			}
			call, err := core.Record(v)
			if err != nil {
				return err
			}
			if v.Outcome == ledger.Ignored && !*all {
				return nil
			}
			line := replayLine{Trace: filepath.Base(name), PBX: v.PBX, Call: v.Call, From: v.From, Line: v.Line,
				Verdict: string(v.Outcome), Reason: string(v.Reason), Textable: v.Textable(),
				RingMS: v.RingTime.Milliseconds(), Skip: string(call.Skip), Detail: call.Detail}
			if call.Skip == ledger.SkipNone && call.Text != 0 || call.Skip == ledger.SkipShadow {
				if t, err := core.Store().Text(call.Text); err == nil {
					line.Text = t.Body
				}
			}
			return out.Encode(line)
		}
		if err := replayFile(name, e.stdin, read, emit); err != nil {
			return err
		}
		if n := tracker.Len(); n > 0 {
			fmt.Fprintf(e.stderr, "textback replay: %s: %d call(s) never ended in the trace\n", name, n)
		}
	}
	return nil
}

func replayFile(name string, stdin io.Reader, read func(io.Reader, func(ledger.Event) error) error, emit func(ledger.Event) error) error {
	r := stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("trace: %w", err)
		}
		defer f.Close()
		r = f
	}
	if err := read(r, emit); err != nil {
		return fmt.Errorf("trace %s: %w", name, err)
	}
	return nil
}

// replayCore builds the core on a temporary ledger, with the clock of the
// trace. No dispatcher runs: nothing is ever sent.
func replayCore(cfg *Config, now func() time.Time) (*ledger.Ledger, func(), error) {
	policy, err := cfg.Policy()
	if err != nil {
		return nil, nil, err
	}
	lines, err := cfg.Lines()
	if err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp("", "textback-replay-")
	if err != nil {
		return nil, nil, fmt.Errorf("replay ledger: %w", err)
	}
	store, err := ledger.Open(filepath.Join(dir, "replay.db"), ledger.StoreOptions{})
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	cleanup := func() { store.Close(); os.RemoveAll(dir) }
	core, err := ledger.New(store, ledger.Config{Lines: lines, Policy: policy}, ledger.Options{Now: now, Log: zerolog.Nop()})
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	return core, cleanup, nil
}
