package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/textback/textback/sms/modem/modemtest"
)

// modemConfig is a daemon config with the modem driver on dev, its PIN in
// a file.
func modemConfig(t *testing.T, dir, dev string) string {
	t.Helper()
	state := filepath.Join(dir, "state")
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "sim-pin", "2468\n")
	c := strings.Replace(configFor(state, ""), "driver: {type: console}\n",
		"driver:\n  type: modem\n  modem:\n    device: "+dev+"\n    pin_file: sim-pin\n    min_gap: 1ms\n", 1)
	return writeFile(t, dir, "textback.yaml", c)
}

func TestConfig_Modem(t *testing.T) {
	dir := t.TempDir()
	cfg := modemConfig(t, dir, "/dev/ttyUSB9")
	r := mustRun(t, "check", "--config", cfg)
	if strings.Contains(r.stdout, "2468") || !strings.Contains(r.stdout, "type: modem\n") || !strings.Contains(r.stdout, "device: /dev/ttyUSB9\n") {
		t.Errorf("check: want the modem section with the PIN masked:\n%s", r.stdout)
	}
	for _, tc := range []struct{ name, driver, want string }{
		{"NoSection", "driver: {type: modem}\n", "driver.modem: driver type modem needs a modem section"},
		{"NoDevice", "driver:\n  type: modem\n  modem: {baud: 9600}\n", "driver.modem.device"},
		{"PINTwice", "driver:\n  type: modem\n  modem: {device: /dev/ttyUSB0, pin: \"1234\", pin_file: sim-pin}\n", "driver.modem.pin is also set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := strings.Replace(configFor(dir, ""), "driver: {type: console}\n", tc.driver, 1)
			wantError(t, textback(t, "check", "--config", writeFile(t, dir, "bad.yaml", c)), 1, "check", tc.want)
		})
	}
	wantError(t, textback(t, "modem", "probe"), 2, "modem", "modem probe DEVICE, or modem info")
}

// phonesim returns the lab's simulated modem (.ci/lab/phonesim/start.sh),
// holding the lab for the test: the sms/modem tier uses it too.
func phonesim(t *testing.T) string {
	t.Helper()
	return modemtest.Phonesim(t)
}

// TestLab_ModemProbeRunAndSend: against ofono-phonesim, probe describes
// the modem; the daemon with the modem driver takes a STOP the SIM
// receives and confirms it through the modem; send texts through it.
func TestLab_ModemProbeRunAndSend(t *testing.T) {
	dev := phonesim(t)
	r := mustRun(t, "modem", "probe", dev)
	for _, w := range []string{"device        " + dev, "sim           READY", "gsm           yes"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("modem probe does not say %q:\n%s", w, r.stdout)
		}
	}
	dir := t.TempDir()
	cfg := modemConfig(t, dir, dev)
	d := startDaemon(t, cfg)
	started := d.waitLog("textback starting", 1)
	d.waitLog("modem ready", 1) // the tty comes back a moment after probe closed it
	admin, _ := started["admin"].(string)
	admin = strings.TrimSuffix(strings.TrimPrefix(admin, "http://"), "/")
	r = mustRun(t, "modem", "status", "--config", cfg, "--admin", admin)
	for _, w := range []string{"state         ready since ", "device        " + dev, "sim           READY", "pacing        0 in the last hour (cap 60)", "queue         0 queued"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("modem status does not say %q:\n%s", w, r.stdout)
		}
	}
	out, err := exec.Command("../../.ci/lab/phonesim/inject-sms.sh", testCaller, "STOP").CombinedOutput()
	if err != nil {
		t.Fatalf("inject-sms.sh: %v\n%s", err, out)
	}
	in := d.waitLog("inbound message", 1)
	if in["kind"] != "opt_out" || in["from"] != testCaller {
		t.Errorf("inbound message: %v, want an opt-out from %s", in, testCaller)
	}
	sent := d.waitLog("text accepted", 1)
	if sent["to"] != testCaller || sent["kind"] != "confirm" {
		t.Errorf("text accepted: %v, want the opt-out confirmation to %s", sent, testCaller)
	}
	d.stop()
	if r := mustRun(t, "optout", "show", "--config", cfg, testCaller); !strings.Contains(r.stdout, "opted_out") {
		t.Errorf("optout show after a STOP through the modem:\n%s", r.stdout)
	}
	r = mustRun(t, "send", "--config", cfg, "--line", "main", testStaff, "modem test")
	if !strings.Contains(r.stdout, ": sent") {
		t.Errorf("send through the modem: %s", r.stdout)
	}
	// send let go of the modem when it returned (it runs in this process
	// here; a descriptor left open would hold the modem from the next
	// user). socat links the next session's pty (often the same
	// /dev/pts/N) a moment after the close, and the runtime closes a
	// descriptor a moment after Close when its reader is parked: allow
	// those moments.
	var pty string
	for i := 0; pty == ""; i++ {
		if pty, err = filepath.EvalSymlinks(dev); err != nil && i == 100 {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for i := 0; holdsFile(t, pty); i++ {
		if i == 100 {
			t.Fatalf("send returned and this process still has %s open", pty)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// holdsFile reports whether this process has path open.
func holdsFile(t *testing.T, path string) bool {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		if l, _ := os.Readlink("/proc/self/fd/" + fd.Name()); l == path {
			return true
		}
	}
	return false
}

func TestModemStatus_NotAModem(t *testing.T) {
	_, _, admin, cfg := asteriskDaemon(t, "")
	hostPort := strings.TrimSuffix(strings.TrimPrefix(admin, "http://"), "/")
	wantError(t, textback(t, "modem", "status", "--config", cfg, "--admin", hostPort), 1, "modem", `the running textback sends through "console", not a modem`)
}
