package ledger

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// SchemaVersion is the layout of the ledger file this code reads and
// writes. Opening a file with a newer schema fails; an older one is
// migrated in place. 2: the counts bucket and the clean-close mark, which
// a textback of schema 1 would not keep (it now refuses the file).
const SchemaVersion = 2

// Bucket names. Keys that must sort by time are big-endian sequences.
var (
	bucketMeta     = []byte("meta")     // "schema" → version
	bucketCalls    = []byte("calls")    // seq → Call
	bucketCallIDs  = []byte("call_ids") // call id → seq
	bucketTexts    = []byte("texts")    // seq → Text (the outbox and its history)
	bucketQueue    = []byte("queue")    // notBefore(8) + seq(8) → nil: texts the dispatcher still has to handle
	bucketProvider = []byte("provider") // provider message id → text seq (delivery reports)
	bucketNumbers  = []byte("numbers")  // E.164 → NumberState
	bucketConsent  = []byte("consent")  // number + 0x00 + seq(8) → ConsentEvent (append-only)
	bucketMessages = []byte("messages") // seq → Message (inbound)
	bucketMsgIDs   = []byte("msg_ids")  // provider + 0x00 + provider id → message seq
	bucketRates    = []byte("rates")    // line + 0x00 + hour(8) → count(8); line "" is global

	allBuckets = [][]byte{bucketMeta, bucketCalls, bucketCallIDs, bucketTexts, bucketQueue,
		bucketProvider, bucketNumbers, bucketConsent, bucketMessages, bucketMsgIDs, bucketRates}
)

// ErrLocked is returned by Open when another process holds the ledger.
var ErrLocked = errors.New("another textback is running")

// ErrNotFound is returned when a record does not exist.
var ErrNotFound = errors.New("not found")

// StoreOptions tune Open.
type StoreOptions struct {
	// LockTimeout is how long Open waits for the file lock (default 2s).
	LockTimeout time.Duration
	// ReadOnly opens the file with a shared lock for inspection commands;
	// it must already exist.
	ReadOnly bool
}

// Store is the bbolt file that holds everything textback has decided.
// It is safe for concurrent use.
type Store struct {
	db       *bolt.DB
	path     string
	readOnly bool
	group    groupCommit
	// Checked is whether Open ran the full consistency check (the file
	// was new, foreign, or not closed cleanly).
	Checked bool
	// now is the clock of the maintenance methods (Stats, Purge); tests
	// replace it.
	now func() time.Time
}

// Open opens or creates the ledger at path. It fails fast with ErrLocked
// when another process holds it, and with a descriptive error when the
// file is not a ledger or is corrupt; it never writes to an existing file
// it cannot read: the file's meta pages and size are checked before bbolt
// maps it, and unless the last process to write it closed it cleanly, the
// whole file passes bbolt's consistency check before the first write (as
// a file system is checked after an unclean unmount: reading every page
// of a ledger of a million numbers takes about a second, and a clean
// close leaves nothing to find that bbolt's own checks at open miss).
func Open(path string, o StoreOptions) (*Store, error) {
	if o.LockTimeout <= 0 {
		o.LockTimeout = 2 * time.Second
	}
	metasSound := true
	if fi, err := os.Stat(path); err == nil {
		if fi.IsDir() {
			return nil, fmt.Errorf("open ledger %s: is a directory", path)
		}
		if fi.Size() == 0 && o.ReadOnly {
			return nil, fmt.Errorf("open ledger %s: file is empty", path)
		}
		if fi.Size() > 0 && fi.Size() < 4096*2 {
			return nil, fmt.Errorf("open ledger %s: not a textback ledger or corrupt (%d bytes, too short)", path, fi.Size())
		}
		if fi.Size() > 0 {
			if metasSound, err = checkFile(path, fi.Size()); err != nil {
				return nil, fmt.Errorf("open ledger %s: not a textback ledger or corrupt: %w", path, err)
			}
		}
	} else if errors.Is(err, os.ErrNotExist) {
		if o.ReadOnly {
			return nil, fmt.Errorf("open ledger %s: %w", path, err)
		}
		if err := checkDirWritable(filepath.Dir(path)); err != nil {
			return nil, fmt.Errorf("open ledger %s: %w", path, err)
		}
	} else {
		if errors.Is(err, syscall.ENOTDIR) {
			// Some parent is a file: say which, not just "not a directory".
			if derr := checkDirWritable(filepath.Dir(path)); derr != nil {
				return nil, fmt.Errorf("open ledger %s: %w", path, derr)
			}
		}
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	db, err := openBolt(path, o)
	if err != nil {
		switch {
		case errors.Is(err, berrors.ErrTimeout):
			return nil, fmt.Errorf("open ledger %s: %w (file is locked after %s)", path, ErrLocked, o.LockTimeout)
		case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrChecksum):
			return nil, fmt.Errorf("open ledger %s: not a textback ledger or corrupt: %w", path, err)
		}
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	s := &Store{db: db, path: path, now: time.Now, readOnly: o.ReadOnly}
	check := s.shallowCheck
	if !metasSound || !s.stoppedCleanly() {
		check, s.Checked = s.verify, true
	}
	if err := check(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open ledger %s: not a textback ledger or corrupt: %w", path, err)
	}
	if err := recovered(corruptPanic, func() error { return s.init(o.ReadOnly) }); err != nil {
		db.Close()
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	return s, nil
}

// openBolt opens the bbolt file, turning a panic inside bbolt (it panics
// on some corrupt pages) into an error and releasing the file and its
// lock.
func openBolt(path string, o StoreOptions) (db *bolt.DB, err error) {
	var f *os.File
	opts := &bolt.Options{Timeout: o.LockTimeout, ReadOnly: o.ReadOnly,
		OpenFile: func(name string, flag int, mode os.FileMode) (*os.File, error) {
			var err error
			f, err = os.OpenFile(name, flag, mode)
			return f, err
		}}
	defer func() {
		if r := recover(); r != nil {
			if f != nil {
				f.Close()
			}
			db, err = nil, fmt.Errorf("not a textback ledger or corrupt: bbolt: %v", r)
		}
	}()
	return bolt.Open(path, 0o600, opts)
}

// recovered runs fn and turns a panic into an error, "what: the panic's
// value": bbolt panics on some damaged pages, and a writer's function in a
// group commit must fail its own write, not leave the other writers
// waiting for a leader that is gone.
func recovered(what string, fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: %v", what, r)
		}
	}()
	return fn()
}

// corruptPanic is what recovered says of a panic inside bbolt while it
// reads the file.
const corruptPanic = "not a textback ledger or corrupt: bbolt"

// verify runs bbolt's consistency check over the whole file (tens of
// milliseconds for a ledger of a hundred megabytes) and returns the first
// problem, with the count of the others.
func (s *Store) verify() error {
	var first error
	var more int
	err := s.db.View(func(tx *bolt.Tx) error {
		// Drain the channel: the checker goroutine reads the
		// transaction's pages until it closes it.
		for err := range tx.Check() {
			if first == nil {
				first = err
			} else {
				more++
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("consistency check: %w", err)
	}
	if first != nil {
		msg := strings.ReplaceAll(first.Error(), "\n", " ")
		if more > 0 {
			return fmt.Errorf("consistency check: %s (and %d more problems)", msg, more)
		}
		return fmt.Errorf("consistency check: %s", msg)
	}
	return nil
}

// shallowCheck reads the first and last page path of every bucket: a
// damaged root (a zeroed page, say) fails here, at the cost of a few pages.
func (s *Store) shallowCheck() error {
	return recovered("consistency check: bbolt", func() error {
		return s.db.View(func(tx *bolt.Tx) error {
			return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
				c := b.Cursor()
				c.First()
				c.Last()
				return nil
			})
		})
	})
}

// bbolt's meta page layout (go.etcd.io/bbolt/internal/common): a 16-byte
// page header, then magic, version, page size, flags (4 bytes each), the
// root bucket (page, sequence), the freelist page, the high-water mark,
// the transaction id and an FNV-64a checksum of the fields before it (8
// bytes each), in the machine's byte order.
const (
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	boltNoFreelist = ^uint64(0)
	boltMetaOff    = 16
	boltMetaLen    = 64
)

type boltMeta struct {
	pageSize                   uint32
	root, freelist, pgid, txid uint64
}

// readBoltMeta decodes the meta page at off; the error says why it is
// not one.
func readBoltMeta(f *os.File, off int64) (boltMeta, error) {
	buf := make([]byte, boltMetaOff+boltMetaLen)
	if _, err := f.ReadAt(buf, off); err != nil {
		return boltMeta{}, fmt.Errorf("read meta page at %d: %w", off, err)
	}
	b := buf[boltMetaOff:]
	e := binary.NativeEndian
	switch {
	case e.Uint32(b[0:]) != boltMagic:
		return boltMeta{}, errors.New("not a bbolt file")
	case e.Uint32(b[4:]) != boltVersion:
		return boltMeta{}, fmt.Errorf("bbolt format version %d, want %d", e.Uint32(b[4:]), boltVersion)
	}
	h := fnv.New64a()
	h.Write(b[:56])
	if h.Sum64() != e.Uint64(b[56:]) {
		return boltMeta{}, errors.New("meta page checksum mismatch")
	}
	return boltMeta{pageSize: e.Uint32(b[8:]), root: e.Uint64(b[16:]), freelist: e.Uint64(b[32:]),
		pgid: e.Uint64(b[40:]), txid: e.Uint64(b[48:])}, nil
}

// checkFile rejects, before bbolt maps the file, what bbolt would crash
// on or misread: no valid meta page, or a file shorter than its own
// high-water mark (truncated: bbolt would read past the end of the file
// and die of SIGBUS). It reads without the file lock, which is safe: bbolt
// grows the file before it writes a meta page that points into the new
// part, and a meta page torn by a concurrent write fails its checksum and
// the other one is used, as bbolt itself does.
//
// It also reports whether both meta pages are sound: when one is not, bbolt
// opens the file at the other, and the whole file is worth checking.
func checkFile(path string, size int64) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	var metas []boltMeta
	m0, err0 := readBoltMeta(f, 0)
	if err0 == nil {
		metas = append(metas, m0)
		if m1, err := readBoltMeta(f, int64(m0.pageSize)); err == nil {
			metas = append(metas, m1)
		}
	} else {
		// The first meta page is bad: find the second as bbolt does,
		// trying every page size from 1 KiB to 16 MiB.
		for i := 0; i <= 14; i++ {
			off := int64(1024) << i
			if off >= size-1024 {
				break
			}
			if m1, err := readBoltMeta(f, off); err == nil {
				metas = append(metas, m1)
				break
			}
		}
	}
	if len(metas) == 0 {
		return false, fmt.Errorf("no valid bbolt meta page (%v)", err0)
	}
	m := metas[0]
	if len(metas) == 2 && metas[1].txid > m.txid {
		m = metas[1]
	}
	if m.pageSize < 512 || m.pageSize&(m.pageSize-1) != 0 {
		return false, fmt.Errorf("bad page size %d", m.pageSize)
	}
	if need := int64(m.pgid) * int64(m.pageSize); need > size || need < 0 {
		return false, fmt.Errorf("truncated: %d bytes, its pages need %d", size, need)
	}
	if m.root >= m.pgid || (m.freelist >= m.pgid && m.freelist != boltNoFreelist) {
		return false, errors.New("meta page points past the end of the file")
	}
	return len(metas) == 2, nil
}

// checkDirWritable reports, naming dir, why the ledger cannot be created
// in it.
// CheckStateDir says whether a ledger could be created in dir: it exists,
// is a directory, and this process can create files in it. It writes and
// removes a probe file.
func CheckStateDir(dir string) error { return checkDirWritable(dir) }

func checkDirWritable(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("state directory %s does not exist", dir)
		}
		if errors.Is(err, syscall.ENOTDIR) {
			return fmt.Errorf("state directory %s: a parent is not a directory", dir)
		}
		return fmt.Errorf("state directory %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("state directory %s is not a directory", dir)
	}
	f, err := os.CreateTemp(dir, ".textback-probe-*")
	if err != nil {
		return fmt.Errorf("state directory %s is not writable: %w", dir, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// init checks the schema and, writing, creates a new file's buckets. A
// bbolt file with buckets but no schema (another program's, or a foreign
// one that happens to have a "meta" bucket) is refused, not adopted.
func (s *Store) init(readOnly bool) error {
	if readOnly {
		return s.db.View(func(tx *bolt.Tx) error {
			if err := foreign(tx); err != nil {
				return err
			}
			if err := checkSchema(tx.Bucket(bucketMeta)); err != nil {
				return err
			}
			for _, name := range allBuckets {
				if tx.Bucket(name) == nil {
					return fmt.Errorf("ledger has no %s bucket: open it once read-write to repair", name)
				}
			}
			return nil
		})
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		if err := foreign(tx); err != nil {
			return err
		}
		meta := tx.Bucket(bucketMeta)
		if meta != nil {
			if err := checkSchema(meta); err != nil {
				return err
			}
		}
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		if err := recount(tx); err != nil {
			return err
		}
		if err := tx.Bucket(bucketMeta).Put([]byte("schema"), []byte(strconv.Itoa(SchemaVersion))); err != nil {
			return err
		}
		// In use: until Close says otherwise, the next Open checks it all.
		return tx.Bucket(bucketMeta).Put(keyClean, []byte("0"))
	})
}

// keyClean in the meta bucket is "1" once a writer closed the file.
var keyClean = []byte("clean")

// stoppedCleanly reports whether the last writer closed the file (and
// nothing is amiss enough to make reading that say otherwise).
func (s *Store) stoppedCleanly() bool {
	clean := false
	recovered(corruptPanic, func() error {
		return s.db.View(func(tx *bolt.Tx) error {
			if meta := tx.Bucket(bucketMeta); meta != nil {
				clean = string(meta.Get(keyClean)) == "1"
			}
			return nil
		})
	})
	return clean
}

// foreign refuses a bbolt file that has buckets but no meta bucket: the
// file of another program. (A new file has no buckets at all.)
func foreign(tx *bolt.Tx) error {
	if tx.Bucket(bucketMeta) != nil {
		return nil
	}
	if k, _ := tx.Cursor().First(); k != nil {
		return fmt.Errorf("not a textback ledger (bucket %q, no schema)", k)
	}
	return nil
}

func checkSchema(meta *bolt.Bucket) error {
	if meta == nil {
		return errors.New("not a textback ledger (no meta bucket)")
	}
	v, err := strconv.Atoi(string(meta.Get([]byte("schema"))))
	if err != nil || v < 1 {
		return fmt.Errorf("not a textback ledger (schema %q)", meta.Get([]byte("schema")))
	}
	if v > SchemaVersion {
		return fmt.Errorf("ledger schema %d is newer than this textback understands (%d): upgrade textback", v, SchemaVersion)
	}
	return nil
}

// update runs fn in a write transaction shared with concurrent writers
// (see groupCommit); fn must be idempotent.
func (s *Store) update(fn func(*bolt.Tx) error) error { return s.group.update(s.db, fn) }

// Path returns the file's path.
func (s *Store) Path() string { return s.path }

// Close marks the file closed cleanly (a writer's) and closes it.
func (s *Store) Close() error {
	if !s.readOnly {
		// Best effort: a file that cannot take this write (a full disk)
		// stays marked in use and is checked at the next Open.
		_ = s.db.Update(func(tx *bolt.Tx) error {
			if meta := tx.Bucket(bucketMeta); meta != nil {
				return meta.Put(keyClean, []byte("1"))
			}
			return nil
		})
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close ledger %s: %w", s.path, err)
	}
	return nil
}

// DB exposes the bbolt handle to the package's own tools and tests.
func (s *Store) DB() *bolt.DB { return s.db }

// --- encoding helpers ---

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func btou64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

func queueKey(notBefore time.Time, seq uint64) []byte {
	k := make([]byte, 16)
	var t uint64
	if !notBefore.IsZero() && notBefore.UnixNano() > 0 {
		t = uint64(notBefore.UnixNano())
	}
	binary.BigEndian.PutUint64(k, t)
	binary.BigEndian.PutUint64(k[8:], seq)
	return k
}

func consentKey(number string, seq uint64) []byte {
	k := make([]byte, 0, len(number)+9)
	k = append(k, number...)
	k = append(k, 0)
	return append(k, u64(seq)...)
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	return b.Put(key, data)
}

func getJSON(b *bolt.Bucket, key []byte, v any) (bool, error) {
	data := b.Get(key)
	if data == nil {
		return false, nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return true, fmt.Errorf("decode %s record %x: %w", bucketName(b), key, err)
	}
	return true, nil
}

func bucketName(b *bolt.Bucket) string {
	for _, n := range allBuckets {
		if b.Tx().Bucket(n) == b {
			return string(n)
		}
	}
	return "?"
}

// --- reads shared by the CLI and the core ---

func getNumber(tx *bolt.Tx, number string) (NumberState, error) {
	var ns NumberState
	ok, err := getJSON(tx.Bucket(bucketNumbers), []byte(number), &ns)
	if err != nil {
		return ns, err
	}
	if !ok {
		ns.Number = number
	}
	return ns, nil
}

func putNumber(tx *bolt.Tx, ns NumberState) error {
	old, err := getNumber(tx, ns.Number)
	if err != nil {
		return err
	}
	if old.OptedOut != ns.OptedOut {
		delta := int64(1)
		if !ns.OptedOut {
			delta = -1
		}
		if err := addCount(tx, keyOptedOut, delta); err != nil {
			return err
		}
	}
	return putJSON(tx.Bucket(bucketNumbers), []byte(ns.Number), ns)
}

// Number returns the state of number (E.164); an unknown number has the
// zero state.
func (s *Store) Number(number string) (NumberState, error) {
	var ns NumberState
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		ns, err = getNumber(tx, number)
		return err
	})
	return ns, err
}

// OptedOut reports whether number is opted out.
func (s *Store) OptedOut(number string) (bool, error) {
	ns, err := s.Number(number)
	return ns.OptedOut, err
}

// ConsentHistory returns every consent change of number, oldest first.
func (s *Store) ConsentHistory(number string) ([]ConsentEvent, error) {
	var out []ConsentEvent
	prefix := append([]byte(number), 0)
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketConsent).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var e ConsentEvent
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("decode consent record %x: %w", k, err)
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// OptedOutNumbers returns the states of every opted-out number, by number.
func (s *Store) OptedOutNumbers() ([]NumberState, error) {
	var out []NumberState
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketNumbers).ForEach(func(k, v []byte) error {
			var ns NumberState
			if err := json.Unmarshal(v, &ns); err != nil {
				return fmt.Errorf("decode number record %q: %w", k, err)
			}
			if ns.OptedOut {
				out = append(out, ns)
			}
			return nil
		})
	})
	return out, err
}

// Calls returns up to limit calls, newest first (limit <= 0: all).
func (s *Store) Calls(limit int) ([]Call, error) {
	var out []Call
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketCalls).Cursor()
		for k, v := c.Last(); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Prev() {
			var call Call
			if err := json.Unmarshal(v, &call); err != nil {
				return fmt.Errorf("decode call record %x: %w", k, err)
			}
			out = append(out, call)
		}
		return nil
	})
	return out, err
}

// Call finds a call by its id ("asterisk:1795711522.0"), its PBX call id
// alone when that is unambiguous, or its sequence number.
func (s *Store) Call(id string) (Call, error) {
	var call Call
	err := s.db.View(func(tx *bolt.Tx) error {
		seq := btou64(tx.Bucket(bucketCallIDs).Get([]byte(id)))
		if seq == 0 {
			if n, err := strconv.ParseUint(id, 10, 64); err == nil && tx.Bucket(bucketCalls).Get(u64(n)) != nil {
				seq = n
			}
		}
		if seq == 0 {
			// A bare PBX call id: look for "pbx:id".
			c := tx.Bucket(bucketCallIDs).Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				if i := bytes.IndexByte(k, ':'); i >= 0 && string(k[i+1:]) == id {
					if seq != 0 {
						return fmt.Errorf("call %q is ambiguous: give pbx:id", id)
					}
					seq = btou64(v)
				}
			}
		}
		if seq == 0 {
			return fmt.Errorf("call %q: %w", id, ErrNotFound)
		}
		ok, err := getJSON(tx.Bucket(bucketCalls), u64(seq), &call)
		if err == nil && !ok {
			err = fmt.Errorf("call %q: index points at missing record %d", id, seq)
		}
		return err
	})
	return call, err
}

// Text returns the outbox entry seq.
func (s *Store) Text(seq uint64) (Text, error) {
	var t Text
	err := s.db.View(func(tx *bolt.Tx) error {
		ok, err := getJSON(tx.Bucket(bucketTexts), u64(seq), &t)
		if err == nil && !ok {
			err = fmt.Errorf("text %d: %w", seq, ErrNotFound)
		}
		return err
	})
	return t, err
}

// Texts returns up to limit texts, newest first (limit <= 0: all).
func (s *Store) Texts(limit int) ([]Text, error) {
	var out []Text
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketTexts).Cursor()
		for k, v := c.Last(); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Prev() {
			var t Text
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("decode text record %x: %w", k, err)
			}
			out = append(out, t)
		}
		return nil
	})
	return out, err
}

// Messages returns up to limit inbound messages, newest first.
func (s *Store) Messages(limit int) ([]Message, error) {
	var out []Message
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketMessages).Cursor()
		for k, v := c.Last(); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Prev() {
			var m Message
			if err := json.Unmarshal(v, &m); err != nil {
				return fmt.Errorf("decode message record %x: %w", k, err)
			}
			out = append(out, m)
		}
		return nil
	})
	return out, err
}

// QueueDepth returns how many texts wait in the outbox and the creation
// time of the oldest.
func (s *Store) QueueDepth() (int, time.Time, error) {
	var n int
	var oldest time.Time
	err := s.db.View(func(tx *bolt.Tx) error {
		texts := tx.Bucket(bucketTexts)
		return tx.Bucket(bucketQueue).ForEach(func(k, _ []byte) error {
			n++
			var t Text
			if _, err := getJSON(texts, k[8:], &t); err != nil {
				return err
			}
			if oldest.IsZero() || t.CreatedAt.Before(oldest) {
				oldest = t.CreatedAt
			}
			return nil
		})
	})
	return n, oldest, err
}
