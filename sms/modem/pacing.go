package modem

import (
	"sync"
	"time"
)

// pacer spaces texts by a minimum gap and caps them per rolling hour and
// day. It counts a text when the session takes it for sending, whatever
// the outcome. Safe for concurrent use.
type pacer struct {
	gap     time.Duration
	perHour int
	perDay  int
	mu      sync.Mutex
	sent    []time.Time // within the last day, oldest first
	last    time.Time
}

func newPacer(gap time.Duration, perHour, perDay int) *pacer {
	return &pacer{gap: gap, perHour: perHour, perDay: perDay}
}

// reserve says how long to wait before the next text may be written
// (ok), or, when a cap is reached, that it may not be sent now and when to
// try again.
func (p *pacer) reserve(now time.Time) (wait time.Duration, ok bool, retryAfter time.Duration, why string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.trim(now)
	if p.perDay > 0 && len(p.sent) >= p.perDay {
		return 0, false, p.sent[len(p.sent)-p.perDay].Add(24 * time.Hour).Sub(now), "per-day cap reached"
	}
	if p.perHour > 0 {
		hour := p.inLast(now, time.Hour)
		if len(hour) >= p.perHour {
			return 0, false, hour[len(hour)-p.perHour].Add(time.Hour).Sub(now), "per-hour cap reached"
		}
	}
	if p.gap > 0 && !p.last.IsZero() {
		if next := p.last.Add(p.gap); next.After(now) {
			return next.Sub(now), true, 0, ""
		}
	}
	return 0, true, 0, ""
}

// record counts a text written at t.
func (p *pacer) record(t time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sent = append(p.sent, t)
	p.last = t
}

// counts returns the texts of the last hour and day.
func (p *pacer) counts(now time.Time) (hour, day int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.trim(now)
	return len(p.inLast(now, time.Hour)), len(p.sent)
}

func (p *pacer) trim(now time.Time) {
	i := 0
	for i < len(p.sent) && !p.sent[i].After(now.Add(-24*time.Hour)) {
		i++
	}
	p.sent = p.sent[i:]
}

func (p *pacer) inLast(now time.Time, d time.Duration) []time.Time {
	i := len(p.sent)
	for i > 0 && p.sent[i-1].After(now.Add(-d)) {
		i--
	}
	return p.sent[i:]
}
