// Package modemtest is the phonesim tier's shared ground: the sms/modem
// and cmd/textback tests take turns on the one simulated modem that
// .ci/lab/phonesim/start.sh runs (ofono-phonesim behind a socat pty).
package modemtest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Env names the simulated modem's tty; the tier skips when it is unset.
const Env = "TEXTBACK_LAB_PHONESIM"

// State is the lab's state directory ($LAB_STATE, or the default the lab
// scripts use).
func State() string {
	if s := os.Getenv("LAB_STATE"); s != "" {
		return s
	}
	return "/var/tmp/textback-lab"
}

// Phonesim returns the simulated modem's tty once the test holds the lab
// (go test ./... runs packages in parallel and both tiers use the one
// modem) and the tty answers ATZ. It skips when Env is unset and fails,
// saying why, when the lab does not answer within 30 s.
//
// socat serves one session a pty: when the previous test's driver
// closes it, socat exits and the loop in start.sh starts a new one with
// a new pty a moment later. Taking the lock in that moment would hand
// out the dying pty (or no link at all), so Phonesim opens the tty, sends
// ATZ, and after closing waits for the fresh socat it leaves behind.
func Phonesim(t testing.TB) string {
	t.Helper()
	dev := os.Getenv(Env)
	if dev == "" {
		t.Skipf("the phonesim tier: run .ci/lab/phonesim/start.sh, then set %s=/tmp/ttyGSM0", Env)
	}
	lock(t)
	deadline := time.Now().Add(30 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		before, _ := SocatPID()
		if last = answers(dev); last == nil {
			last = waitFresh(dev, before, deadline)
			if last == nil {
				return dev
			}
		}
		t.Logf("phonesim lab not ready yet: %v", last)
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s=%s does not answer ATZ within 30 s: %v (is .ci/lab/phonesim/start.sh running?)", Env, dev, last)
	return ""
}

// lock holds the lab's lock file until the test's cleanup.
func lock(t testing.TB) {
	t.Helper()
	path := filepath.Join(State(), "phonesim", "test.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatalf("phonesim lab lock: %v", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		t.Fatalf("phonesim lab lock %s: %v", path, err)
	}
	t.Cleanup(func() { f.Close() }) // the last descriptor closed releases it
}

// answers opens dev, writes ATZ and reads until OK, for at most 2 s.
func answers(dev string) error {
	f, err := os.OpenFile(dev, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
		return fmt.Errorf("%s: %w", dev, err)
	}
	// ATZ, as every session of the driver starts: phonesim answers a bare
	// AT with ERROR.
	if _, err := f.Write([]byte("ATZ\r")); err != nil {
		return fmt.Errorf("write ATZ to %s: %w", dev, err)
	}
	var got []byte
	buf := make([]byte, 256)
	for !bytes.Contains(got, []byte("OK\r\n")) {
		n, err := f.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			return fmt.Errorf("%s answered ATZ with %q: %w", dev, got, err)
		}
	}
	return nil
}

// waitFresh waits for the socat that serves dev's next session: a socat
// other than before, with dev linked to its pty.
func waitFresh(dev string, before int, deadline time.Time) error {
	for time.Now().Before(deadline) {
		pid, err := SocatPID()
		if err == nil && pid != before {
			if _, err := os.Stat(dev); err == nil {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("no fresh socat for %s after the probe", dev)
}

// SocatPID is the socat serving the pty now: the child of start.sh's
// respawn loop (between two sessions there is none for about 0.1 s).
func SocatPID() (int, error) {
	b, err := os.ReadFile(filepath.Join(State(), "phonesim", "socat-loop.pid"))
	if err != nil {
		return 0, fmt.Errorf("socat loop pid: %w", err)
	}
	loop := strings.TrimSpace(string(b))
	kids, err := os.ReadFile("/proc/" + loop + "/task/" + loop + "/children")
	if err != nil {
		return 0, fmt.Errorf("socat loop %s: %w", loop, err)
	}
	for _, k := range strings.Fields(string(kids)) {
		comm, _ := os.ReadFile("/proc/" + k + "/comm")
		if strings.TrimSpace(string(comm)) == "socat" {
			return strconv.Atoi(k)
		}
	}
	return 0, fmt.Errorf("no socat child of the respawn loop %s (children %q)", loop, kids)
}

// KillSocat SIGKILLs the socat serving the pty (the modem "unplugged")
// and waits until it is gone; the loop starts another.
func KillSocat() error {
	pid, err := SocatPID()
	if err != nil {
		return err
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill socat %d: %w", pid, err)
	}
	stat := "/proc/" + strconv.Itoa(pid) + "/stat"
	for range 400 { // gone, or a zombie until the loop reaps it
		st, err := os.ReadFile(stat)
		if err != nil || bytes.Contains(st, []byte(") Z ")) {
			return nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	return fmt.Errorf("socat %d still alive after SIGKILL", pid)
}
