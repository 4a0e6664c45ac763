// Package esltest is a fake FreeSWITCH event socket (mod_event_socket,
// inbound connections) for tests: it greets, authenticates, subscribes,
// answers api and bgapi commands, sends HEARTBEATs, replays captured
// event frames byte for byte (or with fresh channel UUIDs), and produces
// the faults a real FreeSWITCH or a broken network produce: an ACL
// rejection, a wrong password, a server that says nothing, a stall, a
// dropped connection mid-frame, garbage, a negative or huge
// Content-Length, frames of a content type nobody asked for, late and
// crossed replies, a restart.
//
// It keeps the protocol as FreeSWITCH 1.10 speaks it (see the captures in
// esl/testdata): every frame is "Name: value" header lines, a blank line,
// then Content-Length bytes of body; event bodies are header lines of
// their own with URL-encoded values.
package esltest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/textback/textback/esl"
)

// Config sets up a Server. The zero value is a stock FreeSWITCH with
// password ClueCon and no heartbeats.
type Config struct {
	// Password the server accepts (default "ClueCon").
	Password string
	// HeartbeatInterval between HEARTBEAT events to connections that
	// subscribed to them (0: none).
	HeartbeatInterval time.Duration
	// Version `api version` reports (default "1.10.12-release~64bit").
	Version string
	// Profiles `sofia status` lists (default external and internal).
	Profiles []string
}

// Plan is how the server treats one connection. The zero Plan behaves.
type Plan struct {
	// Reject: the ACL refuses the client (text/rude-rejection, then close).
	Reject bool
	// Mute: accept and never say anything (no auth/request).
	Mute bool
	// NoHeartbeat: never send HEARTBEAT on this connection.
	NoHeartbeat bool
	// SlowReply delays every api reply (a reply arriving after the client
	// gave up is a late reply: taken for the next command's by a client
	// that does not drop the connection).
	SlowReply time.Duration
	// CrossReply: answer the first api command with a stale command/reply
	// first (a crossed reply).
	CrossReply bool
	// Hold, when not nil, delays the greeting until it is closed (a
	// FreeSWITCH slow to accept; lets a test act while a client waits).
	Hold <-chan struct{}
}

// Server is a fake event socket listening on a loopback port.
type Server struct {
	cfg Config
	ln  net.Listener

	mu       sync.Mutex
	plans    []Plan
	conns    map[*conn]bool
	accepted int
	ready    int
	commands []string
	channels []string // channel UUIDs up, in creation order
	coreUUID string
	seq      uint64
	changed  chan struct{} // closed and replaced at every change
	closed   bool
	quit     chan struct{} // closed by Close
	wg       sync.WaitGroup
}

// NewServer starts a server on 127.0.0.1 and a free port.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Password == "" {
		cfg.Password = "ClueCon"
	}
	if cfg.Version == "" {
		cfg.Version = "1.10.12-release~64bit"
	}
	if cfg.Profiles == nil {
		cfg.Profiles = []string{"external", "internal"}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("esltest: listen: %w", err)
	}
	s := &Server{cfg: cfg, ln: ln, conns: map[*conn]bool{}, coreUUID: NewUUID(), changed: make(chan struct{}), quit: make(chan struct{})}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is the server's HOST:PORT.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops listening, closes every connection and waits for the
// server's goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.quit)
	}
	for c := range s.conns {
		c.c.Close()
	}
	s.mu.Unlock()
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

// Plan queues plans for the next connections, one each, in order; once
// the queue is empty connections get the zero Plan.
func (s *Server) Plan(p ...Plan) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.plans = append(s.plans, p...)
}

// Accepted is how many connections the server has accepted.
func (s *Server) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// Ready is how many connections have authenticated and subscribed.
func (s *Server) Ready() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ready
}

// Live is how many connections are open now.
func (s *Server) Live() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Commands returns the commands received so far, in order, over every
// connection; the password of an auth command reads "********".
func (s *Server) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.commands...)
}

// Channels returns the UUIDs of the channels up: created by a replayed
// CHANNEL_CREATE and not yet destroyed by a CHANNEL_DESTROY, or added by
// SetChannels.
func (s *Server) Channels() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.channels...)
}

// SetChannels replaces the channels `show channels` reports.
func (s *Server) SetChannels(uuids ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.channels = append([]string(nil), uuids...)
}

// Wait blocks until cond (called with no lock held) is true or ctx ends.
func (s *Server) Wait(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// WaitReady blocks until n connections in all have subscribed.
func (s *Server) WaitReady(ctx context.Context, n int) error {
	return s.Wait(ctx, func() bool { return s.Ready() >= n && s.readyLive() })
}

// readyLive reports whether a subscribed connection is open.
func (s *Server) readyLive() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.isReady() {
			return true
		}
	}
	return false
}

// notify wakes Wait; s.mu must be held.
func (s *Server) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return
		}
		var p Plan
		if len(s.plans) > 0 {
			p, s.plans = s.plans[0], s.plans[1:]
		}
		c := &conn{s: s, c: nc, plan: p, done: make(chan struct{})}
		s.conns[c] = true
		s.accepted++
		s.notify()
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			c.serve()
		}()
	}
}

// Send writes frames, in order, to every subscribed connection: an event
// frame only to the connections subscribed to its Event-Name, any other
// frame to all. Replayed CHANNEL_CREATE and CHANNEL_DESTROY events update
// the channels `show channels` reports, connected or not (FreeSWITCH
// runs on while no client listens). It returns how many connections it
// wrote to.
func (s *Server) Send(frames ...esl.Frame) int {
	targets := map[*conn]bool{}
	for _, f := range frames {
		name := ""
		if f.ContentType() == esl.TypeEventPlain {
			if e, err := esl.ParseEvent(f.Body); err == nil {
				name = e.Name()
				s.track(e)
			}
		}
		b := f.Append(nil)
		for _, c := range s.readyConns() {
			if name != "" && !c.wants(name) {
				continue
			}
			if c.write(b) == nil {
				targets[c] = true
			}
		}
	}
	return len(targets)
}

// SendRaw writes b as it is to every subscribed connection (a fault:
// garbage, a bad Content-Length, a frame nobody asked for).
func (s *Server) SendRaw(b []byte) int {
	n := 0
	for _, c := range s.readyConns() {
		if c.write(b) == nil {
			n++
		}
	}
	return n
}

// DropMidFrame writes the first half of f to every subscribed connection
// and closes it (a connection lost in the middle of a frame).
func (s *Server) DropMidFrame(f esl.Frame) int {
	b := f.Append(nil)
	n := 0
	for _, c := range s.readyConns() {
		c.write(b[:len(b)/2])
		c.c.Close()
		n++
	}
	return n
}

// Drop closes every connection at once, without a word (a network
// failure).
func (s *Server) Drop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.c.Close()
	}
}

// Stall wedges every open connection: from now on it hears commands but
// answers nothing and sends nothing, heartbeats included, and stays open.
// Later connections are not affected.
func (s *Server) Stall() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.mu.Lock()
		c.stalled = true
		c.mu.Unlock()
	}
}

// Restart is a FreeSWITCH restart: every connection gets the disconnect
// notice and is closed, every channel is gone, and the core has a new
// UUID.
func (s *Server) Restart() {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.channels = nil
	s.coreUUID = NewUUID()
	s.mu.Unlock()
	for _, c := range conns {
		c.write([]byte(disconnectNotice))
		c.c.Close()
	}
}

func (s *Server) readyConns() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*conn
	for c := range s.conns {
		if c.isReady() && !c.isStalled() {
			out = append(out, c)
		}
	}
	return out
}

// track keeps the channel list from replayed events.
func (s *Server) track(e *esl.Event) {
	id := e.Get("Unique-ID")
	if id == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch e.Name() {
	case "CHANNEL_CREATE":
		for _, c := range s.channels {
			if c == id {
				return
			}
		}
		s.channels = append(s.channels, id)
	case "CHANNEL_DESTROY":
		for i, c := range s.channels {
			if c == id {
				s.channels = append(s.channels[:i], s.channels[i+1:]...)
				return
			}
		}
	}
}

// conn is one client connection.
type conn struct {
	s    *Server
	c    net.Conn
	plan Plan
	done chan struct{}

	wmu sync.Mutex // one frame at a time

	mu      sync.Mutex
	subs    map[string]bool // nil until subscribed
	all     bool
	crossed bool
	stalled bool
}

func (c *conn) isStalled() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stalled
}

const (
	disconnectNotice = "Content-Type: text/disconnect-notice\nContent-Length: 67\n\nDisconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
	rudeRejection    = "Content-Type: text/rude-rejection\nContent-Length: 24\n\nAccess Denied, go away.\n"
)

func (c *conn) isReady() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.subs != nil
}

func (c *conn) wants(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.all || c.subs[name]
}

func (c *conn) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := c.c.Write(b)
	return err
}

func (c *conn) reply(text string) error {
	return c.write([]byte("Content-Type: command/reply\nReply-Text: " + text + "\n\n"))
}

func (c *conn) apiReply(body string) error {
	f := esl.Frame{Header: []esl.Field{{Name: "Content-Type", Value: esl.TypeAPIResponse}, {Name: "Content-Length"}}, Body: []byte(body)}
	return c.write(f.Append(nil))
}

func (c *conn) serve() {
	defer func() {
		close(c.done)
		c.c.Close()
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.notify()
		c.s.mu.Unlock()
	}()
	switch {
	case c.plan.Reject:
		// As mod_event_socket does: the rejection, then the goodbye.
		c.write([]byte(rudeRejection + disconnectNotice))
		return
	case c.plan.Mute:
		c.drain()
		return
	case c.plan.Hold != nil:
		select {
		case <-c.plan.Hold:
		case <-c.s.quit:
			return
		}
	}
	if c.write([]byte("Content-Type: auth/request\n\n")) != nil {
		return
	}
	r := bufio.NewReader(c.c)
	authed := false
	for {
		cmd, err := readCommand(r)
		if err != nil {
			return
		}
		c.s.record(cmd)
		if c.isStalled() {
			continue // wedged: hears, says nothing
		}
		if !authed {
			if pw, ok := strings.CutPrefix(cmd, "auth "); ok && pw == c.s.cfg.Password {
				authed = true
				c.reply("+OK accepted")
				continue
			}
			c.reply("-ERR invalid")
			c.write([]byte(disconnectNotice))
			return
		}
		if !c.command(cmd) {
			return
		}
	}
}

// drain reads and discards until the peer or the server closes.
func (c *conn) drain() {
	buf := make([]byte, 512)
	for {
		if _, err := c.c.Read(buf); err != nil {
			return
		}
	}
}

// command answers one command of an authenticated client; false ends the
// connection.
func (c *conn) command(cmd string) bool {
	verb, args, _ := strings.Cut(cmd, " ")
	switch strings.ToLower(verb) {
	case "event":
		format, list, _ := strings.Cut(args, " ")
		c.mu.Lock()
		first := c.subs == nil
		if first {
			c.subs = map[string]bool{}
		}
		for _, n := range strings.Fields(list) {
			if n == "ALL" {
				c.all = true
			}
			c.subs[n] = true
		}
		c.mu.Unlock()
		c.reply("+OK event listener enabled " + format)
		if first {
			c.s.mu.Lock()
			c.s.ready++
			c.s.notify()
			c.s.mu.Unlock()
			if c.s.cfg.HeartbeatInterval > 0 && !c.plan.NoHeartbeat {
				c.s.wg.Add(1)
				go c.heartbeats()
			}
		}
	case "api":
		if c.plan.CrossReply && !c.crossed {
			c.crossed = true
			c.reply("+OK stale reply to an earlier command")
		}
		if c.plan.SlowReply > 0 {
			select {
			case <-time.After(c.plan.SlowReply):
			case <-c.s.quit:
				return false
			}
		}
		c.apiReply(c.s.api(args))
	case "bgapi":
		job := NewUUID()
		c.write([]byte("Content-Type: command/reply\nReply-Text: +OK Job-UUID: " + job + "\nJob-UUID: " + job + "\n\n"))
		if c.wants("BACKGROUND_JOB") {
			body := c.s.api(args)
			f := eventFrame(c.s.eventFields("BACKGROUND_JOB", [][2]string{{"Job-UUID", job}, {"Job-Command", args}, {"Content-Length", strconv.Itoa(len(body))}}), []byte(body))
			c.write(f.Append(nil))
		}
	case "exit":
		c.reply("+OK bye")
		c.write([]byte(disconnectNotice))
		return false
	case "noevents", "nixevent", "log", "nolog", "filter", "linger", "nolinger", "myevents", "divert_events":
		c.reply("+OK")
	default:
		c.reply("-ERR command not found")
	}
	return true
}

// api answers an api command.
func (s *Server) api(args string) string {
	switch strings.Join(strings.Fields(args), " ") {
	case "version":
		return "FreeSWITCH Version " + s.cfg.Version + " (-release 64bit)\n"
	case "show channels as json":
		type row struct {
			UUID string `json:"uuid"`
		}
		s.mu.Lock()
		v := struct {
			RowCount int   `json:"row_count"`
			Rows     []row `json:"rows,omitempty"`
		}{RowCount: len(s.channels)}
		for _, c := range s.channels {
			v.Rows = append(v.Rows, row{UUID: c})
		}
		s.mu.Unlock()
		b, _ := json.Marshal(v)
		return string(b) + "\n"
	case "sofia status":
		var b strings.Builder
		b.WriteString("                     Name\t   Type\t                                      Data\tState\n")
		b.WriteString(strings.Repeat("=", 97) + "\n")
		for _, p := range s.cfg.Profiles {
			fmt.Fprintf(&b, "%25s\tprofile\t%40s\tRUNNING (0)\n", p, "sip:mod_sofia@127.0.0.1:5060")
		}
		b.WriteString(strings.Repeat("=", 97) + "\n")
		fmt.Fprintf(&b, "%d profiles 0 aliases\n", len(s.cfg.Profiles))
		return b.String()
	case "uptime":
		return "60\n"
	}
	verb, _, _ := strings.Cut(args, " ")
	return "-ERR " + verb + " Command not found!\n"
}

func (c *conn) heartbeats() {
	defer c.s.wg.Done()
	t := time.NewTicker(c.s.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			if !c.wants("HEARTBEAT") || c.isStalled() {
				continue
			}
			f := c.s.event("HEARTBEAT", [][2]string{{"Event-Info", "System Ready"}, {"FreeSWITCH-Version", c.s.cfg.Version}, {"Session-Count", "0"}})
			if c.write(f.Append(nil)) != nil {
				return
			}
		}
	}
}

// event builds an event frame with FreeSWITCH's common headers and extra.
func (s *Server) event(name string, extra [][2]string) esl.Frame {
	return eventFrame(s.eventFields(name, extra), nil)
}

// eventFields are an event's header lines, values URL-encoded.
func (s *Server) eventFields(name string, extra [][2]string) []esl.Field {
	s.mu.Lock()
	s.seq++
	seq, core := s.seq, s.coreUUID
	s.mu.Unlock()
	now := time.Now()
	fields := [][2]string{
		{"Event-Name", name},
		{"Core-UUID", core},
		{"FreeSWITCH-Hostname", "esltest"},
		{"FreeSWITCH-Switchname", "esltest"},
		{"FreeSWITCH-IPv4", "127.0.0.1"},
		{"Event-Date-Local", now.Format("2006-01-02 15:04:05")},
		{"Event-Date-GMT", now.UTC().Format(time.RFC1123)},
		{"Event-Date-Timestamp", strconv.FormatInt(now.UnixMicro(), 10)},
		{"Event-Calling-File", "esltest.go"},
		{"Event-Calling-Function", "event"},
		{"Event-Calling-Line-Number", "1"},
		{"Event-Sequence", strconv.FormatUint(seq, 10)},
	}
	fields = append(fields, extra...)
	out := make([]esl.Field, len(fields))
	for i, f := range fields {
		out[i] = esl.Field{Name: f[0], Value: encode(f[1])}
	}
	return out
}

// eventFrame wraps event header lines (and an event body) in a
// text/event-plain frame.
func eventFrame(fields []esl.Field, body []byte) esl.Frame {
	var b []byte
	for _, f := range fields {
		b = append(b, f.Name+": "+f.Value+"\n"...)
	}
	b = append(b, '\n')
	b = append(b, body...)
	return esl.Frame{
		Header: []esl.Field{{Name: "Content-Length"}, {Name: "Content-Type", Value: esl.TypeEventPlain}},
		Body:   b,
	}
}

// encode URL-encodes a header value as FreeSWITCH does (a space is %20).
func encode(v string) string { return url.PathEscape(v) }

func (s *Server) record(cmd string) {
	if strings.HasPrefix(cmd, "auth ") {
		cmd = "auth ********"
	}
	s.mu.Lock()
	s.commands = append(s.commands, cmd)
	s.notify()
	s.mu.Unlock()
}

// readCommand reads one client command: a line, optional header lines,
// and a blank line. It returns the first line.
func readCommand(r *bufio.Reader) (string, error) {
	var first string
	for n := 0; ; n++ {
		line, err := r.ReadString('\n')
		if err != nil {
			return "", err
		}
		if len(line) > 64<<10 {
			return "", errors.New("command line too long")
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if n == 0 {
				n = -1 // stray blank line before a command
				continue
			}
			return first, nil
		}
		if first == "" {
			first = line
		}
	}
}

// NewUUID returns a random version-4 UUID, as FreeSWITCH's channel ids.
func NewUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
