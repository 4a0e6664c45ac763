package main

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/textback/textback/ledger"
)

// TestRun_Backups: the running daemon writes consistent copies of its
// ledger on schedule, keeps the newest N, and leaves other files alone.
func TestRun_Backups(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	backups := filepath.Join(state, "copies")
	if err := os.MkdirAll(backups, 0o700); err != nil {
		t.Fatal(err)
	}
	other := writeFile(t, backups, "keep-me.db", "not ours\n")
	cfg := writeFile(t, dir, "textback.yaml", strings.Replace(configFor(state, ""),
		"ledger: {lock_timeout: 300ms}\n", "ledger: {lock_timeout: 300ms, backup: {every: 1100ms, keep: 2, dir: copies}}\n", 1))
	d := startDaemon(t, cfg)
	d.waitLog("textback starting", 1)
	d.waitLog("ledger backed up", 3)
	d.stop()
	var ours []string
	entries, err := os.ReadDir(backups)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), backupPrefix) {
			ours = append(ours, e.Name())
		}
	}
	sort.Strings(ours)
	if len(ours) != 2 {
		t.Fatalf("%d backups kept (%v), want the newest 2", len(ours), ours)
	}
	logged := d.logLines("ledger backed up")
	if last := logged[len(logged)-1]["file"]; last != filepath.Join(backups, ours[1]) {
		t.Errorf("the newest backup kept is %s, the last one logged %v", ours[1], last)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("a file that is not a backup was removed: %v", err)
	}
	for _, name := range ours {
		st, err := ledger.Open(filepath.Join(backups, name), ledger.StoreOptions{ReadOnly: true})
		if err != nil {
			t.Fatalf("backup %s does not open as a ledger: %v", name, err)
		}
		if _, err := st.Calls(0); err != nil {
			t.Errorf("backup %s: %v", name, err)
		}
		st.Close()
	}
}

func TestConfig_Backup(t *testing.T) {
	c := mustParse(t, "state_dir: /var/lib/textback\n")
	if got := c.backupDir(); got != "/var/lib/textback/backups" {
		t.Errorf("default backup dir %q", got)
	}
	if c := mustParse(t, "state_dir: /s\nledger: {backup: {every: 0s}}\n"); c.backupDir() != "" {
		t.Errorf("every: 0 keeps backups on: %q", c.backupDir())
	}
	if c := mustParse(t, "state_dir: /s\nledger: {backup: {dir: /srv/b}}\n"); c.backupDir() != "/srv/b" {
		t.Errorf("absolute dir: %q", c.backupDir())
	}
	for _, bad := range []string{"ledger: {backup: {every: 10ms}}\n", "ledger: {backup: {keep: -1}}\n"} {
		if _, err := parseTest(t, bad); err == nil || !strings.Contains(err.Error(), "ledger.backup") {
			t.Errorf("%q: %v, want an error naming ledger.backup", bad, err)
		}
	}
}
