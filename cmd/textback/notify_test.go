package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/textback/textback/ari/aritest"
)

// notifySocket is a fake systemd: the NOTIFY_SOCKET a daemon under test
// sends its sd_notify messages to.
type notifySocket struct {
	t    *testing.T
	path string
	conn *net.UnixConn
	all  []string // every message read so far, in order
}

func newNotifySocket(t *testing.T) *notifySocket {
	t.Helper()
	// A short path: sun_path holds 108 bytes, t.TempDir's can be longer.
	dir, err := os.MkdirTemp("", "tbnotify")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &notifySocket{t: t, path: path, conn: conn}
}

func (s *notifySocket) env() string { return "NOTIFY_SOCKET=" + s.path }

// read returns the next message, or "" when none came before deadline.
func (s *notifySocket) read(deadline time.Time) string {
	s.t.Helper()
	buf := make([]byte, 4096)
	s.conn.SetReadDeadline(deadline)
	n, err := s.conn.Read(buf)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return ""
	}
	if err != nil {
		s.t.Fatalf("notify socket: %v", err)
	}
	msg := string(buf[:n])
	s.all = append(s.all, msg)
	return msg
}

// until reads messages until one satisfies ok, and returns the messages
// read, that one last. It fails the test if none comes within daemonWait.
func (s *notifySocket) until(what string, ok func(string) bool) []string {
	s.t.Helper()
	deadline := time.Now().Add(daemonWait)
	var got []string
	for {
		msg := s.read(deadline)
		if msg == "" {
			s.t.Fatalf("no notify message %s within %s; got %q", what, daemonWait, got)
		}
		got = append(got, msg)
		if ok(msg) {
			return got
		}
	}
}

// drain returns the messages already sent (the daemon has exited: they
// are all in the socket's buffer).
func (s *notifySocket) drain() []string {
	var got []string
	for {
		msg := s.read(time.Now().Add(200 * time.Millisecond))
		if msg == "" {
			return got
		}
		got = append(got, msg)
	}
}

func is(want string) func(string) bool { return func(m string) bool { return m == want } }

// without removes the watchdog pings.
func without(msgs []string, drop string) []string {
	var out []string
	for _, m := range msgs {
		if m != drop {
			out = append(out, m)
		}
	}
	return out
}

// TestRun_NotifyAsterisk: under systemd (Type=notify, a fake
// NOTIFY_SOCKET), the daemon says READY=1 only once Asterisk is connected,
// with STATUS lines as the connection changes, pings the watchdog at half
// WATCHDOG_USEC, wraps a SIGHUP reload in RELOADING=1 ... READY=1, and
// says STOPPING=1 on SIGTERM.
func TestRun_NotifyAsterisk(t *testing.T) {
	ast := aritest.NewServer()
	defer ast.Close()
	ast.RefuseAuth(true) // not connected at first: not ready
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := writeFile(t, dir, "textback.yaml", pbxConfig(t, state,
		fmt.Sprintf("pbx: asterisk\nasterisk: {url: %q, username: %q, password: %q, trunks: [carrier]}\n", ast.URL, ast.User, ast.Password)))
	sock := newNotifySocket(t)
	d := startDaemonEnv(t, cfg, sock.env(), "WATCHDOG_USEC=100000")

	// Refused: a STATUS says so, and no READY=1 came before it.
	reconnecting := "STATUS=asterisk: reconnecting to " + ast.URL
	before := sock.until("saying asterisk is reconnecting", func(m string) bool { return strings.HasPrefix(m, reconnecting) })
	for _, m := range before {
		if strings.Contains(m, "READY=1") {
			t.Fatalf("READY=1 while Asterisk refuses the daemon: %q", before)
		}
	}
	if !strings.HasSuffix(before[len(before)-1], "; console: ready") {
		t.Errorf("STATUS without the driver: %q", before[len(before)-1])
	}
	// The first STATUS says it is connecting, unless the first attempt
	// was refused before the daemon first said how it is (a slow start).
	if first := without(before, "WATCHDOG=1")[0]; first != "STATUS=asterisk: connecting to "+ast.URL+"; console: ready" && !strings.HasPrefix(first, reconnecting) {
		t.Errorf("first STATUS: %q", first)
	}
	if !strings.Contains(strings.Join(before, "\n"), "WATCHDOG=1") {
		t.Errorf("no WATCHDOG=1 with WATCHDOG_USEC set: %q", before)
	}

	// Let it in: READY=1, just after the STATUS saying what it watches.
	ast.RefuseAuth(false)
	got := without(sock.until("READY=1", is("READY=1")), "WATCHDOG=1")
	d.waitLog("textback starting", 1)
	if ast.Stats().Open == 0 {
		t.Errorf("READY=1 with no events websocket open")
	}
	want := "STATUS=watching Asterisk " + ast.Version + " at " + ast.URL + "; console: ready"
	if len(got) < 2 || got[len(got)-2] != want {
		t.Errorf("messages up to READY=1: %q, want %q just before it", got, want)
	}

	// The watchdog keeps being pinged from the main loop.
	sock.until("WATCHDOG=1 after READY", is("WATCHDOG=1"))
	sock.until("a second WATCHDOG=1 after READY", is("WATCHDOG=1"))

	// A reload: RELOADING=1 (with the monotonic time systemd wants), the
	// reload, READY=1.
	d.signal(syscall.SIGHUP)
	got = without(sock.until("READY=1 after the reload", is("READY=1")), "WATCHDOG=1")
	if len(got) != 2 || !strings.HasPrefix(got[0], "RELOADING=1\nMONOTONIC_USEC=") {
		t.Errorf("reload: %q, want RELOADING=1 then READY=1", got)
	}
	d.waitLog("config reloaded", 1)

	// Asterisk goes away: STATUS says so (the daemon stays READY: systemd
	// has no "not ready any more"; /readyz says it).
	ast.RefuseAuth(true)
	ast.Drop()
	sock.until("saying asterisk is reconnecting again", func(m string) bool { return strings.HasPrefix(m, reconnecting) })

	d.stop()
	rest := without(sock.drain(), "WATCHDOG=1")
	if len(rest) == 0 || rest[len(rest)-1] != "STOPPING=1\nSTATUS=stopping" {
		t.Errorf("after SIGTERM: %q, want STOPPING=1 last", rest)
	}
	for _, m := range rest {
		if strings.Contains(m, "READY=1") {
			t.Errorf("READY=1 after Asterisk went away: %q", rest)
		}
	}
}

// TestRun_NotifyNoPBX: with pbx: none and the console driver the daemon
// is ready at once; without WATCHDOG_USEC it never pings the watchdog; a
// reload with a broken config still ends with READY=1 (the old config
// runs on).
func TestRun_NotifyNoPBX(t *testing.T) {
	cfg, _ := newSetup(t, "")
	sock := newNotifySocket(t)
	d := startDaemonEnv(t, cfg, sock.env())
	got := sock.until("READY=1", is("READY=1"))
	if want := []string{"STATUS=no PBX (pbx: none); console: ready", "READY=1"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("start: %q, want %q", got, want)
	}
	writeFile(t, filepath.Dir(cfg), filepath.Base(cfg), "policy: {cooldwon: 1h}\n")
	d.signal(syscall.SIGHUP)
	got = sock.until("READY=1 after the rejected reload", is("READY=1"))
	if len(got) != 2 || !strings.HasPrefix(got[0], "RELOADING=1\n") {
		t.Errorf("reload: %q", got)
	}
	d.waitLog("reload rejected; the running config stays", 1)
	d.stop()
	sock.drain()
	if all := strings.Join(sock.all, "|"); strings.Contains(all, "WATCHDOG") {
		t.Errorf("watchdog pinged without WATCHDOG_USEC: %q", sock.all)
	}
	if last := sock.all[len(sock.all)-1]; last != "STOPPING=1\nSTATUS=stopping" {
		t.Errorf("last message %q, want STOPPING=1", last)
	}
}
