package main

import (
	"fmt"
	"net"
	"net/http"
	"sync/atomic"

	"github.com/rs/zerolog"
	"github.com/textback/textback/cmd/textback/web"
	"github.com/textback/textback/ledger"
)

// webPages are the intake page (public listener, /i/) and the operator
// inbox (admin listener, /inbox/), built from the config. The lines'
// branding follows reloads.
type webPages struct {
	intake http.Handler // nil: no line has a link
	inbox  http.Handler // nil: no admin listener
	sites  atomic.Pointer[map[string]web.Site]
	log    zerolog.Logger
}

func newWebPages(cfg *Config, core *ledger.Ledger, log zerolog.Logger) (*webPages, error) {
	p := &webPages{log: log.With().Str("component", "web").Logger()}
	sites, err := cfg.sites()
	if err != nil {
		return nil, err
	}
	p.sites.Store(&sites)
	get := func() map[string]web.Site { return *p.sites.Load() }
	if cfg.intakeEnabled() {
		in, err := web.NewIntake(web.IntakeOptions{Ledger: core, Secret: []byte(cfg.PolicyConfig.TokenSecret.Reveal()), Sites: get, Log: p.log})
		if err != nil {
			return nil, err
		}
		p.intake = in
	}
	if cfg.Admin.Listen != "off" {
		ib, err := web.NewInbox(web.InboxOptions{Ledger: core, Users: web.Users{Path: cfg.usersFile()}, Sites: get, Log: p.log})
		if err != nil {
			return nil, err
		}
		p.inbox = ib
	}
	return p, nil
}

// reload takes the lines' new branding (cfg.sites, checked by the
// caller); a page that was off stays off until a restart.
func (p *webPages) reload(cfg *Config, sites map[string]web.Site) {
	p.sites.Store(&sites)
	if p.intake == nil && cfg.intakeEnabled() {
		p.log.Warn().Msg("a line now has an intake link, but the intake page starts only with textback: restart it (systemctl restart textback)")
	}
}

// newPublicServer binds the public listener: the carrier's webhooks under
// /carrier/ and the intake page under /i/, either may be nil.
func newPublicServer(addr string, carrierH, intake http.Handler) (*webhookServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http.listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	if carrierH != nil {
		mux.Handle(carrierPrefix+"/", http.StripPrefix(carrierPrefix, carrierH))
	}
	if intake != nil {
		mux.Handle("/i/", intake)
	}
	return &webhookServer{srv: newHTTPServer(mux), ln: ln}, nil
}
