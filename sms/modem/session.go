package modem

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/warthog618/modem/at"
	"github.com/warthog618/modem/gsm"

	"github.com/textback/textback/sms"
)

// session is one opening of the modem: the port, the at and gsm layers on
// it, and what was learnt in init. It is used from Run's goroutine only
// (indication handlers only queue what they saw). Once broken it is
// thrown away whole: the library's objects cannot be reused after a close.
type session struct {
	d    *Driver
	rw   *wire
	a    *at.AT
	g    *gsm.GSM
	rcv  sms.Receiver
	inds chan indication
	done chan struct{} // closed when the session ends

	info       Info
	registered bool
	// reports is whether delivery reports are requested (TP-SRR): the
	// modem indicates them.
	reports bool
	rx      *inbox
}

// errBroken wraps the errors after which the session must be rebuilt.
var errBroken = errors.New("modem connection broken")

// session opens the modem, initialises it and serves it until it breaks or
// ctx ends.
func (d *Driver) session(ctx context.Context, rcv sms.Receiver) error {
	d.setState(stateOpening(d), "")
	port, err := d.open(ctx)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	s := &session{
		d:    d,
		rw:   &wire{rw: port},
		rcv:  rcv,
		inds: make(chan indication, 64),
		done: make(chan struct{}),
	}
	defer func() {
		close(s.done)
		port.Close() // non-blocking fd: unblocks the library's reader
	}()
	s.a = at.New(s.rw, at.WithTimeout(d.cfg.CommandTimeout))
	s.g = gsm.New(s.a, gsm.WithNumericErrors, gsm.WithEncoderOption(refOption{d.concat, d.mr}))
	s.rx = newInbox(s)
	if err := s.init(ctx); err != nil {
		return err
	}
	d.setInfo(s.info)
	d.setState(StateReady, "")
	d.log.Info().Str("manufacturer", s.info.Manufacturer).Str("model", s.info.Model).
		Str("operator", s.info.Operator).Int("signal_dbm", s.info.SignalDBm).
		Str("registration", s.info.Registration).Msg("modem ready")
	if err := s.rx.sweep(ctx); err != nil {
		return err
	}
	if err := s.rx.expire(ctx); err != nil {
		return err
	}
	health := time.NewTicker(d.cfg.HealthInterval)
	defer health.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.a.Closed():
			return fmt.Errorf("%w: the port closed (modem unplugged?)", errBroken)
		case j := <-d.jobs:
			if err := s.send(ctx, j); err != nil {
				return err
			}
		case ind := <-s.inds:
			if err := s.rx.handle(ctx, ind); err != nil {
				return err
			}
		case f := <-d.ctl:
			if err := f(ctx, s); errors.Is(err, errBroken) {
				return err
			}
		case <-health.C:
			if err := s.health(ctx); err != nil {
				return err
			}
		}
	}
}

func stateOpening(d *Driver) State {
	if d.state().State == StateStarting {
		return StateStarting
	}
	return StateDown
}

// init brings the modem to a state where it sends and receives PDUs.
func (s *session) init(ctx context.Context) error {
	d := s.d
	// ATZ, ATE0, AT+GCAP, AT+CMGF=0, AT+CMEE=1. The first answer after an
	// open can be slow; a modem that does not answer at all is retried.
	err := s.g.Init()
	switch {
	case errors.Is(err, gsm.ErrNotGSMCapable):
		d.log.Warn().Msg("AT+GCAP does not list +CGSM; trying PDU mode anyway")
		for _, c := range []string{"+CMGF=0", "+CMEE=1"} {
			if _, err := s.cmd(ctx, c, 0); err != nil {
				return fmt.Errorf("init: AT%s: %w", c, err)
			}
		}
	case err != nil:
		return fmt.Errorf("%w: init: %w", errBroken, err)
	default:
		s.info.GSM = true
	}
	if err := s.unlock(ctx); err != nil {
		return err
	}
	if d.cfg.SMSC != "" {
		if _, err := s.cmd(ctx, `+CSCA="`+d.cfg.SMSC+`",145`, 0); err != nil {
			return fmt.Errorf("init: set the SMSC: %w", err)
		}
	}
	// +CSMS=1 lets +CMT be acknowledged with +CNMA; not every modem has it.
	if _, err := s.cmd(ctx, "+CSMS=1", 0); err != nil && !isRefusal(err) {
		return fmt.Errorf("init: AT+CSMS=1: %w", err)
	}
	if err := s.a.AddIndication("+CMTI:", s.queue(indCMTI)); err != nil {
		return fmt.Errorf("init: +CMTI handler: %w", err)
	}
	if err := s.a.AddIndication("+CMT:", s.queue(indCMT), at.WithTrailingLine); err != nil {
		return fmt.Errorf("init: +CMT handler: %w", err)
	}
	if err := s.a.AddIndication("+CDSI:", s.queue(indCDSI)); err != nil {
		return fmt.Errorf("init: +CDSI handler: %w", err)
	}
	if err := s.a.AddIndication("+CDS:", s.queue(indCDS), at.WithTrailingLine); err != nil {
		return fmt.Errorf("init: +CDS handler: %w", err)
	}
	if err := s.indications(ctx); err != nil {
		return err
	}
	if err := s.refresh(ctx); err != nil {
		return err
	}
	if !s.registered {
		d.log.Warn().Str("registration", s.info.Registration).Msg("modem reports no network registration; sends will fail while it lasts")
	}
	return nil
}

// indications sets AT+CNMI: new texts stored and indicated with +CMTI
// (durable until deleted), and delivery reports as Config.DeliveryReports
// says: stored and indicated with +CDSI (ds 2) or, failing that, sent
// directly as +CDS and acknowledged with +CNMA (ds 1).
func (s *session) indications(ctx context.Context) error {
	want := s.d.cfg.DeliveryReports
	var dss []string
	if want == nil || *want {
		dss = []string{"2", "1"}
		if info, err := s.cmd(ctx, "+CNMI=?", 0); err == nil {
			if ds, ok := parseCNMIds(info); ok {
				dss = slices.DeleteFunc(dss, func(v string) bool { return !slices.Contains(ds, v) })
			}
		} else if !isRefusal(err) {
			return fmt.Errorf("init: AT+CNMI=?: %w", err)
		}
		if want == nil && len(dss) > 1 {
			dss = dss[:1] // unset: only the stored kind, tried blind
		}
	}
	for _, ds := range dss {
		_, err := s.cmd(ctx, "+CNMI=2,1,0,"+ds+",0", 0)
		if err == nil {
			s.reports = true
			return nil
		}
		if !isRefusal(err) {
			return fmt.Errorf("init: AT+CNMI: %w", err)
		}
	}
	if want != nil && *want {
		s.d.log.Warn().Msg("the modem cannot indicate delivery reports (AT+CNMI ds 1 or 2); texts are sent without asking for them")
	}
	if _, err := s.cmd(ctx, "+CNMI=2,1,0,0,0", 0); err != nil {
		return fmt.Errorf("init: AT+CNMI=2,1,0,0,0 (new message indications): %w", err)
	}
	return nil
}

// parseCNMIds reads the ds values of `+CNMI: (0,1,2,3),(0,1),(0,1,2),(0),(0,1)`
// (ranges such as 0-2 expanded).
func parseCNMIds(info []string) ([]string, bool) {
	for _, l := range info {
		v, ok := strings.CutPrefix(l, "+CNMI:")
		if !ok {
			continue
		}
		var groups []string
		for {
			i := strings.IndexByte(v, '(')
			j := strings.IndexByte(v, ')')
			if i < 0 || j < i {
				break
			}
			groups = append(groups, v[i+1:j])
			v = v[j+1:]
		}
		if len(groups) < 4 {
			return nil, false
		}
		var out []string
		for _, f := range strings.Split(groups[3], ",") {
			f = strings.TrimSpace(f)
			if a, b, ok := strings.Cut(f, "-"); ok {
				lo, err1 := strconv.Atoi(a)
				hi, err2 := strconv.Atoi(b)
				if err1 != nil || err2 != nil {
					continue
				}
				for n := lo; n <= hi && n < 10; n++ {
					out = append(out, strconv.Itoa(n))
				}
				continue
			}
			out = append(out, f)
		}
		return out, true
	}
	return nil, false
}

// unlock checks the SIM and enters the PIN when it asks for one: at most
// once per process, never after a rejection.
func (s *session) unlock(ctx context.Context) error {
	d := s.d
	st, err := s.simState(ctx)
	if err != nil {
		return err
	}
	s.info.SIM = st
	switch st {
	case "READY":
		return nil
	case "SIM PIN":
	case "SIM PUK":
		return &fatalError{errors.New("the SIM is blocked and needs its PUK: unblock it in a phone, then restart")}
	default:
		return &fatalError{fmt.Errorf("the SIM asks for %q, which textback cannot enter", st)}
	}
	d.mu.Lock()
	rejected := d.pinRejected
	d.mu.Unlock()
	if rejected {
		return &fatalError{errors.New("the SIM rejected the configured PIN before; not trying it again")}
	}
	if d.cfg.PIN == "" {
		return &fatalError{errors.New("the SIM needs a PIN: set modem.pin (or remove the PIN in a phone)")}
	}
	d.log.Info().Msg("entering the SIM PIN")
	_, err = s.a.Command(`+CPIN="` + d.cfg.PIN + `"`)
	switch {
	case errors.Is(err, at.ErrDeadlineExceeded), errors.Is(err, at.ErrClosed):
		// Not known whether the SIM took it: do not send it again.
		d.mu.Lock()
		d.pinRejected = true
		d.mu.Unlock()
		return &fatalError{fmt.Errorf("no answer to the SIM PIN (%v); not trying it again, to keep the SIM from locking", err)}
	case err != nil:
		d.mu.Lock()
		d.pinRejected = true
		d.mu.Unlock()
		return &fatalError{fmt.Errorf("the SIM rejected the PIN (%v); not trying again: a third wrong PIN locks the SIM. Fix modem.pin and restart", err)}
	}
	// The SIM can take a moment to become ready after the PIN.
	for i := 0; ; i++ {
		st, err := s.simState(ctx)
		if err != nil {
			return err
		}
		s.info.SIM = st
		if st == "READY" {
			d.log.Info().Msg("SIM unlocked")
			return nil
		}
		if i == 20 {
			return fmt.Errorf("SIM still %q after the PIN was accepted", st)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// simState asks AT+CPIN?; a missing SIM is an error Run retries.
func (s *session) simState(ctx context.Context) (string, error) {
	info, err := s.cmd(ctx, "+CPIN?", 0)
	if err != nil {
		s.info.SIM = "error: " + err.Error()
		s.d.setInfo(s.info)
		return "", fmt.Errorf("SIM: AT+CPIN?: %w", err)
	}
	for _, l := range info {
		if v, ok := strings.CutPrefix(l, "+CPIN:"); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("SIM: AT+CPIN? answered %q", info)
}

// refresh reads what Status shows. Only a broken link is an error.
func (s *session) refresh(ctx context.Context) error {
	var err error
	ask := func(c string) []string {
		if err != nil {
			return nil
		}
		info, e := s.cmd(ctx, c, 0)
		if e != nil && !isRefusal(e) {
			err = e
		}
		return info
	}
	in := &s.info
	if in.Manufacturer == "" {
		in.Manufacturer = firstPlain(ask("+CGMI"), "+CGMI:")
		in.Model = firstPlain(ask("+CGMM"), "+CGMM:")
		in.Revision = firstPlain(ask("+CGMR"), "+CGMR:")
		in.IMEI = firstPlain(ask("+CGSN"), "+CGSN:")
	}
	in.Operator = parseCOPS(ask("+COPS?"))
	in.Registration, s.registered = parseCREG(ask("+CREG?"))
	in.Signal, in.SignalDBm = parseCSQ(ask("+CSQ"))
	in.SMSC = parseQuoted(ask("+CSCA?"), "+CSCA:")
	in.StorageUsed, in.StorageTotal = parseCPMS(ask("+CPMS?"))
	if err != nil {
		return err
	}
	s.d.setInfo(*in)
	return nil
}

// health checks that the modem still answers and refreshes the status; a
// modem that does not answer even after resynchronising is rebuilt.
func (s *session) health(ctx context.Context) error {
	if _, err := s.cmd(ctx, "", 0); err != nil && !isRefusal(err) {
		return err
	}
	if err := s.refresh(ctx); err != nil {
		return err
	}
	if !s.registered {
		s.d.log.Warn().Str("registration", s.info.Registration).Msg("modem not registered on a network")
	}
	if err := s.rx.retry(ctx); err != nil {
		return err
	}
	return s.rx.expire(ctx)
}

// cmd runs one AT command (timeout 0: the command timeout). After a
// timeout it resynchronises the command stream; when that fails, or the
// port closed, the error wraps errBroken.
func (s *session) cmd(ctx context.Context, c string, timeout time.Duration) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if timeout <= 0 {
		timeout = s.d.cfg.CommandTimeout
	}
	info, err := s.a.Command(c, at.WithTimeout(timeout))
	switch {
	case err == nil:
		return info, nil
	case errors.Is(err, at.ErrClosed):
		return nil, fmt.Errorf("%w: AT%s: %w", errBroken, c, err)
	case errors.Is(err, at.ErrDeadlineExceeded):
		s.d.log.Warn().Str("command", "AT"+c).Dur("timeout", timeout).Msg("modem did not answer; resynchronising")
		if rerr := s.resync(ctx); rerr != nil {
			return nil, fmt.Errorf("%w: AT%s timed out and %w", errBroken, c, rerr)
		}
		return nil, fmt.Errorf("AT%s: %w", c, err)
	default:
		return info, fmt.Errorf("AT%s: %w", c, err)
	}
}

// resync brings the command stream back in step after a timeout. A reply
// that arrives after its command timed out would otherwise be taken as the
// reply to the next command. ESC ends a pending SMS prompt; then AT is
// sent until the modem answers it and the line stays quiet for d.quiet:
// stale replies arriving while no command is in flight are dropped by the
// library, so a quiet line after an answer means nothing stale is left.
func (s *session) resync(ctx context.Context) error {
	s.a.Escape()
	probe := min(s.d.cfg.CommandTimeout, 2*time.Second)
	for range 8 {
		if err := ctx.Err(); err != nil {
			return err
		}
		_, err := s.a.Command("", at.WithTimeout(probe))
		if errors.Is(err, at.ErrClosed) {
			return fmt.Errorf("resynchronise: %w", err)
		}
		// Any final answer (OK, or ERROR from a modem that refuses a bare
		// AT, as phonesim does) shows the modem is answering; the quiet
		// check below catches a stale answer taken for this one.
		if err != nil && !isRefusal(err) {
			continue
		}
		n := s.rw.read.Load()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.a.Closed():
			return errors.New("resynchronise: port closed")
		case <-time.After(s.d.quiet):
		}
		if s.rw.read.Load() == n {
			s.d.log.Debug().Msg("modem resynchronised")
			return nil
		}
	}
	return errors.New("the modem did not answer AT in step after a timeout")
}

// isRefusal reports whether err is the modem's answer (ERROR, +CME,
// +CMS), not a timeout or a broken link.
func isRefusal(err error) bool {
	var cms at.CMSError
	var cme at.CMEError
	return errors.Is(err, at.ErrError) || errors.As(err, &cms) || errors.As(err, &cme)
}

// wire is the port as the library sees it, counting what goes through:
// bytes read (for resync) and SMS bodies written (whether a PDU reached
// the modem).
type wire struct {
	rw   io.ReadWriter
	read atomic.Int64
	pdus atomic.Int64
}

func (w *wire) Read(p []byte) (int, error) {
	n, err := w.rw.Read(p)
	w.read.Add(int64(n))
	return n, err
}

func (w *wire) Write(p []byte) (int, error) {
	n, err := w.rw.Write(p)
	if n > 0 && p[len(p)-1] == 0x1a { // an SMS body ends with Ctrl-Z
		w.pdus.Add(1)
	}
	return n, err
}

// indication is an unsolicited result the library handed to a handler.
type indication struct {
	kind  indKind
	lines []string
}

type indKind int

const (
	indCMTI indKind = iota // +CMTI: "SM",3 - a text stored at index 3
	indCMT                 // +CMT: ,len + PDU - a text delivered directly
	indCDSI                // +CDSI: "SM",4 - a delivery report stored
	indCDS                 // +CDS: len + PDU - a delivery report sent directly
)

// queue returns a handler that passes lines to Run's goroutine.
func (s *session) queue(k indKind) at.InfoHandler {
	return func(lines []string) {
		select {
		case s.inds <- indication{k, lines}:
		case <-s.done:
		}
	}
}

// Parsing of the status answers.

func firstPlain(info []string, prefix string) string {
	for _, l := range info {
		l = strings.TrimSpace(strings.TrimPrefix(l, prefix))
		if l != "" {
			return l
		}
	}
	return ""
}

func fields(info []string, prefix string) []string {
	for _, l := range info {
		if v, ok := strings.CutPrefix(l, prefix); ok {
			f := strings.Split(v, ",")
			for i := range f {
				f[i] = strings.Trim(strings.TrimSpace(f[i]), `"`)
			}
			return f
		}
	}
	return nil
}

func parseQuoted(info []string, prefix string) string {
	if f := fields(info, prefix); len(f) > 0 {
		return f[0]
	}
	return ""
}

func parseCOPS(info []string) string {
	if f := fields(info, "+COPS:"); len(f) >= 3 {
		return f[2]
	}
	return ""
}

var cregStates = map[string]string{"0": "not registered", "1": "home", "2": "searching", "3": "denied", "4": "unknown", "5": "roaming"}

func parseCREG(info []string) (string, bool) {
	f := fields(info, "+CREG:")
	if len(f) < 2 {
		return "unknown", false
	}
	st := cregStates[f[1]]
	if st == "" {
		st = "unknown"
	}
	return st, f[1] == "1" || f[1] == "5"
}

func parseCSQ(info []string) (int, int) {
	f := fields(info, "+CSQ:")
	if len(f) < 1 {
		return -1, 0
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n < 0 || n > 31 {
		return -1, 0
	}
	return n, -113 + 2*n
}

func parseCPMS(info []string) (int, int) {
	f := fields(info, "+CPMS:")
	if len(f) < 3 {
		return -1, -1
	}
	used, err1 := strconv.Atoi(f[1])
	total, err2 := strconv.Atoi(f[2])
	if err1 != nil || err2 != nil {
		return -1, -1
	}
	return used, total
}
