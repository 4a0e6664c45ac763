package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// daemon is the real textback under load: a child process with its own
// state directory, config and notify socket.
type daemon struct {
	bin, dir, config string
	logPath          string // outside dir: a full disk must not silence it
	car              *fakeCarrier
	notify           *net.UnixConn
	cmd              *exec.Cmd
	pid              atomic.Int64 // the running process, for usage from any goroutine
	exited           chan error
	gone             <-chan struct{} // closed when the current process has exited
	logFile          *os.File
	admin            string // the admin listener's address
	httpAddr         string // the webhook listener's address
}

// lineAliases are the numbers the recordings' calls are made to.
var lineAliases = []string{"5551000", "5551001", "5551002", "5551003", "5551004", "5551005", "5551006",
	"8005550101", "8005550102", "8005550103", "8005550104", "8005550105", "8005550106"}

// Template is the text-back every missed call gets; the carrier's log
// tells it from keyword confirmations by its first words.
const callbackPrefix = "Sorry we missed your call to Load Test Dental"

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// writeConfig writes the daemon's config for pbx ("asterisk" with the ARI
// URL, or "freeswitch" with the event socket address) and the carrier.
func (d *daemon) writeConfig(pbx, pbxAddr, carrierURL string, sendTimeout time.Duration) error {
	var err error
	if d.httpAddr, err = freeAddr(); err != nil {
		return err
	}
	if d.admin, err = freeAddr(); err != nil {
		return err
	}
	aliases := `"` + strings.Join(lineAliases, `", "`) + `"`
	pbxSection := fmt.Sprintf("asterisk:\n  url: %q\n  username: textback\n  password: secret\n  trunks: [carrier]", pbxAddr)
	if pbx == "freeswitch" {
		pbxSection = fmt.Sprintf("freeswitch:\n  address: %q\n  password: %q", pbxAddr, eslPassword)
	}
	cfg := fmt.Sprintf(`# written by textback-load
state_dir: %q
log:
  format: json
pbx: %s
%s
driver:
  type: carrier
  carrier:
    preset: twilio
    url: %q
    public_url: "http://%s/carrier"
    timeout: %s
    twilio:
      account_sid: %s
      auth_token: %s
http:
  listen: %q
admin:
  listen: %q
ledger:
  backup:
    every: 0s
policy:
  # Load comes from a few thousand distinct callers a second: no anti-pumping
  # caps, and quiet hours off so the run does not depend on the time of day.
  max_per_hour: 0
  max_per_day: 0
  quiet_hours:
    start: "00:00"
    end: "00:00"
  retry:
    base: 200ms
    max: 2s
    attempts: 8
lines:
  main:
    number: "+12125550100"
    aliases: [%s]
    country: US
    business: Load Test Dental
    template: "%s. What can we help with? Reply STOP to opt out."
    staff: ["+12125550199"]
`, d.dir, pbx, pbxSection, carrierURL, d.httpAddr, sendTimeout, twilioSID, twilioToken,
		d.httpAddr, d.admin, aliases, callbackPrefix)
	d.config = filepath.Join(d.dir, "textback.yaml")
	return os.WriteFile(d.config, []byte(cfg), 0o600)
}

// start runs the daemon and waits for READY=1. It returns how long that
// took from the exec.
func (d *daemon) start(ctx context.Context) (time.Duration, error) {
	sock := filepath.Join(filepath.Dir(d.logPath), "notify.sock")
	os.Remove(sock)
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		return 0, fmt.Errorf("notify socket: %w", err)
	}
	d.notify = conn
	if d.logFile == nil {
		if d.logFile, err = os.OpenFile(d.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); err != nil {
			return 0, err
		}
	}
	cmd := exec.Command(d.bin, "run", "--config", d.config)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock)
	cmd.Stdout, cmd.Stderr = d.logFile, d.logFile
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		conn.Close()
		return 0, fmt.Errorf("start %s: %w", d.bin, err)
	}
	d.cmd = cmd
	d.pid.Store(int64(cmd.Process.Pid))
	d.exited = make(chan error, 1)
	gone := make(chan struct{})
	d.gone = gone
	go func() { err := cmd.Wait(); close(gone); d.exited <- err }()
	buf := make([]byte, 4096)
	for {
		conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, _, err := conn.ReadFromUnix(buf)
		if err == nil && bytes.Contains(buf[:n], []byte("READY=1")) {
			return time.Since(t0), nil
		}
		select {
		case err := <-d.exited:
			d.exited <- err
			return 0, fmt.Errorf("textback exited before READY (%v); see %s", err, d.logFile.Name())
		case <-ctx.Done():
			return 0, ctx.Err()
		default:
		}
		if time.Since(t0) > 30*time.Second {
			return 0, fmt.Errorf("textback not READY after 30s; see %s", d.logFile.Name())
		}
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (d *daemon) kill() error {
	if d.cmd == nil {
		return nil
	}
	d.pid.Store(0)
	d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.exited
	d.cmd = nil
	d.notify.Close()
	return nil
}

// stop sends SIGTERM and waits (up to 20 s) for a clean exit.
func (d *daemon) stop() error {
	if d.cmd == nil {
		return nil
	}
	d.pid.Store(0)
	defer func() { d.cmd = nil; d.notify.Close() }()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.exited:
		if err != nil {
			return fmt.Errorf("textback stopped with %v; see %s", err, d.logFile.Name())
		}
		return nil
	case <-time.After(20 * time.Second):
		d.cmd.Process.Kill()
		<-d.exited
		return errors.New("textback did not stop within 20 s of SIGTERM")
	}
}

// usage is the daemon's resident memory and CPU time so far.
type usage struct {
	rss int64         // bytes
	cpu time.Duration // user + system
}

func (d *daemon) usage() (usage, error) {
	pid := d.pid.Load()
	if pid == 0 {
		return usage{}, errors.New("not running")
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return usage{}, err
	}
	var u usage
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			u.rss = kb << 10
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return usage{}, err
	}
	// Fields after the command name (which may hold spaces, in parens).
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(f) > 13 {
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		u.cpu = time.Duration(ut+st) * time.Second / 100 // USER_HZ
	}
	return u, nil
}
