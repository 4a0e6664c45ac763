package main

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// TestMan: textback man is a roff page naming every command, every
// ledger subcommand and their flags, and groff renders it without a
// warning.
func TestMan(t *testing.T) {
	r := mustRun(t, "man")
	page := r.stdout
	if !strings.HasPrefix(page, `.TH TEXTBACK 1 "" "textback `) {
		t.Errorf("the page does not start with its .TH line:\n%.200s", page)
	}
	var wants []string
	for _, c := range commands() {
		if c.name != "ledger" {
			wants = append(wants, `.SS "textback `+c.name)
		}
	}
	for _, sub := range ledgerCommands {
		wants = append(wants, `.SS "textback ledger `+sub)
	}
	wants = append(wants,
		// flags, as typed: a long one with its argument, a boolean, a one-letter one
		".B \\-\\-older\\-than \\fIduration\\fR\npurge bodies of records older than this",
		".B \\-\\-json\n",
		".B \\-n \\fIint\\fR\n",
		`.SS "textback optout list | add NUMBER [\-\-line L] [\-\-note TEXT]`,
		"\n.SH FILES\n", "\n.SH EXIT STATUS\n", "\n78\n")
	for _, w := range wants {
		if !strings.Contains(page, w) {
			t.Errorf("the page lacks %q", w)
		}
	}
	if strings.Contains(page, "\n.SS \"textback textback") {
		t.Errorf("a usage line kept its program name twice")
	}

	groff, err := exec.LookPath("groff")
	if err != nil {
		t.Skip("no groff to render the page")
	}
	cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", "-z")
	cmd.Stdin = strings.NewReader(page)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Errorf("groff -man -ww: %v\n%s", err, stderr.String())
	}
}
