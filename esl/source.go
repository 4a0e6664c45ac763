package esl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/percipia/eslgo/command"
	"github.com/rs/zerolog"
	"github.com/textback/textback/ledger"
)

// Connection defaults (Config's zero values).
const (
	DefaultAddress           = "127.0.0.1:8021"
	DefaultDialTimeout       = 5 * time.Second
	DefaultCommandTimeout    = 10 * time.Second
	DefaultHeartbeatInterval = 20 * time.Second // FreeSWITCH's event-heartbeat-interval
	DefaultMinBackoff        = time.Second
	DefaultMaxBackoff        = time.Minute
	DefaultLogEvery          = 10 * time.Minute
	// MissedHeartbeats is how many HEARTBEAT intervals may pass without one
	// before the connection is taken for dead and redialled.
	MissedHeartbeats = 3
)

// Config says how to reach FreeSWITCH's event socket and how to read its
// calls. Zero durations take the defaults above.
type Config struct {
	// Address is mod_event_socket's HOST:PORT (default 127.0.0.1:8021).
	Address string
	// Password is event_socket.conf.xml's password. It is sent only in the
	// auth command and never logged.
	Password string
	Options

	// DialTimeout bounds the TCP connect and each step of the handshake
	// (greeting, auth). An ACL rejection or a FreeSWITCH that accepts and
	// says nothing fails within it.
	DialTimeout time.Duration
	// CommandTimeout bounds the wait for a command's reply. On timeout the
	// connection is dropped and redialled.
	CommandTimeout time.Duration
	// HeartbeatInterval is FreeSWITCH's HEARTBEAT interval (switch.conf's
	// event-heartbeat-interval, 20 s unless changed). With no HEARTBEAT for
	// MissedHeartbeats intervals (and half one for jitter) the connection
	// is taken for dead and redialled.
	HeartbeatInterval time.Duration
	// MinBackoff and MaxBackoff bound the wait before a redial: it doubles
	// after each failure from MinBackoff up to MaxBackoff, with jitter, and
	// starts over once a connection has worked (a HEARTBEAT arrived).
	MinBackoff, MaxBackoff time.Duration
	// LogEvery: a connection failure that repeats is logged when it first
	// happens, then at most this often (default 10 minutes).
	LogEvery time.Duration
	// ShowNumber formats a caller's number for logs (log.mask_numbers);
	// nil shows it as it is.
	ShowNumber func(string) string
}

func (c Config) withDefaults() Config {
	if c.Address == "" {
		c.Address = DefaultAddress
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.DialTimeout, DefaultDialTimeout)
	def(&c.CommandTimeout, DefaultCommandTimeout)
	def(&c.HeartbeatInterval, DefaultHeartbeatInterval)
	def(&c.MinBackoff, DefaultMinBackoff)
	def(&c.MaxBackoff, DefaultMaxBackoff)
	def(&c.LogEvery, DefaultLogEvery)
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = c.MinBackoff
	}
	return c
}

func (c Config) validate() error {
	if _, port, err := net.SplitHostPort(c.Address); err != nil || port == "" {
		return fmt.Errorf("esl: address %q is not HOST:PORT (like 127.0.0.1:8021)", c.Address)
	}
	if c.Password == "" {
		return errors.New("esl: no event socket password")
	}
	if strings.ContainsAny(c.Password, "\r\n") {
		return errors.New("esl: the event socket password has a line break")
	}
	for i, p := range c.InboundProfiles {
		if strings.TrimSpace(p) == "" {
			return fmt.Errorf("esl: inbound profile %d is empty", i)
		}
	}
	if strings.ContainsAny(c.LineVariable, " \t\r\n") {
		return fmt.Errorf("esl: line variable %q has a space", c.LineVariable)
	}
	return nil
}

// State is a snapshot of the connection, for `textback status` and
// metrics.
type State struct {
	// Connected: authenticated, subscribed and reconciled; events flow.
	Connected bool
	// Since is when Connected last changed (zero before Run first tried).
	Since time.Time
	// Version is FreeSWITCH's version, from the last connection.
	Version string
	// Reconnects counts the connection attempts after Run's first one.
	Reconnects int
	// LastError is the last connection error ("" if none yet). It stays
	// after a reconnect, for the record.
	LastError string
	// Events counts the events received over every connection.
	Events uint64
	// Unobserved counts the calls that ended while the connection was down,
	// found by reconciliation; they are not decided.
	Unobserved int
}

// Source watches one FreeSWITCH over its event socket and sends the
// ledger events of its calls. Create it with New; run it with Run.
type Source struct {
	cfg Config
	log zerolog.Logger
	tr  *translator

	running atomic.Bool
	seen    atomic.Uint64 // event frames received

	mu sync.Mutex
	st State
}

// New checks cfg and returns a Source. It does not connect.
func New(cfg Config, log zerolog.Logger) (*Source, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	tr := newTranslator(cfg.Options, log)
	if cfg.ShowNumber != nil {
		tr.show = cfg.ShowNumber
	}
	return &Source{cfg: cfg, log: log, tr: tr}, nil
}

// State returns a snapshot of the connection. It is safe to call at any
// time, from any goroutine.
func (s *Source) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	st.Events = s.seen.Load()
	return st
}

// Run connects to FreeSWITCH and sends the ledger events of its calls on
// events, in order per call, until ctx is cancelled; then it returns nil.
// Sending blocks while events is full (time so spent does not count
// against FreeSWITCH's liveness).
//
// Run does not return on connection trouble: it redials after any error
// or timeout with capped exponential backoff and jitter, logging a failure
// when it first happens and then at a low rate (a wrong password once, as
// an error). After each connection it asks FreeSWITCH which channels are
// up and forgets the calls that ended while it was away, emitting nothing
// for them. A panic while handling FreeSWITCH's input is recovered and
// treated as a connection error.
//
// Run must not be called again while it runs; the second call returns an
// error at once.
func (s *Source) Run(ctx context.Context, events chan<- ledger.Event) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("esl: Source.Run is already running")
	}
	defer s.running.Store(false)
	bo := backoff{min: s.cfg.MinBackoff, max: s.cfg.MaxBackoff}
	var fails failures
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			s.mu.Lock()
			s.st.Reconnects++
			s.mu.Unlock()
		}
		healthy, wasUp, err := s.session(ctx, events, &fails)
		if ctx.Err() != nil {
			s.setDown(nil)
			return nil
		}
		s.setDown(err)
		if healthy {
			bo.reset()
		}
		delay := bo.next()
		s.report(&fails, err, wasUp, delay)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// session runs one connection until it fails. healthy reports that a
// HEARTBEAT arrived on it, up that it was ready (subscribed, reconciled).
func (s *Source) session(ctx context.Context, events chan<- ledger.Event, fails *failures) (healthy, up bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error().Str("panic", fmt.Sprint(r)).Str("stack", string(debug.Stack())).
				Msg("recovered from a panic handling FreeSWITCH's input; reconnecting")
			err = fmt.Errorf("esl %s: recovered from a panic: %v", s.cfg.Address, r)
			s.mu.Lock()
			up = s.st.Connected
			s.mu.Unlock()
		}
	}()
	c, err := dial(ctx, s.cfg.Address, s.cfg.Password, s.cfg.DialTimeout)
	if err != nil {
		return false, false, err
	}
	defer c.close()
	stop := context.AfterFunc(ctx, func() { c.conn.Close() })
	defer stop()

	ss := &session{Source: s, ctx: ctx, events: events, addr: s.cfg.Address}
	c.timeout = s.cfg.CommandTimeout
	c.onEvent = ss.frame
	c.onOther = ss.other

	listen := append(append([]string(nil), subscribedEvents...), "HEARTBEAT")
	reply, err := c.command("event", command.Event{Format: "plain", Listen: listen}, TypeCommandReply)
	if err != nil {
		return false, false, err
	}
	if !strings.HasPrefix(reply.Get("Reply-Text"), "+OK") {
		return false, false, fmt.Errorf("esl event %s: %w: subscription refused: %s", s.cfg.Address, ErrProtocol, reply.Get("Reply-Text"))
	}
	v, err := c.api("version", "")
	if err != nil {
		return false, false, err
	}
	if ss.missing, err = s.reconcile(c); err != nil {
		return false, false, err
	}
	s.setUp(version(v))
	s.log.Info().Str("address", s.cfg.Address).Str("version", version(v)).Int("attempts", fails.count).
		Int("calls_in_progress", s.tr.inProgress()).Msg("connected to FreeSWITCH")
	fails.reset()

	window := s.cfg.HeartbeatInterval*MissedHeartbeats + s.cfg.HeartbeatInterval/2
	ss.alive = time.Now()
	for {
		c.conn.SetReadDeadline(ss.alive.Add(window))
		f, err := c.r.ReadFrame()
		if err != nil {
			if errors.Is(err, ErrUnknownContentType) {
				ss.other(f, err)
				continue
			}
			if ctx.Err() != nil {
				return ss.healthy, true, ctx.Err()
			}
			if e := c.readErr("read", err); errors.Is(e, ErrTimeout) {
				return ss.healthy, true, fmt.Errorf("esl %s: no HEARTBEAT for %s: %w", s.cfg.Address, window, ErrTimeout)
			}
			return ss.healthy, true, c.readErr("read", err)
		}
		switch ct := f.ContentType(); ct {
		case TypeEventPlain, TypeEventJSON, TypeEventXML:
			if err := ss.frame(f); err != nil {
				return ss.healthy, true, err
			}
		case TypeLogData:
			ss.other(f, nil)
		case TypeDisconnect:
			return ss.healthy, true, fmt.Errorf("esl %s: %w", s.cfg.Address, ErrDisconnected)
		default:
			// No command is waiting: a reply now is a stray one.
			return ss.healthy, true, fmt.Errorf("esl %s: %w: %s with no command waiting", s.cfg.Address, ErrProtocol, ct)
		}
	}
}

// reconcile asks FreeSWITCH which channels are up, and returns the
// channels remembered that are not: they ended while the connection was
// down, unless their end is still queued behind the reply (FreeSWITCH
// writes an api reply ahead of the events it has queued). The second
// HEARTBEAT after the reply, fired after it and so delivered after any
// such event, settles them.
func (s *Source) reconcile(c *client) ([]string, error) {
	body, err := c.api("show", "channels as json")
	if err != nil {
		return nil, err
	}
	live, err := parseChannels(body)
	if err != nil {
		// The connection works; only the list is unusable. Calls that
		// ended unseen are then forgotten by age instead.
		s.log.Warn().Err(err).Msg("cannot reconcile calls in progress with FreeSWITCH's channels")
		return nil, nil
	}
	return s.tr.missing(live), nil
}

// settle forgets the calls reconcile found missing that are still
// undecided: their end was not observed.
func (ss *session) settle() {
	gone := ss.tr.forgetMissing(ss.missing)
	ss.missing = nil
	for _, uuid := range gone {
		ss.log.Warn().Str("call", PBX+":"+uuid).Msg("call ended while disconnected from FreeSWITCH; its outcome was not observed and is not guessed")
	}
	if len(gone) > 0 {
		ss.mu.Lock()
		ss.st.Unobserved += len(gone)
		ss.mu.Unlock()
	}
}

func (s *Source) setUp(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.Connected, s.st.Since, s.st.Version = true, time.Now(), v
}

func (s *Source) setDown(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.Connected || s.st.Since.IsZero() {
		s.st.Since = time.Now()
	}
	s.st.Connected = false
	if err != nil {
		s.st.LastError = err.Error()
	}
}

// report logs a connection failure: a lost connection always, a failure
// to connect when it first happens or changes, then at most every
// LogEvery, and at debug level in between.
func (s *Source) report(f *failures, err error, wasUp bool, delay time.Duration) {
	now := time.Now()
	class := failureClass(err)
	f.count++
	switch {
	case wasUp:
		s.log.Warn().Err(err).Dur("retry_in", delay).Msg("lost the connection to FreeSWITCH; reconnecting")
		f.class, f.logged, f.count = class, now, 0
	case class != f.class:
		ev := s.log.Warn()
		msg := "cannot connect to FreeSWITCH; retrying"
		switch class {
		case "auth":
			ev = s.log.Error()
			msg = "FreeSWITCH refused the event socket password (freeswitch.password or password_file must match event_socket.conf.xml); retrying"
		case "acl":
			ev = s.log.Error()
			msg = "FreeSWITCH's event socket ACL refuses this host (event_socket.conf.xml apply-inbound-acl); retrying"
		}
		ev.Err(err).Str("address", s.cfg.Address).Dur("retry_in", delay).Msg(msg)
		f.class, f.logged = class, now
	case now.Sub(f.logged) >= s.cfg.LogEvery:
		s.log.Warn().Err(err).Str("address", s.cfg.Address).Int("attempts", f.count).Dur("retry_in", delay).
			Msg("still cannot connect to FreeSWITCH; retrying")
		f.logged = now
	default:
		s.log.Debug().Err(err).Int("attempts", f.count).Dur("retry_in", delay).Msg("cannot connect to FreeSWITCH; retrying")
	}
}

// failures is the run of connection failures since the last connection.
type failures struct {
	class  string
	count  int
	logged time.Time
}

func (f *failures) reset() { *f = failures{} }

func failureClass(err error) string {
	switch {
	case errors.Is(err, ErrAuth):
		return "auth"
	case errors.Is(err, ErrRejected):
		return "acl"
	case errors.Is(err, ErrTimeout):
		return "timeout"
	case errors.Is(err, ErrDisconnected):
		return "disconnected"
	case errors.Is(err, ErrProtocol), errors.Is(err, ErrMalformed), errors.Is(err, ErrTooLarge):
		return "protocol"
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return "dial"
	}
	return "other"
}

// session is one connection's event handling.
type session struct {
	*Source
	ctx     context.Context
	events  chan<- ledger.Event
	addr    string
	alive   time.Time // the last sign of life: a HEARTBEAT (or ready)
	healthy bool      // a HEARTBEAT arrived
	badSeen int       // unusable frames skipped
	missing []string  // channels reconcile found gone, to settle
	beats   int       // HEARTBEATs since reconcile
}

// frame handles an event frame.
func (ss *session) frame(f Frame) error {
	ss.seen.Add(1)
	if f.ContentType() != TypeEventPlain {
		ss.other(f, nil) // textback subscribes in plain format only
		return nil
	}
	e, err := ParseEvent(f.Body)
	if err != nil {
		ss.skip("skipping an event that does not parse", err)
		return nil
	}
	if e.Name() == "HEARTBEAT" {
		ss.alive, ss.healthy = time.Now(), true
		if len(ss.missing) > 0 {
			if ss.beats++; ss.beats >= 2 {
				ss.settle()
			}
		}
		return nil
	}
	return ss.tr.observe(e, ss.emit)
}

// other handles a frame textback did not ask for (log/data, an unknown
// content type): the stream is in sync, so it is skipped.
func (ss *session) other(f Frame, err error) {
	if err == nil {
		err = fmt.Errorf("unexpected %s frame", f.ContentType())
	}
	ss.skip("skipping a frame textback did not ask for", err)
}

// skip logs a skipped frame: the first of a connection as a warning, the
// others at debug level.
func (ss *session) skip(msg string, err error) {
	ss.badSeen++
	if ss.badSeen == 1 {
		ss.log.Warn().Err(err).Str("address", ss.addr).Msg(msg)
		return
	}
	ss.log.Debug().Err(err).Int("skipped", ss.badSeen).Msg(msg)
}

// emit hands a ledger event on, waiting for room.
func (ss *session) emit(ev ledger.Event) error {
	ss.log.Debug().Str("call", PBX+":"+ev.Call).Stringer("kind", ev.Kind).Str("hint", string(ev.Hint)).
		Time("at", ev.At).Msg("call event")
	select {
	case ss.events <- ev:
		return nil
	default:
	}
	start := time.Now()
	select {
	case ss.events <- ev:
	case <-ss.ctx.Done():
		return ss.ctx.Err()
	}
	// Time spent waiting for the consumer is not FreeSWITCH's silence.
	ss.alive = ss.alive.Add(time.Since(start))
	return nil
}
