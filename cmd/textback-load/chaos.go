package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"sync"
	"time"
)

// chaos kills textback with SIGKILL at random points of the load and
// restarts it at once, as systemd's Restart=on-failure would.
type chaos struct {
	d     *daemon
	times []time.Duration // kill points from the start of the load
	logf  func(string, ...any)

	mu       sync.Mutex
	kills    []time.Time
	ups      []time.Time // when each restarted textback was READY
	restarts []time.Duration
	down     bool
	err      error
}

func newChaos(d *daemon, n int, dur time.Duration, seed uint64, logf func(string, ...any)) *chaos {
	rng := rand.New(rand.NewPCG(seed, 3))
	c := &chaos{d: d, logf: logf}
	for range n {
		c.times = append(c.times, time.Duration(0.02*float64(dur)+rng.Float64()*0.96*float64(dur)))
	}
	slices.Sort(c.times)
	return c
}

func (c *chaos) killLoop(ctx context.Context) {
	t0 := time.Now()
	for i, at := range c.times {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(t0.Add(at))):
		}
		c.mu.Lock()
		c.down = true
		c.kills = append(c.kills, time.Now())
		c.mu.Unlock()
		c.d.kill()
		took, err := c.d.start(context.Background())
		c.mu.Lock()
		c.down = false
		if err != nil {
			c.err = fmt.Errorf("restart after kill %d: %w", i+1, err)
			c.mu.Unlock()
			c.logf("%v", c.err)
			return
		}
		c.restarts = append(c.restarts, took)
		c.ups = append(c.ups, time.Now())
		c.mu.Unlock()
	}
}

// quiet reports whether no kill is in progress (true for no chaos).
func (c *chaos) quiet() bool {
	if c == nil {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.down
}

type killReport struct {
	Kills    int
	Restart  latencies // exec to READY after each kill
	Err      string    `json:",omitempty"`
	killedAt []time.Time
	upAt     []time.Time
}

func (c *chaos) report() *killReport {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := &killReport{Kills: len(c.kills), Restart: summarize(c.restarts), killedAt: slices.Clone(c.kills), upAt: slices.Clone(c.ups)}
	if c.err != nil {
		r.Err = c.err.Error()
	}
	return r
}

// mountSmall mounts a 4 MiB tmpfs on dir: a disk that fills up during
// the load (needs root).
func mountSmall(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("-fault disk-full mounts a small tmpfs (needs root): %v: %s", err, out)
	}
	return nil
}

func unmount(dir string) {
	exec.Command("umount", dir).Run()
}
