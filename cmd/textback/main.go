// Command textback watches an office PBX and texts back callers whose call
// went unanswered. See README.md.
//
// main is a switchboard: it parses flags and config, builds the logger and
// the pieces, runs them and waits. Decisions live in package ledger.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	_ "time/tzdata" // business hours work on hosts without a zoneinfo database
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

// defaultConfigPath is read when --config is not given, if it exists.
const defaultConfigPath = "/etc/textback/textback.yaml"

// env is what a command sees of its process, so tests can run commands
// in-process.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	// isTerminal reports whether stdout is a terminal.
	isTerminal bool
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

func commands() []command {
	return []command{
		{"run", "run the daemon: watch the PBX, text missed callers, handle replies", cmdRun},
		{"status", "how the running daemon is doing: PBX, driver, outbox, last missed call, today, warnings", cmdStatus},
		{"demo", "run the whole pipeline against a scripted PBX and print what happens (no setup needed)", cmdDemo},
		{"check", "validate the config and print it with secrets masked", cmdCheck},
		{"replay", "feed recorded PBX traffic through the tracker and policy; one JSON line per call", cmdReplay},
		{"optout", "list|add|remove|show NUMBER: the opt-out list and a number's consent history", cmdOptout},
		{"calls", "recent calls with their verdict and what was done", cmdCalls},
		{"explain", "explain CALL: why a call was or was not texted", cmdExplain},
		{"ledger", "export|backup|stats|purge: work on the ledger file", cmdLedger},
		{"send", "send --line LINE NUMBER TEXT: send one text through the configured driver", cmdSend},
		{"modem", "probe DEVICE | info: what a USB GSM modem says (stop the daemon first)", cmdModem},
		{"user", "add NAME | remove NAME | list: accounts of the operator inbox", cmdUser},
		{"compliance", "what a 10DLC / carrier registration form asks: campaign, opt-in, sample messages, keywords", cmdCompliance},
		{"version", "print the version", cmdVersion},
		{"man", "print this manual in roff (the package installs it as textback(1))", cmdMan},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e := &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, isTerminal: stdoutIsTerminal()}
	os.Exit(Main(ctx, e, os.Args[1:]))
}

// errUsage marks errors caused by the command line; they exit 2.
var errUsage = errors.New("usage")

// Main runs one command and returns the exit status: 0 on success, 1 on
// failure, 2 on a usage error. Errors are printed as one line.
func Main(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(e.stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			err := c.run(ctx, e, args[1:])
			switch {
			case err == nil:
				return 0
			case errors.Is(err, flag.ErrHelp):
				return 0
			case errors.Is(err, errUsage):
				fmt.Fprintf(e.stderr, "textback %s: %v\n", c.name, err)
				return 2
			case errors.Is(err, errNoRestart):
				fmt.Fprintf(e.stderr, "textback %s: %v\n", c.name, err)
				return exitNoRestart
			default:
				fmt.Fprintf(e.stderr, "textback %s: %v\n", c.name, err)
				return 1
			}
		}
	}
	fmt.Fprintf(e.stderr, "textback: unknown command %q (try textback help)\n", args[0])
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "textback: text back callers whose call to the business went unanswered")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "usage: textback COMMAND [flags]")
	fmt.Fprintln(w)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Each command takes --help. The config is", defaultConfigPath, "unless --config says otherwise.")
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

func cmdVersion(_ context.Context, e *env, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: version takes no arguments", errUsage)
	}
	fmt.Fprintln(e.stdout, "textback", versionString())
	return nil
}

// newFlags returns a flag set that prints its usage to e.stderr and
// returns errors instead of exiting.
func newFlags(e *env, name, args string) *flag.FlagSet {
	fs := flag.NewFlagSet("textback "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: textback %s %s\n", name, args)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses and turns flag errors into usage errors.
//
// Flags may come before, between or after the operands
// (textback explain CALL --config FILE), as admins type them; "--" ends
// the flags.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(permuteFlags(fs, args)); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return nil
}

// permuteFlags moves the operands in args after the flags, behind a "--",
// so that flag.Parse sees every flag. A flag's value is kept with it: the
// next argument belongs to a known flag that is not boolean and has no
// "=value". Unknown flags stay where they are for Parse to report.
func permuteFlags(fs *flag.FlagSet, args []string) []string {
	var flags, operands []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			operands = append(operands, args[i+1:]...)
			i = len(args)
		case len(a) > 1 && a[0] == '-':
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if strings.Contains(name, "=") {
				continue
			}
			f := fs.Lookup(name)
			if f == nil {
				continue
			}
			if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
				continue
			}
			if i+1 < len(args) {
				i++
				flags = append(flags, args[i])
			}
		default:
			operands = append(operands, a)
		}
	}
	if len(operands) == 0 {
		return flags
	}
	return append(append(flags, "--"), operands...)
}
