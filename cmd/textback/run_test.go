package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/textback/textback/ledger"
)

// daemonWait bounds every wait for the daemon (a -race build starts
// slowly on a busy machine).
const daemonWait = 20 * time.Second

// syncBuffer is a bytes.Buffer the child's output is copied into while the
// test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// daemon is `textback run` in a child process: the test binary executed
// again as textback (see TestMain).
type daemon struct {
	t              *testing.T
	cmd            *exec.Cmd
	stdout, stderr syncBuffer
	done           chan struct{}
	err            error // cmd.Wait's, once done is closed
}

// startDaemon starts `textback run --config cfg` in a child process. It is
// killed at cleanup if the test did not stop it.
func startDaemon(t *testing.T, cfg string) *daemon {
	t.Helper()
	return startDaemonEnv(t, cfg)
}

// startDaemonEnv is startDaemon with more environment variables
// ("NAME=value"). The test's own systemd variables are never passed on.
func startDaemonEnv(t *testing.T, cfg string, extra ...string) *daemon {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon{t: t, done: make(chan struct{})}
	d.cmd = exec.Command(exe, "run", "--config", cfg)
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); name != "NOTIFY_SOCKET" && name != "WATCHDOG_USEC" && name != "WATCHDOG_PID" {
			d.cmd.Env = append(d.cmd.Env, kv)
		}
	}
	d.cmd.Env = append(append(d.cmd.Env, childEnv+"=1"), extra...)
	d.cmd.Stdout, d.cmd.Stderr = &d.stdout, &d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.err = d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		select {
		case <-d.done:
		default:
			d.cmd.Process.Kill()
			<-d.done
		}
		if t.Failed() {
			t.Logf("daemon stdout:\n%s\ndaemon stderr:\n%s", d.stdout.String(), d.stderr.String())
		}
	})
	return d
}

// logLines returns the daemon's JSON log lines with the given message.
func (d *daemon) logLines(msg string) []map[string]any {
	var out []map[string]any
	for _, l := range strings.Split(d.stdout.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["message"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// waitLog waits until the daemon has logged msg n times, and returns the
// nth such line. It fails the test if the daemon exits first.
func (d *daemon) waitLog(msg string, n int) map[string]any {
	d.t.Helper()
	deadline := time.After(daemonWait)
	for {
		if lines := d.logLines(msg); len(lines) >= n {
			return lines[n-1]
		}
		select {
		case <-d.done:
			if lines := d.logLines(msg); len(lines) >= n {
				return lines[n-1]
			}
			d.t.Fatalf("the daemon exited (%v) before logging %q", d.err, msg)
		case <-deadline:
			d.t.Fatalf("the daemon did not log %q within %s", msg, daemonWait)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (d *daemon) signal(sig os.Signal) {
	d.t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		d.t.Fatalf("signal %v: %v", sig, err)
	}
}

// running fails the test if the daemon has exited.
func (d *daemon) running() {
	d.t.Helper()
	select {
	case <-d.done:
		d.t.Fatalf("the daemon exited: %v", d.err)
	default:
	}
}

// stop sends SIGTERM and checks that the daemon says it stops and exits 0.
func (d *daemon) stop() {
	d.t.Helper()
	d.signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(daemonWait):
		d.t.Fatalf("the daemon did not exit within %s of SIGTERM", daemonWait)
	}
	if d.err != nil {
		d.t.Errorf("the daemon exited with %v after SIGTERM, want status 0\nstderr:\n%s", d.err, d.stderr.String())
	}
	if len(d.logLines("textback stopping")) != 1 {
		d.t.Errorf("the daemon did not log \"textback stopping\":\n%s", d.stdout.String())
	}
	if s := d.stderr.String(); s != "" {
		d.t.Errorf("the daemon wrote to stderr:\n%s", s)
	}
}

// waitStable waits until path has not changed for a while: the daemon's
// start-up writes (the outbox recovery) are done.
func waitStable(t *testing.T, path string) string {
	t.Helper()
	deadline := time.Now().Add(daemonWait)
	last, since := fileSum(t, path), time.Now()
	for time.Since(since) < 200*time.Millisecond {
		if time.Now().After(deadline) {
			t.Fatalf("%s keeps changing", path)
		}
		time.Sleep(10 * time.Millisecond)
		if s := fileSum(t, path); s != last {
			last, since = s, time.Now()
		}
	}
	return last
}

func TestRun_StartAndStop(t *testing.T) {
	cfg, path := newSetup(t, "")
	d := startDaemon(t, cfg)
	started := d.waitLog("textback starting", 1)
	for k, want := range map[string]any{"level": "info", "ledger": path, "driver": "console", "pbx": "none", "lines": 1.0, "shadow": false} {
		if started[k] != want {
			t.Errorf("starting line: %s = %v, want %v", k, started[k], want)
		}
	}
	d.running()
	d.stop()
	// The daemon created a ledger the commands read.
	st := openLedgerFile(t, path)
	if calls, err := st.Calls(0); err != nil || len(calls) != 0 {
		t.Errorf("calls in the new ledger: %v, %v", calls, err)
	}
}

// TestRun_LedgerLocked: while a daemon runs, a second daemon or a command
// that writes the ledger fails at once, saying so and naming the file,
// which stays as it was.
func TestRun_LedgerLocked(t *testing.T) {
	cfg, path := newSetup(t, "")
	d := startDaemon(t, cfg)
	d.waitLog("textback starting", 1)
	before := waitStable(t, path)

	// The config's admin.listen is port 0: the admin commands cannot reach
	// the daemon, and fail at once, naming the file and where they asked.
	unreachable := []string{"open ledger " + path + ": another textback is running (file is locked after 300ms)",
		"nothing answers on 127.0.0.1:0 (admin.listen)", "stop the daemon (systemctl stop textback)"}
	r := textback(t, "optout", "add", "--config", cfg, testCaller)
	wantError(t, r, 1, "optout", unreachable...)
	r = textback(t, "run", "--config", cfg)
	wantError(t, r, 1, "run", "open ledger "+path+": another textback is running")
	if r.stdout != "" {
		t.Errorf("the second daemon logged:\n%s", r.stdout)
	}
	// The inspection commands cannot share the file with a running daemon
	// either (bbolt's lock is exclusive for a writer); they fail cleanly.
	backup := filepath.Join(t.TempDir(), "backup.db")
	for _, args := range [][]string{{"calls"}, {"explain", "1"}, {"optout", "list"}, {"optout", "show", testCaller},
		{"optout", "remove", testCaller}, {"ledger", "stats"}, {"ledger", "export"}, {"ledger", "backup", "--out", backup},
		{"ledger", "purge", "--older-than", "1h"}} {
		r = textback(t, append(args, "--config", cfg)...)
		wantError(t, r, 1, args[0], unreachable...)
	}
	if _, err := os.Stat(backup); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused backup left a file: %v", err)
	}
	// send needs the file itself: the daemon stopped.
	r = textback(t, "send", "--config", cfg, "--line", "main", testCaller, "hello")
	wantError(t, r, 1, "send", "open ledger "+path+": another textback is running", "stop the daemon (systemctl stop textback) to use this command")

	// A second daemon process fails the same way, with status 1.
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	second := exec.Command(exe, "run", "--config", cfg)
	second.Env = append(os.Environ(), childEnv+"=1")
	var out, errb bytes.Buffer
	second.Stdout, second.Stderr = &out, &errb
	err = second.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("second daemon: %v, want exit status 1", err)
	}
	wantError(t, result{code: 1, stdout: out.String(), stderr: errb.String()}, 1, "run", "open ledger "+path+": another textback is running")

	if got := fileSum(t, path); got != before {
		t.Errorf("the ledger changed while another textback was refused")
	}
	d.running()
	d.stop() // its clean close marks the file: a write of its own
}

// TestRun_Reload: SIGHUP reloads a changed config; a broken one is
// rejected with a log line and the daemon goes on with the old one.
func TestRun_Reload(t *testing.T) {
	cfg, _ := newSetup(t, "")
	original, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, cfg)
	d.waitLog("textback starting", 1)

	// A second line.
	changed := string(original) + `  back:
    number: "+15555552000"
    business: Acme Plumbing (back office)
    template: "Sorry we missed your call. Reply STOP to opt out."
`
	writeFile(t, filepath.Dir(cfg), filepath.Base(cfg), changed)
	d.signal(syscall.SIGHUP)
	if got := d.waitLog("config reloaded", 1); got["lines"] != 2.0 || got["level"] != "info" {
		t.Errorf("reload: %v", got)
	}

	// A typo: rejected, and the daemon keeps running.
	writeFile(t, filepath.Dir(cfg), filepath.Base(cfg), changed+"policy:\n  cooldwon: 1h\n")
	d.signal(syscall.SIGHUP)
	rejected := d.waitLog("reload rejected; the running config stays", 1)
	if rejected["level"] != "error" || !strings.Contains(fmt.Sprint(rejected["error"]), `unknown key "cooldwon" in policy`) {
		t.Errorf("rejected reload: %v", rejected)
	}
	// A config that parses but the daemon cannot run: rejected too.
	writeFile(t, filepath.Dir(cfg), filepath.Base(cfg), strings.Replace(changed, "driver: {type: console}", "driver: {type: none}", 1))
	d.signal(syscall.SIGHUP)
	rejected = d.waitLog("reload rejected; the running config stays", 2)
	if !strings.Contains(fmt.Sprint(rejected["error"]), "driver.type: run needs a driver") {
		t.Errorf("rejected reload: %v", rejected)
	}
	d.running()

	// Back to the original: reloaded again.
	writeFile(t, filepath.Dir(cfg), filepath.Base(cfg), string(original))
	d.signal(syscall.SIGHUP)
	if got := d.waitLog("config reloaded", 2); got["lines"] != 1.0 {
		t.Errorf("second reload: %v", got)
	}
	d.running()
	d.stop()
	if n := len(d.logLines("config reloaded")); n != 2 {
		t.Errorf("%d reloads logged, want 2", n)
	}
}

// TestRun_HUPDuringStartup: `systemctl reload` may come while the daemon
// is still starting (here: waiting for the ledger's lock). The SIGHUP must
// not kill it (the default action of SIGHUP); the reload happens once it
// runs.
func TestRun_HUPDuringStartup(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("watches the child's open files in /proc")
	}
	cfg, path := newSetup(t, "")
	src, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Dir(cfg), filepath.Base(cfg), strings.Replace(string(src), "lock_timeout: 300ms", "lock_timeout: 20s", 1))
	holder, err := ledger.Open(path, ledger.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()

	d := startDaemon(t, cfg)
	// The daemon has the ledger open: it is in ledger.Open, waiting for
	// the lock we hold.
	fd := fmt.Sprintf("/proc/%d/fd", d.cmd.Process.Pid)
	for deadline := time.Now().Add(daemonWait); !hasOpen(fd, path); time.Sleep(5 * time.Millisecond) {
		d.running()
		if time.Now().After(deadline) {
			t.Fatalf("the daemon did not open %s", path)
		}
	}
	d.signal(syscall.SIGHUP)
	time.Sleep(50 * time.Millisecond) // let the signal land before the lock is free
	d.running()
	if err := holder.Close(); err != nil {
		t.Fatal(err)
	}
	d.waitLog("textback starting", 1)
	d.waitLog("config reloaded", 1)
	d.running()
	d.stop()
}

// hasOpen reports whether any link in the /proc fd directory dir points at
// path.
func hasOpen(dir, path string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if target, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && target == path {
			return true
		}
	}
	return false
}
