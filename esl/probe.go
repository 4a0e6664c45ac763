package esl

import (
	"context"
	"strings"
)

// Info is what Probe learns about a FreeSWITCH.
type Info struct {
	// Version is FreeSWITCH's version ("1.10.12-release~64bit").
	Version string
	// Profiles are the sofia profiles FreeSWITCH runs (from `sofia
	// status`), nil when it could not say (mod_sofia not loaded).
	Profiles []string
}

// Probe connects to FreeSWITCH with cfg, authenticates, asks for its
// version and its sofia profiles, and disconnects: `textback check --pbx`.
// Its errors wrap ErrRejected (the ACL refused this host), ErrAuth (wrong
// password), ErrTimeout (FreeSWITCH did not answer) or the dial error, and
// name the address. Every step is bounded by cfg's timeouts and by ctx.
func Probe(ctx context.Context, cfg Config) (Info, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return Info{}, err
	}
	c, err := dial(ctx, cfg.Address, cfg.Password, cfg.DialTimeout)
	if err != nil {
		return Info{}, err
	}
	defer c.close()
	stop := context.AfterFunc(ctx, func() { c.conn.Close() })
	defer stop()
	c.timeout = cfg.CommandTimeout
	v, err := c.api("version", "")
	if err != nil {
		return Info{}, err
	}
	info := Info{Version: version(v)}
	if st, err := c.api("sofia", "status"); err == nil {
		info.Profiles = sofiaProfiles(st)
	}
	return info, nil
}

// sofiaProfiles reads the profile names from `sofia status`: rows of
// name, type, data and state, separated by tabs and spaces, between lines
// of "=".
func sofiaProfiles(status string) []string {
	if strings.HasPrefix(strings.TrimSpace(status), "-ERR") {
		return nil
	}
	var out []string
	for _, line := range strings.Split(status, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[1] == "profile" {
			out = append(out, f[0])
		}
	}
	return out
}
