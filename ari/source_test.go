package ari

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/textback/textback/ari/aritest"
	"github.com/textback/textback/ledger"
)

// testPassword is distinctive so that a test can prove it never reaches
// the log.
const testPassword = "pw-Zq9x-never-logged"

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// harness runs a Source against a fake ARI server with short intervals
// and a backoff that records its waits.
type harness struct {
	t      *testing.T
	src    *Source
	events chan ledger.Event
	logs   *syncBuffer
	ctx    context.Context

	mu     sync.Mutex
	delays []time.Duration
	onWait func(n int) // called with the number of waits so far
}

func newServer(t *testing.T) *aritest.Server {
	srv := aritest.NewServer()
	srv.Password = testPassword
	t.Cleanup(srv.Close)
	return srv
}

func startSource(t *testing.T, url string, mod func(*Config), onWait func(int)) *harness {
	t.Helper()
	return startSourceWith(t, url, mod, onWait, make(chan ledger.Event, 4096))
}

func startSourceWith(t *testing.T, url string, mod func(*Config), onWait func(int), events chan ledger.Event) *harness {
	t.Helper()
	h := &harness{t: t, events: events, logs: &syncBuffer{}, onWait: onWait}
	cfg := Config{
		URL: url, Username: "textback", Password: testPassword, App: "tb-test",
		Options:      Options{Trunks: []string{"carrier"}},
		PingInterval: 20 * time.Millisecond, ReadTimeout: 10 * time.Second,
		MinBackoff: time.Millisecond, MaxBackoff: 8 * time.Millisecond,
	}
	if mod != nil {
		mod(&cfg)
	}
	src, err := New(cfg, zerolog.New(h.logs).Level(zerolog.DebugLevel))
	if err != nil {
		t.Fatal(err)
	}
	src.jitter = func() float64 { return 1 }
	src.sleep = func(ctx context.Context, d time.Duration) error {
		h.mu.Lock()
		h.delays = append(h.delays, d)
		n := len(h.delays)
		h.mu.Unlock()
		if h.onWait != nil {
			h.onWait(n)
		}
		// The waits are milliseconds; really waiting keeps the loop
		// from spinning.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
			return nil
		}
	}
	h.src = src
	ctx, cancel := context.WithCancel(context.Background())
	h.ctx = ctx
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, h.events) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v after cancel, want nil", err)
		}
		if logs := h.logs.String(); strings.Contains(logs, testPassword) {
			t.Errorf("the password reached the log:\n%s", logs)
		}
		if st := src.State(); strings.Contains(st.LastError, testPassword) {
			t.Errorf("the password is in State.LastError %q", st.LastError)
		}
	})
	return h
}

func (h *harness) waits() []time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]time.Duration(nil), h.delays...)
}

// wait waits for cond on the server's stats, failing the test after a
// generous bound (a hang, not a timing assertion).
func wait(t *testing.T, srv *aritest.Server, cond func(aritest.Stats) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Wait(ctx, cond); err != nil {
		t.Fatal(err)
	}
}

func connections(n int) func(aritest.Stats) bool {
	return func(s aritest.Stats) bool { return s.Connections >= n && s.Requests["GET /channels"] >= n }
}

// next returns the next ledger event, failing after a generous bound.
func (h *harness) next(t *testing.T) ledger.Event {
	t.Helper()
	select {
	case e := <-h.events:
		return e
	case <-time.After(20 * time.Second):
		t.Fatalf("no ledger event; state %+v\nlog:\n%s", h.src.State(), h.logs.String())
	}
	return ledger.Event{}
}

// verdicts reads ledger events into a tracker until n verdicts came.
func (h *harness) verdicts(t *testing.T, tr *ledger.Tracker, n int) []ledger.Verdict {
	t.Helper()
	var out []ledger.Verdict
	for len(out) < n {
		if v, ok := tr.Observe(h.next(t)); ok {
			out = append(out, v)
		}
	}
	return out
}

func readLines(t *testing.T, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, MaxEventSize)
	for sc.Scan() {
		if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
			out = append(out, append([]byte(nil), line...))
		}
	}
	return out
}

func send(t *testing.T, srv *aritest.Server, lines ...[]byte) {
	t.Helper()
	for _, l := range lines {
		if err := srv.Send(l); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSource_Replay: every capture replayed through the websocket gives
// the same verdicts as ReadCapture, the filter is set once with the types
// the translation reads, and the one unknown event type is counted.
func TestSource_Replay(t *testing.T) {
	srv := newServer(t)
	h := startSource(t, srv.URL, nil, nil)
	wait(t, srv, connections(1))
	tr := ledger.NewTracker(ledger.TrackerOptions{})
	lines := 0
	for _, path := range traces(t) {
		_, want := replayTrace(t, path, Options{Trunks: []string{"carrier"}})
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		n, err := srv.Replay(f, "")
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		lines += n
		got := h.verdicts(t, tr, len(want))
		if !slices.Equal(got, want) {
			t.Errorf("%s over the websocket:\n got %+v\nwant %+v", path, got, want)
		}
	}
	st := h.src.State()
	// Events are counted before they are translated; the last verdict
	// may come before the trailing events of its trace are counted.
	if !st.Connected || st.Version != "22.10.1" || st.Unknown != 1 || st.Malformed != 0 || st.Reconnects != 0 || st.Events > lines {
		t.Errorf("state %+v after %d events", st, lines)
	}
	stats := srv.Stats()
	want := append([]string{"ApplicationReplaced"}, handledTypes...)
	if len(stats.Filters) != 1 || stats.Filters[0].App != "tb-test" || !slices.Equal(stats.Filters[0].Allowed, want) {
		t.Errorf("filters %+v, want one for tb-test allowing %v", stats.Filters, want)
	}
	if len(stats.Queries) != 1 || stats.Queries[0] != "app=tb-test&subscribeAll=true" {
		t.Errorf("websocket queries %q", stats.Queries)
	}
}

// TestSource_DropReconcile: the websocket is lost mid-stream. The Source
// reconnects, sets the filter again, forgets the call that ended while it
// was away (no event for it, ever), and keeps following the call that
// survived.
func TestSource_DropReconcile(t *testing.T) {
	srv := newServer(t)
	h := startSource(t, srv.URL, nil, nil)
	wait(t, srv, connections(1))

	gone := readLines(t, "testdata/a_noanswer.jsonl")       // ends while disconnected
	stays := readLines(t, "testdata/c_caller_cancel.jsonl") // survives the reconnect
	send(t, srv, gone[0], stays[0])
	a, c := h.next(t), h.next(t)
	if a.Kind != ledger.EventOffered || c.Kind != ledger.EventOffered {
		t.Fatalf("events %+v %+v, want two offered", a, c)
	}
	srv.SetChannelIDs(c.Call)
	srv.Drop()
	wait(t, srv, connections(2))

	// The first call's remaining events, if Asterisk sent them again,
	// change nothing: it is forgotten.
	send(t, srv, gone[1:]...)
	send(t, srv, stays[1:]...)
	tr := ledger.NewTracker(ledger.TrackerOptions{})
	tr.Observe(a)
	tr.Observe(c)
	for {
		e := h.next(t)
		if e.Call == a.Call {
			t.Fatalf("event %+v for the call that ended while disconnected", e)
		}
		if v, ok := tr.Observe(e); ok {
			if v.Call != c.Call || v.Outcome != ledger.Missed || v.Reason != ledger.ReasonCallerHangup {
				t.Errorf("verdict %+v, want the surviving call missed (caller hangup)", v)
			}
			break
		}
	}
	if !strings.Contains(h.logs.String(), `"call":"asterisk:`+a.Call+`"`) || !strings.Contains(h.logs.String(), "unobserved") {
		t.Errorf("the unobserved call is not logged:\n%s", h.logs.String())
	}
	st := h.src.State()
	if !st.Connected || st.Reconnects != 1 || !strings.Contains(st.LastError, "websocket") {
		t.Errorf("state %+v", st)
	}
	stats := srv.Stats()
	if len(stats.Filters) != 2 || !slices.Equal(stats.Filters[0].Allowed, stats.Filters[1].Allowed) {
		t.Errorf("filters %+v, want the same filter set after each connection", stats.Filters)
	}
}

// TestSource_Backoff: while Asterisk refuses the credentials the waits
// double up to the cap; then the Source connects.
func TestSource_Backoff(t *testing.T) {
	srv := newServer(t)
	srv.RefuseAuth(true)
	h := startSource(t, srv.URL, nil, func(n int) {
		if n == 6 {
			srv.RefuseAuth(false)
		}
	})
	wait(t, srv, connections(1))
	want := []time.Duration{1, 2, 4, 8, 8, 8}
	for i := range want {
		want[i] *= time.Millisecond
	}
	if got := h.waits(); !slices.Equal(got[:min(len(got), 6)], want) {
		t.Errorf("waits %v, want %v", got, want)
	}
	if st := h.src.State(); !strings.Contains(st.LastError, "401") || !strings.Contains(st.LastError, `"textback"`) {
		t.Errorf("last error %q, want the refused user", st.LastError)
	}
	if stats := srv.Stats(); stats.Refused != 6 {
		t.Errorf("%d refused handshakes, want 6", stats.Refused)
	}
}

func TestBackoff(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		n    int
		r    float64
		want time.Duration
	}{
		{0, 1, 500 * ms}, {0, 0, 250 * ms}, {1, 1, 1000 * ms}, {3, 0.5, 3000 * ms},
		{6, 1, 30000 * ms}, {7, 1, 30000 * ms}, {100, 0, 15000 * ms}, {62, 1, 30000 * ms},
	} {
		if got := backoff(tc.n, 500*ms, 30000*ms, tc.r); got != tc.want {
			t.Errorf("backoff(%d, r=%v) = %v, want %v", tc.n, tc.r, got, tc.want)
		}
	}
}

// TestSource_DownAtStart: Asterisk is not there when the Source starts;
// it keeps trying and connects once Asterisk comes up at that address.
func TestSource_DownAtStart(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	up := make(chan struct{})
	h := startSource(t, "http://"+addr, nil, func(n int) {
		if n == 3 {
			close(up)
		}
	})
	<-up
	if st := h.src.State(); st.Connected || !strings.Contains(st.LastError, "connect") {
		t.Errorf("state %+v while Asterisk is down", st)
	}
	srv, err := aritest.NewServerAt(addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	srv.Password = testPassword
	t.Cleanup(srv.Close)
	wait(t, srv, connections(1))
}

// TestSource_Silence: Asterisk stops answering pings; the Source takes the
// websocket for dead and reconnects.
func TestSource_Silence(t *testing.T) {
	srv := newServer(t)
	h := startSource(t, srv.URL, func(c *Config) { c.ReadTimeout = 200 * time.Millisecond }, nil)
	wait(t, srv, connections(1))
	srv.Silent(true)
	wait(t, srv, func(s aritest.Stats) bool { return s.Connections >= 2 })
	srv.Silent(false)
	wait(t, srv, connections(2))
	if st := h.src.State(); !strings.Contains(st.LastError, "silent") {
		t.Errorf("last error %q, want silence", st.LastError)
	}
}

// TestSource_ApplicationReplaced: another client takes the application;
// the Source reports it as an error naming the app, backs off and
// connects again.
func TestSource_ApplicationReplaced(t *testing.T) {
	srv := newServer(t)
	h := startSource(t, srv.URL, nil, nil)
	wait(t, srv, connections(1))
	if err := srv.ReplaceApp(); err != nil {
		t.Fatal(err)
	}
	wait(t, srv, connections(2))
	st := h.src.State()
	if !strings.Contains(st.LastError, "another textback uses app tb-test") {
		t.Errorf("last error %q", st.LastError)
	}
	if !strings.Contains(h.logs.String(), `"level":"error"`) {
		t.Errorf("app replaced not logged as an error:\n%s", h.logs.String())
	}
	if len(h.waits()) == 0 {
		t.Error("reconnected without backing off")
	}
}

// TestSource_UnknownAndGarbage: unknown event types and messages that are
// no ARI event are skipped and counted; the connection and the calls go
// on.
func TestSource_UnknownAndGarbage(t *testing.T) {
	srv := newServer(t)
	h := startSource(t, srv.URL, nil, nil)
	wait(t, srv, connections(1))
	send(t, srv,
		[]byte(`{"type":"CallBroadcast","timestamp":"2026-11-26T16:43:06.399+0000"}`),
		[]byte(`{"type":"RESTResponse","transaction_id":"1"}`),
		[]byte("not json at all"),
		[]byte(`[1,2,3]`),
		[]byte(`{"type":""}`),
		[]byte(`{"type":"ChannelCreated","channel":{"id":12}}`),
		[]byte(`{"type":"Dial","timestamp":"yesterday"}`),
	)
	tr := ledger.NewTracker(ledger.TrackerOptions{})
	send(t, srv, readLines(t, "testdata/x_tone_detect_unknown_event.jsonl")...)
	if v := h.verdicts(t, tr, 1); v[0].Outcome != ledger.Missed || v[0].From != "+15557654321" {
		t.Errorf("verdict %+v", v[0])
	}
	st := h.src.State()
	if st.Unknown != 3 || st.Malformed != 5 || !st.Connected || st.Reconnects != 0 {
		t.Errorf("state %+v, want 3 unknown, 5 malformed, still connected", st)
	}
	for _, typ := range []string{"CallBroadcast", "RESTResponse", "ChannelToneDetected"} {
		if !strings.Contains(h.logs.String(), `"type":"`+typ+`"`) {
			t.Errorf("unknown type %s not logged", typ)
		}
	}
}

// TestSource_TooLarge: a message past MaxEventSize ends the connection
// (it cannot be read), and the Source reconnects.
func TestSource_TooLarge(t *testing.T) {
	srv := newServer(t)
	startSource(t, srv.URL, nil, nil)
	wait(t, srv, connections(1))
	big := []byte(`{"type":"ChannelVarset","value":"` + strings.Repeat("x", MaxEventSize) + `"}`)
	_ = srv.Send(big) // the client may close while it is written
	wait(t, srv, connections(2))
}

// TestSource_Warnings: a read-only user and channel snapshots without the
// channelvars are each warned about once; the events flow anyway.
func TestSource_Warnings(t *testing.T) {
	srv := newServer(t)
	srv.ReadOnly(true)
	h := startSource(t, srv.URL, nil, nil)
	wait(t, srv, connections(1))
	tr := ledger.NewTracker(ledger.TrackerOptions{})
	send(t, srv, readLines(t, "testdata/d2_second_answers_channelvars.jsonl")...)
	h.verdicts(t, tr, 1)
	if w := h.src.State().Warnings; len(w) != 1 || !strings.Contains(w[0], "read_only") {
		t.Errorf("warnings %q, want only read_only", w)
	}
	for _, prefix := range []string{"", "again-"} {
		f, err := os.Open("testdata/a_noanswer.jsonl")
		if err != nil {
			t.Fatal(err)
		}
		_, err = srv.Replay(f, prefix)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		h.verdicts(t, tr, 1)
	}
	w := h.src.State().Warnings
	if len(w) != 3 || !strings.Contains(w[1], VarPres) || !strings.Contains(w[2], VarLinkedID) {
		t.Errorf("warnings %q, want read_only, then %s and %s once each", w, VarPres, VarLinkedID)
	}
	if n := strings.Count(h.logs.String(), "channel snapshots lack"); n != 2 {
		t.Errorf("%d channelvars warnings logged, want 2", n)
	}
}

func TestSource_RunTwice(t *testing.T) {
	srv := newServer(t)
	h := startSource(t, srv.URL, nil, nil)
	wait(t, srv, connections(1))
	if err := h.src.Run(context.Background(), make(chan ledger.Event)); err == nil {
		t.Error("a second Run did not fail")
	}
}

// TestSource_CancelWhileBlocked: Run returns nil on cancel even while
// nobody reads the events channel.
func TestSource_CancelWhileBlocked(t *testing.T) {
	srv := newServer(t)
	src, err := New(Config{URL: srv.URL, Username: "textback", Password: testPassword, Options: Options{Trunks: []string{"carrier"}}}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, make(chan ledger.Event)) }() // never read
	wait(t, srv, connections(1))
	send(t, srv, readLines(t, "testdata/a_noanswer.jsonl")...)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
	if src.State().Connected {
		t.Error("still connected after Run returned")
	}
}

func TestNew_Errors(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{URL: "127.0.0.1:8088", Username: "u"}, "want http:// or https://"},
		{Config{URL: "http://u:p@127.0.0.1:8088", Username: "u"}, "not in the URL"},
		{Config{URL: "ftp://x", Username: "u"}, "want http://"},
		{Config{URL: "http://127.0.0.1:8088"}, "no username"},
	} {
		_, err := New(tc.cfg, zerolog.Nop())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want %q", tc.cfg, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), ":p@") {
			t.Errorf("error %q shows the password", err)
		}
	}
}

func TestBaseURL(t *testing.T) {
	for in, want := range map[string][2]string{
		"http://127.0.0.1:8088":         {"http://127.0.0.1:8088/ari", "ws://127.0.0.1:8088/ari/events"},
		"http://127.0.0.1:8088/":        {"http://127.0.0.1:8088/ari", "ws://127.0.0.1:8088/ari/events"},
		"http://127.0.0.1:8088/ari":     {"http://127.0.0.1:8088/ari", "ws://127.0.0.1:8088/ari/events"},
		"https://pbx.example:8089/ari/": {"https://pbx.example:8089/ari", "wss://pbx.example:8089/ari/events"},
		"http://h/asterisk":             {"http://h/asterisk/ari", "ws://h/asterisk/ari/events"},
	} {
		base, ev, err := baseURL(in)
		if err != nil || base != want[0] || ev.String() != want[1] {
			t.Errorf("baseURL(%q) = %q, %v, %v; want %q", in, base, ev, err, want)
		}
	}
}

func TestProbe(t *testing.T) {
	srv := newServer(t)
	cfg := Config{URL: srv.URL, Username: "textback", Password: testPassword, App: "tb-test"}
	t.Run("OK", func(t *testing.T) {
		srv.SetChannels([]byte(`{"id":"1.1","name":"PJSIP/carrier-1","state":"Up","channelvars":{"CHANNEL(linkedid)":"1.1"}}`))
		defer srv.SetChannels()
		info, err := Probe(context.Background(), cfg)
		if err != nil || info.Version != "22.10.1" || !info.Events || !info.CanFilter || info.Channels != 1 ||
			!info.VarsChecked || !slices.Equal(info.MissingVars, []string{VarPres}) {
			t.Errorf("Probe = %+v, %v", info, err)
		}
		if f := srv.Stats().Filters; len(f) == 0 || f[len(f)-1].App != "tb-test-probe" {
			t.Errorf("filters %+v, want one on tb-test-probe", f)
		}
	})
	t.Run("WrongPassword", func(t *testing.T) {
		c := cfg
		c.Password = "wrong-" + testPassword
		_, err := Probe(context.Background(), c)
		if !errors.Is(err, ErrAuth) || strings.Contains(err.Error(), testPassword) {
			t.Errorf("Probe = %v, want ErrAuth without the password", err)
		}
	})
	t.Run("ReadOnly", func(t *testing.T) {
		srv.ReadOnly(true)
		defer srv.ReadOnly(false)
		info, err := Probe(context.Background(), cfg)
		if !errors.Is(err, ErrReadOnly) || info.Version == "" || !info.Events || info.CanFilter {
			t.Errorf("Probe = %+v, %v; want ErrReadOnly with the version", info, err)
		}
	})
	t.Run("Unreachable", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		c := cfg
		c.URL = "http://" + addr
		if _, err := Probe(context.Background(), c); err == nil || !strings.Contains(err.Error(), addr) {
			t.Errorf("Probe = %v, want an error naming %s", err, addr)
		}
	})
	t.Run("KeepsRunningSource", func(t *testing.T) {
		srv := newServer(t)
		cfg := cfg
		cfg.URL = srv.URL
		h := startSource(t, srv.URL, nil, nil)
		wait(t, srv, connections(1))
		before := srv.Stats().Connections
		if _, err := Probe(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
		wait(t, srv, func(s aritest.Stats) bool { return s.Open == 1 })
		tr := ledger.NewTracker(ledger.TrackerOptions{})
		send(t, srv, readLines(t, "testdata/f_busy.jsonl")...)
		h.verdicts(t, tr, 1)
		if st := h.src.State(); st.Reconnects != 0 || st.LastError != "" || srv.Stats().Connections != before+1 {
			t.Errorf("the probe disturbed the running Source: %+v", st)
		}
	})
}

// TestSource_SlowReader: nobody reads the events while a busy call is
// replayed; nothing is lost once they are read.
func TestSource_SlowReader(t *testing.T) {
	srv := newServer(t)
	// unbuffered: every event waits for the reader
	h := startSourceWith(t, srv.URL, nil, nil, make(chan ledger.Event))
	wait(t, srv, connections(1))
	var want []ledger.Verdict
	for _, name := range []string{"n_local_ringgroup_answered", "o_local_ringgroup_noanswer_channelvars", "k_queue_answered"} {
		path := "testdata/" + name + ".jsonl"
		_, v := replayTrace(t, path, Options{Trunks: []string{"carrier"}})
		want = append(want, v...)
		send(t, srv, readLines(t, path)...) // all sent before anything is read
	}
	got := h.verdicts(t, ledger.NewTracker(ledger.TrackerOptions{}), len(want))
	if !slices.Equal(got, want) {
		t.Errorf("verdicts\n got %+v\nwant %+v", got, want)
	}
	if st := h.src.State(); st.Reconnects != 0 || !st.Connected {
		t.Errorf("state %+v", st)
	}
}
