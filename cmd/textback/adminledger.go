package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"
	"github.com/textback/textback/ledger"
)

// adminLedger is the ledger as the admin commands (calls, explain,
// optout, ledger export|backup|stats|purge) use it: the file itself when
// no daemon holds it (localLedger), or the running daemon's through its
// admin listener (remoteLedger, remote.go). Both give the same answers:
// the daemon's handlers (adminapi.go) call the same functions on its own
// ledger that localLedger calls on the file.
//
// Errors name what failed; an unknown call or text wraps
// ledger.ErrNotFound either way.
type adminLedger interface {
	// Path is the ledger file's path, as the process holding it names it.
	Path() string
	Calls(n int) ([]ledger.Call, error)
	Call(id string) (ledger.Call, error)
	Text(seq uint64) (ledger.Text, error)
	OptedOutNumbers() ([]ledger.NumberState, error)
	// Number reads raw as the line's country does and reports its state
	// and consent history.
	Number(raw, line string) (numberReport, error)
	// SetConsent records an admin's opt-out (optOut) or opt-in, durably,
	// with the consent history's source admin and note as evidence.
	SetConsent(optOut bool, raw, line, note string) (consentChange, error)
	Export(w io.Writer, what, format string, since time.Time) (int, error)
	// Backup writes a verified copy of the ledger to path (the
	// caller's file system) and returns its size.
	Backup(path string) (int64, error)
	Stats() (ledger.Stats, error)
	Purge(before time.Time) (ledger.PurgeStats, error)
	Close() error
}

// numberReport is `textback optout show`: a number, its state and its
// consent history.
type numberReport struct {
	Number  string                `json:"number"`
	State   ledger.NumberState    `json:"state"`
	History []ledger.ConsentEvent `json:"history"`
}

// consentChange is what `textback optout add|remove` did.
type consentChange struct {
	Number  string `json:"number"`
	Changed bool   `json:"changed"`
}

// quickLock is how long an admin command waits for the ledger's lock
// before it asks the running daemon instead: one try (bbolt tries once
// when the timeout is under its 50 ms retry interval). A daemon holds the
// lock for as long as it runs, so waiting only delays the answer; a
// passing holder is waited for when no daemon answers.
const quickLock = time.Millisecond

// openAdminLedger opens the ledger the config names for an admin command
// (write: the command changes it). When the file is locked by a running
// daemon, the daemon's admin listener does the work instead. When nothing
// answers there, the lock is waited for once more (ledger.lock_timeout:
// the holder may be a daemon on its way out or another admin command)
// before the command fails, saying what holds the ledger and where it
// looked for the daemon.
func openAdminLedger(ctx context.Context, cfg *Config, write bool) (adminLedger, error) {
	wait := cfg.lockTimeout()
	if wait <= 0 || wait > quickLock {
		wait = quickLock
	}
	store, err := openStoreWait(cfg, !write, wait)
	if err == nil {
		return &localLedger{cfg: cfg, store: store}, nil
	}
	if !errors.Is(err, ledger.ErrLocked) {
		return nil, err
	}
	if cfg.Admin.Listen == "off" {
		return nil, fmt.Errorf("%w; the daemon's admin listener is off (admin.listen: off), so this command needs the daemon stopped (systemctl stop textback)", err)
	}
	remote, rerr := dialDaemon(ctx, cfg)
	if rerr == nil {
		return remote, nil
	}
	if errors.Is(rerr, errNoDaemon) {
		store, err := openStoreWait(cfg, !write, cfg.lockTimeout())
		if err == nil {
			return &localLedger{cfg: cfg, store: store}, nil
		}
		if !errors.Is(err, ledger.ErrLocked) {
			return nil, err
		}
		return nil, fmt.Errorf("%w, and nothing answers on %s (admin.listen) to do this command for it: "+
			"stop the daemon (systemctl stop textback), or set admin.listen to the address the running daemon listens on",
			err, dialable(cfg.Admin.Listen))
	}
	return nil, fmt.Errorf("%w, and the daemon could not do this command: %w", err, rerr)
}

// openStoreWait is openStore with its own lock timeout, and without
// openStore's advice to stop the daemon.
func openStoreWait(cfg *Config, readOnly bool, wait time.Duration) (*ledger.Store, error) {
	path := cfg.LedgerPath()
	if readOnly {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no ledger at %s yet: textback run creates it (is state_dir right?)", path)
		}
	}
	return ledger.Open(path, ledger.StoreOptions{LockTimeout: wait, ReadOnly: readOnly})
}

// localLedger is the ledger file, opened by this process.
type localLedger struct {
	cfg   *Config
	store *ledger.Store
	core  *ledger.Ledger // made when first needed (numbers are read as the lines' country does)
}

var _ adminLedger = (*localLedger)(nil)

func (l *localLedger) coreLedger() (*ledger.Ledger, error) {
	if l.core != nil {
		return l.core, nil
	}
	coreCfg, err := l.cfg.core()
	if err != nil {
		return nil, err
	}
	core, err := ledger.New(l.store, coreCfg, ledger.Options{Log: zerolog.Nop()})
	if err != nil {
		return nil, err
	}
	l.core = core
	return core, nil
}

func (l *localLedger) Path() string                         { return l.store.Path() }
func (l *localLedger) Calls(n int) ([]ledger.Call, error)   { return l.store.Calls(n) }
func (l *localLedger) Call(id string) (ledger.Call, error)  { return l.store.Call(id) }
func (l *localLedger) Text(seq uint64) (ledger.Text, error) { return l.store.Text(seq) }
func (l *localLedger) Stats() (ledger.Stats, error)         { return l.store.Stats() }
func (l *localLedger) Close() error                         { return l.store.Close() }
func (l *localLedger) Backup(path string) (int64, error)    { return l.store.Backup(path) }
func (l *localLedger) OptedOutNumbers() ([]ledger.NumberState, error) {
	return l.store.OptedOutNumbers()
}

func (l *localLedger) Purge(before time.Time) (ledger.PurgeStats, error) {
	return l.store.Purge(before)
}

func (l *localLedger) Export(w io.Writer, what, format string, since time.Time) (int, error) {
	return l.store.Export(w, what, format, since)
}

func (l *localLedger) Number(raw, line string) (numberReport, error) {
	core, err := l.coreLedger()
	if err != nil {
		return numberReport{}, err
	}
	return numberOf(core, raw, line)
}

func (l *localLedger) SetConsent(optOut bool, raw, line, note string) (consentChange, error) {
	core, err := l.coreLedger()
	if err != nil {
		return consentChange{}, err
	}
	return setConsent(core, optOut, raw, line, note)
}

// numberOf is `optout show` on core's ledger.
func numberOf(core *ledger.Ledger, raw, line string) (numberReport, error) {
	num, err := core.Normalize(raw, line)
	if err != nil {
		return numberReport{}, err
	}
	ns, err := core.Store().Number(num)
	if err != nil {
		return numberReport{}, err
	}
	history, err := core.Store().ConsentHistory(num)
	if err != nil {
		return numberReport{}, err
	}
	return numberReport{Number: num, State: ns, History: history}, nil
}

// setConsent is `optout add|remove` on core's ledger: written and
// fsynced before it returns.
func setConsent(core *ledger.Ledger, optOut bool, raw, line, note string) (consentChange, error) {
	var changed bool
	var err error
	if optOut {
		changed, err = core.OptOut(raw, line, note)
	} else {
		changed, err = core.OptIn(raw, line, note)
	}
	if err != nil {
		return consentChange{}, err
	}
	num, err := core.Normalize(raw, line)
	if err != nil {
		return consentChange{}, err
	}
	return consentChange{Number: num, Changed: changed}, nil
}

// sameFile reports whether a and b name the same file: the same path, or
// (when both can be looked at) the same inode.
func sameFile(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}
