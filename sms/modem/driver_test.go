package modem

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/textback/textback/sms"
	"github.com/textback/textback/sms/smstest"
)

// recorder is an sms.Receiver that records, or fails while fail is set.
type recorder struct {
	mu       sync.Mutex
	fail     error
	got      []sms.Inbound
	statuses []sms.Status
	changed  chan struct{}
	// failStatus makes UpdateStatus fail; onCall runs at every Receive
	// and UpdateStatus, before it returns.
	failStatus error
	onCall     func()
	statusCh   chan struct{}
}

func newRecorder() *recorder {
	return &recorder{changed: make(chan struct{}, 1000), statusCh: make(chan struct{}, 1000)}
}

func (r *recorder) Receive(ctx context.Context, in sms.Inbound) error {
	r.mu.Lock()
	defer func() { r.mu.Unlock(); r.changed <- struct{}{} }()
	if r.onCall != nil {
		r.onCall()
	}
	if r.fail != nil {
		return r.fail
	}
	r.got = append(r.got, in)
	return nil
}

func (r *recorder) UpdateStatus(ctx context.Context, st sms.Status) error {
	r.mu.Lock()
	defer func() { r.mu.Unlock(); r.statusCh <- struct{}{} }()
	if r.onCall != nil {
		r.onCall()
	}
	if r.failStatus != nil {
		return r.failStatus
	}
	r.statuses = append(r.statuses, st)
	return nil
}

func (r *recorder) setFailStatus(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failStatus = err
}

func (r *recorder) gotStatuses() []sms.Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sms.Status(nil), r.statuses...)
}

// waitStatus waits for the next UpdateStatus call.
func (r *recorder) waitStatus(t *testing.T) {
	t.Helper()
	select {
	case <-r.statusCh:
	case <-time.After(10 * time.Second):
		t.Fatal("no UpdateStatus call within 10s")
	}
}

// do runs f on Run's goroutine with the live session and returns its
// error. Whatever Run was handling before (an indication, a send) is
// finished when f runs: a barrier as well as a way to send raw commands.
func (d *Driver) do(t *testing.T, f func(ctx context.Context, s *session) error) error {
	t.Helper()
	done := make(chan error, 1)
	g := func(ctx context.Context, s *session) error {
		err := f(ctx, s)
		done <- err
		return err
	}
	select {
	case d.ctl <- g:
	case <-time.After(30 * time.Second):
		t.Fatalf("Run's goroutine not free within 30s: %+v", d.Status())
	}
	select {
	case err := <-done:
		return err
	case <-time.After(60 * time.Second):
		t.Fatal("function on Run's goroutine did not return within 60s")
	}
	return nil
}

func (r *recorder) setFail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail = err
}

func (r *recorder) inbound() []sms.Inbound {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sms.Inbound(nil), r.got...)
}

// waitReceive waits for the next Receive call (bounded by the test's ctx).
func (r *recorder) waitReceive(t *testing.T) {
	t.Helper()
	select {
	case <-r.changed:
	case <-time.After(10 * time.Second):
		t.Fatal("no Receive call within 10s")
	}
}

// testConfig is a config for the fake: no pacing unless a test sets it.
func testConfig() Config {
	return Config{Device: "/dev/fake", MinGap: -1, MaxPerHour: -1, MaxPerDay: -1, CommandTimeout: 2 * time.Second, Number: "+15555551000"}
}

// startFake runs a Driver on fm (changed by mod before Run, if given)
// and waits until it is ready. Run stops at the test's end.
func startFake(t *testing.T, fm *fakeModem, cfg Config, rcv sms.Receiver, mod ...func(*Driver)) (*Driver, <-chan error) {
	t.Helper()
	d, done, stop := runFake(t, fm, cfg, rcv, mod...)
	t.Cleanup(stop)
	return d, done
}

// runFake is startFake returning a stop function that ends Run (and
// waits for it); the test calls it, once.
func runFake(t *testing.T, fm *fakeModem, cfg Config, rcv sms.Receiver, mod ...func(*Driver)) (*Driver, <-chan error, func()) {
	t.Helper()
	d, err := New(cfg, zerolog.Nop())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	d.open = func(context.Context) (io.ReadWriteCloser, error) { return fm.open() }
	d.quiet = 30 * time.Millisecond
	for _, m := range mod {
		m(d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, rcv) }()
	stop := func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Logf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return within 5s of its ctx ending")
		}
	}
	select {
	case <-d.Ready():
	case err := <-done:
		done <- err
		return d, done, stop
	case <-time.After(10 * time.Second):
		stop()
		t.Fatalf("modem not ready within 10s: %+v", d.Status())
	}
	return d, done, stop
}

func TestDriver_Conformance(t *testing.T) {
	var fm *fakeModem
	smstest.Run(t, smstest.Harness{
		New: func(t *testing.T) sms.Driver {
			fm = newFakeModem()
			d, _ := startFake(t, fm, testConfig(), newRecorder())
			return d
		},
		Sent: func(t *testing.T) []sms.Message { return fm.sentTexts() },
		Fault: func(t *testing.T, f smstest.Fault) bool {
			switch f {
			case smstest.FaultTemporary: // congestion
				fm.fault("AT+CMGS", fault{afterOK: true, reply: []string{"+CMS ERROR: 42"}})
			case smstest.FaultRejected: // unassigned number
				fm.fault("AT+CMGS", fault{afterOK: true, reply: []string{"+CMS ERROR: 1"}})
			case smstest.FaultHang:
				fm.fault("AT+CMGS", fault{afterOK: true, hang: true})
			default:
				return false // a modem cannot tell an opt-out or a landline
			}
			return true
		},
	})
}

func send(t *testing.T, d *Driver, to, body string) (sms.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return d.Send(ctx, sms.Message{Key: "k", To: to, Body: body})
}

func TestDriver_SendFaults(t *testing.T) {
	const to = "+15555550123"
	cases := []struct {
		name   string
		prefix string
		f      fault
		want   sms.Outcome
		code   string
	}{
		{"ErrorIsTemporary", "AT+CMGS", fault{afterOK: true, reply: []string{"ERROR"}}, sms.Temporary, "ERROR"},
		{"CMS500IsRejected", "AT+CMGS", fault{afterOK: true, reply: []string{"+CMS ERROR: 500"}}, sms.Rejected, "CMS 500"},
		{"CMS331NoNetworkIsTemporary", "AT+CMGS", fault{afterOK: true, reply: []string{"+CMS ERROR: 331"}}, sms.Temporary, "CMS 331"},
		{"CMS332NetworkTimeoutIsUnknown", "AT+CMGS", fault{afterOK: true, reply: []string{"+CMS ERROR: 332"}}, sms.Unknown, "CMS 332"},
		{"VerboseCMSIsMapped", "AT+CMGS", fault{afterOK: true, reply: []string{"+CMS ERROR: unassigned (unallocated) number"}}, sms.Rejected, ""},
		{"RefusedBeforePromptIsTemporary", "AT+CMGS", fault{reply: []string{"+CMS ERROR: 311"}}, sms.Temporary, "CMS 311"},
		{"NoPromptIsTemporary", "AT+CMGS", fault{hang: true}, sms.Temporary, ""},
		{"NoAnswerAfterPDUIsUnknown", "AT+CMGS", fault{afterOK: true, hang: true}, sms.Unknown, ""},
		{"UnplugAfterPDUIsUnknown", "AT+CMGS", fault{afterOK: true, unplug: true}, sms.Unknown, ""},
		{"UnplugBeforePDUIsTemporary", "AT+CMGS", fault{unplug: true}, sms.Temporary, ""},
		{"GarbageBeforeAnswerIsAccepted", "AT+CMGS", fault{afterOK: true, before: []string{"\x00\xff garbage", "+CSQ: 3,99", "RING"}}, sms.Accepted, ""},
		{"IndicationInsideAnswerIsAccepted", "AT+CMGS", fault{afterOK: true, before: []string{`+CMTI: "SM",7`}}, sms.Accepted, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fm := newFakeModem()
			cfg := testConfig()
			cfg.SendTimeout = time.Second
			d, _ := startFake(t, fm, cfg, newRecorder())
			fm.fault(c.prefix, c.f)
			_, err := send(t, d, to, "Sorry we missed your call.")
			if o := sms.OutcomeOf(err); o != c.want {
				t.Fatalf("Send: %v, outcome %s; want %s", err, o, c.want)
			}
			var se *sms.Error
			if c.code != "" && (!errors.As(err, &se) || se.Code != c.code) {
				t.Errorf("Send: %v, want code %q", err, c.code)
			}
			// The driver recovers (resynchronised or reopened) and the next
			// text goes out exactly once.
			waitReady(t, d)
			if _, err := send(t, d, to, "The next text."); err != nil {
				t.Fatalf("Send after the fault: %v (outcome %s)", err, sms.OutcomeOf(err))
			}
			var n int
			for _, m := range fm.sentTexts() {
				if m.Body == "The next text." {
					n++
				}
			}
			if n != 1 {
				t.Errorf("modem received the next text %d times, want 1: %q", n, fm.sentTexts())
			}
		})
	}
}

// waitReady waits for the driver to be ready again after a reopen.
func waitReady(t *testing.T, d *Driver) {
	t.Helper()
	for range 200 {
		if d.Status().State == StateReady {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("driver not ready again: %+v", d.Status())
}

func TestDriver_LateReplyAfterTimeout(t *testing.T) {
	// AT+CMGS answers nothing in time; its late +CMGS/OK arrives just
	// before the answer to the next command. The driver must not take it
	// for that command's answer: the send is Unknown, the next text goes
	// out once and gets its own answer.
	fm := newFakeModem()
	cfg := testConfig()
	cfg.SendTimeout = time.Second
	d, _ := startFake(t, fm, cfg, newRecorder())
	fm.fault("AT+CMGS", fault{afterOK: true, hang: true, late: true})
	_, err := send(t, d, "+15555550123", "First text.")
	if o := sms.OutcomeOf(err); o != sms.Unknown {
		t.Fatalf("Send with a late answer: %v, outcome %s; want unknown", err, o)
	}
	if _, err := send(t, d, "+15555550123", "Second text."); err != nil {
		t.Fatalf("Send after the late answer: %v", err)
	}
	var bodies []string
	for _, m := range fm.sentTexts() {
		bodies = append(bodies, m.Body)
	}
	if !slices.Equal(bodies, []string{"First text.", "Second text."}) {
		t.Errorf("modem received %q, want both texts once", bodies)
	}
}

func TestDriver_HealthCheckRebuildsHungModem(t *testing.T) {
	// The modem stops answering AT at all: the health check fails, the
	// resync fails, and the driver reopens the port.
	fm := newFakeModem()
	cfg := testConfig()
	cfg.HealthInterval = 50 * time.Millisecond
	cfg.CommandTimeout = 100 * time.Millisecond
	d, _ := startFake(t, fm, cfg, newRecorder())
	for range 9 { // the health check's AT and every resynchronising AT
		fm.fault("AT$", fault{hang: true})
	}
	deadline := time.Now().Add(20 * time.Second)
	for fm.openCount() < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if fm.openCount() < 2 {
		t.Fatalf("modem opened %d times, want a reopen after it hung", fm.openCount())
	}
	waitReady(t, d)
}

func (f *fakeModem) openCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.opens
}

func TestDriver_UnplugReopens(t *testing.T) {
	fm := newFakeModem()
	cfg := testConfig()
	d, _ := startFake(t, fm, cfg, newRecorder())
	fm.unplug()
	// While down, Send answers Temporary at once or, once reopened, sends.
	for range 400 {
		_, err := send(t, d, "+15555550123", "After the replug.")
		if err == nil {
			break
		}
		if o := sms.OutcomeOf(err); o != sms.Temporary {
			t.Fatalf("Send while the modem is down: %v, outcome %s; want temporary", err, o)
		}
		time.Sleep(25 * time.Millisecond)
	}
	if got := fm.sentTexts(); len(got) != 1 || got[0].Body != "After the replug." {
		t.Fatalf("modem received %q, want the text once after the replug", got)
	}
	if fm.openCount() != 2 {
		t.Errorf("modem opened %d times, want 2", fm.openCount())
	}
}

func TestDriver_ConcatenationReferenceIsShared(t *testing.T) {
	fm := newFakeModem()
	d, _ := startFake(t, fm, testConfig(), newRecorder())
	long := strings.Repeat("A long text needs several segments. ", 10)
	for range 3 {
		if _, err := send(t, d, "+15555550123", long); err != nil {
			t.Fatal(err)
		}
	}
	if got := fm.sentTexts(); len(got) != 3 {
		t.Fatalf("modem reassembled %d texts, want 3 (a repeated reference would merge or break them)", len(got))
	}
	refs := map[int]bool{}
	fm.mu.Lock()
	segs := append([]string(nil), fm.segments...)
	fm.mu.Unlock()
	for _, s := range segs {
		refs[concatRefOf(t, s)] = true
	}
	if len(refs) != 3 {
		t.Errorf("%d segments used concatenation references %v, want 3 different ones", len(segs), refs)
	}
}

func TestDriver_Pacing(t *testing.T) {
	fm := newFakeModem()
	cfg := testConfig()
	cfg.MaxPerHour = 2
	cfg.MaxPerDay = 5
	d, _ := startFake(t, fm, cfg, newRecorder())
	for i := range 2 {
		if _, err := send(t, d, "+15555550123", "Paced text."); err != nil {
			t.Fatalf("Send %d: %v", i+1, err)
		}
	}
	_, err := send(t, d, "+15555550123", "Over the cap.")
	var se *sms.Error
	if !errors.As(err, &se) || se.Outcome != sms.Temporary || se.RetryAfter <= 0 || se.RetryAfter > time.Hour {
		t.Fatalf("third Send in an hour with max_per_hour 2: %v, want Temporary with RetryAfter within the hour", err)
	}
	// A barrier on the session's goroutine: whatever it was going to do
	// with the refused text is done now. (It once sent it anyway, after
	// reporting Temporary: a second text when the outbox retried.)
	if err := d.do(t, func(context.Context, *session) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if n := len(fm.sentTexts()); n != 2 {
		t.Errorf("modem received %d texts, want 2: %+v", n, fm.sentTexts())
	}
	st := d.Status()
	if st.SentLastHour != 2 || st.MaxPerHour != 2 {
		t.Errorf("Status: sent_last_hour %d max_per_hour %d, want 2 and 2", st.SentLastHour, st.MaxPerHour)
	}
}

func TestDriver_SendWhenNotRunning(t *testing.T) {
	d, err := New(testConfig(), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	_, err = send(t, d, "+15555550123", "x")
	if o := sms.OutcomeOf(err); o != sms.Temporary {
		t.Errorf("Send before Run: %v, outcome %s; want temporary", err, o)
	}
}
