package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/textback/textback/ari/aritest"
	"github.com/textback/textback/esl/esltest"
)

// The adapters' captures and the verdicts a person read off each call.
const (
	asteriskCaptures   = "../../ari/testdata"
	freeswitchCaptures = "../../esl/testdata"
)

// expectedRow is one row of a captures directory's expected.tsv.
type expectedRow struct{ trace, verdict, from, textable string }

func readExpected(t *testing.T, dir string) []expectedRow {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "expected.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []expectedRow
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if sc.Text() == "" || strings.HasPrefix(sc.Text(), "#") {
			continue
		}
		c := strings.Split(sc.Text(), "\t")
		if len(c) < 4 {
			t.Fatalf("expected.tsv: short row %q", sc.Text())
		}
		rows = append(rows, expectedRow{c[0], c[1], c[2], c[3]})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rows) < 7 {
		t.Fatalf("expected.tsv in %s has %d rows", dir, len(rows))
	}
	return rows
}

// TestReplay_Captures: textback replay decides every call of every real
// capture as a person did (expected.tsv), through the adapters' own
// translation. Rows without a verdict are traces with no inbound call:
// replay prints nothing for them.
func TestReplay_Captures(t *testing.T) {
	for _, tc := range []struct{ pbx, dir, config string }{
		{"asterisk", asteriskCaptures, "asterisk: {trunks: [carrier]}\n"},
		{"freeswitch", freeswitchCaptures, "freeswitch: {inbound_profiles: [external]}\n"},
	} {
		t.Run(tc.pbx, func(t *testing.T) {
			cfg := writeFile(t, t.TempDir(), "replay.yaml", tc.config)
			for _, row := range readExpected(t, tc.dir) {
				r := mustRun(t, "replay", "--pbx", tc.pbx, "--config", cfg, filepath.Join(tc.dir, row.trace))
				got := replayLines(t, r.stdout)
				if row.verdict == "" {
					if len(got) != 0 {
						t.Errorf("%s: no inbound call, replay printed %+v", row.trace, got)
					}
					continue
				}
				if len(got) != 1 {
					t.Errorf("%s: %d decided calls, want 1: %+v", row.trace, len(got), got)
					continue
				}
				g := got[0]
				if g.Verdict != row.verdict || g.From != row.from || (row.textable != "-" && g.Textable != (row.textable == "yes")) || g.PBX != tc.pbx {
					t.Errorf("%s: got %s from %s textable %v (pbx %s), want %s from %s textable %s",
						row.trace, g.Verdict, g.From, g.Textable, g.PBX, row.verdict, row.from, row.textable)
				}
			}
		})
	}
}

func TestReplay_WrongPBX(t *testing.T) {
	r := textback(t, "replay", "--pbx", "asterisk", filepath.Join(freeswitchCaptures, "a_noanswer.esl"))
	wantError(t, r, 1, "replay", "trace "+filepath.Join(freeswitchCaptures, "a_noanswer.esl")+": ")
	r = textback(t, "replay", "--pbx", "freeswitch", filepath.Join(asteriskCaptures, "a_noanswer.jsonl"))
	wantError(t, r, 1, "replay", "trace "+filepath.Join(asteriskCaptures, "a_noanswer.jsonl")+": ")
}

// pbxConfig is configFor with a PBX section instead of pbx: none, and a
// second line for the FreeSWITCH captures' DID.
func pbxConfig(t *testing.T, state, pbx string) string {
	t.Helper()
	c := configFor(state, `  tollfree:
    number: "+18005550101"
    aliases: ["8005550101"]
    country: US
    business: Acme Plumbing
    template: "Sorry we missed your call to {{.Business}}. Reply STOP to opt out."
`)
	if !strings.Contains(c, "pbx: none\n") {
		t.Fatal("configFor no longer says pbx: none")
	}
	return strings.Replace(c, "pbx: none\n", pbx, 1)
}

func TestCheck_PBX(t *testing.T) {
	ast := aritest.NewServer()
	defer ast.Close()
	ast.Password = "s3cret-ari" // distinct from anything else check prints
	fs, err := esltest.NewServer(esltest.Config{Password: "s3cret-esl"})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	state := t.TempDir()
	astCfg := func(password string) string {
		return fmt.Sprintf("pbx: asterisk\nasterisk: {url: %q, username: %q, password: %q, trunks: [carrier]}\n", ast.URL, ast.User, password)
	}
	fsCfg := func(password string) string {
		return fmt.Sprintf("pbx: freeswitch\nfreeswitch: {address: %q, password: %q}\n", fs.Addr(), password)
	}
	t.Run("Asterisk", func(t *testing.T) {
		cfg := writeFile(t, t.TempDir(), "textback.yaml", pbxConfig(t, state, astCfg(ast.Password)))
		r := mustRun(t, "check", "--pbx", "--config", cfg)
		if !strings.Contains(r.stderr, "pbx ok: Asterisk "+ast.Version+" at "+ast.URL+"/ari") {
			t.Errorf("check --pbx does not report Asterisk:\n%s", r.stderr)
		}
		if strings.Contains(r.stdout+r.stderr, ast.Password) {
			t.Errorf("check shows the ARI password")
		}
	})
	t.Run("AsteriskWrongPassword", func(t *testing.T) {
		cfg := writeFile(t, t.TempDir(), "textback.yaml", pbxConfig(t, state, astCfg("wrong-password")))
		r := textback(t, "check", "--pbx", "--config", cfg)
		wantCheckError(t, r, "pbx: asterisk at "+ast.URL+"/ari: ", "401")
		if strings.Contains(r.stderr, "wrong-password") {
			t.Errorf("the error shows the password: %s", r.stderr)
		}
	})
	t.Run("FreeSWITCH", func(t *testing.T) {
		cfg := writeFile(t, t.TempDir(), "textback.yaml", pbxConfig(t, state, fsCfg("s3cret-esl")))
		r := mustRun(t, "check", "--pbx", "--config", cfg)
		if !strings.Contains(r.stderr, "pbx ok: FreeSWITCH 1.10.12") || !strings.Contains(r.stderr, fs.Addr()) {
			t.Errorf("check --pbx does not report FreeSWITCH:\n%s", r.stderr)
		}
		if strings.Contains(r.stdout+r.stderr, "s3cret-esl") {
			t.Errorf("check shows the event socket password")
		}
	})
	t.Run("FreeSWITCHWrongPassword", func(t *testing.T) {
		cfg := writeFile(t, t.TempDir(), "textback.yaml", pbxConfig(t, state, fsCfg("wrong-password")))
		r := textback(t, "check", "--pbx", "--config", cfg)
		wantCheckError(t, r, "pbx: esl auth "+fs.Addr()+": ", "password")
		if strings.Contains(r.stderr, "wrong-password") {
			t.Errorf("the error shows the password: %s", r.stderr)
		}
	})
	t.Run("Unreachable", func(t *testing.T) {
		cfg := writeFile(t, t.TempDir(), "textback.yaml", pbxConfig(t, state, "pbx: freeswitch\nfreeswitch: {address: \"127.0.0.1:1\", password: x}\n"))
		wantCheckError(t, textback(t, "check", "--pbx", "--config", cfg), "pbx: esl dial 127.0.0.1:1: ", "connection refused")
	})
}

// TestRun_AsteriskMissedCallTexted: the daemon watching a (fake) Asterisk
// texts the caller of a real captured missed call, and not the caller of
// an answered one.
func TestRun_AsteriskMissedCallTexted(t *testing.T) {
	ast := aritest.NewServer()
	defer ast.Close()
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := writeFile(t, dir, "textback.yaml", pbxConfig(t, state,
		fmt.Sprintf("pbx: asterisk\nasterisk: {url: %q, username: %q, password: %q, trunks: [carrier]}\n", ast.URL, ast.User, ast.Password)))
	d := startDaemon(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), daemonWait)
	defer cancel()
	if err := ast.Wait(ctx, func(s aritest.Stats) bool { return s.Open > 0 && len(s.Filters) > 0 }); err != nil {
		t.Fatalf("the daemon did not connect to ARI: %v", err)
	}
	for _, name := range []string{"b_answered_ext_hangup.jsonl", "a_noanswer.jsonl"} {
		f, err := os.Open(filepath.Join(asteriskCaptures, name))
		if err != nil {
			t.Fatal(err)
		}
		_, err = ast.Replay(f, "")
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	sent := d.waitLog("text accepted", 1)
	if sent["to"] != testCaller || sent["kind"] != "callback" {
		t.Errorf("text accepted: %v, want the callback to %s", sent, testCaller)
	}
	d.waitLog("answered call", 1)
	d.waitLog("missed call", 1)
	if n := len(d.logLines("text accepted")); n != 1 {
		t.Errorf("%d texts sent, want 1 (the answered call is not texted)", n)
	}
	d.stop()
}

// TestRun_FreeSWITCHMissedCallTexted: the same through a (fake) event
// socket replaying a real capture.
func TestRun_FreeSWITCHMissedCallTexted(t *testing.T) {
	fs, err := esltest.NewServer(esltest.Config{Password: "s3cret-esl"})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := writeFile(t, dir, "textback.yaml", pbxConfig(t, state,
		fmt.Sprintf("pbx: freeswitch\nfreeswitch: {address: %q, password: s3cret-esl}\n", fs.Addr())))
	d := startDaemon(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), daemonWait)
	defer cancel()
	if err := fs.WaitReady(ctx, 1); err != nil {
		t.Fatalf("the daemon did not subscribe to events: %v", err)
	}
	for _, name := range []string{"b_answered.esl", "a_noanswer.esl"} {
		frames, err := esltest.LoadCapture(filepath.Join(freeswitchCaptures, name))
		if err != nil {
			t.Fatal(err)
		}
		if n := fs.Send(esltest.Events(frames)...); n != 1 {
			t.Fatalf("%s went to %d connections, want 1", name, n)
		}
	}
	sent := d.waitLog("text accepted", 1)
	if sent["to"] != "+14155550123" || sent["kind"] != "callback" {
		t.Errorf("text accepted: %v, want the callback to +14155550123", sent)
	}
	d.waitLog("answered call", 1)
	d.waitLog("missed call", 1)
	if n := len(d.logLines("text accepted")); n != 1 {
		t.Errorf("%d texts sent, want 1 (the answered call is not texted)", n)
	}
	d.stop()
}

// wantCheckError: check --pbx found the config good and the PBX not: its
// last line is the error, with status 1.
func wantCheckError(t *testing.T, r result, wants ...string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	last := lines[len(lines)-1]
	if r.code != 1 || !strings.HasPrefix(lines[0], "config ok: ") || !strings.HasPrefix(last, "textback check: ") {
		t.Errorf("exit %d, want 1 with config ok, then the error:\n%s", r.code, r.stderr)
	}
	for _, w := range wants {
		if !strings.Contains(last, w) {
			t.Errorf("the error does not say %q: %s", w, last)
		}
	}
}
