package ledger

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// This file holds the admin's maintenance of the ledger file: backup,
// export, retention purge and statistics.

// Backup writes a consistent copy of the ledger to path and returns its
// size. The copy is made inside one read transaction (writers are not
// blocked), written to a temporary file in path's directory, fsynced,
// checked to open as a ledger, renamed over path and made durable by
// fsyncing the directory. An existing file at path is replaced only by a
// complete, valid copy; on error no temporary file is left behind. It is
// safe for concurrent use with everything else.
func (s *Store) Backup(path string) (int64, error) {
	n, err := s.backup(path)
	if err != nil {
		return 0, fmt.Errorf("backup ledger to %s: %w", path, err)
	}
	return n, nil
}

func (s *Store) backup(path string) (n int64, err error) {
	if fi, err := os.Stat(path); err == nil {
		if self, serr := os.Stat(s.path); serr == nil && os.SameFile(fi, self) {
			return 0, errors.New("that is the ledger itself")
		}
	}
	return writeBackupFile(path, func(w io.Writer) (int64, error) { return s.WriteSnapshot(w, nil) })
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// Export formats.
const (
	FormatJSONL = "jsonl"
	FormatCSV   = "csv"
)

// exportColumns are the CSV columns of each exportable record type, in
// order. They are part of textback's interface: add columns at the end,
// never rename or reorder them.
//
// All times are RFC 3339 in UTC ("2026-11-24T10:00:00Z", empty when
// unset), booleans are true/false, ring_seconds is decimal seconds, and
// texts (messages) lists outbox sequence numbers separated by spaces.
// Cells holding text that came from outside (message bodies, consent
// evidence, texts' bodies and errors) are written verbatim except that one
// starting with =, +, -, @, tab or CR gets a leading apostrophe so a
// spreadsheet shows it instead of evaluating it; the jsonl export is
// always verbatim.
var exportColumns = map[string][]string{
	"calls": {"seq", "id", "pbx", "pbx_call", "offered_at", "ended_at", "decided_at",
		"verdict", "reason", "from", "number", "withheld", "line_raw", "line",
		"ring_seconds", "action", "skip", "detail", "text"},
	"consent": {"seq", "at", "number", "line", "state", "source", "evidence", "review"},
	"messages": {"seq", "received_at", "recorded_at", "provider", "provider_id", "from", "to",
		"line", "kind", "review", "texts", "purged", "body"},
	"texts": {"seq", "created_at", "updated_at", "kind", "call", "line", "from", "to", "status",
		"attempts", "not_before", "provider_id", "segments", "code", "error", "held", "exempt",
		"purged", "body"},
}

// ExportColumns returns the CSV header of what ("calls", "consent",
// "messages" or "texts"), or nil for an unknown what.
func ExportColumns(what string) []string {
	return append([]string(nil), exportColumns[what]...)
}

// Export writes every record of one kind to w and returns how many it
// wrote (not counting the CSV header).
//
// what is "calls", "consent", "messages" or "texts"; format is "jsonl"
// (one JSON record per line, as stored, times in UTC) or "csv" (a header
// row, then the columns ExportColumns lists). Records older than since
// are left out (the zero time: none); a record's time is when the call
// was offered, the consent changed, the message was received or the text
// was created. Records come in the order they were recorded, except
// consent events, which come grouped by number, each number's oldest
// first: the consent export is the audit record of every change ever
// made (DESIGN invariants 5 and 6), and nothing else is exported about
// numbers.
//
// It reads inside one read transaction: the export is a consistent
// snapshot and does not block writers. An unknown what or format is an
// error before anything is written; an error from w stops the export.
func (s *Store) Export(w io.Writer, what, format string, since time.Time) (int, error) {
	cols, ok := exportColumns[what]
	if !ok {
		return 0, fmt.Errorf("export: unknown record type %q (calls, consent, messages or texts)", what)
	}
	if format != FormatJSONL && format != FormatCSV {
		return 0, fmt.Errorf("export: unknown format %q (jsonl or csv)", format)
	}
	var out exportWriter
	if format == FormatCSV {
		cw := csv.NewWriter(w)
		if err := cw.Write(cols); err != nil {
			return 0, fmt.Errorf("export %s: %w", what, err)
		}
		out = &csvOut{w: cw}
	} else {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		out = &jsonlOut{enc: enc}
	}
	var n int
	err := s.db.View(func(tx *bolt.Tx) error {
		switch what {
		case "calls":
			return eachRecord(tx, bucketCalls, func(k []byte, c *Call) error {
				if at := callTime(c); at.Before(since) {
					return nil
				}
				c.OfferedAt, c.EndedAt, c.DecidedAt = c.OfferedAt.UTC(), c.EndedAt.UTC(), c.DecidedAt.UTC()
				n++
				return out.put(c, []string{csvUint(c.Seq), c.ID, c.PBX, c.PBXCall, csvTime(c.OfferedAt), csvTime(c.EndedAt), csvTime(c.DecidedAt),
					string(c.Outcome), string(c.Reason), c.From, c.Number, strconv.FormatBool(c.Withheld), c.LineRaw, c.Line,
					strconv.FormatFloat(c.RingTime.Seconds(), 'f', -1, 64), string(c.Action), string(c.Skip), c.Detail,
					csvSeq(c.Text)})
			})
		case "consent":
			return eachRecord(tx, bucketConsent, func(k []byte, e *ConsentEvent) error {
				if e.At.Before(since) {
					return nil
				}
				e.At = e.At.UTC()
				n++
				return out.put(e, []string{csvUint(e.Seq), csvTime(e.At), e.Number, e.Line, string(e.State), string(e.Source),
					csvCell(e.Evidence), strconv.FormatBool(e.Review)})
			})
		case "messages":
			return eachRecord(tx, bucketMessages, func(k []byte, m *Message) error {
				if m.ReceivedAt.Before(since) {
					return nil
				}
				m.ReceivedAt, m.RecordedAt = m.ReceivedAt.UTC(), m.RecordedAt.UTC()
				texts := make([]string, len(m.Texts))
				for i, seq := range m.Texts {
					texts[i] = csvUint(seq)
				}
				n++
				return out.put(m, []string{csvUint(m.Seq), csvTime(m.ReceivedAt), csvTime(m.RecordedAt), m.Provider, m.ProviderID, m.From, m.To,
					m.Line, string(m.Kind), strconv.FormatBool(m.Review), strings.Join(texts, " "),
					strconv.FormatBool(m.Purged), csvCell(m.Body)})
			})
		default: // texts
			return eachRecord(tx, bucketTexts, func(k []byte, t *Text) error {
				if t.CreatedAt.Before(since) {
					return nil
				}
				t.CreatedAt, t.UpdatedAt, t.NotBefore = t.CreatedAt.UTC(), t.UpdatedAt.UTC(), t.NotBefore.UTC()
				n++
				return out.put(t, []string{csvUint(t.Seq), csvTime(t.CreatedAt), csvTime(t.UpdatedAt), string(t.Kind), t.Call, t.Line, t.From, t.To,
					string(t.Status), strconv.Itoa(t.Attempts), csvTime(t.NotBefore), t.ProviderID, strconv.Itoa(t.Segments),
					t.Code, csvCell(t.Error), strconv.FormatBool(t.Held), strconv.FormatBool(t.Exempt),
					strconv.FormatBool(t.Purged), csvCell(t.Body)})
			})
		}
	})
	if err == nil {
		err = out.flush()
	}
	if err != nil {
		return n, fmt.Errorf("export %s: %w", what, err)
	}
	return n, nil
}

// eachRecord decodes every value of bucket in key order into a fresh T
// and calls fn with it.
func eachRecord[T any](tx *bolt.Tx, bucket []byte, fn func(k []byte, v *T) error) error {
	c := tx.Bucket(bucket).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		rec := new(T)
		if err := json.Unmarshal(v, rec); err != nil {
			return fmt.Errorf("decode %s record %x: %w", bucket, k, err)
		}
		if err := fn(k, rec); err != nil {
			return err
		}
	}
	return nil
}

// callTime is when a call happened: when it was offered, or, for a record
// without that, when it was decided.
func callTime(c *Call) time.Time {
	if c.OfferedAt.IsZero() {
		return c.DecidedAt
	}
	return c.OfferedAt
}

type exportWriter interface {
	put(rec any, row []string) error
	flush() error
}

type jsonlOut struct{ enc *json.Encoder }

func (o *jsonlOut) put(rec any, _ []string) error { return o.enc.Encode(rec) }
func (o *jsonlOut) flush() error                  { return nil }

type csvOut struct{ w *csv.Writer }

func (o *csvOut) put(_ any, row []string) error { return o.w.Write(row) }
func (o *csvOut) flush() error {
	o.w.Flush()
	return o.w.Error()
}

// csvTime formats a time for CSV: RFC 3339 in UTC, empty when unset.
func csvTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func csvUint(v uint64) string { return strconv.FormatUint(v, 10) }

// csvSeq is csvUint with 0 (none) as the empty cell.
func csvSeq(v uint64) string {
	if v == 0 {
		return ""
	}
	return csvUint(v)
}

// csvCell defuses outside text that a spreadsheet would take for a formula.
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// purgeBatch bounds how many records one write transaction of Purge
// changes, so the daemon's own writes wait at most one short transaction.
const purgeBatch = 1000

// rateKeep is how long rate counters are kept; the policy reads the last
// 24 hours.
const rateKeep = 48 * time.Hour

// PurgeStats counts what Purge changed.
type PurgeStats struct {
	// Texts and Messages had their bodies removed.
	Texts    int `json:"texts"`
	Messages int `json:"messages"`
	// Pending counts old texts kept whole because the dispatcher still
	// has them (queued or sending).
	Pending int `json:"pending_kept"`
	// RateCounters were deleted.
	RateCounters int `json:"rate_counters"`
	// Intake forms had their answers removed.
	Intake int `json:"intake_forms,omitempty"`
}

// Purge applies retention to records older than before: the bodies of
// outbox texts (created before it) and inbound messages (received before
// it), and the answers of intake forms (sent before it), are replaced by
// "" and the record marked Purged; everything else in them is kept. Call
// records carry no bodies and are kept whole, as the record of why each
// call was or was not texted. Consent history and
// number states are never purged (the audit record), nor are texts the
// dispatcher still has (queued or sending). Rate counters more than 48
// hours old (by the store's clock) are deleted whatever before is.
//
// Purge works in write transactions of at most 1000 records each, so it
// can run while the daemon works; stopping it half-way (an error, a
// crash) leaves a consistent ledger, and running it again finishes the
// job. It is idempotent: a second run with the same before changes
// nothing and returns zero counts.
func (s *Store) Purge(before time.Time) (PurgeStats, error) {
	var st PurgeStats
	n, pending, err := s.purgeBodies(bucketTexts, func(v []byte) (bool, bool, error) {
		var t Text
		if err := json.Unmarshal(v, &t); err != nil {
			return false, false, err
		}
		if !t.CreatedAt.Before(before) || (t.Body == "" && t.Purged) {
			return false, false, nil
		}
		if t.Status == StatusQueued || t.Status == StatusSending {
			return false, true, nil
		}
		return true, false, nil
	})
	st.Texts, st.Pending = n, pending
	if err != nil {
		return st, fmt.Errorf("purge texts: %w", err)
	}
	st.Messages, _, err = s.purgeBodies(bucketMessages, func(v []byte) (bool, bool, error) {
		var m Message
		if err := json.Unmarshal(v, &m); err != nil {
			return false, false, err
		}
		return m.ReceivedAt.Before(before) && !(m.Body == "" && m.Purged), false, nil
	})
	if err != nil {
		return st, fmt.Errorf("purge messages: %w", err)
	}
	st.Intake, err = s.purgeIntake(before)
	if err != nil {
		return st, fmt.Errorf("purge intake forms: %w", err)
	}
	st.RateCounters, err = s.purgeRates(s.now().Add(-rateKeep))
	if err != nil {
		return st, fmt.Errorf("purge rate counters: %w", err)
	}
	return st, nil
}

// purgeBodies blanks the body of each record of bucket that old says to
// purge (old also reports records kept because they are pending). It
// finds candidates in read transactions and changes them in write
// transactions of at most purgeBatch records, deciding again inside the
// write: a record may have changed in between. The record is rewritten
// field by field, so fields this code does not know survive.
func (s *Store) purgeBodies(bucket []byte, old func(v []byte) (purge, pending bool, err error)) (n, pending int, err error) {
	var after []byte // the last key examined
	for {
		var keys [][]byte
		var done bool
		err := s.db.View(func(tx *bolt.Tx) error {
			c := tx.Bucket(bucket).Cursor()
			k, v := c.First()
			if after != nil {
				if k, v = c.Seek(after); k != nil && bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
			for ; k != nil; k, v = c.Next() {
				after = append(after[:0], k...)
				purge, keep, err := old(v)
				if err != nil {
					return fmt.Errorf("decode %s record %x: %w", bucket, k, err)
				}
				if keep {
					pending++
				}
				if purge {
					keys = append(keys, append([]byte(nil), k...))
					if len(keys) == purgeBatch {
						return nil
					}
				}
			}
			done = true
			return nil
		})
		if err != nil {
			return n, pending, err
		}
		if len(keys) > 0 {
			err = s.db.Update(func(tx *bolt.Tx) error {
				b := tx.Bucket(bucket)
				changed := 0
				for _, k := range keys {
					v := b.Get(k)
					if v == nil {
						continue
					}
					purge, _, err := old(v)
					if err != nil {
						return fmt.Errorf("decode %s record %x: %w", bucket, k, err)
					}
					if !purge {
						continue
					}
					nv, err := blankBody(v)
					if err != nil {
						return fmt.Errorf("rewrite %s record %x: %w", bucket, k, err)
					}
					if err := b.Put(k, nv); err != nil {
						return err
					}
					changed++
				}
				n += changed
				return nil
			})
			if err != nil {
				return n, pending, err
			}
		}
		if done {
			return n, pending, nil
		}
	}
}

// blankBody returns the JSON record v with "body" empty and "purged" true.
func blankBody(v []byte) ([]byte, error) {
	var rec map[string]json.RawMessage
	if err := json.Unmarshal(v, &rec); err != nil {
		return nil, err
	}
	rec["body"] = json.RawMessage(`""`)
	rec["purged"] = json.RawMessage(`true`)
	return json.Marshal(rec)
}

// purgeRates deletes the rate counters of hours that ended before cutoff,
// purgeBatch per write transaction. A counter's key is line + 0x00 +
// hour (8 bytes, hours since the Unix epoch).
func (s *Store) purgeRates(cutoff time.Time) (int, error) {
	limit := uint64(cutoff.Unix() / 3600) // the hour cutoff falls in is kept
	if cutoff.Unix() < 0 {
		return 0, nil
	}
	var n int
	for {
		var keys [][]byte
		err := s.db.View(func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketRates).Cursor()
			for k, _ := c.First(); k != nil && len(keys) < purgeBatch; k, _ = c.Next() {
				if len(k) >= 9 && btou64(k[len(k)-8:]) < limit {
					keys = append(keys, append([]byte(nil), k...))
				}
			}
			return nil
		})
		if err != nil || len(keys) == 0 {
			return n, err
		}
		err = s.db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketRates)
			for _, k := range keys {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return n, err
		}
		n += len(keys)
	}
}

// Stats describes the ledger file, for `textback ledger stats` and
// monitoring.
type Stats struct {
	Path string `json:"path"`
	// FileBytes is the file's size; FreeBytes how much of it bbolt holds
	// free for reuse.
	FileBytes int64 `json:"file_bytes"`
	FreeBytes int64 `json:"free_bytes"`
	Schema    int   `json:"schema"`
	// Buckets has the key count and bytes used of every bucket, by name.
	Buckets map[string]BucketStats `json:"buckets"`

	Calls         int `json:"calls"`
	Texts         int `json:"texts"`
	Messages      int `json:"messages"`
	Numbers       int `json:"numbers"`
	ConsentEvents int `json:"consent_events"`
	OptedOut      int `json:"opted_out"`
	// TextsByStatus counts outbox texts by status.
	TextsByStatus map[TextStatus]int `json:"texts_by_status"`
	// Queued is how many texts wait for the dispatcher; OldestQueued is
	// when the oldest of them was created and OldestQueuedAge how long
	// ago that is (both zero when none wait).
	Queued          int           `json:"queued"`
	OldestQueued    time.Time     `json:"oldest_queued,omitzero"`
	OldestQueuedAge time.Duration `json:"oldest_queued_age_ns,omitempty"`
	// Purged counts texts and messages whose bodies retention removed.
	Purged int `json:"purged"`
	// BytesPerCall is the calls bucket's bytes per call record (0 when
	// there are none), for sizing retention.
	BytesPerCall int64 `json:"bytes_per_call"`
}

// BucketStats is one bucket's share of the file.
type BucketStats struct {
	Keys  int   `json:"keys"`
	Bytes int64 `json:"bytes"`
}

// Stats reads the ledger's statistics in one read transaction. It
// decodes every text and number, so it takes time in proportion to the
// ledger; it does not block writers.
func (s *Store) Stats() (Stats, error) {
	st := Stats{Path: s.path, Buckets: map[string]BucketStats{}, TextsByStatus: map[TextStatus]int{}}
	var pageSize int64
	err := s.db.View(func(tx *bolt.Tx) error {
		fi, err := os.Stat(s.path)
		if err != nil {
			return err
		}
		st.FileBytes = fi.Size()
		// Info reads the mmap; a read transaction keeps it from moving.
		pageSize = int64(tx.DB().Info().PageSize)
		meta := tx.Bucket(bucketMeta)
		v, err := strconv.Atoi(string(meta.Get([]byte("schema"))))
		if err != nil {
			return fmt.Errorf("schema %q: %w", meta.Get([]byte("schema")), err)
		}
		st.Schema = v
		for _, name := range allBuckets {
			bs := tx.Bucket(name).Stats()
			st.Buckets[string(name)] = BucketStats{Keys: bs.KeyN,
				Bytes: int64(bs.BranchInuse + bs.LeafInuse + bs.InlineBucketInuse)}
		}
		st.Calls = st.Buckets[string(bucketCalls)].Keys
		st.Texts = st.Buckets[string(bucketTexts)].Keys
		st.Messages = st.Buckets[string(bucketMessages)].Keys
		st.Numbers = st.Buckets[string(bucketNumbers)].Keys
		st.ConsentEvents = st.Buckets[string(bucketConsent)].Keys
		if st.Calls > 0 {
			st.BytesPerCall = st.Buckets[string(bucketCalls)].Bytes / int64(st.Calls)
		}
		if err := eachRecord(tx, bucketNumbers, func(_ []byte, ns *NumberState) error {
			if ns.OptedOut {
				st.OptedOut++
			}
			return nil
		}); err != nil {
			return err
		}
		if err := eachRecord(tx, bucketTexts, func(_ []byte, t *Text) error {
			st.TextsByStatus[t.Status]++
			if t.Purged {
				st.Purged++
			}
			return nil
		}); err != nil {
			return err
		}
		if err := eachRecord(tx, bucketMessages, func(_ []byte, m *Message) error {
			if m.Purged {
				st.Purged++
			}
			return nil
		}); err != nil {
			return err
		}
		st.Queued, st.OldestQueued, err = queueOldest(tx)
		return err
	})
	if err != nil {
		return Stats{}, fmt.Errorf("ledger %s stats: %w", s.path, err)
	}
	free := s.db.Stats()
	st.FreeBytes = int64(free.FreePageN+free.PendingPageN) * pageSize
	if !st.OldestQueued.IsZero() {
		st.OldestQueued = st.OldestQueued.UTC()
		st.OldestQueuedAge = s.now().Sub(st.OldestQueued)
	}
	return st, nil
}
