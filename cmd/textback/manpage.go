package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
)

// cmdMan prints textback(1) in roff. The commands and their flags come
// from the commands' own --help, so the page and the binary cannot
// disagree; the package installs the page (.ci/package/build.sh).
func cmdMan(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "man", "")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: man takes no arguments", errUsage)
	}
	writeMan(ctx, e.stdout)
	return nil
}

// ledgerCommands are `textback ledger`'s subcommands, in the page's order.
var ledgerCommands = []string{"export", "backup", "stats", "purge"}

// roffText escapes s for roff running text: backslashes, and a line that
// would start with a control character.
func roffText(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
			lines[i] = `\&` + l
		}
	}
	return strings.Join(lines, "\n")
}

// roffCode is roffText with every hyphen a minus sign, for what is typed
// (commands, flags).
func roffCode(s string) string {
	return strings.ReplaceAll(roffText(s), "-", `\-`)
}

// helpOf runs `textback args... --help` in-process and returns its usage
// line (without "usage: ") and its flags as Go's flag package prints them
// ("  -name type\n    \tusage"). A command without --help gives "", "".
func helpOf(ctx context.Context, args ...string) (usage, flags string) {
	var out, errb bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
	Main(ctx, e, append(args, "--help"))
	first, rest, _ := strings.Cut(errb.String(), "\n")
	u, ok := strings.CutPrefix(first, "usage: ")
	if !ok {
		return "", ""
	}
	return strings.TrimSpace(u), rest
}

// writeFlags writes Go's flag listing as roff tagged paragraphs.
func writeFlags(w io.Writer, flags string) {
	for _, l := range strings.Split(flags, "\n") {
		switch {
		case strings.HasPrefix(l, "  -"):
			// "  -name type", or "  -x\tusage" for a one-letter boolean
			head, usage, short := strings.Cut(strings.TrimPrefix(l, "  -"), "\t")
			name, arg, _ := strings.Cut(head, " ")
			dashes := `\-\-`
			if len(name) == 1 {
				dashes = `\-` // -n, as the usage lines write it
			}
			fmt.Fprintf(w, ".TP\n.B %s%s", dashes, roffCode(name))
			if arg != "" {
				fmt.Fprintf(w, " \\fI%s\\fR", roffText(arg))
			}
			fmt.Fprintln(w)
			if short {
				fmt.Fprintln(w, roffText(usage))
			}
		case strings.HasPrefix(l, "    \t"):
			fmt.Fprintln(w, roffText(strings.TrimPrefix(l, "    \t")))
		}
	}
}

func writeMan(ctx context.Context, w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p(`.TH TEXTBACK 1 "" "textback %s" "textback manual"`, roffText(versionString()))
	p(".SH NAME")
	p(`textback \- text back callers whose call to the business went unanswered`)
	p(".SH SYNOPSIS")
	p(".B textback")
	p(".I command")
	p(".RI [ flags ]")
	p(".SH DESCRIPTION")
	p(`textback watches an office PBX (Asterisk over ARI, FreeSWITCH over the event socket), decides when an inbound call to the business went unanswered, and texts the caller back from the business's number, through an SMS carrier's HTTP API or a USB GSM modem. Replies come back to it: STOP, HELP and START it handles itself, with one confirmation each; anything else it forwards to staff. It keeps, per phone number, every call, every text and every consent change in one ledger file.`)
	p(".PP")
	p(`It runs as a systemd service (\fBtextback run\fR under textback.service). The other commands inspect and administer it. Flags may come before or after a command's operands; each command takes \fB\-\-help\fR.`)
	p(".SH COMMANDS")
	for _, c := range commands() {
		names := [][]string{{c.name}}
		if c.name == "ledger" {
			p(`.SS "textback ledger"`)
			p("%s", roffText(c.summary))
			names = nil
			for _, sub := range ledgerCommands {
				names = append(names, []string{c.name, sub})
			}
		}
		for _, args := range names {
			usage, flags := helpOf(ctx, args...)
			head := "textback " + strings.Join(args, " ")
			if usage != "" {
				head = usage // "textback run [--config FILE]"
			}
			p(`.SS "%s"`, strings.ReplaceAll(roffCode(head), `"`, `\(dq`))
			if len(args) == 1 {
				p("%s", roffText(c.summary))
			}
			writeFlags(w, flags)
		}
	}
	p(".SH THE DAEMON AND THE ADMIN COMMANDS")
	p(`The running daemon holds the ledger file's lock. \fBcalls\fR, \fBexplain\fR, \fBoptout\fR and \fBledger export\fR, \fBbackup\fR, \fBstats\fR and \fBpurge\fR then ask it through its admin listener (\fBadmin.listen\fR, default 127.0.0.1:8381) and print what they print with the daemon stopped, when they open the file themselves. \fBsend\fR and \fBmodem info\fR need the daemon stopped. \fBstatus\fR and \fBmodem status\fR ask the running daemon only.`)
	p(".PP")
	p(`The admin listener has no authentication: it listens on loopback, and answers the admin commands from loopback only. It also serves Prometheus metrics at /metrics, /healthz and /readyz.`)
	p(".SH FILES")
	for _, f := range [][2]string{
		{defaultConfigPath, "The config (YAML, strict: an unknown key is an error naming it). Every key is documented in /usr/share/doc/textback/textback.example.yaml; whole examples per PBX and driver are in /usr/share/doc/textback/contrib/examples."},
		{"/var/lib/textback/textback.db", "The ledger (bbolt): calls, texts, messages, consent history. The daemon's own backups go to /var/lib/textback/backups."},
		{"/lib/systemd/system/textback.service", "The unit: Type=notify, watchdog, a dynamic user, hardened. Local changes: systemctl edit textback. Secrets: LoadCredential= and *_file: NAME in the config."},
	} {
		p(".TP")
		p(".I %s", roffText(f[0]))
		p("%s", roffText(f[1]))
	}
	p(".SH ENVIRONMENT")
	p(".TP")
	p(".B NOTIFY_SOCKET\\fR, \\fBWATCHDOG_USEC")
	p("Set by systemd: textback reports READY, STATUS, RELOADING and STOPPING, and pings the watchdog.")
	p(".TP")
	p(".B CREDENTIALS_DIRECTORY")
	p("Set by systemd with LoadCredential=: a secret given as *_file: NAME is read from there.")
	p(".SH EXIT STATUS")
	p(".TP")
	p("0")
	p("Success.")
	p(".TP")
	p("1")
	p("Failure; the error is one line on standard error.")
	p(".TP")
	p("2")
	p("A usage error: an unknown command or flag, a missing argument.")
	p(".TP")
	p("%d", exitNoRestart)
	p("A config problem that retrying would make worse (a SIM PIN refused): systemd does not restart the service.")
	p(".SH EXAMPLES")
	p(".nf")
	for _, l := range []string{
		"systemctl status textback",
		"journalctl \\-fu textback",
		"textback status",
		"textback explain asterisk:1795711522.0",
		"textback optout add 555\\-765\\-4321 \\-\\-note \"asked by phone\"",
		"textback ledger backup \\-\\-out /var/backups/textback.db",
		"textback ledger export \\-\\-what consent \\-\\-format csv > consent.csv",
	} {
		p("%s", l)
	}
	p(".fi")
	p(".SH SEE ALSO")
	p(`\fBsystemctl\fR(1), \fBjournalctl\fR(1), \fBsystemd.exec\fR(5), /usr/share/doc/textback/README.md`)
}
