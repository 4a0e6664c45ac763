package modem

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	wsms "github.com/warthog618/sms"
	"github.com/warthog618/sms/encoding/tpdu"

	"github.com/textback/textback/sms"
)

// Driver sends and receives texts through one USB GSM modem. Create it
// with New and run Run for as long as it is used: Run owns the modem; Send
// hands texts to it.
type Driver struct {
	cfg Config
	log zerolog.Logger
	// now is the clock of pacing, send deadlines and partial_timeout;
	// tests replace it.
	now func() time.Time
	// open opens the modem's port; tests replace it with a fake modem.
	open func(ctx context.Context) (io.ReadWriteCloser, error)
	// quiet is how long the line must stay silent after a resynchronising
	// AT before the command stream counts as in step again.
	quiet time.Duration

	pace   *pacer
	concat *counter // concatenation reference shared by every text
	mr     *counter // TP-MR, shared likewise
	idBase string   // makes ProviderIDs unique across restarts
	seq    atomic.Int64

	inflight atomic.Int64
	reports  *reportBook // texts awaiting delivery reports (Run's goroutine)
	parts    *reassembly // multipart texts being received (Run's goroutine)

	jobs chan *job
	// ctl runs a function on Run's goroutine with the live session (tests
	// use it to send raw commands, such as phonesim's hooks); an error
	// wrapping errBroken ends the session.
	ctl     chan func(context.Context, *session) error
	running atomic.Bool
	stopped chan struct{} // closed when Run returns
	ready   chan struct{} // closed when the modem is first ready
	readyMu sync.Once

	mu     sync.Mutex
	status Status
	// pinRejected is set once the SIM refused the configured PIN; the PIN
	// is never sent again by this process.
	pinRejected bool
}

var _ sms.Driver = (*Driver)(nil)

// New validates cfg and returns a Driver. It does not touch the modem:
// Run opens it.
func New(cfg Config, log zerolog.Logger) (*Driver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	warmCharsets.Do(warmUp)
	var seed [4]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, fmt.Errorf("modem: random seed: %w", err)
	}
	d := &Driver{
		cfg:     cfg,
		log:     log.With().Str("component", "modem").Str("device", cfg.Device).Logger(),
		now:     time.Now,
		quiet:   250 * time.Millisecond,
		pace:    newPacer(cfg.MinGap, cfg.MaxPerHour, cfg.MaxPerDay),
		concat:  newCounter(int(seed[0])),
		mr:      newCounter(int(seed[1])),
		idBase:  hex.EncodeToString(seed[:]),
		jobs:    make(chan *job),
		reports: newReportBook(),
		parts:   newReassembly(),
		ctl:     make(chan func(context.Context, *session) error),
		stopped: make(chan struct{}),
		ready:   make(chan struct{}),
	}
	d.open = func(context.Context) (io.ReadWriteCloser, error) { return openTTY(d.cfg.Device, d.cfg.Baud) }
	d.status.State = StateStarting
	d.status.Device = cfg.Device
	d.status.Number = cfg.Number
	return d, nil
}

// warmCharsets fills warthog618/sms's GSM-7 and UCS-2 tables, which the
// library builds lazily without synchronisation (a data race when two
// goroutines encode or decode first), once, before any goroutine of ours.
var warmCharsets sync.Once

func warmUp() {
	for _, s := range []string{"warm €[]", "warm 😀"} {
		pdus, err := wsms.Encode([]byte(s), wsms.To("+15555550100"))
		if err != nil {
			continue
		}
		for i := range pdus {
			_, _ = wsms.Decode([]*tpdu.TPDU{&pdus[i]})
		}
	}
}

// Name returns "modem".
func (d *Driver) Name() string { return "modem" }

// Ready is closed once the modem has first been opened, initialised and
// found ready to send (systemd READY); it stays closed across later
// reconnects.
func (d *Driver) Ready() <-chan struct{} { return d.ready }

// Send sends m.Body to m.To; m.From is ignored (the SIM's number is the
// sender). It is safe for concurrent use: texts go to the modem one at a
// time, spaced by the configured gap.
//
// It returns Temporary at once, touching nothing, when the modem is down
// (Run not running, reconnecting, not registered), when a pacing cap is
// reached (with RetryAfter), and when ctx ends before the text reached the
// modem. It returns Unknown when ctx or the send timeout ended after a
// segment was written, or the modem stopped answering mid-send: the text
// may have gone out. A +CMS ERROR maps to its outcome (cms.go).
func (d *Driver) Send(ctx context.Context, m sms.Message) (sms.Result, error) {
	if err := ctx.Err(); err != nil {
		return sms.Result{}, &sms.Error{Outcome: sms.Temporary, Message: "not sent", Err: err}
	}
	if !isE164(m.To) && !isDigits(m.To, 3, 20) {
		return sms.Result{}, &sms.Error{Outcome: sms.Rejected, Message: fmt.Sprintf("recipient %q is not a phone number", m.To)}
	}
	if m.Body == "" {
		return sms.Result{}, &sms.Error{Outcome: sms.Rejected, Message: "empty text"}
	}
	d.inflight.Add(1)
	defer d.inflight.Add(-1)
	if st := d.state(); st.State != StateReady {
		return sms.Result{}, &sms.Error{Outcome: sms.Temporary, Message: "modem is " + string(st.State) + errSuffix(st.LastError)}
	}
	j := &job{ctx: ctx, m: m, done: make(chan jobResult, 1)}
	select {
	case d.jobs <- j:
	case <-ctx.Done():
		return sms.Result{}, &sms.Error{Outcome: sms.Temporary, Message: "not sent: waiting for the modem", Err: ctx.Err()}
	case <-d.stopped:
		return sms.Result{}, &sms.Error{Outcome: sms.Temporary, Message: "modem driver stopped"}
	}
	select {
	case r := <-j.done:
		return r.res, r.err
	case <-ctx.Done():
		if j.abandon() {
			return sms.Result{}, &sms.Error{Outcome: sms.Temporary, Message: "not sent: waiting for the gap between texts", Err: ctx.Err()}
		}
		return sms.Result{}, &sms.Error{Outcome: sms.Unknown, Message: "context ended while the modem was sending", Err: ctx.Err()}
	}
}

func errSuffix(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
}

// job is one Send handed to Run's goroutine.
type job struct {
	ctx   context.Context
	m     sms.Message
	state atomic.Int32 // jobPending → jobTaken (by Run) or jobAbandoned (by Send)
	done  chan jobResult
}

const (
	jobPending int32 = iota
	jobTaken
	jobAbandoned
)

type jobResult struct {
	res sms.Result
	err error
}

// take marks the job as being sent; false if Send gave up on it first.
func (j *job) take() bool { return j.state.CompareAndSwap(jobPending, jobTaken) }

// abandon marks the job as given up by Send; false if it is already being
// sent.
func (j *job) abandon() bool { return j.state.CompareAndSwap(jobPending, jobAbandoned) }

func (j *job) finish(res sms.Result, err error) { j.done <- jobResult{res, err} }

// counter is a tpdu.Counter (the concatenation reference, TP-MR) shared by
// every text of the process, starting at a random value so that a restart
// does not reuse the references of the texts just before it.
type counter struct{ n atomic.Int64 }

func newCounter(start int) *counter {
	c := &counter{}
	c.n.Store(int64(start))
	return c
}

// Count returns the next value.
func (c *counter) Count() int { return int(c.n.Add(1)) }

// refOption is the gsm encoder option that makes every encode share the
// driver's counters (the library otherwise starts each at 1).
type refOption struct{ concat, mr *counter }

func (o refOption) ApplyEncoderOption(e *wsms.Encoder) {
	e.ConcatRef = o.concat
	e.MsgCount = o.mr
}

// Run opens the modem and keeps it working until ctx ends: it sends what
// Send hands it, hands received texts and delivery reports to rcv, and
// deletes a stored text from the SIM only after rcv.Receive returned nil.
// When the modem is unplugged or stops answering it closes everything and
// reopens it with backoff (1s doubling to MaxBackoff).
//
// Run returns nil when ctx ends. It returns an error, and does not retry,
// when retrying could harm the SIM or cannot help: the SIM refused the
// configured PIN (it is never sent twice), the SIM wants a PIN and none is
// configured, or it wants a PUK. Run may be called once.
func (d *Driver) Run(ctx context.Context, rcv sms.Receiver) error {
	if !d.running.CompareAndSwap(false, true) {
		return errors.New("modem: Run called twice")
	}
	defer close(d.stopped)
	backoff := time.Second
	for {
		started := d.now()
		err := d.session(ctx, rcv)
		if ctx.Err() != nil {
			d.setState(StateStopped, "")
			return nil
		}
		var fe *fatalError
		if errors.As(err, &fe) {
			d.setState(StateStopped, err.Error())
			d.log.Error().Err(err).Msg("modem stopped")
			return fmt.Errorf("modem %s: %w", d.cfg.Device, err)
		}
		if d.now().Sub(started) > 2*d.cfg.MaxBackoff {
			backoff = time.Second
		}
		d.setState(StateDown, err.Error())
		d.log.Warn().Err(err).Dur("retry_in", backoff).Msg("modem down, reopening")
		if !d.idle(ctx, backoff) {
			d.setState(StateStopped, "")
			return nil
		}
		backoff = min(backoff*2, d.cfg.MaxBackoff)
	}
}

// idle waits for dur while the modem is down, refusing texts as Temporary;
// false when ctx ended.
func (d *Driver) idle(ctx context.Context, dur time.Duration) bool {
	t := time.NewTimer(dur)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		case j := <-d.jobs:
			if j.take() {
				j.finish(sms.Result{}, &sms.Error{Outcome: sms.Temporary, Message: "modem is down, reconnecting" + errSuffix(d.state().LastError)})
			}
		}
	}
}

// fatalError is an error Run must not retry.
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }
func (e *fatalError) Unwrap() error { return e.err }

// providerID returns a ProviderID unique to this process and send, with
// the modem's message references for matching delivery reports.
func (d *Driver) providerID(mrs []string) string {
	id := fmt.Sprintf("%s-%d", d.idBase, d.seq.Add(1))
	for i, mr := range mrs {
		if i == 0 {
			id += ":"
		} else {
			id += ","
		}
		id += mr
	}
	return id
}
