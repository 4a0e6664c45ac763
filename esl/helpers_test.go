package esl_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/textback/textback/esl"
	"github.com/textback/textback/esl/esltest"
	"github.com/textback/textback/ledger"
)

// Short intervals for tests: a connection is dead after 3.5 heartbeat
// intervals (175 ms: long enough that a loaded machine running the race
// detector does not drop a live connection); nothing in the tests waits
// for a fixed time.
const (
	testHeartbeat = 50 * time.Millisecond
	testPassword  = "s3cret-Pa55"
	waitLimit     = 10 * time.Second // how long a test waits for a condition before failing
)

// logBuffer collects zerolog JSON lines, safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines returns the log lines, decoded.
func (b *logBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// count counts the log lines at level whose message contains msg.
func (b *logBuffer) count(t *testing.T, level, msg string) int {
	n := 0
	for _, l := range b.lines(t) {
		if l["level"] == level && strings.Contains(l["message"].(string), msg) {
			n++
		}
	}
	return n
}

func newServer(t *testing.T, cfg esltest.Config) *esltest.Server {
	t.Helper()
	if cfg.Password == "" {
		cfg.Password = testPassword
	}
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = testHeartbeat
	}
	s, err := esltest.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func testConfig(addr string) esl.Config {
	return esl.Config{
		Address:           addr,
		Password:          testPassword,
		DialTimeout:       2 * time.Second,
		CommandTimeout:    2 * time.Second,
		HeartbeatInterval: testHeartbeat,
		MinBackoff:        2 * time.Millisecond,
		MaxBackoff:        30 * time.Millisecond,
	}
}

// running is a Source under test: Run in a goroutine, its events decided
// by a tracker.
type running struct {
	src      *esl.Source
	log      *logBuffer
	events   chan ledger.Event
	verdicts chan ledger.Verdict
	seen     chan ledger.Event // every event, as it arrives
	cancel   context.CancelFunc
	done     chan error
}

// start runs a Source with cfg; the test's cleanup cancels it and checks
// that Run returned nil.
func start(t *testing.T, cfg esl.Config) *running {
	t.Helper()
	lb := &logBuffer{}
	src, err := esl.New(cfg, zerolog.New(lb).Level(zerolog.DebugLevel))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{src: src, log: lb, events: make(chan ledger.Event), verdicts: make(chan ledger.Verdict, 100),
		seen: make(chan ledger.Event, 1000), cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- src.Run(ctx, r.events) }()
	go func() {
		tr := ledger.NewTracker(ledger.TrackerOptions{})
		for {
			select {
			case e := <-r.events:
				r.seen <- e
				if v, ok := tr.Observe(e); ok {
					r.verdicts <- v
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels Run and checks it returns nil, promptly.
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Run returned %v, want nil on cancel", err)
		}
		r.done <- nil // a second stop sees it too
	case <-time.After(waitLimit):
		t.Fatal("Run did not return after cancel")
	}
	if strings.Contains(r.log.String(), testPassword) {
		t.Errorf("the password appears in the log:\n%s", r.log)
	}
}

// waitFor polls cond until it holds, failing the test after waitLimit.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitReady waits until the server has had n subscribed connections and
// the source says it is connected.
func waitReady(t *testing.T, s *esltest.Server, r *running, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := s.WaitReady(ctx, n); err != nil {
		t.Fatalf("waiting for connection %d: %v (log:\n%s)", n, err, r.log)
	}
	waitFor(t, "the source to be connected", func() bool { return r.src.State().Connected })
}

// verdict waits for the next verdict.
func (r *running) verdict(t *testing.T) ledger.Verdict {
	t.Helper()
	select {
	case v := <-r.verdicts:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("no verdict (log:\n%s)", r.log)
		return ledger.Verdict{}
	}
}

// event waits for the next event of kind k, skipping others.
func (r *running) event(t *testing.T, k ledger.EventKind) ledger.Event {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		select {
		case e := <-r.seen:
			if e.Kind == k {
				return e
			}
		case <-deadline:
			t.Fatalf("no %s event (log:\n%s)", k, r.log)
		}
	}
}

// captureEvents loads a capture's event frames.
func captureEvents(t *testing.T, name string) []esl.Frame {
	t.Helper()
	frames, err := esltest.LoadCapture("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return esltest.Events(frames)
}

// replayCall replays a capture with fresh ids and checks its verdict.
func replayCall(t *testing.T, s *esltest.Server, r *running, capture string, want ledger.Outcome) ledger.Verdict {
	t.Helper()
	frames, ids := esltest.FreshIDs(captureEvents(t, capture))
	if n := s.Send(frames...); n == 0 {
		t.Fatalf("replay of %s reached no connection", capture)
	}
	v := r.verdict(t)
	if v.Outcome != want {
		t.Errorf("%s: verdict %s (%s), want %s", capture, v.Outcome, v.Reason, want)
	}
	found := false
	for _, id := range ids {
		found = found || id == v.Call
	}
	if !found {
		t.Errorf("verdict for call %s, which is not one of the replayed capture's", v.Call)
	}
	return v
}
