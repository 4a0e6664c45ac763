package aritest

// The lab: the project's real Asterisk 22 (.ci/lab/asterisk/lab.sh), its
// baresip phones and a raw-SIP withheld caller, driven by the real-peer
// tiers of ari and cmd/textback.

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// LabEnv names the environment variable that turns the real-Asterisk
// tiers on: the lab's ARI base URL, like http://127.0.0.1:8088. The tiers
// are skipped when it is unset and fail when it is set and the lab's
// Asterisk is unreachable.
//
// TEXTBACK_LAB_ASTERISK_USER, _PASSWORD and _TRUNK override the lab's ARI
// user (lab), its password (labpass) and the trunk endpoint (carrier);
// TEXTBACK_LAB_ASTERISK_SCRIPT the path of lab.sh (found from the
// repository's root by default). lab.sh env prints them all.
const LabEnv = "TEXTBACK_LAB_ASTERISK"

// The lab's parties, as its dialplan and lab.sh know them.
const (
	// LabCaller is the carrier phone's caller number (UA "carrier").
	LabCaller = "+15557654321"
	// LabDomain is where the lab's phones send their calls.
	LabDomain = "127.0.10.1"
)

// Lab is the lab's Asterisk, as a tier uses it: its ARI settings, and the
// means to place calls through it (lab.sh ua, a raw SIP INVITE), to wait
// for it to be idle, and to restart it.
//
// Tiers that place calls on the lab must not run at the same time: each
// would see the other's calls. OpenLab takes an exclusive lock for this,
// held until the test's cleanup, so `go test ./...`, which runs packages
// in parallel, runs the tiers one after the other.
//
// A Lab's methods fail its test on error; use With to bind it to a
// subtest. They are not safe for concurrent use.
type Lab struct {
	// URL is the ARI base URL (TEXTBACK_LAB_ASTERISK).
	URL string
	// User and Password are an ARI user that may set event filters.
	User, Password string
	// Trunk is the endpoint the carrier's calls arrive on.
	Trunk string
	// Script is the path of lab.sh.
	Script string

	t testing.TB
	// healed is when HealWhileWaiting last looked, shared by the copies
	// With makes.
	healed *time.Time
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// OpenLab returns the lab, or skips the test when TEXTBACK_LAB_ASTERISK is
// unset. It waits for the lab's lock (another tier may be placing calls),
// holds it until t's cleanup, and fails t when the lab's Asterisk does not
// answer ARI with the configured credentials.
//
// Call it before starting anything that talks to the lab (a daemon, an
// ARI client), so that their cleanup runs before the lock is released.
func OpenLab(t testing.TB) *Lab {
	t.Helper()
	url := os.Getenv(LabEnv)
	if url == "" {
		t.Skip("the real-Asterisk tier: run .ci/lab/asterisk/lab.sh start, then set " + LabEnv + "=http://127.0.0.1:8088")
	}
	l := &Lab{
		URL:      strings.TrimSuffix(url, "/"),
		User:     envOr(LabEnv+"_USER", "lab"),
		Password: envOr(LabEnv+"_PASSWORD", "labpass"),
		Trunk:    envOr(LabEnv+"_TRUNK", "carrier"),
		Script:   os.Getenv(LabEnv + "_SCRIPT"),
		t:        t,
		healed:   new(time.Time),
	}
	if l.Script == "" {
		root, err := repoRoot()
		if err != nil {
			t.Fatalf("lab.sh: %v (set %s_SCRIPT)", err, LabEnv)
		}
		l.Script = filepath.Join(root, ".ci", "lab", "asterisk", "lab.sh")
	}
	if _, err := os.Stat(l.Script); err != nil {
		t.Fatalf("lab.sh: %v", err)
	}
	l.lock()
	if err := l.reachable(); err != nil {
		t.Fatalf("the lab's Asterisk at %s: %v (start it with .ci/lab/asterisk/lab.sh start)", l.URL, err)
	}
	return l
}

// With returns the lab bound to t (a subtest): its methods fail t.
func (l *Lab) With(t testing.TB) *Lab {
	c := *l
	c.t = t
	return &c
}

// repoRoot walks up from the working directory to the directory holding
// go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// LockPath is the lab's test lock: test.lock in the lab's state directory
// (lab.sh's $LAB, by default $LAB_STATE/asterisk with LAB_STATE
// /var/tmp/textback-lab).
func LockPath() string {
	dir := os.Getenv("LAB")
	if dir == "" {
		dir = filepath.Join(envOr("LAB_STATE", "/var/tmp/textback-lab"), "asterisk")
	}
	return filepath.Join(dir, "test.lock")
}

// lock takes the lab's test lock, waiting while another tier holds it,
// and releases it at the test's cleanup.
func (l *Lab) lock() {
	l.t.Helper()
	path := LockPath()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		l.t.Fatalf("lab lock: %v", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		l.t.Fatalf("lab lock: %v", err)
	}
	flock := func(how int) error {
		for {
			if err := syscall.Flock(int(f.Fd()), how); !errors.Is(err, syscall.EINTR) {
				return err
			}
		}
	}
	if err := flock(syscall.LOCK_EX | syscall.LOCK_NB); errors.Is(err, syscall.EWOULDBLOCK) {
		l.t.Logf("waiting for %s: another tier is placing calls on the lab", path)
		start := time.Now()
		err = flock(syscall.LOCK_EX)
		l.t.Logf("got the lab after %s", time.Since(start).Round(time.Millisecond))
		if err != nil {
			f.Close()
			l.t.Fatalf("lab lock %s: %v", path, err)
		}
	} else if err != nil {
		f.Close()
		l.t.Fatalf("lab lock %s: %v", path, err)
	}
	l.t.Cleanup(func() { f.Close() }) // closing the last descriptor releases the lock
}

// reachable asks ARI for Asterisk's info with the lab's credentials.
func (l *Lab) reachable() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", l.URL+"/ari/asterisk/info", nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth(l.User, l.Password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /ari/asterisk/info: %s", resp.Status)
	}
	return nil
}

// Sh runs lab.sh with args and returns its output.
func (l *Lab) Sh(args ...string) string {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{l.Script}, args...)...)
	cmd.Env = append(os.Environ(), "UA_WAIT=0.2")
	out, err := cmd.CombinedOutput()
	if err != nil {
		l.t.Fatalf("lab.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// CLI runs an Asterisk CLI command and returns its output.
func (l *Lab) CLI(command string) string {
	l.t.Helper()
	return l.Sh("cli", command)
}

// UA sends a command to a lab phone's baresip (carrier, anon, 100, 101,
// 102) and returns its answer; a command baresip refuses fails the test.
func (l *Lab) UA(name, command string, params ...string) string {
	l.t.Helper()
	out := l.Sh(append([]string{"ua", name, command}, params...)...)
	if strings.Contains(out, `"ok":false`) {
		l.t.Fatalf("ua %s %s %s: %s", name, command, strings.Join(params, " "), out)
	}
	return out
}

// Dial has phone from call to (a DID from the carrier and anon phones,
// an extension or 9+number from the office phones).
func (l *Lab) Dial(from, to string) {
	l.t.Helper()
	l.UA(from, "dial", "sip:"+to+"@"+LabDomain)
}

// Idle waits until Asterisk has no channel left (the dialled legs go a
// moment after the caller's) and every lab phone has dropped its calls,
// so that the next call starts clean; then it heals the phones (Heal).
func (l *Lab) Idle() {
	l.t.Helper()
	idle := false
	for end := time.Now().Add(15 * time.Second); !idle && time.Now().Before(end); {
		if idle = strings.HasPrefix(strings.TrimSpace(l.CLI("core show channels count")), "0 active channels"); !idle {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if !idle {
		l.t.Fatalf("channels still up:\n%s", l.CLI("core show channels"))
	}
	for _, ua := range labPhones {
		for end := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			n, err := phoneCalls(ua)
			if err != nil || n == 0 { // not running: Heal starts it
				break
			}
			if time.Now().After(end) {
				l.t.Fatalf("lab phone %s still has %d call(s) after Asterisk dropped them all", ua, n)
			}
		}
	}
	l.Heal()
}

// Heal starts again any lab phone that is not running, and waits until it
// is registered.
//
// The lab's baresip (1.1.0) now and then died of a segmentation fault as
// a ringing call was torn down, apparently in the thread that played its
// ring tone (lab.sh's baresip config now turns the tones off). That is the
// lab phone's bug, not Asterisk's or textback's. A call to a dead phone
// fails, so Idle makes sure each phone is done with its calls and still
// runs before the next call; the waits of the tiers heal too, so that one
// crash costs at most the call in progress.
func (l *Lab) Heal() {
	l.t.Helper()
	dead := l.deadPhones()
	if len(dead) == 0 {
		return
	}
	l.t.Logf("lab phone(s) %s not running (baresip crashed; see dmesg and %s): starting them again",
		strings.Join(dead, ", "), filepath.Join(filepath.Dir(LockPath()), "logs"))
	l.Sh("start")
	if dead := l.deadPhones(); len(dead) > 0 {
		l.t.Fatalf("lab phone(s) %s do not start:\n%s", strings.Join(dead, ", "), l.Sh("status"))
	}
}

// HealWhileWaiting is Heal at most once a second: a test's wait loop calls
// it on each turn, so that a phone that crashed meanwhile is back for the
// next call.
func (l *Lab) HealWhileWaiting() {
	l.t.Helper()
	if time.Since(*l.healed) < time.Second {
		return
	}
	l.Heal()
	*l.healed = time.Now()
}

// labPhones are the lab's baresip user agents and their ctrl_tcp
// addresses (lab.sh's ua_ip).
var labPhones = []string{"carrier", "anon", "100", "101", "102"}

func phoneAddr(ua string) string {
	switch ua {
	case "carrier":
		return "127.0.10.2:4444"
	case "anon":
		return "127.0.10.3:4444"
	}
	return "127.0.10." + ua + ":4444"
}

// phoneCalls asks a lab phone, over baresip's ctrl_tcp (netstrings of
// JSON), how many calls it has; an error means it does not answer.
func phoneCalls(ua string) (int, error) {
	conn, err := net.DialTimeout("tcp", phoneAddr(ua), time.Second)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
		return 0, err
	}
	req := `{"command":"listcalls","params":"","token":"idle"}`
	if _, err := fmt.Fprintf(conn, "%d:%s,", len(req), req); err != nil {
		return 0, err
	}
	r := bufio.NewReader(conn)
	for {
		// a netstring: length, ':', payload, ','; events may come first
		size, err := r.ReadString(':')
		if err != nil {
			return 0, fmt.Errorf("phone %s: %w", ua, err)
		}
		n, err := strconv.Atoi(strings.TrimSuffix(size, ":"))
		if err != nil || n < 0 || n > 1<<20 {
			return 0, fmt.Errorf("phone %s: bad netstring length %q", ua, size)
		}
		payload := make([]byte, n+1)
		if _, err := io.ReadFull(r, payload); err != nil {
			return 0, fmt.Errorf("phone %s: %w", ua, err)
		}
		var m struct {
			Response bool   `json:"response"`
			OK       bool   `json:"ok"`
			Data     string `json:"data"`
		}
		if err := json.Unmarshal(payload[:n], &m); err != nil {
			return 0, fmt.Errorf("phone %s: %w", ua, err)
		}
		if !m.Response {
			continue
		}
		_, rest, found := strings.Cut(m.Data, "Active calls (")
		count, _, _ := strings.Cut(rest, ")")
		calls, err := strconv.Atoi(count)
		if !m.OK || !found || err != nil {
			return 0, fmt.Errorf("phone %s: listcalls answered %q", ua, m.Data)
		}
		return calls, nil
	}
}

// deadPhones lists the lab's user agents lab.sh status says are stopped.
func (l *Lab) deadPhones() []string {
	l.t.Helper()
	var dead []string
	for _, line := range strings.Split(l.Sh("status"), "\n") {
		if ua, ok := strings.CutPrefix(line, "ua "); ok && strings.HasSuffix(ua, ": stopped") {
			dead = append(dead, strings.TrimSuffix(ua, ": stopped"))
		}
	}
	return dead
}

// WaitChannel waits until Asterisk has a channel whose name starts with
// prefix (PJSIP/101-) in state (Ring, Ringing, Up): what a test waits for
// when the events it watches say nothing of it, like the dialled phone
// ringing in an internal call. A phone's hangup before its call rings may
// find no call to hang up. It heals the phones while it waits.
func (l *Lab) WaitChannel(prefix, state string) {
	l.t.Helper()
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		for _, line := range strings.Split(l.CLI("core show channels concise"), "\n") {
			// Channel!Context!Exten!Priority!State!Application!Data!...
			if f := strings.Split(line, "!"); len(f) > 4 && strings.HasPrefix(f[0], prefix) && f[4] == state {
				return
			}
		}
		l.HealWhileWaiting()
	}
	l.t.Fatalf("no channel %s* in state %s:\n%s", prefix, state, l.CLI("core show channels"))
}

// RestartAsterisk stops Asterisk and starts it again; it returns once
// Asterisk is fully booted and the phones are registered again. ARI
// clients lose their websocket and must reconnect.
func (l *Lab) RestartAsterisk() {
	l.t.Helper()
	l.Sh("restart-asterisk")
}

// SIPCall is a raw SIP INVITE from the carrier's second address
// (127.0.10.3:5070) with a withheld caller: From: Anonymous,
// P-Asserted-Identity with the real number, Privacy: id. baresip cannot
// send these headers.
type SIPCall struct {
	conn                       *net.UDPConn
	dst                        *net.UDPAddr
	ruri, branch, ftag, callID string
	responses                  chan string
}

func randHex() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// WithheldInvite calls did from the carrier with the caller's number pai
// withheld. The call rings until Cancel; its socket is closed at the
// test's cleanup.
func (l *Lab) WithheldInvite(did, pai string) *SIPCall {
	l.t.Helper()
	c, err := withheldInvite(did, pai)
	if err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() { c.conn.Close() })
	return c
}

func withheldInvite(did, pai string) (*SIPCall, error) {
	src := &net.UDPAddr{IP: net.ParseIP("127.0.10.3"), Port: 5070}
	dst := &net.UDPAddr{IP: net.ParseIP(LabDomain), Port: 5060}
	conn, err := net.ListenUDP("udp", src)
	if err != nil {
		return nil, fmt.Errorf("withheld caller: %w", err)
	}
	c := &SIPCall{conn: conn, dst: dst, ruri: "sip:" + did + "@" + LabDomain, branch: "z9hG4bK-" + randHex(),
		ftag: randHex(), callID: randHex() + "@127.0.10.3", responses: make(chan string, 64)}
	go func() {
		buf := make([]byte, 65535)
		for {
			n, _, err := conn.ReadFromUDP(buf)
			if err != nil {
				close(c.responses)
				return
			}
			select {
			case c.responses <- string(buf[:n]):
			default: // nobody reads: retransmissions are dropped
			}
		}
	}()
	sdp := "v=0\r\no=- 1 1 IN IP4 127.0.10.3\r\ns=-\r\nc=IN IP4 127.0.10.3\r\nt=0 0\r\nm=audio 31998 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
	extra := "Contact: <sip:carrier@127.0.10.3:5070>\r\nP-Asserted-Identity: <sip:" + pai + "@127.0.10.3>\r\nPrivacy: id\r\nContent-Type: application/sdp\r\n"
	if err := c.send("INVITE", "INVITE", "", extra, sdp); err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

func (c *SIPCall) send(method, cseq, toTag, extra, body string) error {
	to := "<" + c.ruri + ">"
	if toTag != "" {
		to += ";tag=" + toTag
	}
	msg := method + " " + c.ruri + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 127.0.10.3:5070;branch=" + c.branch + ";rport\r\n" +
		"Max-Forwards: 70\r\n" +
		`From: "Anonymous" <sip:anonymous@anonymous.invalid>;tag=` + c.ftag + "\r\n" +
		"To: " + to + "\r\nCall-ID: " + c.callID + "\r\nCSeq: 1 " + cseq + "\r\n" + extra +
		fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body)) + body
	_, err := c.conn.WriteToUDP([]byte(msg), c.dst)
	return err
}

// Cancel CANCELs the ringing INVITE and ACKs its final answer (487).
func (c *SIPCall) Cancel() error {
	if err := c.send("CANCEL", "CANCEL", "", "", ""); err != nil {
		return err
	}
	timeout := time.After(5 * time.Second)
	for {
		select {
		case r, ok := <-c.responses:
			if !ok {
				return fmt.Errorf("withheld caller: socket closed before the final answer")
			}
			if !strings.Contains(r, "CSeq: 1 INVITE") || strings.HasPrefix(r, "SIP/2.0 1") {
				continue
			}
			tag := ""
			for _, line := range strings.Split(r, "\r\n") {
				if strings.HasPrefix(strings.ToLower(line), "to:") {
					if _, t, ok := strings.Cut(line, "tag="); ok {
						tag, _, _ = strings.Cut(t, ";")
					}
				}
			}
			return c.send("ACK", "ACK", tag, "", "")
		case <-timeout:
			return fmt.Errorf("withheld caller: no final answer to the INVITE after CANCEL")
		}
	}
}

// Close closes the call's socket.
func (c *SIPCall) Close() { c.conn.Close() }
