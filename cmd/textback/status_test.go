package main

import (
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"
)

// TestStatus_RunningDaemon: textback status reads the running daemon
// (watching a fake Asterisk) through its admin listener: before any call,
// after a missed call texted, and once the daemon has stopped (exit 1,
// saying it is not running).
func TestStatus_RunningDaemon(t *testing.T) {
	ast, d, admin, cfg := asteriskDaemon(t, "")
	// The test configs listen on port 0: tell status where the daemon is.
	hostPort := strings.TrimSuffix(strings.TrimPrefix(admin, "http://"), "/")
	status := func(args ...string) result {
		t.Helper()
		return mustRun(t, append([]string{"status", "--config", cfg, "--admin", hostPort}, args...)...)
	}
	wantLines := func(out string, wants ...string) {
		t.Helper()
		for _, w := range wants {
			if !strings.Contains(out, w) {
				t.Errorf("status does not say %q:\n%s", w, out)
			}
		}
	}

	r := status()
	first := strings.SplitN(r.stdout, "\n", 2)[0]
	if !strings.HasPrefix(first, "textback ") || !strings.HasSuffix(first, " ago): ready") {
		t.Errorf("first line: %q", first)
	}
	wantLines(r.stdout,
		"\npbx        watching Asterisk "+ast.Version+" at "+ast.URL+", connected since ",
		"\ndriver     console: ready\n",
		"\noutbox     0 queued\n",
		"\nlast miss  none yet\n",
		"\ntoday      0 missed, 0 texts sent, 0 opt-outs\n")
	if strings.Contains(r.stdout, "not connected") {
		t.Errorf("a warning about the connection while connected:\n%s", r.stdout)
	}

	// A missed call (a capture without channelvars) and an answered one.
	replayCaptures(t, ast, "b_answered_ext_hangup.jsonl", "a_noanswer.jsonl")
	d.waitLog("text accepted", 1)
	d.waitLog("answered call", 1)
	r = status()
	wantLines(r.stdout,
		"\nlast miss  asterisk:",
		" from "+testCaller+" on main, ",
		" (noanswer): text sent\n",
		"\ntoday      1 missed, 1 texts sent, 0 opt-outs\n",
		"channel snapshots lack", "add channelvars")

	r = status("--json")
	var rep statusReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("--json: %v\n%s", err, r.stdout)
	}
	if !rep.Ready || rep.PBX.Version != ast.Version || rep.LastMissed == nil || rep.LastMissed.Outcome != "text sent" || rep.Today.Texts != 1 {
		t.Errorf("--json: %+v", rep)
	}

	// Asterisk refuses the daemon: not ready, and a warning says why.
	ast.RefuseAuth(true)
	ast.Drop()
	waitReadyz(t, admin, 503)
	out := status().stdout
	wantLines(out, ": NOT READY: asterisk: reconnecting to "+ast.URL, "\n  - not connected to the PBX for ")

	d.stop()
	r = textback(t, "status", "--config", cfg, "--admin", hostPort)
	wantError(t, r, 1, "status", "textback is not running: nothing answers on 127.0.0.1:")
}

// TestStatus_Warnings: each warning the status screen gives, from the
// state that causes it; none when all is well.
func TestStatus_Warnings(t *testing.T) {
	now := time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)
	ok := func() *statusReport {
		r := &statusReport{Now: now, Ready: true}
		r.PBX = pbxState{PBX: "asterisk", Address: "http://127.0.0.1:8088", Connected: true, Version: "22.10.1", Since: now.Add(-time.Hour)}
		r.Driver = driverState{Name: "modem", State: "ready", Ready: true, Signal: 20, SignalDBm: -73, MaxPerHour: 60, MaxPerDay: 300}
		return r
	}
	for _, tc := range []struct {
		name   string
		change func(*statusReport)
		want   string // "" none
	}{
		{"AllWell", func(*statusReport) {}, ""},
		{"PBXDown", func(r *statusReport) {
			r.PBX.Connected, r.PBX.LastError, r.PBX.Since = false, "dial tcp: connection refused", now.Add(-90*time.Second)
		}, "not connected to the PBX for 1m30s: asterisk: reconnecting to http://127.0.0.1:8088 (dial tcp: connection refused)"},
		{"Channelvars", func(r *statusReport) {
			r.PBX.Warnings = []string{"channel snapshots lack CALLERID(pres): add channelvars"}
		}, "channel snapshots lack CALLERID(pres)"},
		{"WeakSignal", func(r *statusReport) { r.Driver.Signal, r.Driver.SignalDBm = 5, -103 }, "modem signal weak (-103 dBm, RSSI 5/31)"},
		{"SignalUnknown", func(r *statusReport) { r.Driver.Signal, r.Driver.SignalDBm = -1, 0 }, ""},
		{"ModemDown", func(r *statusReport) { r.Driver.State, r.Driver.Ready, r.Driver.LastError = "down", false, "no answer" }, "the driver cannot send: modem: down (no answer)"},
		{"WaitingForSIM", func(r *statusReport) { r.Driver.State, r.Driver.Ready, r.Driver.SIM = "starting", false, "SIM PIN" }, "modem: waiting for SIM (SIM PIN)"},
		{"PacingHour", func(r *statusReport) { r.Driver.SentLastHour = 60 }, "modem pacing cap reached: 60 texts in the last hour"},
		{"RateCap", func(r *statusReport) { r.Today.RateCap = 3 }, "rate cap reached: 3 missed call(s) today not texted"},
		{"OutboxStuck", func(r *statusReport) { r.Outbox.OldestQueued = now.Add(-10 * time.Minute) }, "the oldest queued text has waited 10m0s"},
		{"OutboxFresh", func(r *statusReport) { r.Outbox.OldestQueued = now.Add(-10 * time.Second) }, ""},
	} {
		r := ok()
		tc.change(r)
		got := warnings(r, now)
		switch {
		case tc.want == "" && len(got) != 0:
			t.Errorf("%s: warnings %q, want none", tc.name, got)
		case tc.want != "" && (len(got) != 1 || !strings.Contains(got[0], tc.want)):
			t.Errorf("%s: warnings %q, want one saying %q", tc.name, got, tc.want)
		}
		if tc.want == "" {
			var b strings.Builder
			r.Warnings = got
			writeStatus(&b, r)
			if !strings.HasSuffix(b.String(), "\nwarnings   none\n") {
				t.Errorf("%s: screen:\n%s", tc.name, b.String())
			}
		}
	}
}

// TestStatus_NotRunning: with no daemon, status says so and exits 1; an
// admin listener switched off is an error that says so.
func TestStatus_NotRunning(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	// The address comes from the config's admin.listen.
	dir := t.TempDir()
	cfg := writeFile(t, dir, "textback.yaml", strings.Replace(configFor(dir, ""), `admin: {listen: "127.0.0.1:0"}`, "admin: {listen: \""+addr+"\"}", 1))
	wantError(t, textback(t, "status", "--config", cfg), 1, "status",
		"textback is not running: nothing answers on "+addr+" (systemctl status textback)")
	off := writeFile(t, dir, "off.yaml", strings.Replace(configFor(dir, ""), `admin: {listen: "127.0.0.1:0"}`, "admin: {listen: \"off\"}", 1))
	wantError(t, textback(t, "status", "--config", off), 1, "status", "the admin listener is off")
	wantError(t, textback(t, "status", "extra"), 2, "status", "takes no arguments")
}
