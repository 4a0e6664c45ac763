package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/textback/textback/sms/carrier"
)

// moduleRoot finds the textback module above the working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(b, []byte("module github.com/textback/textback\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("run textback-load inside the textback module (it replays ari/testdata and esl/testdata)")
		}
		dir = parent
	}
}

// run is one measured run.
func run(ctx context.Context, o options, logw io.Writer) (*report, error) {
	logf := func(format string, args ...any) {
		fmt.Fprintf(logw, "[%s] %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
	}
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	dir := o.dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "textback-load-"); err != nil {
			return nil, err
		}
		if !o.keep {
			defer os.RemoveAll(dir)
		}
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	bin := o.textback
	if bin == "" {
		bin = filepath.Join(dir, "textback")
		logf("building textback")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/textback")
		cmd.Dir, cmd.Stderr = root, logw
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("build textback: %w", err)
		}
	}
	state := filepath.Join(dir, "state")
	if o.fault == "disk-full" {
		if err := mountSmall(state); err != nil {
			return nil, err
		}
		defer unmount(state)
	} else if err := os.MkdirAll(state, 0o700); err != nil {
		return nil, err
	}

	rep := &report{Options: o.describe()}
	var pbx fakePBX
	var pbxAddr, area string
	var missed, other []*template
	switch o.pbx {
	case "asterisk":
		p := newARIPBX()
		pbx, pbxAddr, area = p, p.s.URL, "555"
		missed, other, err = loadARI(filepath.Join(root, "ari", "testdata"))
	case "freeswitch":
		p, perr := newESLPBX()
		if perr != nil {
			return nil, perr
		}
		pbx, pbxAddr, area = p, p.s.Addr(), "415"
		missed, other, err = loadESL(filepath.Join(root, "esl", "testdata"))
	}
	if err != nil {
		return nil, err
	}
	defer pbx.close()
	car := newFakeCarrier()
	defer car.close()

	d := &daemon{bin: bin, dir: state, logPath: filepath.Join(dir, "daemon.log"), car: car}
	defer func() {
		if d.logFile != nil {
			d.logFile.Close()
		}
	}()
	if err := d.writeConfig(o.pbx, pbxAddr, car.srv.URL, o.sendTimout); err != nil {
		return nil, err
	}
	// Baselines first, on the same disk, before textback runs.
	logf("baseline: bare bbolt commits in %s", dir)
	if rep.Commit, err = commitBaseline(ctx, dir, "baseline.db", 2000, 0); err != nil {
		return nil, err
	}
	logf("baseline: raw read of the same events")
	if rep.RawRead, err = rawReadBaseline(o.pbx, missed, other, area, o.baseline); err != nil {
		return nil, err
	}

	if o.numbers > 0 {
		logf("seeding %d opted-out numbers", o.numbers)
		took, size, err := seedNumbers(filepath.Join(state, "textback.db"), o.numbers)
		if err != nil {
			return nil, err
		}
		rep.Seeded, rep.SeedTime, rep.SeededBytes = o.numbers, took, size
	}
	logf("starting textback")
	if rep.StartupToReady, err = d.start(ctx); err != nil {
		return rep, err
	}
	defer d.kill()
	time.Sleep(o.idle)
	if u, err := d.usage(); err == nil {
		rep.IdleRSS = u.rss
	}

	em := newEmitter(pbx, missed, other, area, o.seed)
	if o.hold > 0 {
		logf("holding %d calls in flight", o.hold)
		if err := holdPhase(ctx, d, em, o.hold, rep); err != nil {
			return rep, err
		}
	}

	// The load, with its sampler, STOP replies and fault or kills.
	loadCtx, endLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	sampler := startSampler(d)
	stops := newStopper(d, car, o.stops, o.seed)
	wg.Add(1)
	go func() { defer wg.Done(); stops.run(loadCtx) }()
	var chaos *chaos
	var drops timeList
	switch {
	case o.kills > 0:
		chaos = newChaos(d, o.kills, o.duration, o.seed, logf)
		wg.Add(1)
		go func() { defer wg.Done(); chaos.killLoop(loadCtx) }()
	case o.fault != "":
		if err := startFault(loadCtx, o, d, pbx, car, &wg, &drops, logf); err != nil {
			endLoad()
			return rep, err
		}
	}
	logf("load: %.0f missed calls/s (+%.0f%% others) for %s, %s a call", o.rate, o.mix*100, o.duration, o.span)
	_, sent0 := em.snapshot()
	t0 := time.Now()
	u0, _ := d.usage()
	runCtx := ctx
	if o.fault == "disk-full" {
		// textback stops when the ledger cannot grow: so does the load.
		var stop context.CancelFunc
		runCtx, stop = context.WithCancel(ctx)
		defer stop()
		go func() {
			select {
			case <-d.gone:
				stop()
			case <-runCtx.Done():
			}
		}()
	}
	// The paced baseline: a bare commit at the load's rate, alongside it.
	paced := make(chan latencies, 1)
	if o.rate > 0 {
		go func() {
			every := time.Duration(float64(time.Second) / o.rate)
			l, err := commitBaseline(runCtx, dir, "baseline-paced.db", int(o.duration/every), every)
			if err != nil {
				logf("paced baseline: %v", err)
			}
			paced <- l
		}()
	} else {
		paced <- latencies{}
	}
	em.run(runCtx, o.rate, o.mix, o.duration, o.span)
	rep.CommitPaced = <-paced
	rep.LoadTime = time.Since(t0)
	rep.Window = min(o.duration, rep.LoadTime)
	u1, _ := d.usage()
	rep.LoadCPU = u1.cpu - u0.cpu

	// Drain: every text the run expects, or 20 s.
	logf("draining")
	drain, cancelDrain := context.WithTimeout(ctx, 20*time.Second)
	waitFor(drain, func() bool {
		if o.fault == "disk-full" && runCtx.Err() != nil {
			return true // textback has stopped: nothing more will arrive
		}
		calls, _ := em.snapshot()
		return chaos.quiet() && expectedArrived(calls, car.log())
	})
	cancelDrain()
	endLoad()
	wg.Wait()
	rep.PeakRSS = sampler.stop()
	if chaos != nil {
		rep.Kills = chaos.report()
	}
	stops.wait()

	exit := d.stop()
	if o.fault == "disk-full" {
		if exit != nil {
			rep.Fault.Exit = exit.Error()
		}
	} else if exit != nil {
		rep.fail("%v", exit)
	}
	calls, sent := em.snapshot()
	rep.EventsSent = sent - sent0
	logf("checking the carrier's log and the ledger")
	if err := verify(rep, calls, car.log(), stops.acked(), filepath.Join(state, "textback.db"), d.logPath, drops.list(), o); err != nil {
		return rep, err
	}
	if o.keep || o.dir != "" {
		rep.Dir = dir
	}
	return rep, nil
}

// expectedArrived reports whether every call textback should text (a
// missed call one connection saw whole) has had its last try at the
// carrier: accepted, or answered in a way textback does not retry (a 500
// or no answer: unknown). A 429 is retried: not yet.
func expectedArrived(calls []call, log []arrival) bool {
	got := make(map[string]bool, len(log))
	for _, a := range log {
		if strings.HasPrefix(a.body, callbackPrefix) && a.status != http.StatusTooManyRequests {
			got[a.to] = true
		}
	}
	for _, c := range calls {
		if c.t.missed && c.seen() && !got[c.e164] {
			return false
		}
	}
	return true
}

// holdPhase puts n calls in flight at once, reads the RSS, then ends them.
func holdPhase(ctx context.Context, d *daemon, em *emitter, n int, rep *report) error {
	before, err := d.usage()
	if err != nil {
		return err
	}
	cs := em.hold(n)
	// Let textback read everything: the RSS stops growing.
	var last int64
	for i := 0; i < 50; i++ {
		time.Sleep(200 * time.Millisecond)
		u, err := d.usage()
		if err != nil {
			return err
		}
		if u.rss == last && i > 5 {
			break
		}
		last = u.rss
	}
	rep.Held = n
	rep.HeldRSS = last
	rep.PerCallBytes = float64(last-before.rss) / float64(n)
	em.finish(cs)
	// The load starts once every held call is texted.
	wait, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	return waitFor(wait, func() bool {
		calls, _ := em.snapshot()
		return expectedArrived(calls, d.car.log())
	})
}

// sampler reads the daemon's RSS every 100 ms.
type sampler struct {
	d     *daemon
	stopc chan struct{}
	done  chan int64
}

func startSampler(d *daemon) *sampler {
	s := &sampler{d: d, stopc: make(chan struct{}), done: make(chan int64, 1)}
	go func() {
		var peak int64
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			if u, err := d.usage(); err == nil && u.rss > peak {
				peak = u.rss
			}
			select {
			case <-s.stopc:
				s.done <- peak
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *sampler) stop() int64 { close(s.stopc); return <-s.done }

// stopper replies STOP from a share of the texted callers, through the
// carrier's signed inbound webhook, and remembers the acknowledged ones.
type stopper struct {
	d     *daemon
	car   *fakeCarrier
	share float64
	rng   *rand.Rand

	mu    sync.Mutex
	ack   map[string]bool
	tried map[string]bool
	done  chan struct{}
	sent  int
}

func newStopper(d *daemon, car *fakeCarrier, share float64, seed uint64) *stopper {
	return &stopper{d: d, car: car, share: share, rng: rand.New(rand.NewPCG(seed, 2)),
		ack: map[string]bool{}, tried: map[string]bool{}, done: make(chan struct{})}
}

func (s *stopper) run(ctx context.Context) {
	defer close(s.done)
	if s.share == 0 {
		return
	}
	client := &http.Client{Timeout: 5 * time.Second}
	seen := 0
	for ctx.Err() == nil {
		log := s.car.log()
		for _, a := range log[seen:] {
			if !strings.HasPrefix(a.body, callbackPrefix) || a.status != http.StatusCreated || s.tried[a.to] || s.rng.Float64() >= s.share {
				continue
			}
			s.tried[a.to] = true
			if s.stop(ctx, client, a.to) {
				s.mu.Lock()
				s.ack[a.to] = true
				s.mu.Unlock()
			}
		}
		seen = len(log)
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop sends one STOP from number; true when textback answered 2xx (it
// has then recorded the opt-out on disk).
func (s *stopper) stop(ctx context.Context, client *http.Client, number string) bool {
	s.sent++
	public := "http://" + s.d.httpAddr + "/carrier/inbound"
	form := url.Values{
		"MessageSid": {fmt.Sprintf("SMstop%026d", s.sent)}, "AccountSid": {twilioSID},
		"From": {number}, "To": {"+12125550100"}, "Body": {"STOP"}, "NumSegments": {"1"},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, public, strings.NewReader(form.Encode()))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", carrier.TwilioSignature(twilioToken, public, form))
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode/100 == 2
}

func (s *stopper) wait() { <-s.done }

func (s *stopper) acked() map[string]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]bool, len(s.ack))
	for k := range s.ack {
		out[k] = true
	}
	return out
}
