package ari

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/textback/textback/ledger"
)

// Connection defaults, used where Config leaves a duration zero.
const (
	DefaultApp            = "textback-observer"
	DefaultDialTimeout    = 5 * time.Second
	DefaultRequestTimeout = 5 * time.Second
	DefaultPingInterval   = 10 * time.Second
	DefaultMinBackoff     = 500 * time.Millisecond
	DefaultMaxBackoff     = 30 * time.Second
)

// Config says how to reach Asterisk's ARI and how to read its calls.
// Durations left zero take the defaults above.
type Config struct {
	// URL is Asterisk's HTTP server, like http://127.0.0.1:8088 (the /ari
	// prefix is added when missing). https:// uses wss:// for events.
	URL string
	// Username and Password are an ARI user of ari.conf; Password is
	// never logged.
	Username, Password string
	// App is the ARI application name textback registers; no dialplan may
	// use it (default DefaultApp). Two textbacks must not share one.
	App string

	Options

	// DialTimeout bounds connecting: TCP, TLS and the websocket handshake.
	DialTimeout time.Duration
	// RequestTimeout bounds each REST request.
	RequestTimeout time.Duration
	// PingInterval is how often a websocket ping goes to Asterisk.
	PingInterval time.Duration
	// ReadTimeout is how long the websocket may stay silent (no event, no
	// pong) before it is taken for dead (default three PingIntervals).
	ReadTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait before reconnecting; it
	// doubles from MinBackoff up to MaxBackoff, with jitter.
	MinBackoff, MaxBackoff time.Duration
	// ShowNumber formats a caller's number for logs (log.mask_numbers);
	// nil logs numbers as they are.
	ShowNumber func(string) string
}

// withDefaults fills the zero fields.
func (c Config) withDefaults() Config {
	if c.App == "" {
		c.App = DefaultApp
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.DialTimeout, DefaultDialTimeout)
	def(&c.RequestTimeout, DefaultRequestTimeout)
	def(&c.PingInterval, DefaultPingInterval)
	def(&c.ReadTimeout, 3*c.PingInterval)
	def(&c.MinBackoff, DefaultMinBackoff)
	def(&c.MaxBackoff, DefaultMaxBackoff)
	if c.ShowNumber == nil {
		c.ShowNumber = func(n string) string { return n }
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = c.MinBackoff
	}
	return c
}

// State is a snapshot of the connection, for status and metrics.
type State struct {
	Connected bool
	// Since is when Connected last changed (zero before the first attempt).
	Since time.Time
	// Version is Asterisk's version, from the last connection.
	Version string
	// Reconnects counts the connections made after the first.
	Reconnects int
	// Events counts the ARI messages received.
	Events int
	// Unknown counts the messages of event types ari/v5 does not know,
	// skipped; Malformed the messages that were no readable ARI event,
	// skipped.
	Unknown, Malformed int
	// LastError is why the last connection failed or ended ("" if none).
	LastError string
	// Warnings are problems with Asterisk's configuration seen so far
	// (channelvars missing, a read-only ARI user), each once.
	Warnings []string
}

// Source watches one Asterisk over ARI and sends the ledger events of its
// calls. Make it with New; Run it once.
type Source struct {
	cfg    Config
	log    zerolog.Logger
	rest   *rest
	events *url.URL // the websocket URL, without the query
	tr     *translator

	running atomic.Bool

	mu            sync.Mutex
	state         State
	everConnected bool

	// owned by Run's goroutine
	warned      map[string]bool // warnings given already
	unknownSeen map[string]bool // unknown event types logged already
	malformedN  int

	// hooks for tests; nil means the real thing
	sleep  func(context.Context, time.Duration) error
	jitter func() float64
}

// New checks cfg and returns a Source; it does not connect. log gets the
// Source's lines (scope it with a component field first); ari/v5's own
// log output is routed into it at debug level (a process-wide setting of
// that library: the last Source made wins).
func New(cfg Config, log zerolog.Logger) (*Source, error) {
	cfg = cfg.withDefaults()
	base, events, err := baseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.Username == "" {
		return nil, errors.New("ARI: no username")
	}
	routeLibraryLogs(log)
	return &Source{
		cfg:         cfg,
		log:         log,
		rest:        newREST(base, cfg.Username, cfg.Password, cfg.DialTimeout, cfg.RequestTimeout),
		events:      events,
		tr:          newTranslator(cfg.Options),
		warned:      map[string]bool{},
		unknownSeen: map[string]bool{},
	}, nil
}

// State returns a snapshot of the connection. It is safe to call at any
// time from any goroutine.
func (s *Source) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state
	st.Warnings = append([]string(nil), s.state.Warnings...)
	return st
}

// Run connects to Asterisk and sends the ledger events of its calls on
// events, in order, until ctx is cancelled; then it returns nil. It never
// returns because of Asterisk: it reconnects after any failure (refused
// connection, wrong password, lost websocket, silence, another textback
// taking the application over) with capped exponential backoff and
// jitter, and reports each failure in the log and in State. Run blocks
// while events is full. It returns an error only when called twice.
//
// After every (re)connection it sets the application's event filter and
// reconciles with Asterisk's channel list: a call whose caller's channel
// went while the websocket was down gets no more events (logged as
// unobserved; the tracker expires it), and calls that began while it was
// down are not followed.
func (s *Source) Run(ctx context.Context, events chan<- ledger.Event) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("ari: Source.Run called twice")
	}
	defer s.running.Store(false)
	attempt := 0
	for {
		up, err := s.session(ctx, events)
		if ctx.Err() != nil {
			s.setConnected(false, "")
			return nil
		}
		msg := err.Error()
		s.setConnected(false, msg)
		// A connection that lived long enough starts the backoff over;
		// losing the application to another textback never does.
		if up >= s.cfg.MaxBackoff && !errors.Is(err, ErrAppReplaced) {
			attempt = 0
		}
		d := backoff(attempt, s.cfg.MinBackoff, s.cfg.MaxBackoff, s.rand())
		attempt++
		ev := s.log.Warn()
		if errors.Is(err, ErrAppReplaced) || errors.Is(err, ErrAuth) {
			ev = s.log.Error()
		}
		ev.Err(err).Dur("retry_in", d).Int("attempt", attempt).Msg("asterisk connection down")
		if s.wait(ctx, d) != nil {
			return nil
		}
	}
}

// backoff is the wait before reconnection attempt n (from 0): lo·2ⁿ
// capped at hi, of which a random half (r in [0,1]) is kept as jitter.
func backoff(n int, lo, hi time.Duration, r float64) time.Duration {
	d := hi
	if n < 62 {
		if v := lo << n; v > 0 && v < hi {
			d = v
		}
	}
	half := d / 2
	return d - half + time.Duration(r*float64(half))
}

func (s *Source) rand() float64 {
	if s.jitter != nil {
		return s.jitter()
	}
	return rand.Float64()
}

func (s *Source) wait(ctx context.Context, d time.Duration) error {
	if s.sleep != nil {
		return s.sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (s *Source) setConnected(up bool, lastErr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state.Connected != up || s.state.Since.IsZero() {
		s.state.Since = time.Now()
	}
	s.state.Connected = up
	if lastErr != "" {
		s.state.LastError = lastErr
	}
}

// warnOnce logs a configuration problem the first time it is seen and
// keeps it in State.Warnings.
func (s *Source) warnOnce(key, msg string, fields map[string]any) {
	if s.warned[key] {
		return
	}
	s.warned[key] = true
	s.mu.Lock()
	s.state.Warnings = append(s.state.Warnings, msg)
	s.mu.Unlock()
	s.log.Warn().Fields(fields).Msg(msg)
}

func (s *Source) count(f func(*State)) {
	s.mu.Lock()
	f(&s.state)
	s.mu.Unlock()
}

// unknown counts a message of an event type ari/v5 does not know; the
// first of each type is logged.
func (s *Source) unknown(typ string) {
	s.count(func(st *State) { st.Unknown++ })
	if !s.unknownSeen[typ] && len(s.unknownSeen) < 64 {
		s.unknownSeen[typ] = true
		s.log.Info().Str("type", typ).Msg("skipping an ARI event type unknown to ari/v5")
	}
}

// malformed counts a message that is no readable ARI event; the first few
// and then every hundredth are logged.
func (s *Source) malformed(msg []byte, err error) {
	s.count(func(st *State) { st.Malformed++ })
	s.malformedN++
	if s.malformedN <= 5 || s.malformedN%100 == 0 {
		if len(msg) > 200 {
			msg = msg[:200]
		}
		s.log.Warn().Err(err).Bytes("message", msg).Int("malformed", s.malformedN).Msg("skipping an unreadable ARI message")
	}
}

// checkVars warns once when channel snapshots lack the channelvars textback
// needs.
func (s *Source) checkVars() {
	if s.tr.missingPres && !s.warned["pres"] {
		s.warnOnce("pres", fmt.Sprintf("channel snapshots lack %s: a caller who withholds the number cannot be told apart and may be texted; add channelvars = %s,%s to ari.conf [general]", VarPres, VarLinkedID, VarPres), map[string]any{"var": VarPres})
	}
	if s.tr.missingLinkedID && !s.warned["linkedid"] {
		s.warnOnce("linkedid", fmt.Sprintf("channel snapshots lack %s: call legs are grouped by inference; add channelvars = %s,%s to ari.conf [general]", VarLinkedID, VarLinkedID, VarPres), map[string]any{"var": VarLinkedID})
	}
}
