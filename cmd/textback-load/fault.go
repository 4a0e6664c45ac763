package main

import (
	"context"
	"sync"
	"time"
)

// startFault runs the load's fault in the background.
//
//   - pbx-restart: the PBX drops every connection three times during the
//     load (Asterisk or FreeSWITCH restarting); textback reconnects.
//   - carrier-500: the carrier answers 500 to one text in three.
//   - carrier-429: the carrier answers 429 with Retry-After: 1 to one text
//     in three.
//   - carrier-timeout: the carrier holds one text in ten past the driver's
//     timeout: textback cannot know whether it was sent (unknown).
//   - disk-full: the state directory is a 4 MiB tmpfs that the load fills.
//
// The times of the PBX restarts are added to drops.
func startFault(ctx context.Context, o options, d *daemon, pbx fakePBX, car *fakeCarrier, wg *sync.WaitGroup, drops *timeList, logf func(string, ...any)) error {
	switch o.fault {
	case "pbx-restart":
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; i <= 3; i++ {
				select {
				case <-ctx.Done():
					return
				case <-time.After(o.duration / 4):
				}
				logf("PBX restart %d", i)
				drops.add(time.Now())
				pbx.drop()
			}
		}()
	case "carrier-500":
		car.setFault(func(n int) carrierMode {
			if n%3 == 1 {
				return carrier500
			}
			return carrierOK
		})
	case "carrier-429":
		car.setFault(func(n int) carrierMode {
			if n%3 == 1 {
				return carrier429
			}
			return carrierOK
		})
	case "carrier-timeout":
		car.setFault(func(n int) carrierMode {
			if n%10 == 3 {
				return carrierTimeout
			}
			return carrierOK
		})
	}
	return nil
}

// timeList is a list of times safe for concurrent use.
type timeList struct {
	mu sync.Mutex
	ts []time.Time
}

func (l *timeList) add(t time.Time) {
	l.mu.Lock()
	l.ts = append(l.ts, t)
	l.mu.Unlock()
}

func (l *timeList) list() []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Time(nil), l.ts...)
}
