package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/textback/textback/cmd/textback/web"
	"golang.org/x/term"
)

// cmdUser manages the operator inbox's accounts (state_dir/users). It
// works while the daemon runs: the daemon reads the file at each login.
func cmdUser(_ context.Context, e *env, args []string) error {
	fs := newFlags(e, "user", "add NAME | remove NAME | list")
	path := configFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return fmt.Errorf("%w: user needs add, remove or list", errUsage)
	}
	sub, operands := rest[0], rest[1:]
	want := map[string]int{"add": 1, "remove": 1, "list": 0}
	n, ok := want[sub]
	if !ok {
		return fmt.Errorf("%w: unknown user command %q (add, remove, list)", errUsage, sub)
	}
	if len(operands) != n {
		return fmt.Errorf("%w: user %s takes %d name(s)", errUsage, sub, n)
	}
	cfg, err := loadConfigFlag(*path)
	if err != nil {
		return err
	}
	users := web.Users{Path: cfg.usersFile()}
	switch sub {
	case "list":
		names, err := users.Names()
		if err != nil {
			return err
		}
		for _, name := range names {
			fmt.Fprintln(e.stdout, name)
		}
		return nil
	case "remove":
		if err := users.Remove(operands[0]); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "removed %s from %s (sessions already open last until they expire or textback restarts)\n", operands[0], users.Path)
		return nil
	}
	name := operands[0]
	if err := web.ValidUserName(name); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if _, err := os.Stat(filepath.Dir(users.Path)); err != nil {
		return fmt.Errorf("user add: the state directory: %w (state_dir in the config)", err)
	}
	pw, err := readPassword(e, name)
	if err != nil {
		return err
	}
	created, err := users.Add(name, pw)
	if err != nil {
		return fmt.Errorf("user add %s: %w", name, err)
	}
	verb := "changed the password of"
	if created {
		verb = "added"
	}
	fmt.Fprintf(e.stdout, "%s %s in %s; log in at the admin listener's /inbox/\n", verb, name, users.Path)
	return nil
}

// readPassword asks twice on a terminal, without echo; otherwise it reads
// one line from standard input (echo "$PW" | textback user add ann).
func readPassword(e *env, name string) (string, error) {
	if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(e.stderr, "Password for %s (at least %d characters): ", name, web.MinPassword)
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", fmt.Errorf("read the password: %w", err)
		}
		fmt.Fprint(e.stderr, "Again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", fmt.Errorf("read the password: %w", err)
		}
		if string(a) != string(b) {
			return "", errors.New("the passwords differ")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(io.LimitReader(e.stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the password from standard input: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password on standard input")
	}
	return line, nil
}
