package ledger

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/textback/textback/sms"
	bolt "go.etcd.io/bbolt"
)

// enqueue stores a new text and puts it in the queue. text.Seq must be set.
func enqueue(tx *bolt.Tx, t *Text) error {
	if err := putNewText(tx, t); err != nil {
		return err
	}
	return tx.Bucket(bucketQueue).Put(queueKey(t.NotBefore, t.Seq), nil)
}

// newText allocates a sequence number and enqueues a text.
func newText(tx *bolt.Tx, t *Text) error {
	seq, err := tx.Bucket(bucketTexts).NextSequence()
	if err != nil {
		return err
	}
	t.Seq = seq
	return enqueue(tx, t)
}

// setText rewrites a text, keeping the queue index in step with its status
// and NotBefore. old is the stored version.
func setText(tx *bolt.Tx, old, t *Text) error {
	q := tx.Bucket(bucketQueue)
	if old.Status.Pending() {
		if err := q.Delete(queueKey(old.NotBefore, old.Seq)); err != nil {
			return err
		}
	}
	if t.Status.Pending() {
		if err := q.Put(queueKey(t.NotBefore, t.Seq), nil); err != nil {
			return err
		}
	}
	if err := countText(tx, old.Status, t.Status); err != nil {
		return err
	}
	return putJSON(tx.Bucket(bucketTexts), u64(t.Seq), t)
}

// putNewText stores a text that is not in the ledger yet (t.Seq set),
// counting it; it does not queue it.
func putNewText(tx *bolt.Tx, t *Text) error {
	if err := countText(tx, "", t.Status); err != nil {
		return err
	}
	return putJSON(tx.Bucket(bucketTexts), u64(t.Seq), t)
}

// Poster delivers a reply to a line's webhook. cmd/textback implements it
// over HTTP. Post returns nil only when the receiver acknowledged (2xx);
// deliveries are at least once, and the body carries an id to dedupe on.
type Poster interface {
	Post(ctx context.Context, url string, body []byte) error
}

// DefaultWorkers is the dispatcher's default concurrency: with a carrier
// answering in 10 ms, 16 workers and 16 fast lanes take over 3,000 texts a
// second; a driver that must send one at a time (a modem) queues them.
const DefaultWorkers = 16

// DispatcherOptions tune the dispatcher.
type DispatcherOptions struct {
	// Workers is how many texts the outbox hands to the driver at once,
	// and how many fast lanes take new callback texts straight from the
	// write that records their call (default DefaultWorkers each).
	Workers int
	// SendTimeout bounds one driver call (default 90s, enough for a modem).
	SendTimeout time.Duration
	// Poster posts webhook texts; nil drops them as failed.
	Poster Poster
}

// Dispatcher moves texts from the outbox to a driver. It is a task: Run
// until ctx ends.
type Dispatcher struct {
	l      *Ledger
	driver sms.Driver
	o      DispatcherOptions
}

// NewDispatcher returns a dispatcher sending through driver.
func NewDispatcher(l *Ledger, driver sms.Driver, o DispatcherOptions) *Dispatcher {
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = 90 * time.Second
	}
	return &Dispatcher{l: l, driver: driver, o: o}
}

// Recover marks every text left in `sending` by a crash as `unknown`: it
// may or may not have reached the carrier, and it is never resent
// automatically (DESIGN invariant 2). It returns how many it marked.
// Run calls it first; it is exported for `textback` maintenance commands.
func (l *Ledger) Recover() (int, error) {
	n := 0
	now := l.now()
	err := l.store.db.Update(func(tx *bolt.Tx) error {
		n = 0
		b := tx.Bucket(bucketTexts)
		var stuck []Text
		err := b.ForEach(func(k, v []byte) error {
			var t Text
			if _, err := getJSON(b, k, &t); err != nil {
				return err
			}
			if t.Status == StatusSending {
				stuck = append(stuck, t)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, t := range stuck {
			old := t
			t.Status, t.UpdatedAt = StatusUnknown, now
			t.Error = "textback stopped while the text was with the driver; it may or may not have been sent"
			if err := setText(tx, &old, &t); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("recover outbox: %w", err)
	}
	if n > 0 {
		l.log.Warn().Int("texts", n).Msg("texts interrupted by a stop are marked unknown and will not be resent")
	}
	return n, nil
}

// Run sends due texts until ctx ends. It returns nil on cancellation.
func (d *Dispatcher) Run(ctx context.Context) error {
	if _, err := d.l.Recover(); err != nil {
		return err
	}
	defer d.runLanes(ctx, d.o.Workers)()
	sem := make(chan struct{}, d.o.Workers)
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-d.l.wake:
		case <-timer.C:
		}
		for {
			claimed, next, err := d.claim(d.o.Workers - len(sem))
			if err != nil {
				d.l.log.Error().Err(err).Msg("outbox")
				next = d.l.now().Add(5 * time.Second)
			}
			for _, t := range claimed {
				sem <- struct{}{}
				wg.Add(1)
				go func(t Text) {
					defer func() { <-sem; wg.Done(); d.l.signal() }()
					d.send(ctx, t)
				}(t)
			}
			if len(claimed) == 0 || err != nil {
				resetTimer(timer, next, d.l.now())
				break
			}
			if len(sem) == cap(sem) {
				// Workers busy: a finishing worker signals wake.
				resetTimer(timer, next, d.l.now())
				break
			}
		}
	}
}

func resetTimer(t *time.Timer, next, now time.Time) {
	if !t.Stop() {
		select {
		case <-t.C:
		default:
		}
	}
	wait := time.Hour
	if !next.IsZero() {
		wait = max(next.Sub(now), time.Millisecond)
	}
	t.Reset(wait)
}

// claim marks up to max due texts `sending`, in one fsynced write, after
// re-checking each against consent, staleness and quiet hours. It returns
// the claimed texts and when the next queued one falls due.
func (d *Dispatcher) claim(limit int) ([]Text, time.Time, error) {
	var claimed []Text
	var next time.Time
	if limit <= 0 {
		return nil, time.Time{}, nil
	}
	r := d.l.rules.Load()
	now := d.l.now()
	err := d.l.store.db.Update(func(tx *bolt.Tx) error {
		claimed, next = claimed[:0], time.Time{}
		q := tx.Bucket(bucketQueue)
		texts := tx.Bucket(bucketTexts)
		var due [][]byte
		c := q.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			nb := time.Unix(0, int64(btou64(k[:8])))
			if btou64(k[:8]) != 0 && nb.After(now) {
				next = nb
				break
			}
			due = append(due, append([]byte(nil), k...))
			if len(due) >= limit {
				if k, _ := c.Next(); k != nil {
					next = time.Unix(0, int64(btou64(k[:8])))
				}
				break
			}
		}
		for _, k := range due {
			var t Text
			ok, err := getJSON(texts, k[8:], &t)
			if err != nil {
				return err
			}
			if !ok || !t.Status.Pending() {
				if err := q.Delete(k); err != nil { // a stale index entry
					return err
				}
				continue
			}
			old := t
			if drop := r.holdOrDrop(tx, &t, now); drop {
				if err := setText(tx, &old, &t); err != nil {
					return err
				}
				if t.Status.Pending() && (next.IsZero() || t.NotBefore.Before(next)) {
					next = t.NotBefore
				}
				continue
			}
			t.Status, t.UpdatedAt = StatusSending, now
			t.Attempts++
			if err := setText(tx, &old, &t); err != nil {
				return err
			}
			claimed = append(claimed, t)
		}
		return nil
	})
	if err != nil {
		return nil, next, fmt.Errorf("claim texts: %w", err)
	}
	return claimed, next, nil
}

// quietGrace is how late a callback may be and still go out in quiet hours:
// a text answering a call a minute ago is expected even at night.
const quietGrace = 5 * time.Minute

// holdOrDrop re-checks a due text just before sending. It returns true when
// the text must not be sent now, after changing its status (dropped) or its
// NotBefore (held).
func (r *rules) holdOrDrop(tx *bolt.Tx, t *Text, now time.Time) bool {
	drop := func(why string) bool {
		t.Status, t.Error, t.UpdatedAt = StatusDropped, why, now
		return true
	}
	if t.Kind == KindWebhook {
		return false
	}
	ns, err := getNumber(tx, t.To)
	if err != nil {
		return drop(err.Error())
	}
	if ns.OptedOut && !t.Exempt {
		return drop("the number opted out before the text was sent")
	}
	if t.Kind == KindCallback || t.Kind == KindHelp {
		if by, err := claimedBy(tx, t.Line, t.To, now); err != nil {
			return drop(err.Error())
		} else if by != "" {
			return drop("claimed: an operator took the conversation before the text was sent")
		}
	}
	if t.Kind != KindCallback {
		return false
	}
	p := r.policy
	if p.MaxDelay > 0 && !t.Held && now.Sub(t.CreatedAt) > p.MaxDelay {
		return drop(fmt.Sprintf("stale: not sent within %s of the call", p.MaxDelay))
	}
	cl := r.byName[t.Line]
	if cl == nil || t.Held || now.Sub(t.CreatedAt) < quietGrace || p.QuietStart == p.QuietEnd {
		return false
	}
	loc := cl.Hours.Location
	if loc == nil {
		loc = time.UTC
	}
	if !InQuiet(now, loc, p.QuietStart, p.QuietEnd) {
		return false
	}
	if p.Quiet == QuietDrop {
		return drop("delayed into the line's quiet hours")
	}
	t.NotBefore, t.UpdatedAt, t.Held = QuietEnds(now, loc, p.QuietStart, p.QuietEnd), now, true
	t.Error = "held: delayed into the line's quiet hours"
	return true
}

// send hands one claimed text to the driver (or the poster) and records
// the outcome.
func (d *Dispatcher) send(ctx context.Context, t Text) {
	// A text handed to the driver is not abandoned when textback stops: an
	// aborted request is a text that may or may not have gone out
	// (unknown, never resent). Stopping waits for it, SendTimeout at most
	// (the daemon itself waits 30 s for its tasks: a send still running
	// then is recorded unknown at the next start, and never resent).
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.o.SendTimeout)
	defer cancel()
	var res sms.Result
	var err error
	start := time.Now()
	if t.Kind == KindWebhook {
		if d.o.Poster == nil {
			err = &sms.Error{Outcome: sms.Rejected, Message: "no webhook poster configured"}
		} else if perr := d.o.Poster.Post(sctx, t.To, []byte(t.Body)); perr != nil {
			// A webhook is delivered at least once: any failure may be retried.
			err = &sms.Error{Outcome: sms.Temporary, Err: perr}
		}
	} else {
		res, err = d.driver.Send(sctx, sms.Message{Key: fmt.Sprintf("textback-%d", t.Seq), From: t.From, To: t.To, Body: t.Body})
	}
	took := time.Since(start)
	if werr := d.l.recordOutcome(t, res, err); werr != nil {
		d.l.log.Error().Err(werr).Uint64("text", t.Seq).Str("call", t.Call).Msg("record send outcome")
		return
	}
	ev := d.l.log.Info()
	if err != nil {
		ev = d.l.log.Warn().AnErr("error", err)
	}
	if t.Call != "" {
		ev = ev.Str("call", t.Call)
	}
	ev.Uint64("text", t.Seq).Str("kind", string(t.Kind)).Str("to", d.l.showTo(t)).
		Str("outcome", sms.OutcomeOf(err).String()).Dur("took", took).Msg("text " + sms.OutcomeOf(err).String())
}

func (l *Ledger) showTo(t Text) string {
	if t.Kind == KindWebhook {
		return "webhook"
	}
	return l.show(t.To)
}

// recordOutcome writes what the driver said (fsynced).
func (l *Ledger) recordOutcome(sent Text, res sms.Result, sendErr error) error {
	r := l.rules.Load()
	now := l.now()
	outcome := sms.OutcomeOf(sendErr)
	err := l.store.update(func(tx *bolt.Tx) error {
		var t Text
		ok, err := getJSON(tx.Bucket(bucketTexts), u64(sent.Seq), &t)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("text %d vanished", sent.Seq)
		}
		old := t
		t.UpdatedAt = now
		var se *sms.Error
		if errors.As(sendErr, &se) {
			t.Code = se.Code
		}
		if sendErr != nil {
			t.Error = sendErr.Error()
		}
		switch outcome {
		case sms.Accepted:
			t.Status, t.ProviderID, t.Error = StatusSent, res.ProviderID, ""
			if res.Segments > 0 {
				t.Segments = res.Segments
			}
			if res.ProviderID != "" {
				if err := tx.Bucket(bucketProvider).Put([]byte(res.ProviderID), u64(t.Seq)); err != nil {
					return err
				}
			}
		case sms.Temporary:
			if t.Attempts >= r.policy.MaxAttempts {
				t.Status = StatusFailed
				t.Error = fmt.Sprintf("gave up after %d attempts: %s", t.Attempts, t.Error)
				break
			}
			t.Status = StatusQueued
			var after time.Duration
			if se != nil {
				after = se.RetryAfter
			}
			t.NotBefore = now.Add(max(after, backoff(r.policy, t.Attempts)))
		case sms.Rejected:
			t.Status = StatusFailed
		case sms.OptedOut:
			t.Status = StatusFailed
			if _, err := setConsent(tx, t.To, t.Line, ConsentOptedOut, SourceCarrier, firstNonEmpty(t.Code, t.Error), false, now); err != nil {
				return err
			}
		case sms.NotMobile:
			t.Status = StatusFailed
			ns, err := getNumber(tx, t.To)
			if err != nil {
				return err
			}
			ns.NotMobile = true
			if err := putNumber(tx, ns); err != nil {
				return err
			}
		default:
			t.Status = StatusUnknown
		}
		return setText(tx, &old, &t)
	})
	if err != nil {
		return fmt.Errorf("record outcome of text %d: %w", sent.Seq, err)
	}
	return nil
}

// backoff is the wait before attempt n+1: base·2^(n-1), capped, with
// ±20% jitter so that many texts failing together do not retry together.
func backoff(p Policy, attempts int) time.Duration {
	d := p.RetryBase
	for i := 1; i < attempts && d < p.RetryMax; i++ {
		d *= 2
	}
	d = min(d, p.RetryMax)
	jitter := time.Duration(rand.Int64N(int64(d)/5+1)) * 2
	return d - d/5 + jitter
}

// SendManual queues a text typed by an admin (`textback send`) from the
// named line. It refuses an opted-out number. It returns the text's
// sequence number; SendNow sends it.
func (l *Ledger) SendManual(line, number, body string) (uint64, error) {
	r := l.rules.Load()
	cl := r.byName[line]
	if cl == nil {
		return 0, fmt.Errorf("send: no line %q", line)
	}
	num, err := NormalizeNumber(number, cl.Country)
	if err != nil {
		return 0, fmt.Errorf("send: %w", err)
	}
	body = strings.TrimSpace(body)
	if body == "" {
		return 0, errors.New("send: the text is empty")
	}
	now := l.now()
	var seq uint64
	err = l.store.db.Update(func(tx *bolt.Tx) error {
		ns, err := getNumber(tx, num.E164)
		if err != nil {
			return err
		}
		if ns.OptedOut {
			return fmt.Errorf("send: %s opted out on %s; textback will not text it", num.E164, ns.Changed.Format(time.RFC3339))
		}
		n, _ := Segments(body)
		t := &Text{Kind: KindManual, Line: cl.Name, From: cl.number.E164, To: num.E164, Body: body, Segments: n,
			Status: StatusQueued, CreatedAt: now, UpdatedAt: now, NotBefore: now.Add(100 * 365 * 24 * time.Hour)}
		// Parked far in the future so a running dispatcher leaves it to SendNow.
		if err := newText(tx, t); err != nil {
			return err
		}
		seq = t.Seq
		return nil
	})
	return seq, err
}

// SendNow sends the queued text seq through driver at once, records the
// outcome and returns the text as stored.
func (l *Ledger) SendNow(ctx context.Context, driver sms.Driver, seq uint64) (Text, error) {
	now := l.now()
	var t Text
	err := l.store.db.Update(func(tx *bolt.Tx) error {
		ok, err := getJSON(tx.Bucket(bucketTexts), u64(seq), &t)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("text %d: %w", seq, ErrNotFound)
		}
		if !t.Status.Pending() {
			return fmt.Errorf("text %d is %s, not queued", seq, t.Status)
		}
		old := t
		t.Status, t.UpdatedAt, t.NotBefore = StatusSending, now, time.Time{}
		t.Attempts++
		return setText(tx, &old, &t)
	})
	if err != nil {
		return Text{}, fmt.Errorf("send text %d: %w", seq, err)
	}
	NewDispatcher(l, driver, DispatcherOptions{}).send(ctx, t)
	return l.store.Text(seq)
}
