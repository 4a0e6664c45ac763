package ledger

import (
	"bytes"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestWriteSnapshot(t *testing.T) {
	st := openTestStore(t)
	seedFixture(t, st)
	var buf bytes.Buffer
	var announced int64 = -1
	n, err := st.WriteSnapshot(&buf, func(size int64) {
		if buf.Len() != 0 {
			t.Error("size was announced after the first byte")
		}
		announced = size
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) || n != announced || n == 0 {
		t.Errorf("WriteSnapshot returned %d, wrote %d, announced %d", n, buf.Len(), announced)
	}

	// The stream saved is the ledger, record for record.
	path := filepath.Join(t.TempDir(), "backup.db")
	got, err := SaveBackup(path, &buf, n)
	if err != nil {
		t.Fatal(err)
	}
	if got != n {
		t.Errorf("SaveBackup returned %d, want %d", got, n)
	}
	cp, err := Open(path, StoreOptions{ReadOnly: true})
	if err != nil {
		t.Fatalf("the saved backup does not open: %v", err)
	}
	defer cp.Close()
	for _, b := range allBuckets {
		if got, want := dumpBucket(t, cp, b), dumpBucket(t, st, b); !maps.Equal(got, want) {
			t.Errorf("bucket %s differs in the backup", b)
		}
	}

	if _, err := st.WriteSnapshot(&failWriter{}, nil); err == nil || !strings.Contains(err.Error(), "snapshot of ledger") {
		t.Errorf("a failing writer: %v", err)
	}
}

func TestSaveBackup_Fails(t *testing.T) {
	st := openTestStore(t)
	seedFixture(t, st)
	var snap bytes.Buffer
	n, err := st.WriteSnapshot(&snap, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
		size int64
		want string
	}{
		{"Short", snap.Bytes()[:n/2], n, "it was cut short"},
		{"ShortUnknownSize", snap.Bytes()[:n/2], -1, "the copy does not verify"},
		{"Long", append(slices.Clone(snap.Bytes()), 0), n, "it was cut short"},
		{"NotALedger", bytes.Repeat([]byte("x"), 3*4096), -1, "the copy does not verify"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "backup.db")
			if err := os.WriteFile(path, []byte("last week's backup"), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := SaveBackup(path, bytes.NewReader(tc.data), tc.size)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "backup ledger to "+path+": ") {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
			if b, _ := os.ReadFile(path); string(b) != "last week's backup" {
				t.Errorf("the older backup was replaced by a failed one")
			}
			if names := dirNames(t, dir); !slices.Equal(names, []string{"backup.db"}) {
				t.Errorf("left behind: %q", names)
			}
		})
	}
	t.Run("ReadError", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "backup.db")
		boom := errors.New("connection reset")
		_, err := SaveBackup(path, &failReader{data: snap.Bytes()[:4096], err: boom}, n)
		if !errors.Is(err, boom) {
			t.Errorf("error %v, want %v", err, boom)
		}
		if _, serr := os.Stat(path); !errors.Is(serr, os.ErrNotExist) {
			t.Errorf("a backup was written from a broken stream")
		}
	})
}

// failReader returns data, then err.
type failReader struct {
	data []byte
	err  error
}

func (r *failReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}
