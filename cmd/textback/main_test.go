package main

// End-to-end tests of the binary's commands. Most run in-process through
// Main; the ones that need a second process (the daemon holding the ledger
// lock, real signals) re-execute the test binary as textback itself (see
// TestMain and startDaemon in run_test.go).
//
// This file holds the shared helpers and the tests of the command line
// itself and of bad input common to every command.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/textback/textback/ledger"
)

// childEnv, set to 1 in a re-executed test binary's environment, makes it
// run as textback (main) instead of running the tests.
const childEnv = "TEXTBACK_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		main() // exits
		return
	}
	os.Exit(m.Run())
}

// result is what one command did.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout:\n%s--- stderr:\n%s", r.code, r.stdout, r.stderr)
}

// textback runs one command in-process with empty stdin, no environment
// and no terminal.
func textback(t *testing.T, args ...string) result {
	t.Helper()
	return textbackStdin(t, "", args...)
}

func textbackStdin(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
	code := Main(context.WithoutCancel(t.Context()), e, args)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// mustRun runs a command that must succeed.
func mustRun(t *testing.T, args ...string) result {
	t.Helper()
	r := textback(t, args...)
	if r.code != 0 {
		t.Fatalf("textback %s: %v", strings.Join(args, " "), r)
	}
	return r
}

// wantError checks that a command failed with exit status code and exactly
// one line on stderr, "textback CMD: ..." containing every one of wants.
func wantError(t *testing.T, r result, code int, cmd string, wants ...string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit status %d, want %d\n%v", r.code, code, r)
	}
	if n := strings.Count(r.stderr, "\n"); n != 1 || !strings.HasSuffix(r.stderr, "\n") {
		t.Errorf("stderr has %d lines, want exactly one:\n%s", n, r.stderr)
	}
	if prefix := "textback " + cmd + ": "; !strings.HasPrefix(r.stderr, prefix) {
		t.Errorf("stderr does not start with %q:\n%s", prefix, r.stderr)
	}
	for _, w := range wants {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr does not say %q:\n%s", w, r.stderr)
		}
	}
}

// The test business: the numbers the project's tests use. 555 is the
// fictional area code the phone normaliser accepts on purpose.
const (
	testLine   = "+15555551000"
	testDID    = "5551000"
	testStaff  = "+15555550199"
	testCaller = "+15557654321"
	testOther  = "+15559876543"
)

// configFor is a config the daemon accepts: no PBX, the console driver,
// one US line, the ledger in stateDir, a short lock timeout so a locked
// ledger fails fast, JSON logs. extra is appended (top-level keys only).
func configFor(stateDir, extra string) string {
	return fmt.Sprintf(`state_dir: %q
ledger: {lock_timeout: 300ms}
log: {format: json}
pbx: none
driver: {type: console}
admin: {listen: "127.0.0.1:0"}
lines:
  main:
    number: %q
    aliases: [%q]
    country: US
    business: Acme Plumbing
    template: "Sorry we missed your call to {{.Business}}. What can we help with? Reply STOP to opt out."
    staff: [%q]
`, stateDir, testLine, testDID, testStaff) + extra
}

// writeFile writes data to name in dir and returns its path.
func writeFile(t *testing.T, dir, name, data string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// newSetup makes a state directory and a config using it, in a fresh
// temporary directory. It returns the config's path and the ledger's.
func newSetup(t *testing.T, extra string) (cfg, ledgerPath string) {
	t.Helper()
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	return writeFile(t, dir, "textback.yaml", configFor(state, extra)), filepath.Join(state, "textback.db")
}

// fileSum is the SHA-256 of a file, or "absent".
func fileSum(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "absent"
	}
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// unchanged records the sums of files and checks, at cleanup, that none
// of them changed.
func unchanged(t *testing.T, paths ...string) {
	t.Helper()
	before := map[string]string{}
	for _, p := range paths {
		before[p] = fileSum(t, p)
	}
	t.Cleanup(func() {
		for _, p := range paths {
			if got := fileSum(t, p); got != before[p] {
				t.Errorf("%s changed (sha256 %s, was %s)", p, got, before[p])
			}
		}
	})
}

// openLedgerFile opens a ledger read-only for checking what a command did;
// it is closed at cleanup.
func openLedgerFile(t *testing.T, path string) *ledger.Store {
	t.Helper()
	st, err := ledger.Open(path, ledger.StoreOptions{ReadOnly: true})
	if err != nil {
		t.Fatalf("open ledger to check it: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestMain_Usage(t *testing.T) {
	t.Run("NoArguments", func(t *testing.T) {
		r := textback(t)
		if r.code != 2 || !strings.Contains(r.stdout, "usage: textback COMMAND") {
			t.Errorf("want exit 2 and the usage:\n%v", r)
		}
		for _, c := range commands() {
			if !strings.Contains(r.stdout, "  "+c.name+" ") {
				t.Errorf("usage does not list %s", c.name)
			}
		}
	})
	t.Run("Help", func(t *testing.T) {
		for _, arg := range []string{"help", "-h", "--help"} {
			if r := textback(t, arg); r.code != 0 || !strings.Contains(r.stdout, "usage: textback COMMAND") || r.stderr != "" {
				t.Errorf("textback %s:\n%v", arg, r)
			}
		}
	})
	t.Run("CommandHelp", func(t *testing.T) {
		r := textback(t, "calls", "--help")
		if r.code != 0 || !strings.Contains(r.stderr, "usage: textback calls") {
			t.Errorf("calls --help:\n%v", r)
		}
	})
	t.Run("Version", func(t *testing.T) {
		r := mustRun(t, "version")
		if !strings.HasPrefix(r.stdout, "textback ") || strings.Count(r.stdout, "\n") != 1 {
			t.Errorf("version:\n%v", r)
		}
		wantError(t, textback(t, "version", "extra"), 2, "version", "takes no arguments")
	})
}

func TestMain_UnknownCommand(t *testing.T) {
	r := textback(t, "frobnicate", "--config", "x")
	if r.code != 2 {
		t.Errorf("exit %d, want 2", r.code)
	}
	if want := "textback: unknown command \"frobnicate\" (try textback help)\n"; r.stderr != want {
		t.Errorf("stderr %q, want %q", r.stderr, want)
	}
	if r.stdout != "" {
		t.Errorf("stdout: %q", r.stdout)
	}
}

func TestMain_UnknownFlag(t *testing.T) {
	for _, args := range [][]string{
		{"calls", "--bogus"},
		{"run", "--bogus"},
		{"check", "--cooldown", "1h"},
		{"demo", "--kep", "x"},
		{"replay", "--pbx", "events", "--bogus", "x.jsonl"},
		{"optout", "add", "--bogus", testCaller},
		{"ledger", "export", "--bogus"},
		{"explain", "-x", "1"},
	} {
		t.Run(strings.Join(args, "_"), func(t *testing.T) {
			r := textback(t, args...)
			if r.code != 2 {
				t.Errorf("exit %d, want 2\n%v", r.code, r)
			}
			cmd := args[0]
			if cmd == "ledger" {
				cmd = "ledger " + args[1]
			}
			// The flag package prints the problem and the command's usage;
			// Main ends with one line naming the command.
			if !strings.Contains(r.stderr, "flag provided but not defined") || !strings.Contains(r.stderr, "usage: textback "+cmd) {
				t.Errorf("stderr has no usage hint:\n%s", r.stderr)
			}
			lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
			if last := lines[len(lines)-1]; !strings.HasPrefix(last, "textback "+args[0]+": usage: flag provided but not defined") {
				t.Errorf("last line %q", last)
			}
			if r.stdout != "" {
				t.Errorf("stdout: %q", r.stdout)
			}
		})
	}
}

func TestMain_MissingArguments(t *testing.T) {
	cfg, _ := newSetup(t, "")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"explain", "--config", cfg}, "explain takes one call id"},
		{[]string{"explain", "--config", cfg, "a", "b"}, "explain takes one call id"},
		{[]string{"optout", "--config", cfg}, "optout needs list, add, remove or show"},
		{[]string{"optout", "add", "--config", cfg}, "optout add takes 1 number(s)"},
		{[]string{"optout", "show"}, "optout show takes 1 number(s)"},
		{[]string{"optout", "list", testCaller}, "optout list takes 0 number(s)"},
		{[]string{"optout", "drop", testCaller}, `unknown optout command "drop"`},
		{[]string{"ledger"}, "ledger needs export, backup, stats or purge"},
		{[]string{"ledger", "compact"}, `unknown ledger command "compact"`},
		{[]string{"ledger", "backup", "--config", cfg}, "backup needs --out FILE"},
		{[]string{"ledger", "stats", "--config", cfg, "extra"}, `unexpected argument "extra"`},
		{[]string{"ledger", "export", "--config", cfg, "--since", "yesterday"}, `--since "yesterday"`},
		{[]string{"replay", "x.jsonl"}, "--pbx is required"},
		{[]string{"replay", "--pbx", "events"}, "give at least one trace file"},
		{[]string{"replay", "--pbx", "cisco", "x.jsonl"}, `--pbx "cisco": want asterisk, freeswitch or events`},
		{[]string{"send", "--config", cfg, testCaller, "hi"}, "send needs --line LINE NUMBER TEXT"},
		{[]string{"send", "--config", cfg, "--line", "main", testCaller}, "send needs --line LINE NUMBER TEXT"},
	} {
		t.Run(strings.Join(tc.args, "_"), func(t *testing.T) {
			cmd := tc.args[0]
			r := textback(t, tc.args...)
			wantError(t, r, 2, cmd, "usage: ", tc.want)
			if r.stdout != "" {
				t.Errorf("stdout: %q", r.stdout)
			}
		})
	}
}

// TestMain_ConfigTypo: a misspelt key is one line naming the key, its
// section, the file and the line, for every command that reads the
// config; nothing is written.
func TestMain_ConfigTypo(t *testing.T) {
	cfg, ledgerPath := newSetup(t, "policy:\n  cooldwon: 12h\n")
	data, _ := os.ReadFile(cfg)
	line := 1 + strings.Count(string(data[:strings.Index(string(data), "cooldwon")]), "\n")
	unchanged(t, cfg, ledgerPath)
	want := fmt.Sprintf(`config %s line %d: unknown key "cooldwon" in policy (did you mean cooldown?)`, cfg, line)
	for _, args := range [][]string{
		{"check", "--config", cfg},
		{"run", "--config", cfg},
		{"calls", "--config", cfg},
		{"optout", "add", "--config", cfg, testCaller},
		{"ledger", "stats", "--config", cfg},
		{"replay", "--pbx", "events", "--config", cfg, "testdata/noanswer.jsonl"},
	} {
		t.Run(args[0], func(t *testing.T) {
			r := textback(t, args...)
			wantError(t, r, 1, args[0], want)
			if r.stdout != "" {
				t.Errorf("stdout: %q", r.stdout)
			}
		})
	}
	if _, err := os.Stat(ledgerPath); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a ledger was created despite the bad config: %v", err)
	}
}

// TestMain_StateDirUnusable: the ledger's directory is under a regular
// file, or does not exist: the error names the directory, and nothing is
// created or changed.
func TestMain_StateDirUnusable(t *testing.T) {
	dir := t.TempDir()
	regular := writeFile(t, dir, "regular", "not a directory\n")
	for _, tc := range []struct {
		name, state, want string
	}{
		{"UnderRegularFile", filepath.Join(regular, "state"), "state directory " + filepath.Join(regular, "state") + ": a parent is not a directory"},
		{"NoParent", filepath.Join(dir, "nope", "state"), "state directory " + filepath.Join(dir, "nope", "state") + " does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := writeFile(t, t.TempDir(), "textback.yaml", configFor(tc.state, ""))
			unchanged(t, cfg, regular)
			for _, args := range [][]string{
				{"run", "--config", cfg},
				{"optout", "add", "--config", cfg, testCaller},
				{"send", "--config", cfg, "--line", "main", testCaller, "hello"},
			} {
				r := textback(t, args...)
				wantError(t, r, 1, args[0], "open ledger "+filepath.Join(tc.state, "textback.db"), tc.want)
			}
			// The read-only commands need the file itself; they name it.
			for _, args := range [][]string{
				{"calls", "--config", cfg},
				{"explain", "--config", cfg, "1"},
				{"optout", "list", "--config", cfg},
				{"ledger", "stats", "--config", cfg},
			} {
				r := textback(t, args...)
				wantError(t, r, 1, args[0], filepath.Join(tc.state, "textback.db"))
			}
			if _, err := os.Stat(filepath.Join(dir, "nope")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a command created the missing directory")
			}
		})
	}
	t.Run("NotWritable", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root can write to any directory")
		}
		state := filepath.Join(t.TempDir(), "state")
		if err := os.Mkdir(state, 0o500); err != nil {
			t.Fatal(err)
		}
		cfg := writeFile(t, t.TempDir(), "textback.yaml", configFor(state, ""))
		r := textback(t, "run", "--config", cfg)
		wantError(t, r, 1, "run", "state directory "+state+" is not writable")
	})
}

// TestMain_CorruptLedger: a ledger file that is random bytes or a text
// file is refused by every command, naming the path, and left as it was.
func TestMain_CorruptLedger(t *testing.T) {
	random := make([]byte, 64<<10)
	rand.Read(random)
	const text = "calls:\n  - 1795711522.0 missed\n"
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"Random64KiB", random, "not a textback ledger or corrupt: no valid bbolt meta page"},
		{"TextFile", []byte(text), fmt.Sprintf("not a textback ledger or corrupt (%d bytes, too short)", len(text))},
		{"LongTextFile", bytes.Repeat([]byte("this is not a ledger\n"), 1000), "not a textback ledger or corrupt: no valid bbolt meta page"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, ledgerPath := newSetup(t, "")
			if err := os.WriteFile(ledgerPath, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			unchanged(t, ledgerPath)
			backup := filepath.Join(t.TempDir(), "b.db")
			for _, args := range [][]string{
				{"run", "--config", cfg},
				{"calls", "--config", cfg},
				{"explain", "--config", cfg, "1"},
				{"optout", "add", "--config", cfg, testCaller},
				{"optout", "show", "--config", cfg, testCaller},
				{"ledger", "purge", "--config", cfg, "--older-than", "1h"},
				{"ledger", "backup", "--config", cfg, "--out", backup},
				{"send", "--config", cfg, "--line", "main", testCaller, "hello"},
			} {
				r := textback(t, args...)
				wantError(t, r, 1, args[0], "open ledger "+ledgerPath+": ", tc.want)
				if r.stdout != "" {
					t.Errorf("%s: stdout %q", args[0], r.stdout)
				}
			}
			if _, err := os.Stat(backup); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("backup of a corrupt ledger was written: %v", err)
			}
		})
	}
}

func TestPermuteFlags(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.String("config", "", "")
	fs.Bool("json", false, "")
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"a b", "-- a b"},
		{"--config f a", "--config f -- a"},
		{"a --config f", "--config f -- a"},
		{"a --json b", "--json -- a b"},
		{"a --config=f b", "--config=f -- a b"},
		{"--json=false a", "--json=false -- a"},
		{"a -- --config f", "-- a --config f"},
		{"a --bogus b", "--bogus -- a b"},
		{"a --config", "--config -- a"},
	} {
		got := strings.Join(permuteFlags(fs, strings.Fields(tc.in)), " ")
		if got != tc.want {
			t.Errorf("permuteFlags(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
