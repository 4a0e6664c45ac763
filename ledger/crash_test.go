package ledger

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/textback/textback/sms"
	bolt "go.etcd.io/bbolt"
)

// The crash test runs the real core (Record, Receive, the dispatcher) in a
// child process, kills it with SIGKILL at random points while texts are in
// flight, restarts it on the same ledger, and checks the invariants from
// what the child acknowledged and what its "carrier" received:
//
//   - no verdict the child acknowledged is lost;
//   - no opt-out the child acknowledged is lost;
//   - no call is texted twice (the carrier log has each text key at most
//     once), and no text is sent after its number's opt-out was
//     acknowledged.
//
// The carrier is a file the child's driver appends to and fsyncs before it
// returns: what a real carrier would have received.

const crashChildEnv = "TEXTBACK_CRASH_CHILD"

// carrierDriver records each send in an append-only, fsynced file.
type carrierDriver struct {
	mu sync.Mutex
	f  *os.File
}

func (d *carrierDriver) Name() string { return "crash-carrier" }

func (d *carrierDriver) Send(ctx context.Context, m sms.Message) (sms.Result, error) {
	// A little latency so that kills land while texts are in flight.
	time.Sleep(time.Duration(rand.IntN(3)) * time.Millisecond)
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := fmt.Fprintf(d.f, "sent %s %s\n", m.Key, m.To); err != nil {
		return sms.Result{}, &sms.Error{Outcome: sms.Unknown, Err: err}
	}
	if err := d.f.Sync(); err != nil {
		return sms.Result{}, &sms.Error{Outcome: sms.Unknown, Err: err}
	}
	return sms.Result{ProviderID: "c-" + m.Key}, nil
}

// TestCrashChild is the child process; it does nothing in a normal run.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("only runs as the crash test's child process")
	}
	round, _ := strconv.Atoi(os.Getenv("TEXTBACK_CRASH_ROUND"))
	if err := crashChild(dir, round); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(3)
	}
	os.Exit(0)
}

func crashChild(dir string, round int) error {
	st, err := Open(filepath.Join(dir, "textback.db"), StoreOptions{LockTimeout: 10 * time.Second})
	if err != nil {
		return err
	}
	cfg := Config{Lines: []Line{testLine()}, Policy: DefaultPolicy()}
	cfg.Policy.MaxPerHour, cfg.Policy.MaxPerDay, cfg.Policy.Cooldown = 0, 0, 0
	l, err := New(st, cfg, Options{Log: zerolog.Nop()})
	if err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(dir, "carrier.log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	acks, err := os.OpenFile(filepath.Join(dir, "acks.log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	ack := func(format string, a ...any) error {
		if _, err := fmt.Fprintf(acks, format+"\n", a...); err != nil {
			return err
		}
		return acks.Sync()
	}
	go NewDispatcher(l, &carrierDriver{f: f}, DispatcherOptions{Workers: 4}).Run(context.Background()) //nolint:errcheck // killed
	rng := rand.New(rand.NewPCG(uint64(round), 7))
	for i := 0; ; i++ {
		// 40 callers; every call id is unique per round and step, and
		// some verdicts are recorded twice, as a reconnecting adapter
		// might.
		caller := fmt.Sprintf("+1555765%04d", 1000+rng.IntN(40))
		call := fmt.Sprintf("r%d-%d", round, i)
		v := Verdict{PBX: "crash", Call: call, Outcome: Missed, Reason: ReasonNoAnswer, From: caller, Line: testDID,
			OfferedAt: time.Now().Add(-time.Second), EndedAt: time.Now(), RingTime: time.Second}
		if _, err := l.Record(v); err != nil {
			return err
		}
		if err := ack("call crash:%s %s", call, caller); err != nil {
			return err
		}
		if rng.IntN(4) == 0 {
			if _, err := l.Record(v); err != nil {
				return err
			}
		}
		if rng.IntN(10) == 0 {
			in := sms.Inbound{Provider: "crash", ProviderID: call, From: caller, To: testLineNumber, Body: "STOP"}
			if err := l.Receive(context.Background(), in); err != nil {
				return err
			}
			if err := ack("optout %s", caller); err != nil {
				return err
			}
		}
	}
}

func fileSize(path string) int64 {
	info, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return info.Size()
}

func TestCrash_KillAtRandomPoints(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test spawns processes")
	}
	dir := t.TempDir()
	rounds := 12
	for round := 1; round <= rounds; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, "TEXTBACK_CRASH_ROUND="+strconv.Itoa(round))
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill at a random point once the child is under way (on a busy
		// machine a child may need a while to start).
		acks := filepath.Join(dir, "acks.log")
		before := fileSize(acks)
		for deadline := time.Now().Add(10 * time.Second); fileSize(acks) == before && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(time.Duration(50+rand.IntN(250)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("round %d: child ended by itself (%v): %s", round, err, stderr.String())
		}
	}

	// The last restart: recover, then check.
	st, err := Open(filepath.Join(dir, "textback.db"), StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cfg := Config{Lines: []Line{testLine()}, Policy: DefaultPolicy()}
	l, err := New(st, cfg, Options{Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Recover(); err != nil {
		t.Fatal(err)
	}
	if err := st.DB().View(func(tx *bolt.Tx) error {
		var first error
		for err := range tx.Check() { // drain: the checker holds the transaction
			if first == nil {
				first = err
			}
		}
		return first
	}); err != nil {
		t.Fatalf("ledger consistency: %v", err)
	}

	calls, optouts := readAcks(t, filepath.Join(dir, "acks.log"))
	sent := readLines(t, filepath.Join(dir, "carrier.log"))
	if len(calls) < 50 {
		t.Fatalf("only %d calls acknowledged over %d rounds: the test did not exercise much", len(calls), rounds)
	}
	for id := range calls {
		if _, err := st.Call(id); err != nil {
			t.Errorf("acknowledged call %s lost: %v", id, err)
		}
	}
	for number := range optouts {
		if ns, err := st.Number(number); err != nil || !ns.OptedOut {
			t.Errorf("acknowledged opt-out of %s lost (%+v, %v)", number, ns, err)
		}
	}
	texts, err := st.Texts(0)
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]Text{}
	perCall := map[string]int{}
	for _, txt := range texts {
		byKey[fmt.Sprintf("textback-%d", txt.Seq)] = txt
		if txt.Kind == KindCallback {
			perCall[txt.Call]++
			if perCall[txt.Call] > 1 {
				t.Errorf("call %s has %d callback texts", txt.Call, perCall[txt.Call])
			}
		}
		if txt.Status == StatusSending {
			t.Errorf("text %d still sending after recovery", txt.Seq)
		}
	}
	seen := map[string]bool{}
	unknown := 0
	for _, line := range sent {
		f := strings.Fields(line)
		if len(f) != 3 {
			t.Fatalf("carrier log line %q", line)
		}
		if seen[f[1]] {
			t.Errorf("text %s reached the carrier twice", f[1])
		}
		seen[f[1]] = true
		txt, ok := byKey[f[1]]
		if !ok {
			t.Errorf("the carrier got %s, which the ledger does not know", f[1])
			continue
		}
		if txt.Status == StatusUnknown {
			unknown++
		}
	}
	t.Logf("%d rounds: %d calls acknowledged, %d opt-outs, %d texts, %d reached the carrier (%d of them recorded unknown after a kill)",
		rounds, len(calls), len(optouts), len(texts), len(sent), unknown)
}

func readAcks(t *testing.T, path string) (calls map[string]string, optouts map[string]bool) {
	calls, optouts = map[string]string{}, map[string]bool{}
	for _, line := range readLines(t, path) {
		f := strings.Fields(line)
		switch {
		case len(f) == 3 && f[0] == "call":
			calls[f[1]] = f[2]
		case len(f) == 2 && f[0] == "optout":
			optouts[f[1]] = true
		}
		// A torn last line (killed mid-write) is not an acknowledgement.
	}
	return calls, optouts
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
