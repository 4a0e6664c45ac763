package ari

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/gorilla/websocket"
	"github.com/textback/textback/ledger"
)

// queueLen is how many websocket messages wait between the reader and the
// translation (while the REST calls after a connection run, or while the
// events channel is full); at most queueLen·MaxEventSize bytes.
const queueLen = 256

// dialEvents opens the events websocket for app.
func dialEvents(ctx context.Context, events *url.URL, app, user, pass string, timeout time.Duration) (*websocket.Conn, error) {
	u := *events
	u.RawQuery = url.Values{"app": {app}, "subscribeAll": {"true"}}.Encode()
	d := websocket.Dialer{
		Proxy:            http.ProxyFromEnvironment,
		NetDialContext:   (&net.Dialer{Timeout: timeout}).DialContext,
		HandshakeTimeout: timeout,
	}
	h := http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))}}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, resp, err := d.DialContext(dctx, u.String(), h)
	if err != nil {
		if resp != nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			herr := &HTTPError{Method: "GET", Path: "/events", Status: resp.StatusCode, Message: errorMessage(body)}
			if resp.StatusCode == http.StatusUnauthorized {
				return nil, fmt.Errorf("connecting to %s as %q: %w", events, user, herr)
			}
			return nil, fmt.Errorf("connecting to %s: %w", events, herr)
		}
		return nil, fmt.Errorf("connecting to %s: %w", events, err)
	}
	conn.SetReadLimit(MaxEventSize)
	return conn, nil
}

// session connects once and translates events until the connection ends
// or ctx is cancelled. It returns how long the connection was up and why
// it ended (nil when ctx was cancelled).
func (s *Source) session(ctx context.Context, out chan<- ledger.Event) (time.Duration, error) {
	conn, err := dialEvents(ctx, s.events, s.cfg.App, s.cfg.Username, s.cfg.Password, s.cfg.DialTimeout)
	if err != nil {
		return 0, err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer conn.Close()
	// Cancelling closes the websocket, which ends the reader.
	stop := context.AfterFunc(sctx, func() {
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		conn.Close()
	})
	defer stop()

	msgs := make(chan []byte, queueLen)
	readErr := make(chan error, 1)
	go s.read(sctx, conn, msgs, readErr)
	go s.ping(sctx, conn)

	if err := s.setup(sctx); err != nil {
		return 0, err
	}
	start := time.Now()
	s.setConnected(true, "")

	emit := func(e ledger.Event) error {
		// zerolog builds nothing when debug is off
		ev := s.log.Debug().Str("call", PBX+":"+e.Call).Stringer("kind", e.Kind).Str("leg", e.Leg)
		if e.Hint != "" {
			ev = ev.Str("hint", string(e.Hint))
		}
		if e.Kind == ledger.EventOffered {
			ev = ev.Str("from", s.cfg.ShowNumber(e.From)).Str("line", e.Line).Bool("withheld", e.Withheld)
		}
		ev.Msg("call event")
		select {
		case out <- e:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for {
		var msg []byte
		var ok bool
		select {
		case msg, ok = <-msgs:
		case <-ctx.Done():
			return time.Since(start), nil
		}
		if !ok {
			err := <-readErr
			if ctx.Err() != nil {
				return time.Since(start), nil
			}
			return time.Since(start), err
		}
		s.count(func(st *State) { st.Events++ })
		typ, res, err := s.tr.handle(msg, emit)
		var de *DecodeError
		switch {
		case errors.As(err, &de):
			s.malformed(msg, err)
			continue
		case err != nil:
			// emit failed: ctx is done
			return time.Since(start), nil
		}
		switch res {
		case resUnknown:
			s.unknown(typ)
		case resReplaced:
			return time.Since(start), fmt.Errorf("another textback uses app %s: %w", s.cfg.App, ErrAppReplaced)
		}
		s.checkVars()
	}
}

// read passes websocket messages on until the connection fails; then it
// sends why on errc and closes msgs.
func (s *Source) read(ctx context.Context, conn *websocket.Conn, msgs chan<- []byte, errc chan<- error) {
	defer close(msgs)
	alive := func(string) error { return conn.SetReadDeadline(time.Now().Add(s.cfg.ReadTimeout)) }
	conn.SetPongHandler(alive)
	var buf bytes.Buffer
	for {
		if err := alive(""); err != nil {
			errc <- fmt.Errorf("websocket: %w", err)
			return
		}
		msg, err := readMessage(conn, &buf)
		if err != nil {
			errc <- readError(err, s.cfg.ReadTimeout)
			return
		}
		select {
		case msgs <- msg:
		case <-ctx.Done():
			errc <- ctx.Err()
			return
		}
	}
}

// readMessage reads the next data message through buf (reused: one
// allocation a message, exactly its size, where io.ReadAll would grow a
// slice several times).
func readMessage(conn *websocket.Conn, buf *bytes.Buffer) ([]byte, error) {
	_, r, err := conn.NextReader()
	if err != nil {
		return nil, err
	}
	buf.Reset()
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, err
	}
	return bytes.Clone(buf.Bytes()), nil
}

// readError says why reading the websocket failed.
func readError(err error, timeout time.Duration) error {
	var ne net.Error
	var ce *websocket.CloseError
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("websocket silent for %s (no event, no pong): %w", timeout, err)
	case errors.As(err, &ce):
		return fmt.Errorf("websocket closed by Asterisk: %w", err)
	}
	return fmt.Errorf("websocket lost: %w", err)
}

// ping sends a websocket ping every PingInterval; a failed write closes
// the connection (the reader then reports it).
func (s *Source) ping(ctx context.Context, conn *websocket.Conn) {
	t := time.NewTicker(s.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(s.cfg.RequestTimeout)); err != nil {
				s.log.Debug().Err(err).Msg("websocket ping failed")
				conn.Close()
				return
			}
		}
	}
}

// setFilter sets the event filter. The application may be registered a
// moment after the websocket handshake answered: a 404 is tried again a
// few times.
func (s *Source) setFilter(ctx context.Context) error {
	var err error
	for i := range 5 {
		err = s.rest.setFilter(ctx, s.cfg.App)
		var he *HTTPError
		if !errors.As(err, &he) || he.Status != http.StatusNotFound {
			return err
		}
		if werr := s.wait(ctx, time.Duration(i+1)*20*time.Millisecond); werr != nil {
			return werr
		}
	}
	return err
}

// setup runs after each connection: the event filter, Asterisk's version,
// and the reconciliation with its channel list. Only a cancelled ctx
// fails it; other problems are logged and the events flow anyway.
func (s *Source) setup(ctx context.Context) error {
	app := s.cfg.App
	if err := s.setFilter(ctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, ErrReadOnly) {
			s.warnOnce("readonly", fmt.Sprintf("ARI user %s is read_only: textback cannot set its event filter and receives every event; set read_only = no for it in ari.conf", s.cfg.Username), map[string]any{"user": s.cfg.Username})
		} else {
			s.log.Warn().Err(err).Str("app", app).Msg("could not set the event filter; receiving every event")
		}
	}
	info, err := s.rest.info(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.log.Warn().Err(err).Msg("could not read Asterisk's version")
	}
	version := info.SystemInfo.Version
	list, err := s.rest.channels(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.log.Warn().Err(err).Msg("could not list Asterisk's channels; calls that ended while disconnected are kept until the tracker expires them")
	} else {
		alive := make(map[string]bool, len(list))
		for _, ch := range list {
			alive[ch.ID] = true
		}
		for _, u := range s.tr.reconcile(alive) {
			if u.Inbound {
				s.log.Warn().Str("call", PBX+":"+u.Call).Str("from", s.cfg.ShowNumber(u.From)).Str("leg", u.Leg).Msg("call ended while disconnected from Asterisk: unobserved, no verdict")
			} else {
				s.log.Debug().Str("call", PBX+":"+u.Call).Str("leg", u.Leg).Msg("internal call ended while disconnected")
			}
		}
	}
	s.mu.Lock()
	if version != "" {
		s.state.Version = version
	}
	first := !s.everConnected
	s.everConnected = true
	if !first {
		s.state.Reconnects++
	}
	n := s.state.Reconnects
	s.mu.Unlock()
	s.log.Info().Str("version", version).Str("app", app).Str("url", s.rest.base).Int("reconnects", n).Int("channels", len(list)).Msg("connected to Asterisk")
	return nil
}
