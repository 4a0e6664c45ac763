package ledger

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(data)
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// assertOneLine fails unless err is a one-line error naming path and
// saying each of wants.
func assertOneLine(t *testing.T, err error, path string, wants ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one naming %s and saying %q", path, wants)
	}
	msg := err.Error()
	t.Logf("error: %s", msg)
	if strings.ContainsAny(msg, "\n\r") {
		t.Errorf("error is not one line: %q", msg)
	}
	if !strings.Contains(msg, path) {
		t.Errorf("error %q does not name %s", msg, path)
	}
	for _, w := range wants {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not say %q", msg, w)
		}
	}
}

func TestOpen_Fresh(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "textback.db")
	st, err := Open(path, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Path() != path {
		t.Errorf("Path() = %q, want %q", st.Path(), path)
	}
	if err := st.db.View(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if tx.Bucket(name) == nil {
				t.Errorf("bucket %s missing", name)
			}
		}
		if got := string(tx.Bucket(bucketMeta).Get([]byte("schema"))); got != strconv.Itoa(SchemaVersion) {
			t.Errorf("schema = %q, want %d", got, SchemaVersion)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	seedCall(t, st, Call{ID: "test:1", From: "+15557654321"})
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("ledger mode %v, want 0600 (it holds phone numbers)", fi.Mode().Perm())
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"textback.db"}) {
		t.Errorf("state directory holds %q, want only the ledger (the probe file must go)", names)
	}

	// Reopen, read-write and read-only: the record is there.
	for _, ro := range []bool{false, true} {
		st, err := Open(path, StoreOptions{ReadOnly: ro})
		if err != nil {
			t.Fatalf("reopen (read-only %v): %v", ro, err)
		}
		if c, err := st.Call("test:1"); err != nil || c.From != "+15557654321" {
			t.Errorf("reopen (read-only %v): call = %+v, %v", ro, c, err)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}
	checkLedgerFile(t, path)
}

func TestOpen_EmptyFile(t *testing.T) {
	// A zero-length file holds nothing to lose: a read-write open makes it
	// a ledger, a read-only one refuses it.
	path := filepath.Join(t.TempDir(), "textback.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path, StoreOptions{ReadOnly: true})
	assertOneLine(t, err, path, "file is empty")
	st, err := Open(path, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	checkLedgerFile(t, path)
}

func TestOpen_Directory(t *testing.T) {
	path := t.TempDir()
	for _, ro := range []bool{false, true} {
		_, err := Open(path, StoreOptions{ReadOnly: ro})
		assertOneLine(t, err, path, "is a directory")
	}
}

// holdEnv names the ledger TestStoreLockHolder holds when run as a child.
const holdEnv = "TEXTBACK_TEST_HOLD_LEDGER"

// TestStoreLockHolder is not a test: TestOpen_Locked runs the test binary
// again with only this test and holdEnv set; it opens that ledger, says
// "ready" on stdout and holds the ledger until stdin closes.
func TestStoreLockHolder(t *testing.T) {
	path := os.Getenv(holdEnv)
	if path == "" {
		t.Skip("helper process for TestOpen_Locked")
	}
	st, err := Open(path, StoreOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	st.Close()
}

func TestOpen_Locked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "textback.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestStoreLockHolder$", "-test.count=1")
	cmd.Env = append(os.Environ(), holdEnv+"="+path)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("holder: %v: %s", err, stderr.String())
		}
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if line != "ready\n" {
		t.Fatalf("holder did not get ready (%q, %v): %s", line, err, stderr.String())
	}
	go io.Copy(io.Discard, stdout)

	before := fileSum(t, path)
	for _, ro := range []bool{false, true} {
		start := time.Now()
		st, err := Open(path, StoreOptions{LockTimeout: 200 * time.Millisecond, ReadOnly: ro})
		waited := time.Since(start)
		if err == nil {
			st.Close()
			t.Fatalf("read-only %v: opened a ledger another process holds", ro)
		}
		if !errors.Is(err, ErrLocked) {
			t.Errorf("read-only %v: error %v is not ErrLocked", ro, err)
		}
		assertOneLine(t, err, path, "another textback is running")
		if waited < 100*time.Millisecond || waited > 5*time.Second { // bbolt gives up one 50ms retry early
			t.Errorf("read-only %v: gave up after %v, want about the 200ms lock timeout", ro, waited)
		}
	}
	if fileSum(t, path) != before {
		t.Error("the failed opens changed the held ledger")
	}
}

func TestOpen_ReadOnly(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.db")
	_, err := Open(missing, StoreOptions{ReadOnly: true})
	assertOneLine(t, err, missing)
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("error %v is not ErrNotExist", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a read-only open created %s", missing)
	}

	path := filepath.Join(dir, "textback.db")
	st, err := Open(path, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	seedConsent(t, st, ConsentEvent{At: time.Now(), Number: "+15557654321", State: ConsentOptedOut, Source: SourceKeyword, Evidence: "STOP"})
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	before := fileSum(t, path)

	ro1, err := Open(path, StoreOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro1.Close()
	ro2, err := Open(path, StoreOptions{ReadOnly: true, LockTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatalf("second read-only open while one holds the ledger: %v", err)
	}
	defer ro2.Close()
	for i, st := range []*Store{ro1, ro2} {
		if out, err := st.OptedOut("+15557654321"); err != nil || !out {
			t.Errorf("read-only store %d: OptedOut = %v, %v", i+1, out, err)
		}
	}
	// A writer must wait for the readers.
	_, err = Open(path, StoreOptions{LockTimeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrLocked) {
		t.Errorf("read-write open while read-only opens hold the ledger: %v, want ErrLocked", err)
	}
	if fileSum(t, path) != before {
		t.Error("read-only opens changed the ledger")
	}
}

// realLedger writes a closed ledger with some calls and returns its bytes,
// its page size, its used size (high-water mark) and the root page of its
// calls bucket.
func realLedger(t *testing.T) (data []byte, pageSize, used int, callsRoot int) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "real.db")
	st, err := Open(path, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		seedCall(t, st, Call{ID: fmt.Sprintf("test:%d", i), From: "+15557654321", Detail: strings.Repeat("d", 100)})
	}
	if err := st.db.View(func(tx *bolt.Tx) error {
		used = int(tx.Size())
		callsRoot = int(tx.Bucket(bucketCalls).RootPage())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	pageSize = st.db.Info().PageSize
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if callsRoot == 0 {
		t.Fatal("calls bucket is inline: seed more")
	}
	data, err = os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data, pageSize, used, callsRoot
}

// foreignBolt writes a bbolt file with buckets and returns its bytes.
func foreignBolt(t *testing.T, fill func(tx *bolt.Tx) error) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "other.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(fill); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestOpen_NotALedger(t *testing.T) {
	real, pageSize, used, callsRoot := realLedger(t)
	rnd := rand.New(rand.NewChaCha8([32]byte{1}))
	randomBytes := make([]byte, 64<<10)
	for i := range randomBytes {
		randomBytes[i] = byte(rnd.UintN(256))
	}
	zeroPages := func(pages ...int) []byte {
		d := slices.Clone(real)
		for _, p := range pages {
			clear(d[p*pageSize : (p+1)*pageSize])
		}
		return d
	}
	withSchema := func(v string) []byte {
		return foreignBolt(t, func(tx *bolt.Tx) error {
			for _, name := range allBuckets {
				if _, err := tx.CreateBucket(name); err != nil {
					return err
				}
			}
			return tx.Bucket(bucketMeta).Put([]byte("schema"), []byte(v))
		})
	}
	text := []byte(strings.Repeat("textback is a daemon that texts back callers.\n", 500))

	tests := []struct {
		name string
		data []byte
		want string // in the error, after the path
	}{
		{"RandomBytes", randomBytes, "not a textback ledger or corrupt: no valid bbolt meta page"},
		{"RandomBytesShort", randomBytes[:1000], "too short"},
		{"AllZeros", make([]byte, 64<<10), "no valid bbolt meta page"},
		{"TextFile", text, "no valid bbolt meta page (not a bbolt file)"},
		{"TextFileShort", []byte("hello\n"), "too short"},
		{"TruncatedToTwoPages", real[:2*pageSize], "truncated"},
		{"TruncatedToHalf", real[:used/2], "truncated"},
		{"TruncatedByOnePage", real[:used-pageSize], "truncated"},
		{"ZeroMetaPages", zeroPages(0, 1), "no valid bbolt meta page"},
		{"ZeroFirstMetaPage", zeroPages(0), "consistency check"},
		{"ZeroDataPage", zeroPages(callsRoot), "consistency check"},
		{"ForeignBolt", foreignBolt(t, func(tx *bolt.Tx) error {
			b, err := tx.CreateBucket([]byte("sessions"))
			if err != nil {
				return err
			}
			return b.Put([]byte("abc"), []byte("{}"))
		}), `not a textback ledger (bucket "sessions", no schema)`},
		{"ForeignBoltWithMetaBucket", foreignBolt(t, func(tx *bolt.Tx) error {
			b, err := tx.CreateBucket([]byte("meta"))
			if err != nil {
				return err
			}
			return b.Put([]byte("version"), []byte("7"))
		}), `not a textback ledger (schema "")`},
		{"NewerSchema", withSchema(strconv.Itoa(SchemaVersion + 1)), "newer than this textback understands"},
		{"BadSchema", withSchema("one"), `not a textback ledger (schema "one")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "textback.db")
			if err := os.WriteFile(path, tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			before := fileSum(t, path)
			for _, ro := range []bool{false, true} {
				st, err := Open(path, StoreOptions{ReadOnly: ro, LockTimeout: 200 * time.Millisecond})
				if err == nil {
					st.Close()
					t.Fatalf("read-only %v: opened", ro)
				}
				if errors.Is(err, ErrLocked) {
					t.Errorf("read-only %v: %v is ErrLocked", ro, err)
				}
				assertOneLine(t, err, "open ledger "+path+": ", tt.want)
				if fileSum(t, path) != before {
					t.Fatalf("read-only %v: the failed open changed the file", ro)
				}
			}
			if names := dirNames(t, dir); !slices.Equal(names, []string{"textback.db"}) {
				t.Errorf("the failed opens left %q", names)
			}
		})
	}
}

func TestOpen_StateDirectory(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, dir, want string
	}{
		{"ParentIsAFile", filepath.Join(file, "textback.db"), file, "is not a directory"},
		{"GrandparentIsAFile", filepath.Join(file, "sub", "textback.db"), filepath.Join(file, "sub"), "a parent is not a directory"},
		{"Missing", filepath.Join(dir, "nope", "textback.db"), filepath.Join(dir, "nope"), "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(tt.path, StoreOptions{})
			assertOneLine(t, err, "state directory "+tt.dir, tt.want)
			if !strings.HasPrefix(err.Error(), "open ledger "+tt.path+": ") {
				t.Errorf("error %q does not start with the ledger's path", err)
			}
		})
	}

	t.Run("NotWritable", func(t *testing.T) {
		ro := filepath.Join(dir, "ro")
		if err := os.Mkdir(ro, 0o555); err != nil {
			t.Fatal(err)
		}
		if os.Geteuid() == 0 {
			// Permission bits do not stop root. sysfs refuses new files
			// even to root; use it when that holds here.
			ro = "/sys"
			if f, err := os.CreateTemp(ro, ".textback-probe-*"); err == nil {
				f.Close()
				os.Remove(f.Name())
				t.Skip("running as root and no directory is unwritable to root here (/sys accepted a file)")
			} else if _, serr := os.Stat(ro); serr != nil {
				t.Skipf("running as root and %s is not there to stand for an unwritable directory", ro)
			}
		}
		path := filepath.Join(ro, "textback.db")
		_, err := Open(path, StoreOptions{})
		assertOneLine(t, err, "state directory "+ro+" is not writable")
		if _, serr := os.Stat(path); !errors.Is(serr, os.ErrNotExist) {
			t.Errorf("%s exists after the failed open", path)
		}
	})
}

// TestOpen_FullCheckAfterUncleanStop: a ledger its writer closed is opened
// with the quick checks; one left open (a crash, a power cut: here a copy
// of the file taken while it was open) gets the full consistency check
// before any write.
func TestOpen_FullCheckAfterUncleanStop(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "textback.db")
	st, err := Open(path, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !st.Checked {
		t.Error("a new file was not checked")
	}
	seedCall(t, st, Call{ID: "test:1", From: "+15557654321"})
	crashed, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	for _, ro := range []bool{false, true} {
		st, err = Open(path, StoreOptions{ReadOnly: ro})
		if err != nil {
			t.Fatal(err)
		}
		if st.Checked {
			t.Errorf("read-only %v: a cleanly closed file got the full check", ro)
		}
		st.Close()
	}
	crashPath := filepath.Join(dir, "crashed.db")
	if err := os.WriteFile(crashPath, crashed, 0o600); err != nil {
		t.Fatal(err)
	}
	st, err = Open(crashPath, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !st.Checked {
		t.Error("a file left open was not fully checked")
	}
	if _, err := st.Call("test:1"); err != nil {
		t.Errorf("the crashed file lost its call: %v", err)
	}
	st.Close()
}
