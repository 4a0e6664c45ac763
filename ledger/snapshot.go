package ledger

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// This file holds the ledger's copies: a consistent snapshot written to
// any writer (the running daemon streams one to `textback ledger backup`),
// and the backup file made from one, whether it comes from this process or
// from a stream.

// WriteSnapshot writes a consistent copy of the whole ledger file to w and
// returns how many bytes it wrote. The copy is made inside one read
// transaction: writers are not blocked, and the copy is the ledger as of
// one moment. size, when not nil, is called with the copy's exact size
// before the first byte is written (an HTTP handler sets Content-Length
// from it). An error from w stops the copy; what was written is then
// incomplete. It is safe for concurrent use with everything else.
func (s *Store) WriteSnapshot(w io.Writer, size func(int64)) (int64, error) {
	var n int64
	err := s.db.View(func(tx *bolt.Tx) error {
		if size != nil {
			size(tx.Size())
		}
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("snapshot of ledger %s: %w", s.path, err)
	}
	return n, nil
}

// SaveBackup writes the snapshot read from r (what WriteSnapshot wrote,
// size bytes long, or -1 when the size is not known) to path as Backup
// does: into a temporary file in path's directory, fsynced, checked to
// open as a ledger, renamed over path, the directory fsynced. A stream
// that is short, long or not a ledger fails, and an existing file at path
// is then left as it was; no temporary file is left behind. It returns
// the backup's size.
func SaveBackup(path string, r io.Reader, size int64) (int64, error) {
	n, err := writeBackupFile(path, func(w io.Writer) (int64, error) {
		n, err := io.Copy(w, r)
		if err != nil {
			return n, fmt.Errorf("reading the snapshot: %w", err)
		}
		if size >= 0 && n != size {
			return n, fmt.Errorf("the snapshot is %d bytes, want %d: it was cut short", n, size)
		}
		return n, nil
	})
	if err != nil {
		return 0, fmt.Errorf("backup ledger to %s: %w", path, err)
	}
	return n, nil
}

// writeBackupFile makes path from what write writes, atomically: a
// temporary file next to path, fsync, a check that it opens as a ledger,
// rename, fsync of the directory.
func writeBackupFile(path string, write func(io.Writer) (int64, error)) (n int64, err error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return 0, errors.New("is a directory")
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return 0, err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if n, err = write(f); err != nil {
		return 0, err
	}
	if err := f.Sync(); err != nil {
		return 0, err
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	// The copy must be a ledger this textback can open before it may
	// replace an older backup.
	cp, err := Open(tmp, StoreOptions{ReadOnly: true})
	if err != nil {
		return 0, fmt.Errorf("the copy does not verify: %w", err)
	}
	if err := cp.Close(); err != nil {
		return 0, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return 0, err
	}
	if err := syncDir(dir); err != nil {
		return 0, err
	}
	return n, nil
}
