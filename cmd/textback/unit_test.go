package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// TestSystemdUnit: systemd/textback.service, alone and with the modem
// drop-in, passes systemd-analyze verify and keeps its security exposure
// at 2.0 or less (issue 7). Skipped where systemd-analyze is missing.
func TestSystemdUnit(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("no systemd-analyze")
	}
	units := "/usr/lib/systemd/system"
	if _, err := os.Stat(filepath.Join(units, "sysinit.target")); err != nil {
		t.Skip("no systemd units to verify against")
	}
	// A root with the host's units, the unit under test, and stand-ins
	// for the programs it runs.
	root := t.TempDir()
	for _, dir := range []string{"usr/local/bin", "bin", "usr/lib/systemd", "etc/systemd/system/textback.service.d"} {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("cp", "-a", units, filepath.Join(root, "usr/lib/systemd/")).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	for _, exe := range []string{"usr/local/bin/textback", "bin/kill"} {
		if err := os.WriteFile(filepath.Join(root, exe), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	install := func(src, dst string) {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, dst), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	exposure := regexp.MustCompile(`Overall exposure level for textback\.service: ([0-9.]+)`)
	check := func(name string) {
		out, err := exec.Command(analyze, "verify", "--root="+root, "textback.service").CombinedOutput()
		if err != nil || len(out) > 0 {
			t.Errorf("%s: systemd-analyze verify: %v\n%s", name, err, out)
		}
		out, _ = exec.Command(analyze, "security", "--offline=true", "--root="+root, "textback.service").CombinedOutput()
		m := exposure.FindSubmatch(out)
		if m == nil {
			t.Fatalf("%s: systemd-analyze security said:\n%s", name, out)
		}
		score, err := strconv.ParseFloat(string(m[1]), 64)
		if err != nil || score > 2.0 {
			t.Errorf("%s: exposure %s, want at most 2.0:\n%s", name, m[1], out)
		}
		t.Logf("%s: exposure %.1f", name, score)
	}
	install("../../systemd/textback.service", "etc/systemd/system/textback.service")
	check("textback.service")
	install("../../systemd/modem.conf", "etc/systemd/system/textback.service.d/modem.conf")
	check("textback.service with modem.conf")
}
