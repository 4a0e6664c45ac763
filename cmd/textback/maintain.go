package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/textback/textback/ledger"
)

// backupPrefix and backupSuffix name the daemon's backups:
// textback-20261127-041500.db, which sort by time.
const (
	backupPrefix = "textback-"
	backupSuffix = ".db"
)

// maintainer is the daemon's housekeeping: backups of the ledger on a
// schedule, and the retention purge once a day. Both read the ledger
// through its own transactions, so calls and texts go on meanwhile.
type maintainer struct {
	store     *ledger.Store
	dir       string        // backups ("" off)
	every     time.Duration // between backups
	keep      int
	retention time.Duration // 0: no purge
	log       zerolog.Logger
	now       func() time.Time
}

func newMaintainer(cfg *Config, store *ledger.Store, log zerolog.Logger) *maintainer {
	return &maintainer{store: store, dir: cfg.backupDir(), every: time.Duration(cfg.Ledger.Backup.Every),
		keep: cfg.Ledger.Backup.Keep, retention: cfg.retention(), log: log, now: time.Now}
}

// purgeEvery is how often the retention purge runs.
const purgeEvery = 24 * time.Hour

// Run backs up and purges until ctx ends. A failure is logged and tried
// again at the next turn: housekeeping never stops the daemon.
func (m *maintainer) Run(ctx context.Context) error {
	if m.dir == "" && m.retention <= 0 {
		return nil
	}
	var backup, purge <-chan time.Time
	if m.dir != "" {
		if err := os.MkdirAll(m.dir, 0o700); err != nil {
			m.log.Error().Err(err).Str("dir", m.dir).Msg("ledger backups off: cannot make their directory")
		} else {
			t := time.NewTicker(m.every)
			defer t.Stop()
			backup = t.C
		}
	}
	if m.retention > 0 {
		m.purge() // at start, then daily
		t := time.NewTicker(purgeEvery)
		defer t.Stop()
		purge = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-backup:
			m.backup()
		case <-purge:
			m.purge()
		}
	}
}

// backup writes one backup and prunes the oldest beyond keep.
func (m *maintainer) backup() {
	name := filepath.Join(m.dir, backupPrefix+m.now().UTC().Format("20060102-150405")+backupSuffix)
	n, err := m.store.Backup(name)
	if err != nil {
		m.log.Error().Err(err).Msg("ledger backup failed; trying again at the next turn")
		return
	}
	m.log.Info().Str("file", name).Int64("bytes", n).Msg("ledger backed up")
	if err := m.prune(); err != nil {
		m.log.Warn().Err(err).Str("dir", m.dir).Msg("cannot remove old ledger backups")
	}
}

// prune removes the daemon's backups beyond the newest keep; other files
// in the directory are left alone.
func (m *maintainer) prune() error {
	entries, err := os.ReadDir(m.dir)
	if err != nil {
		return err
	}
	var names []string
	for _, e := range entries {
		if n := e.Name(); e.Type().IsRegular() && strings.HasPrefix(n, backupPrefix) && strings.HasSuffix(n, backupSuffix) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for len(names) > m.keep {
		if err := os.Remove(filepath.Join(m.dir, names[0])); err != nil {
			return fmt.Errorf("remove %s: %w", names[0], err)
		}
		names = names[1:]
	}
	return nil
}

func (m *maintainer) purge() {
	st, err := m.store.Purge(m.now().Add(-m.retention))
	if err != nil {
		m.log.Error().Err(err).Msg("retention purge failed; trying again tomorrow")
		return
	}
	if st.Texts+st.Messages+st.RateCounters+st.Intake > 0 {
		m.log.Info().Int("texts", st.Texts).Int("messages", st.Messages).Int("intake_forms", st.Intake).Int("rate_counters", st.RateCounters).
			Dur("older_than", m.retention).Msg("purged old bodies (consent history is kept)")
	}
}
