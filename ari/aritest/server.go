// Package aritest is a fake Asterisk ARI server for tests: the events
// websocket (/ari/events, basic auth) and the REST calls textback makes
// (asterisk/info, asterisk/ping, channels, applications/{app}/eventFilter),
// over httptest. It replays recorded ARI events (ari/testdata) and produces
// the faults a real Asterisk does: refused credentials, a websocket dropped
// mid-stream, silence (pings unanswered), ApplicationReplaced followed by
// silence, event types a client does not know, and garbage.
//
// It knows nothing of textback's translation; it only speaks ARI.
//
// Lab (lab.go) drives the real Asterisk of .ci/lab/asterisk for the
// real-peer tiers: it places SIP calls with the lab's phones and holds the
// lab's lock so that two test packages never call at once.
package aritest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Filter is one event filter a client set.
type Filter struct {
	App     string
	Allowed []string // the allowed event types, in order
}

// Stats is what the server saw so far.
type Stats struct {
	// Connections counts websocket connections accepted; Refused the
	// handshakes refused for credentials.
	Connections, Refused int
	// Open is how many websockets are open now.
	Open int
	// Filters are the event filters set, in order.
	Filters []Filter
	// Requests counts REST requests by "METHOD /path" (without /ari).
	Requests map[string]int
	// Pings counts websocket pings received (answered or not).
	Pings int
	// Queries are the query strings of the websocket handshakes, in order.
	Queries []string
}

// Server is a fake ARI server. Its methods are safe for concurrent use.
type Server struct {
	// URL is the server's base URL (http://127.0.0.1:port), what a client
	// is configured with.
	URL string
	// User and Password are the only credentials accepted.
	User, Password string
	// Version is what GET /ari/asterisk/info reports.
	Version string

	srv *httptest.Server
	up  websocket.Upgrader

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every change
	stats    Stats
	conns    []*conn
	refuse   bool
	silent   bool
	readOnly bool
	channels []json.RawMessage
	pending  map[string]int // apps whose websocket handshake is under way
}

type conn struct {
	ws       *websocket.Conn
	app      string
	wmu      sync.Mutex // one writer at a time
	replaced bool       // got ApplicationReplaced: receives nothing more
	closed   bool
}

// NewServer starts a fake ARI server on a free loopback port, accepting
// user "textback", password "secret". Close it when done.
func NewServer() *Server {
	s := newServer()
	s.srv.Start()
	s.URL = s.srv.URL
	return s
}

// NewServerAt starts a fake ARI server listening on addr (host:port), for
// a test in which Asterisk comes up after its client started.
func NewServerAt(addr string) (*Server, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("aritest: %w", err)
	}
	s := newServer()
	s.srv.Listener.Close()
	s.srv.Listener = l
	s.srv.Start()
	s.URL = s.srv.URL
	return s, nil
}

func newServer() *Server {
	s := &Server{
		User:     "textback",
		Password: "secret",
		Version:  "22.10.1",
		changed:  make(chan struct{}),
		stats:    Stats{Requests: map[string]int{}},
		pending:  map[string]int{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ari/events", s.events)
	mux.HandleFunc("GET /ari/asterisk/info", s.info)
	mux.HandleFunc("GET /ari/asterisk/ping", s.ping)
	mux.HandleFunc("GET /ari/channels", s.listChannels)
	mux.HandleFunc("PUT /ari/applications/{app}/eventFilter", s.eventFilter)
	s.srv = httptest.NewUnstartedServer(mux)
	return s
}

// Close drops every connection and stops the server.
func (s *Server) Close() {
	s.Drop()
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// notify wakes Wait; s.mu must be held.
func (s *Server) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Stats returns a copy of what the server saw so far.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.statsLocked()
}

func (s *Server) statsLocked() Stats {
	st := s.stats
	st.Filters = append([]Filter(nil), s.stats.Filters...)
	st.Queries = append([]string(nil), s.stats.Queries...)
	st.Requests = make(map[string]int, len(s.stats.Requests))
	for k, v := range s.stats.Requests {
		st.Requests[k] = v
	}
	st.Open = 0
	for _, c := range s.conns {
		if !c.closed {
			st.Open++
		}
	}
	return st
}

// Connections is how many websockets the server has accepted so far
// (Stats().Connections, without copying the rest).
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats.Connections
}

// Wait blocks until cond holds for the server's Stats, or ctx ends.
func (s *Server) Wait(ctx context.Context, cond func(Stats) bool) error {
	for {
		s.mu.Lock()
		ok := cond(s.statsLocked())
		ch := s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("aritest: waiting: %w (stats %+v)", ctx.Err(), s.Stats())
		case <-ch:
		}
	}
}

// RefuseAuth makes the server refuse every handshake and request with 401
// while on.
func (s *Server) RefuseAuth(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse = on
}

// Silent makes the server stop answering websocket pings while on (a
// wedged Asterisk or a dead network path).
func (s *Server) Silent(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.silent = on
}

// ReadOnly makes the server answer PUT eventFilter with 403, as Asterisk
// does for a read_only ARI user.
func (s *Server) ReadOnly(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.readOnly = on
}

// SetChannels sets what GET /ari/channels answers: channel snapshots as
// JSON objects. SetChannelIDs is the short form.
func (s *Server) SetChannels(snapshots ...json.RawMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.channels = snapshots
}

// SetChannelIDs makes GET /ari/channels list channels with these ids.
func (s *Server) SetChannelIDs(ids ...string) {
	var list []json.RawMessage
	for _, id := range ids {
		b, _ := json.Marshal(map[string]any{"id": id, "name": "PJSIP/x-" + id, "state": "Up"})
		list = append(list, b)
	}
	s.SetChannels(list...)
}

func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	refuse := s.refuse
	s.mu.Unlock()
	u, p, ok := r.BasicAuth()
	if !refuse && ok && u == s.User && p == s.Password {
		return true
	}
	s.mu.Lock()
	s.stats.Refused++
	s.notify()
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	io.WriteString(w, `{"message":"Authentication required"}`)
	return false
}

func (s *Server) count(r *http.Request) {
	s.mu.Lock()
	s.stats.Requests[r.Method+" "+strings.TrimPrefix(r.URL.Path, "/ari")]++
	s.notify()
	s.mu.Unlock()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	app := r.URL.Query().Get("app")
	if app == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "app parameter is required"})
		return
	}
	// The application exists from the handshake on.
	s.mu.Lock()
	s.pending[app]++
	s.mu.Unlock()
	ws, err := s.up.Upgrade(w, r, nil)
	s.mu.Lock()
	if s.pending[app]--; s.pending[app] == 0 {
		delete(s.pending, app)
	}
	if err != nil {
		s.mu.Unlock()
		return
	}
	c := &conn{ws: ws, app: app}
	// As Asterisk does, a newer websocket for the same application takes
	// it over: the older one gets ApplicationReplaced, then silence.
	var old []*conn
	for _, o := range s.conns {
		if o.app == app && !o.replaced && !o.closed {
			o.replaced = true
			old = append(old, o)
		}
	}
	s.conns = append(s.conns, c)
	s.stats.Connections++
	s.stats.Queries = append(s.stats.Queries, r.URL.RawQuery)
	s.notify()
	s.mu.Unlock()
	ws.SetPingHandler(func(data string) error {
		s.mu.Lock()
		s.stats.Pings++
		silent := s.silent
		s.notify()
		s.mu.Unlock()
		if silent {
			return nil
		}
		c.wmu.Lock()
		defer c.wmu.Unlock()
		return ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	for _, o := range old {
		o.write(replacedEvent(app))
	}
	// Read (and so answer pings) until the client goes.
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			break
		}
	}
	s.mu.Lock()
	c.closed = true
	s.notify()
	s.mu.Unlock()
	ws.Close()
}

func replacedEvent(app string) []byte {
	return fmt.Appendf(nil, `{"type":"ApplicationReplaced","timestamp":%q,"application":%q,"asterisk_id":"02:fc:00:00:00:01"}`,
		time.Now().UTC().Format("2006-01-02T15:04:05.000-0700"), app)
}

func (c *conn) write(msg []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.ws.WriteMessage(websocket.TextMessage, msg)
}

// current is the websocket events go to: the newest open one not replaced.
func (s *Server) current() *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.conns) - 1; i >= 0; i-- {
		if c := s.conns[i]; !c.closed && !c.replaced {
			return c
		}
	}
	return nil
}

// Send sends one message (an ARI event, or anything) to the current
// websocket. It fails when no client is connected.
func (s *Server) Send(msg []byte) error {
	c := s.current()
	if c == nil {
		return fmt.Errorf("aritest: no websocket to send to")
	}
	return c.write(msg)
}

var channelID = regexp.MustCompile(`\b1[0-9]{9}\.[0-9]+\b`)

// Replay sends each line of r (a capture: one ARI event per line; blank
// lines and # comments skipped) to the current websocket. A non-empty
// idPrefix is put in front of every channel id ("1795711522.0" becomes
// idPrefix+"1795711522.0"), so that one capture can be replayed again as
// new calls.
func (s *Server) Replay(r io.Reader, idPrefix string) (int, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	n := 0
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		if idPrefix != "" {
			line = channelID.ReplaceAll(line, []byte(idPrefix+"$0"))
		}
		if err := s.Send(line); err != nil {
			return n, err
		}
		n++
	}
	return n, sc.Err()
}

// Drop closes every websocket abruptly, without a close frame: a
// connection lost mid-stream.
func (s *Server) Drop() {
	s.mu.Lock()
	conns := append([]*conn(nil), s.conns...)
	s.mu.Unlock()
	for _, c := range conns {
		c.ws.NetConn().Close()
	}
}

// ReplaceApp sends ApplicationReplaced to the current websocket and then
// sends it nothing more, without closing it: what Asterisk does when
// another client connects with the same application name.
func (s *Server) ReplaceApp() error {
	c := s.current()
	if c == nil {
		return fmt.Errorf("aritest: no websocket to replace")
	}
	s.mu.Lock()
	c.replaced = true
	s.notify()
	s.mu.Unlock()
	return c.write(replacedEvent(c.app))
}

func (s *Server) info(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	s.count(r)
	writeJSON(w, http.StatusOK, map[string]any{
		"build":  map[string]string{"os": "Linux"},
		"system": map[string]string{"version": s.Version, "entity_id": "02:fc:00:00:00:01"},
		"config": map[string]any{"name": "", "default_language": "en"},
		"status": map[string]string{
			"startup_time":     "2026-11-27T02:52:41.799+0000",
			"last_reload_time": "2026-11-27T02:52:41.799+0000",
		},
	})
}

func (s *Server) ping(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	s.count(r)
	writeJSON(w, http.StatusOK, map[string]string{"ping": "pong", "asterisk_id": "02:fc:00:00:00:01"})
}

func (s *Server) listChannels(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	s.mu.Lock()
	list := append([]json.RawMessage{}, s.channels...)
	s.mu.Unlock()
	s.count(r)
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) eventFilter(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	app := r.PathValue("app")
	var body struct {
		Allowed []struct {
			Type string `json:"type"`
		} `json:"allowed"`
	}
	s.mu.Lock()
	readOnly := s.readOnly
	registered := s.pending[app] > 0
	for _, c := range s.conns {
		registered = registered || c.app == app && !c.closed
	}
	s.mu.Unlock()
	switch {
	case readOnly:
		writeJSON(w, http.StatusForbidden, map[string]string{"message": "Write access denied"})
		return
	case !registered:
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Application not found"})
		return
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "invalid JSON: " + err.Error()})
		return
	}
	f := Filter{App: app}
	for _, a := range body.Allowed {
		f.Allowed = append(f.Allowed, a.Type)
	}
	s.mu.Lock()
	s.stats.Filters = append(s.stats.Filters, f)
	s.mu.Unlock()
	s.count(r)
	writeJSON(w, http.StatusOK, map[string]any{"name": app, "events_allowed": body.Allowed})
}
