package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/textback/textback/ari"
	"github.com/textback/textback/esl"
	"github.com/textback/textback/ledger"
)

// source is a PBX adapter: it sends the PBX's calls as ledger events until
// ctx ends, and returns nil then. Connection trouble never ends it: the
// adapter reconnects and logs.
type source interface {
	Run(ctx context.Context, events chan<- ledger.Event) error
}

// ariConfig is the Asterisk adapter's config from textback's.
func (c *Config) ariConfig() ari.Config {
	a := c.Asterisk
	return ari.Config{URL: a.URL, Username: a.Username, Password: a.Password.Reveal(), App: a.App, ShowNumber: c.numberFormatter(),
		Options: ari.Options{Trunks: a.Trunks}}
}

// eslConfig is the FreeSWITCH adapter's config from textback's.
func (c *Config) eslConfig() esl.Config {
	f := c.FreeSWITCH
	return esl.Config{Address: f.Address, Password: f.Password.Reveal(), ShowNumber: c.numberFormatter(),
		Options: esl.Options{InboundProfiles: f.InboundProfiles, LineVariable: f.LineVariable}}
}

// newSource builds the configured PBX adapter; nil for pbx: none.
func newSource(cfg *Config, log zerolog.Logger) (source, error) {
	switch cfg.PBX {
	case "none":
		return nil, nil
	case "asterisk":
		return ari.New(cfg.ariConfig(), log.With().Str("component", "asterisk").Logger())
	case "freeswitch":
		return esl.New(cfg.eslConfig(), log.With().Str("component", "freeswitch").Logger())
	}
	return nil, fmt.Errorf("pbx: %q is not asterisk, freeswitch or none", cfg.PBX)
}

// traceReader returns the reader of recorded traffic for a PBX, through
// the same translation as the live adapter: ARI event lines for asterisk,
// raw event-socket captures for freeswitch, and textback's PBX-neutral
// event lines (ledger.ReadEvents) for events.
func traceReader(pbx string, cfg *Config) (func(io.Reader, func(ledger.Event) error) error, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	switch pbx {
	case "events":
		return ledger.ReadEvents, nil
	case "asterisk":
		o := cfg.ariConfig().Options
		return func(r io.Reader, emit func(ledger.Event) error) error { return ari.ReadCapture(r, o, emit) }, nil
	case "freeswitch":
		o := cfg.eslConfig().Options
		return func(r io.Reader, emit func(ledger.Event) error) error { return esl.ReadCapture(r, o, emit) }, nil
	}
	return nil, fmt.Errorf("%w: --pbx %q: want asterisk, freeswitch or events", errUsage, pbx)
}

// probeTimeout bounds textback check --pbx.
const probeTimeout = 15 * time.Second

// probePBX connects to the configured PBX as the daemon would and reports
// what it found, for textback check --pbx. Problems that do not stop the
// daemon (missing channelvars) are returned as warnings.
func probePBX(ctx context.Context, cfg *Config) (summary string, warnings []string, err error) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	switch cfg.PBX {
	case "asterisk":
		info, err := ari.Probe(ctx, cfg.ariConfig())
		if err != nil {
			return "", nil, fmt.Errorf("pbx: %w", err)
		}
		summary = fmt.Sprintf("Asterisk %s at %s: events websocket ok, event filter ok, %d channel(s) up", info.Version, info.URL, info.Channels)
		switch {
		case len(info.MissingVars) > 0:
			warnings = append(warnings, fmt.Sprintf("asterisk: channel snapshots lack %s: add channelvars = CHANNEL(linkedid),CALLERID(pres) to ari.conf [general] (see contrib/asterisk)",
				strings.Join(info.MissingVars, ", ")))
		case !info.VarsChecked:
			warnings = append(warnings, "asterisk: no channel was up, so ari.conf channelvars could not be checked; textback warns at run time if they are missing")
		}
		return summary, warnings, nil
	case "freeswitch":
		info, err := esl.Probe(ctx, cfg.eslConfig())
		if err != nil {
			return "", nil, fmt.Errorf("pbx: %w", err)
		}
		summary = fmt.Sprintf("FreeSWITCH %s at %s: authenticated", info.Version, cfg.FreeSWITCH.Address)
		if info.Profiles != nil {
			have := map[string]bool{}
			for _, p := range info.Profiles {
				have[p] = true
			}
			for _, p := range cfg.eslConfig().Options.Profiles() {
				if !have[p] {
					warnings = append(warnings, fmt.Sprintf("freeswitch.inbound_profiles: FreeSWITCH runs no sofia profile %q (it runs %s)", p, strings.Join(info.Profiles, ", ")))
				}
			}
			summary += ", sofia profiles " + strings.Join(info.Profiles, ", ")
		}
		return summary, warnings, nil
	}
	return "", nil, fmt.Errorf("pbx: %q has nothing to check (pbx: asterisk or freeswitch)", cfg.PBX)
}
