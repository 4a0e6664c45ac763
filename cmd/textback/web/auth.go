package web

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Operator accounts live in a small file under the state directory
// (state_dir/users), one "name:bcrypt-hash" per line, mode 0600. A file
// and not the ledger: the daemon holds the ledger's lock while it runs,
// and `textback user add` must work without stopping it; the daemon reads
// the file at each login, so a new account works at once.

// Users is the accounts file.
type Users struct {
	Path string
	// Cost is bcrypt's cost (default bcrypt.DefaultCost, 10: about 50 ms
	// to check a password on a small server).
	Cost int
}

// Password rules: bcrypt reads at most 72 bytes.
const (
	MinPassword = 10
	MaxPassword = 72
	maxUsers    = 64 << 10 // bytes of the accounts file
)

var userName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// ValidUserName says what is wrong with an account name, or nil.
func ValidUserName(name string) error {
	if !userName.MatchString(name) {
		return fmt.Errorf("%q is not an account name: use letters, digits, . _ @ and -, at most 64", name)
	}
	return nil
}

// ValidPassword says what is wrong with a new password, or nil.
func ValidPassword(pw string) error {
	switch {
	case len([]rune(pw)) < MinPassword:
		return fmt.Errorf("the password is too short: at least %d characters", MinPassword)
	case len(pw) > MaxPassword:
		return fmt.Errorf("the password is too long: at most %d bytes", MaxPassword)
	}
	return nil
}

// load reads the accounts. A missing file is no accounts.
func (u Users) load() (map[string][]byte, error) {
	out := map[string][]byte{}
	data, err := os.ReadFile(u.Path)
	if errors.Is(err, os.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("accounts file: %w", err)
	}
	if len(data) > maxUsers {
		return nil, fmt.Errorf("accounts file %s: larger than %d bytes", u.Path, maxUsers)
	}
	return parseUsers(data)
}

// parseUsers reads the accounts file's lines; blank lines and # comments
// are skipped.
func parseUsers(data []byte) (map[string][]byte, error) {
	out := map[string][]byte{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, hash, ok := strings.Cut(line, ":")
		if !ok || ValidUserName(name) != nil {
			return nil, fmt.Errorf("accounts file line %d: not NAME:HASH", n)
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return nil, fmt.Errorf("accounts file line %d: account %s: not a bcrypt hash", n, name)
		}
		out[name] = []byte(hash)
	}
	return out, sc.Err()
}

// Names lists the accounts.
func (u Users) Names() ([]string, error) {
	m, err := u.load()
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

// Add creates the account name, or sets its password. It reports whether
// the account is new.
func (u Users) Add(name, password string) (bool, error) {
	if err := ValidUserName(name); err != nil {
		return false, err
	}
	if err := ValidPassword(password); err != nil {
		return false, err
	}
	cost := u.Cost
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return false, fmt.Errorf("hash the password: %w", err)
	}
	m, err := u.load()
	if err != nil {
		return false, err
	}
	_, existed := m[name]
	m[name] = hash
	return !existed, u.save(m)
}

// Remove deletes the account name.
func (u Users) Remove(name string) error {
	m, err := u.load()
	if err != nil {
		return err
	}
	if _, ok := m[name]; !ok {
		return fmt.Errorf("no account %q", name)
	}
	delete(m, name)
	return u.save(m)
}

// save writes the file whole: a temporary file, fsynced, renamed over the
// old one, and the directory fsynced.
func (u Users) save(m map[string][]byte) error {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	var b bytes.Buffer
	b.WriteString("# textback inbox accounts: NAME:bcrypt hash. Edit with textback user add|remove.\n")
	for _, n := range names {
		fmt.Fprintf(&b, "%s:%s\n", n, m[n])
	}
	dir := filepath.Dir(u.Path)
	f, err := os.CreateTemp(dir, ".users-*")
	if err != nil {
		return fmt.Errorf("accounts file: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("accounts file %s: %w", tmp, err)
	}
	// Root adding an account for a daemon that runs as its own user
	// (systemd DynamicUser): the file belongs to the state directory's
	// owner, or the daemon could not read it.
	if fi, err := os.Stat(dir); err == nil && os.Geteuid() == 0 {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			if err := f.Chown(int(st.Uid), int(st.Gid)); err != nil {
				f.Close()
				return fmt.Errorf("accounts file %s: %w", tmp, err)
			}
		}
	}
	if _, err := f.Write(b.Bytes()); err != nil {
		f.Close()
		return fmt.Errorf("accounts file %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("accounts file %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("accounts file %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, u.Path); err != nil {
		return fmt.Errorf("accounts file: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("accounts file directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("accounts file directory %s: %w", dir, err)
	}
	return nil
}

// dummyHash makes a login for an unknown name take as long as one for a
// known name, so that timing does not tell which names exist.
// It is made on first use, not when the program starts.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("textback: no such account"), bcrypt.DefaultCost)
	return h
})

// check reports whether password is name's. An error means the file
// could not be read.
func (u Users) check(name, password string) (bool, error) {
	m, err := u.load()
	if err != nil {
		return false, err
	}
	hash, ok := m[name]
	if !ok {
		hash = dummyHash()
	}
	match := bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
	return ok && match, nil
}

// any reports whether there is at least one account.
func (u Users) any() bool {
	m, err := u.load()
	return err == nil && len(m) > 0
}

// session is a logged-in operator.
type session struct {
	user    string
	csrf    string
	expires time.Time
}

// sessions are kept in memory, by the SHA-256 of their id: a restart logs
// everyone out, and nothing on disk or in memory gives a usable id.
type sessions struct {
	mu  sync.Mutex
	m   map[[32]byte]*session
	ttl time.Duration
}

func newSessions(ttl time.Duration) *sessions {
	return &sessions{m: map[[32]byte]*session{}, ttl: ttl}
}

// create starts a session for user and returns its id.
func (s *sessions) create(user string, now time.Time) (string, *session) {
	id := randomID()
	se := &session{user: user, csrf: randomID(), expires: now.Add(s.ttl)}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.m {
		if now.After(v.expires) {
			delete(s.m, k)
		}
	}
	s.m[sha256.Sum256([]byte(id))] = se
	return id, se
}

// get returns the live session with the cookie's id.
func (s *sessions) get(cookie string, now time.Time) *session {
	id, ok := ParseSessionID(cookie)
	if !ok {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := sha256.Sum256([]byte(id))
	se := s.m[k]
	if se == nil {
		return nil
	}
	if now.After(se.expires) {
		delete(s.m, k)
		return nil
	}
	return se
}

func (s *sessions) end(cookie string) {
	if id, ok := ParseSessionID(cookie); ok {
		s.mu.Lock()
		delete(s.m, sha256.Sum256([]byte(id)))
		s.mu.Unlock()
	}
}

// ParseSessionID checks a session cookie's value: what randomID makes,
// nothing else.
func ParseSessionID(v string) (string, bool) {
	if !validNonce(v) {
		return "", false
	}
	return v, true
}
