package ari

import (
	"context"
	"fmt"
	"time"

	"github.com/gorilla/websocket"
)

// Info is what Probe learnt about an Asterisk.
type Info struct {
	// URL is the ARI REST base probed (http://host:port/ari).
	URL string
	// Version is Asterisk's version ("22.10.1"), EntityID its id.
	Version, EntityID string
	// Events: the events websocket accepted the user.
	Events bool
	// CanFilter: the user may set an application's event filter (it is
	// not read_only).
	CanFilter bool
	// Channels is how many channels were up.
	Channels int
	// VarsChecked: a channel was up, so MissingVars could be checked.
	VarsChecked bool
	// MissingVars lists the channel variables textback needs that the
	// channel snapshots lack (ari.conf channelvars).
	MissingVars []string
}

// Probe checks that cfg reaches Asterisk's ARI and that the user can do
// what Source needs: read Asterisk's version (GET /ari/asterisk/info),
// open the events websocket, and set an event filter. It connects with the
// application name cfg.App + "-probe", so a textback already running with
// cfg.App keeps its events. It returns what it learnt and the first
// problem: an error wrapping ErrAuth for a wrong username or password,
// ErrReadOnly for a read_only user (Info is filled then), or why Asterisk
// could not be reached. It never logs, and the password appears in no
// error.
func Probe(ctx context.Context, cfg Config) (Info, error) {
	cfg = cfg.withDefaults()
	base, events, err := baseURL(cfg.URL)
	if err != nil {
		return Info{}, err
	}
	r := newREST(base, cfg.Username, cfg.Password, cfg.DialTimeout, cfg.RequestTimeout)
	info := Info{URL: base}
	ai, err := r.info(ctx)
	if err != nil {
		return info, fmt.Errorf("asterisk at %s: %w", base, err)
	}
	info.Version, info.EntityID = ai.SystemInfo.Version, ai.SystemInfo.EntityID

	app := cfg.App + "-probe"
	conn, err := dialEvents(ctx, events, app, cfg.Username, cfg.Password, cfg.DialTimeout)
	if err != nil {
		return info, err
	}
	defer func() {
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		conn.Close()
	}()
	info.Events = true
	if err := r.setFilter(ctx, app); err != nil {
		return info, fmt.Errorf("setting the event filter as %q: %w", cfg.Username, err)
	}
	info.CanFilter = true

	list, err := r.channels(ctx)
	if err != nil {
		return info, fmt.Errorf("listing channels: %w", err)
	}
	info.Channels = len(list)
	if len(list) > 0 {
		info.VarsChecked = true
		for _, v := range []string{VarLinkedID, VarPres} {
			if _, ok := list[0].ChannelVars[v]; !ok {
				info.MissingVars = append(info.MissingVars, v)
			}
		}
	}
	return info, nil
}
