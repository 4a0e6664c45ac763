package esl

import (
	"math/rand/v2"
	"time"
)

// backoff is capped exponential backoff with jitter: the n-th delay is
// drawn from [d/2, d] with d = min·2ⁿ capped at max. Each delay is at
// least the one before (until the cap), and redialling clients spread
// out.
type backoff struct {
	min, max time.Duration
	n        int
}

// next returns the delay before the next attempt.
func (b *backoff) next() time.Duration {
	d := b.min
	for i := 0; i < b.n && d < b.max; i++ {
		d *= 2
	}
	d = min(d, b.max)
	b.n++
	half := d / 2
	return half + rand.N(d-half+1)
}

// reset starts over from min.
func (b *backoff) reset() { b.n = 0 }
