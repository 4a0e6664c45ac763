package main

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/textback/textback/ledger"
)

// seedAreas are the seeded numbers' area codes: none the load's callers
// use (555 and 415).
var seedAreas = []string{"212", "213", "312", "617", "646", "718", "773", "818", "917", "305"}

// seedNumbers puts n opted-out numbers, each with its consent history,
// into the ledger at path before textback starts (a ledger after years of
// use), through the core's own admin opt-out, from many goroutines so
// that the group commit batches them. None of them is a caller of the
// load.(their exchange is 100-199; the load's callers use 200-999).
func seedNumbers(path string, n int) (time.Duration, int64, error) {
	st, err := ledger.Open(path, ledger.StoreOptions{})
	if err != nil {
		return 0, 0, err
	}
	l, err := ledger.New(st, ledger.Config{Lines: []ledger.Line{{
		Name: "main", Number: "+12125550100", Country: "US", Business: "Load Test Dental",
		Template: callbackPrefix + ". Reply STOP to opt out.",
	}}, Policy: ledger.DefaultPolicy()}, ledger.Options{Log: zerolog.Nop()})
	if err != nil {
		st.Close()
		return 0, 0, err
	}
	t0 := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	for range 256 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				// 100 exchanges x 10,000 numbers in each of ten area
				// codes: ten million distinct valid numbers.
				num := fmt.Sprintf("+1%s%03d%04d", seedAreas[i/1_000_000%10], 200+i/10_000%100, i%10_000)
				if _, err := l.OptOut(num, "main", "seeded by textback-load"); err != nil {
					select {
					case errs <- fmt.Errorf("seed %s: %w", num, err):
					default:
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(t0)
	if err := st.Close(); err != nil {
		return 0, 0, err
	}
	select {
	case err := <-errs:
		return 0, 0, err
	default:
	}
	info, err := os.Stat(path)
	if err != nil {
		return 0, 0, err
	}
	return took, info.Size(), nil
}
