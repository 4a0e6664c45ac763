package ledger

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Record stores a verdict and applies the policy to it in the same bbolt
// write: either the call is recorded with the reason it is not texted, or
// it is recorded together with its text in the outbox. The write is fsynced
// before Record returns. Recording a call id a second time changes nothing
// and returns the first record (at most one text per call).
func (l *Ledger) Record(v Verdict) (Call, error) {
	calls, err := l.RecordAll([]Verdict{v})
	if err != nil {
		return Call{}, err
	}
	return calls[0], nil
}

// RecordAll records verdicts in order, as Record does, in one fsynced
// write (a group commit: under load one commit carries every verdict
// decided while the previous one was on its way to disk). The policy sees
// the earlier verdicts of the group (cooldown, rate caps) as if each had
// been recorded alone. Either every verdict is recorded or none is.
func (l *Ledger) RecordAll(vs []Verdict) ([]Call, error) {
	if len(vs) == 0 {
		return nil, nil
	}
	r := l.rules.Load()
	now := l.now()
	calls := make([]Call, len(vs))
	fresh := make([]bool, len(vs))
	var queued bool
	var handed []*Text
	h := l.acquireHandoff()
	var take func(*Text) bool
	if h != nil {
		defer func() {
			if h != nil {
				h.mu.RUnlock()
			}
		}()
		take = func(t *Text) bool {
			if !h.reserve() {
				return false
			}
			handed = append(handed, t)
			return true
		}
	}
	err := l.store.db.Update(func(tx *bolt.Tx) error {
		queued = false
		for i, v := range vs {
			call, q, dup, err := r.record(tx, v, now, take)
			if err != nil {
				return fmt.Errorf("call %s: %w", v.ID(), err)
			}
			calls[i], fresh[i] = call, !dup
			queued = queued || q
		}
		return nil
	})
	if err != nil {
		if h != nil {
			h.free.Add(int64(len(handed)))
			h.mu.RUnlock()
			h = nil
		}
		if len(vs) == 1 {
			return nil, fmt.Errorf("record %w", err)
		}
		// One bad verdict must not cost the others their record (their
		// calls are over: nothing would decide them again): one by one,
		// and the first error after the rest are written.
		var first error
		calls = calls[:0]
		for _, v := range vs {
			c, err := l.RecordAll([]Verdict{v})
			if err != nil {
				first = cmp.Or(first, err)
				continue
			}
			calls = append(calls, c[0])
		}
		return calls, first
	}
	for _, t := range handed {
		h.ch <- *t // a lane is reserved for each: never blocks
		h.handed.Add(1)
	}
	if queued {
		l.signal()
	}
	for i, c := range calls {
		if fresh[i] {
			l.logCall(c)
		}
	}
	return calls, nil
}

func (l *Ledger) logCall(c Call) {
	ev := l.log.Info().Str("call", c.ID).Str("from", l.show(c.From)).Str("line", firstNonEmpty(c.Line, c.LineRaw)).
		Str("verdict", string(c.Outcome))
	if c.Reason != "" {
		ev = ev.Str("reason", string(c.Reason))
	}
	ev = ev.Str("action", string(c.Action))
	if c.Skip != "" {
		ev = ev.Str("skip", string(c.Skip))
	}
	if c.Text != 0 {
		ev = ev.Uint64("text", c.Text)
	}
	ev.Msg(string(c.Outcome) + " call")
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// record is the policy. It runs inside one write transaction of
// RecordAll's own (db.Update, never the group commit: take reserves lanes,
// which must happen once).
//
// take, when not nil, may claim a new text for the dispatcher's fast lane
// (see handoff): when it returns true the text is stored claimed (sending,
// attempt 1) instead of queued.
func (r *rules) record(tx *bolt.Tx, v Verdict, now time.Time, take func(*Text) bool) (call Call, queued, dup bool, err error) {
	id := v.ID()
	ids := tx.Bucket(bucketCallIDs)
	if seq := btou64(ids.Get([]byte(id))); seq != 0 {
		_, err := getJSON(tx.Bucket(bucketCalls), u64(seq), &call)
		return call, false, true, err
	}
	calls := tx.Bucket(bucketCalls)
	seq, err := calls.NextSequence()
	if err != nil {
		return call, false, false, err
	}
	call = Call{
		Seq: seq, ID: id, PBX: v.PBX, PBXCall: v.Call, Outcome: v.Outcome, Reason: v.Reason,
		From: v.From, Withheld: v.Withheld, LineRaw: v.Line,
		OfferedAt: v.OfferedAt, EndedAt: v.EndedAt, RingTime: v.RingTime, DecidedAt: now,
		Action: ActionSkip,
	}
	if cl := r.lineFor(v.Line); cl != nil {
		call.Line = cl.Name
	}
	text, skip, detail, err := r.decide(tx, &call, v, now)
	if err != nil {
		return call, false, false, err
	}
	call.Skip, call.Detail = skip, detail
	if text != nil {
		text.Seq, err = tx.Bucket(bucketTexts).NextSequence()
		if err != nil {
			return call, false, false, err
		}
		call.Text = text.Seq
		if skip == SkipNone {
			call.Action = ActionText
			if take != nil && text.NotBefore.IsZero() && take(text) {
				text.Status, text.Attempts = StatusSending, 1
				if err := putNewText(tx, text); err != nil {
					return call, false, false, err
				}
			} else {
				if err := enqueue(tx, text); err != nil {
					return call, false, false, err
				}
				queued = true
			}
		} else if err := putNewText(tx, text); err != nil { // shadow: kept for the record
			return call, false, false, err
		}
	}
	if err := putJSON(calls, u64(seq), call); err != nil {
		return call, false, false, err
	}
	return call, queued, false, ids.Put([]byte(id), u64(seq))
}

// decide applies the policy checks in DESIGN order. It returns the text to
// queue (also in shadow mode, for the record) or the reason for skipping.
func (r *rules) decide(tx *bolt.Tx, call *Call, v Verdict, now time.Time) (*Text, Skip, string, error) {
	p := r.policy
	switch v.Outcome {
	case Ignored:
		switch v.Reason {
		case ReasonOutbound:
			return nil, SkipOutbound, "call originated by the PBX", nil
		case ReasonExpired:
			return nil, SkipExpired, "the call never ended within the tracking limit; events were lost", nil
		}
		return nil, SkipInternal, "internal call", nil
	case Answered:
		return nil, SkipAnswered, "a person answered", nil
	}
	if v.Withheld {
		return nil, SkipWithheld, "the caller withheld their number", nil
	}
	if !presented(v.From) {
		return nil, SkipAnonymous, fmt.Sprintf("no caller number (%q)", v.From), nil
	}
	cl := r.lineFor(v.Line)
	if cl == nil {
		return nil, SkipUnknownLine, fmt.Sprintf("line %q matches no configured line", v.Line), nil
	}
	if IsShortCode(v.From, cl.Country) {
		return nil, SkipShortCode, fmt.Sprintf("%q is a short code", v.From), nil
	}
	num, err := NormalizeNumber(v.From, cl.Country)
	if err != nil {
		return nil, SkipInvalid, err.Error(), nil
	}
	call.Number = num.E164
	if !cl.countries[num.Region] {
		return nil, SkipCountry, fmt.Sprintf("caller's country %s is not allowed for line %s", num.Region, cl.Name), nil
	}
	if num.Premium() {
		return nil, SkipPremium, fmt.Sprintf("%s is a premium or non-geographic number (%s)", num.E164, num.Type), nil
	}
	if r.isLineNumber(num.E164) {
		return nil, SkipLineNumber, "the caller is one of textback's own lines", nil
	}
	if r.reasons != nil && !r.reasons[v.Reason] {
		return nil, SkipReason, fmt.Sprintf("missed reason %s is not configured to trigger a text", v.Reason), nil
	}
	if v.RingTime < p.MinRing {
		return nil, SkipRingTooShort, fmt.Sprintf("rang %s, less than the minimum %s", v.RingTime.Round(time.Millisecond), p.MinRing), nil
	}
	ns, err := getNumber(tx, num.E164)
	if err != nil {
		return nil, "", "", err
	}
	if ns.OptedOut {
		return nil, SkipOptedOut, fmt.Sprintf("opted out since %s", ns.Changed.UTC().Format(time.RFC3339)), nil
	}
	if by, err := claimedBy(tx, cl.Name, num.E164, now); err != nil {
		return nil, "", "", err
	} else if by != "" {
		return nil, SkipClaimed, fmt.Sprintf("an operator (%s) has claimed the conversation; automatic texts are suppressed", by), nil
	}
	if ns.NotMobile {
		return nil, SkipNotMobile, "the carrier reported this number cannot receive texts", nil
	}
	if last, ok := ns.LastText[cl.Name]; ok && p.Cooldown > 0 && now.Sub(last) < p.Cooldown {
		return nil, SkipCooldown, fmt.Sprintf("texted on line %s at %s, within the %s cooldown", cl.Name, last.UTC().Format(time.RFC3339), p.Cooldown), nil
	}
	if why := r.rateCapped(tx, cl, now); why != "" {
		return nil, SkipRateCap, why, nil
	}
	body, err := r.render(cl, call.ID, num.E164, now)
	if err != nil {
		return nil, SkipTemplate, err.Error(), nil
	}
	n, _ := Segments(body)
	text := &Text{
		Kind: KindCallback, Call: call.ID, Line: cl.Name, From: cl.number.E164, To: num.E164,
		Body: body, Status: StatusQueued, CreatedAt: now, UpdatedAt: now, Segments: n,
	}
	// Shadow mode counts as sending for the cooldown and caps, so that
	// its records show what a live textback would have done.
	if ns.LastText == nil {
		ns.LastText = map[string]time.Time{}
	}
	ns.LastText[cl.Name] = now
	if err := putNumber(tx, ns); err != nil {
		return nil, "", "", err
	}
	if err := countRate(tx, cl.Name, now); err != nil {
		return nil, "", "", err
	}
	if p.Shadow {
		text.Status = StatusShadow
		return text, SkipShadow, "shadow mode: the text was not sent", nil
	}
	return text, SkipNone, "", nil
}

func (r *rules) render(cl *compiledLine, callID, caller string, now time.Time) (string, error) {
	loc := cl.Hours.Location
	if loc == nil {
		loc = time.UTC
	}
	d := TextData{Business: cl.Business, Caller: caller, Line: cl.number.E164, Time: now.In(loc)}
	if cl.Link != "" {
		d.Link = strings.ReplaceAll(cl.Link, "{{.Token}}", SignToken(r.policy.TokenSecret, callID, now.Add(r.policy.TokenTTL)))
	}
	t := cl.template
	if !cl.Hours.IsOpen(now) {
		t = cl.afterHours
	}
	return RenderText(t, d)
}

// rateCapped checks the global and per-line caps on callback texts.
func (r *rules) rateCapped(tx *bolt.Tx, cl *compiledLine, now time.Time) string {
	p := r.policy
	check := func(scope, line string, perHour, perDay int) string {
		if perHour <= 0 && perDay <= 0 {
			return ""
		}
		hour, day := rateCounts(tx, line, now)
		if perHour > 0 && hour >= perHour {
			return fmt.Sprintf("%s cap of %d texts per hour reached", scope, perHour)
		}
		if perDay > 0 && day >= perDay {
			return fmt.Sprintf("%s cap of %d texts per day reached", scope, perDay)
		}
		return ""
	}
	if why := check("global", "", p.MaxPerHour, p.MaxPerDay); why != "" {
		return why
	}
	return check("line "+cl.Name, cl.Name, cl.MaxPerHour, cl.MaxPerDay)
}

func rateKey(line string, hour int64) []byte {
	k := make([]byte, 0, len(line)+9)
	k = append(k, line...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, uint64(hour))
}

// rateCounts returns the texts counted in the current hour and the last 24.
func rateCounts(tx *bolt.Tx, line string, now time.Time) (hour, day int) {
	b := tx.Bucket(bucketRates)
	h := now.Unix() / 3600
	c := b.Cursor()
	for k, v := c.Seek(rateKey(line, h-23)); k != nil; k, v = c.Next() {
		if len(k) != len(line)+9 || string(k[:len(line)]) != line || k[len(line)] != 0 {
			break
		}
		kh := int64(binary.BigEndian.Uint64(k[len(line)+1:]))
		if kh > h {
			break
		}
		n := int(btou64(v))
		day += n
		if kh == h {
			hour += n
		}
	}
	return hour, day
}

func countRate(tx *bolt.Tx, line string, now time.Time) error {
	b := tx.Bucket(bucketRates)
	h := now.Unix() / 3600
	for _, ln := range []string{"", line} {
		k := rateKey(ln, h)
		if err := b.Put(k, u64(btou64(b.Get(k))+1)); err != nil {
			return err
		}
	}
	return nil
}
