package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/textback/textback/ledger"
	bolt "go.etcd.io/bbolt"
)

// daemonOn starts the daemon on the seeded ledger (its config's admin
// listener on port 0) and returns it with a config for the commands that
// names the same ledger and the port the daemon got.
func daemonOn(t *testing.T, s seeded) (*daemon, string) {
	t.Helper()
	d := startDaemon(t, s.cfg)
	admin, _ := d.waitLog("textback starting", 1)["admin"].(string)
	hostPort := strings.TrimSuffix(strings.TrimPrefix(admin, "http://"), "/")
	if hostPort == "" {
		t.Fatalf("the daemon did not log its admin address")
	}
	data, err := os.ReadFile(s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	const port0 = `admin: {listen: "127.0.0.1:0"}`
	if !strings.Contains(string(data), port0) {
		t.Fatalf("configFor no longer says %s", port0)
	}
	cli := writeFile(t, filepath.Dir(s.cfg), "cli.yaml", strings.Replace(string(data), port0, fmt.Sprintf("admin: {listen: %q}", hostPort), 1))
	waitStable(t, s.path)
	return d, cli
}

// TestAdminCommands_SameWhileRunning: every reading admin command gives
// the same output, errors included, with the daemon running (it holds the
// ledger: the command asks its admin listener) and stopped (the command
// opens the file).
var freeBytes = regexp.MustCompile(`"free_bytes": [0-9]+,?`)

func TestAdminCommands_SameWhileRunning(t *testing.T) {
	s := seedLedger(t)
	d, cli := daemonOn(t, s)
	commands := [][]string{
		{"calls"}, {"calls", "-n", "2"}, {"calls", "--json"}, {"calls", "-n", "0", "--json"},
		{"explain", "tb:1"}, {"explain", "tb:3"}, {"explain", "4"}, {"explain", "tb:5"}, {"explain", "tb:99"},
		{"optout", "list"}, {"optout", "show", testCaller}, {"optout", "show", "(555) 765-4322"},
		{"optout", "show", "--line", "main", "555.987.6543"}, {"optout", "show", "12"},
		{"ledger", "stats"},
		{"ledger", "export", "--what", "numbers"},
		{"ledger", "export", "--what", "texts", "--since", s.at.Add(6 * time.Minute).Format(time.RFC3339)},
		{"ledger", "export", "--since", "1h"},
	}
	for _, what := range []string{"calls", "consent", "messages", "texts"} {
		for _, format := range []string{"jsonl", "csv"} {
			commands = append(commands, []string{"ledger", "export", "--what", what, "--format", format})
		}
	}
	running := make([]result, len(commands))
	for i, args := range commands {
		running[i] = textback(t, append(args, "--config", cli)...)
	}
	d.running()
	d.stop()
	for i, args := range commands {
		t.Run(strings.Join(args, "_"), func(t *testing.T) {
			stopped := textback(t, append(args, "--config", cli)...)
			if args[0] == "ledger" && args[1] == "stats" {
				// The daemon's clean close is a write: its free pages
				// change, nothing else.
				running[i].stdout = freeBytes.ReplaceAllString(running[i].stdout, "")
				stopped.stdout = freeBytes.ReplaceAllString(stopped.stdout, "")
			}
			if !reflect.DeepEqual(running[i], stopped) {
				t.Errorf("while running:\n%v\nstopped:\n%v", running[i], stopped)
			}
			if strings.Contains(stopped.stderr, "admin") {
				t.Errorf("the file's answer mentions the admin listener:\n%v", stopped)
			}
		})
	}
	// The outputs are the commands' usual ones (admin_test.go checks them
	// in detail): a few anchors, so equal cannot mean equally empty.
	for i, want := range map[int]string{0: "tb:6", 4: "texted: yes, text #1", 9: testOptedOut, 10: "opted out since ", 14: `"calls": 6`} {
		if !strings.Contains(running[i].stdout, want) {
			t.Errorf("%s: does not say %q:\n%v", strings.Join(commands[i], " "), want, running[i])
		}
	}
	if running[8].code != 1 || !strings.Contains(running[8].stderr, `call "tb:99": not found`) {
		t.Errorf("explain tb:99: %v", running[8])
	}
}

// TestAdminCommands_OptoutWhileRunning: optout add and remove through the
// daemon write the consent history as the file's commands do (source
// admin, the note as evidence, the line), and an answered change is on
// disk: it survives the daemon being killed right after.
func TestAdminCommands_OptoutWhileRunning(t *testing.T) {
	s := seedLedger(t)
	d, cli := daemonOn(t, s)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"optout", "add", "(555) 987-6543", "--note", "asked by phone, ticket 42"}, testOther + " is now opted out\n"},
		{[]string{"optout", "add", testOther}, testOther + " was already opted out; nothing changed\n"},
		{[]string{"optout", "remove", "--line", "main", testCaller, "--note", "called to resubscribe"}, testCaller + " is now opted in\n"},
		{[]string{"optout", "remove", testCaller}, testCaller + " was already opted in; nothing changed\n"},
	} {
		r := mustRun(t, append(tc.args, "--config", cli)...)
		if r.stdout != tc.want {
			t.Errorf("%s: %q, want %q", strings.Join(tc.args, " "), r.stdout, tc.want)
		}
	}
	r := textback(t, "optout", "add", "--config", cli, "12")
	wantError(t, r, 1, "optout", `invalid phone number "12"`)

	// Killed without a chance to flush anything: what it answered is on disk.
	if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-d.done
	st := openLedgerFile(t, s.path)
	type ev struct {
		State    ledger.ConsentState
		Source   ledger.ConsentSource
		Line     string
		Evidence string
	}
	history := func(number string) []ev {
		t.Helper()
		h, err := st.ConsentHistory(number)
		if err != nil {
			t.Fatal(err)
		}
		var out []ev
		for _, e := range h {
			if time.Since(e.At) < time.Minute {
				out = append(out, ev{e.State, e.Source, e.Line, e.Evidence})
			}
		}
		return out
	}
	if got, want := history(testOther), []ev{{ledger.ConsentOptedOut, ledger.SourceAdmin, "", "asked by phone, ticket 42"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("%s history: %+v, want %+v", testOther, got, want)
	}
	if got, want := history(testCaller), []ev{{ledger.ConsentOptedIn, ledger.SourceAdmin, "main", "called to resubscribe"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("%s history: %+v, want %+v", testCaller, got, want)
	}
	for number, want := range map[string]bool{testOther: true, testCaller: false, testOptedOut: true} {
		if out, err := st.OptedOut(number); err != nil || out != want {
			t.Errorf("%s opted out = %v, %v; want %v", number, out, err, want)
		}
	}
}

// TestAdminCommands_BackupAndPurgeWhileRunning: a backup through the
// daemon is a whole, verified copy written by the command, and a purge
// through it purges the daemon's ledger.
func TestAdminCommands_BackupAndPurgeWhileRunning(t *testing.T) {
	s := seedLedger(t)
	d, cli := daemonOn(t, s)
	dir := t.TempDir()
	out := filepath.Join(dir, "backup.db")
	if err := os.WriteFile(out, []byte("last week's backup"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := mustRun(t, "ledger", "backup", "--config", cli, "--out", out)
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("backup of %s written to %s (%d bytes)\n", s.path, out, fi.Size()); r.stdout != want {
		t.Errorf("stdout %q, want %q", r.stdout, want)
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 1 {
		t.Errorf("backup directory holds %v (%v), want only the backup", entries, err)
	}
	copied, err := openLedgerFile(t, out).Calls(0)
	if err != nil || len(copied) != 6 {
		t.Errorf("the backup's calls: %d, %v", len(copied), err)
	}
	d.waitLog("ledger snapshot sent for a backup", 1)

	r = textback(t, "ledger", "backup", "--config", cli, "--out", s.path)
	wantError(t, r, 1, "ledger", "backup ledger to "+s.path+": that is the ledger itself")
	r = textback(t, "ledger", "backup", "--config", cli, "--out", filepath.Join(dir, "no", "such", "dir.db"))
	wantError(t, r, 1, "ledger", "backup ledger to "+filepath.Join(dir, "no", "such", "dir.db"))

	r = mustRun(t, "ledger", "purge", "--config", cli, "--older-than", "24h")
	var ps ledger.PurgeStats
	if err := json.Unmarshal([]byte(r.stdout), &ps); err != nil || ps.Texts != 3 || ps.Messages != 2 {
		t.Errorf("purge through the daemon: %q (%v), want 3 texts and 2 messages", r.stdout, err)
	}
	d.stop()
	texts, err := openLedgerFile(t, s.path).Texts(0)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range texts {
		if x.Body != "" || !x.Purged {
			t.Errorf("text #%d not purged: %+v", x.Seq, x)
		}
	}
}

// TestAdminCommands_OtherLedger: a daemon that answers on admin.listen
// but keeps another ledger is not asked; the command says so.
func TestAdminCommands_OtherLedger(t *testing.T) {
	s := seedLedger(t)
	_, cli := daemonOn(t, s)
	data, err := os.ReadFile(cli)
	if err != nil {
		t.Fatal(err)
	}
	// Another state directory, its ledger held (by this test).
	other := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(other, 0o700); err != nil {
		t.Fatal(err)
	}
	otherCfg := writeFile(t, t.TempDir(), "other.yaml", strings.Replace(string(data), fmt.Sprintf("state_dir: %q", filepath.Dir(s.path)), fmt.Sprintf("state_dir: %q", other), 1))
	held, err := ledger.Open(filepath.Join(other, "textback.db"), ledger.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	r := textback(t, "calls", "--config", otherCfg)
	wantError(t, r, 1, "calls", "another textback is running", "keeps its ledger at "+s.path+", not at "+filepath.Join(other, "textback.db"))
}

// TestAdminCommands_ListenerOff: with admin.listen off there is no one to
// ask: the command says the daemon must be stopped.
func TestAdminCommands_ListenerOff(t *testing.T) {
	cfg, path := newSetup(t, "")
	data, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	off := writeFile(t, filepath.Dir(cfg), "off.yaml", strings.Replace(string(data), `admin: {listen: "127.0.0.1:0"}`, "admin: {listen: \"off\"}", 1))
	d := startDaemon(t, off)
	d.waitLog("textback starting", 1)
	r := textback(t, "optout", "list", "--config", off)
	wantError(t, r, 1, "optout", "open ledger "+path+": another textback is running", "admin listener is off (admin.listen: off)", "systemctl stop textback")
	d.stop()
}

// TestAdminAPI_Guard: the API answers only loopback clients, asking a
// loopback host, with the Textback-Admin header.
func TestAdminAPI_Guard(t *testing.T) {
	_, path := newSetup(t, "")
	store, err := ledger.Open(path, ledger.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	core, err := ledger.New(store, ledger.Config{}, ledger.Options{Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	api := newAdminAPI(core, zerolog.Nop())
	for _, tc := range []struct {
		name, method, target, remote, host string
		header                             bool
		code                               int
		says                               string
	}{
		{"Loopback", "GET", "/admin/calls", "127.0.0.1:5000", "127.0.0.1:8381", true, 200, "null"},
		{"IPv6Loopback", "GET", "/admin/ledger", "[::1]:5000", "[::1]:8381", true, 200, path},
		{"Localhost", "GET", "/admin/optouts", "127.0.0.1:5000", "localhost:8381", true, 200, "null"},
		{"NoHeader", "POST", "/admin/optout", "127.0.0.1:5000", "127.0.0.1:8381", false, 403, "needs the Textback-Admin header"},
		{"RemotePeer", "GET", "/admin/calls", "192.0.2.1:5000", "127.0.0.1:8381", true, 403, "loopback clients only"},
		{"Rebinding", "GET", "/admin/calls", "127.0.0.1:5000", "evil.example:8381", true, 403, "addressed to a loopback host only"},
		{"WrongMethod", "GET", "/admin/optout", "127.0.0.1:5000", "127.0.0.1:8381", true, 405, ""},
		{"UnknownCall", "GET", "/admin/call?id=x:1", "127.0.0.1:5000", "127.0.0.1:8381", true, 404, `call "x:1": not found`},
		{"BadSeq", "GET", "/admin/text?seq=abc", "127.0.0.1:5000", "127.0.0.1:8381", true, 400, `seq "abc" is not a text number`},
		{"BadAction", "POST", "/admin/optout?action=drop", "127.0.0.1:5000", "127.0.0.1:8381", true, 400, `action "drop": add or remove`},
		{"BadPurge", "POST", "/admin/ledger/purge?before=yesterday", "127.0.0.1:5000", "127.0.0.1:8381", true, 400, "not an RFC 3339 time"},
		{"BadExport", "GET", "/admin/ledger/export?what=numbers&format=csv", "127.0.0.1:5000", "127.0.0.1:8381", true, 400, `unknown record type "numbers"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.target, nil)
			req.RemoteAddr, req.Host = tc.remote, tc.host
			if tc.header {
				req.Header.Set(adminHeader, "1")
			}
			rec := httptest.NewRecorder()
			api.ServeHTTP(rec, req)
			if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.says) {
				t.Errorf("%d %q, want %d saying %q", rec.Code, rec.Body.String(), tc.code, tc.says)
			}
		})
	}
	// Nothing was changed by the refused requests.
	if calls, err := store.OptedOutNumbers(); err != nil || len(calls) != 0 {
		t.Errorf("opted out after refused requests: %v, %v", calls, err)
	}
}

// TestAdminAPI_OnTheListener: the daemon's admin listener serves the API
// under /admin/ and refuses a request without the header.
func TestAdminAPI_OnTheListener(t *testing.T) {
	s := seedLedger(t)
	d, _ := daemonOn(t, s)
	admin, _ := d.waitLog("textback starting", 1)["admin"].(string)
	resp, err := http.Get(admin + "admin/calls")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("without the header: %s, want 403", resp.Status)
	}
	req, _ := http.NewRequest("GET", admin+"admin/ledger/backup", nil)
	req.Header.Set(adminHeader, "1")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	n, err := ledger.SaveBackup(filepath.Join(t.TempDir(), "b.db"), resp.Body, resp.ContentLength)
	if err != nil || n <= 0 || n != resp.ContentLength {
		t.Errorf("backup stream: %d bytes of %d, %v", n, resp.ContentLength, err)
	}
	if !errors.Is((&apiError{status: 404}), ledger.ErrNotFound) {
		t.Error("a 404 is not ledger.ErrNotFound")
	}
}

// TestAdminAPI_SlowClient: a client that stops reading a backup (or an
// export) midway does not hold up the daemon's writes. A read transaction
// left open would: bbolt cannot grow its memory map under one.
func TestAdminAPI_SlowClient(t *testing.T) {
	_, path := newSetup(t, "")
	store, err := ledger.Open(path, ledger.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	core, err := ledger.New(store, ledger.Config{}, ledger.Options{Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	// Filler the daemon would never write, only to make the file big:
	// bigger than the socket buffers, so the server blocks sending it.
	fill := func(mb int) error {
		return store.DB().Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("test-filler"))
			if err != nil {
				return err
			}
			start := b.Stats().KeyN
			for i := range mb * 256 {
				if err := b.Put(fmt.Appendf(nil, "%09d", start+i), bytes.Repeat([]byte{byte(i)}, 4096)); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := fill(24); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(newAdminAPI(core, zerolog.Nop()))
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /admin/ledger/backup HTTP/1.1\r\nHost: %s\r\n%s: 1\r\n\r\n", srv.Listener.Addr(), adminHeader)
	status := make([]byte, 12)
	if _, err := io.ReadFull(conn, status); err != nil || string(status) != "HTTP/1.1 200" {
		t.Fatalf("backup answer %q, %v", status, err)
	}
	// The client reads nothing more. A write that grows the file must
	// still go through.
	done := make(chan error, 1)
	go func() { done <- fill(48) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		conn.Close()
		<-done
		t.Fatal("a write waited for a client that stopped reading a backup")
	}
}

// TestAdminCommands_PassingHolder: a ledger locked for a moment by
// something that is not a daemon (another admin command) is waited for,
// up to ledger.lock_timeout, and then opened.
func TestAdminCommands_PassingHolder(t *testing.T) {
	s := seedLedger(t)
	held, err := ledger.Open(s.path, ledger.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	released := make(chan struct{})
	go func() {
		time.Sleep(100 * time.Millisecond)
		held.Close()
		close(released)
	}()
	r := mustRun(t, "calls", "--config", s.cfg, "-n", "1")
	<-released
	if !strings.Contains(r.stdout, "tb:6") {
		t.Errorf("calls after the holder let go:\n%v", r)
	}
}
