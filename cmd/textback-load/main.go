// Command textback-load measures a real textback daemon under load, all on
// loopback: a fake Asterisk (ARI websocket) or FreeSWITCH (event socket)
// replays the recorded calls of ari/testdata or esl/testdata with fresh
// ids and callers at a given rate, a fake Twilio timestamps every text as
// it arrives, and textback runs in between as a child process with a real
// ledger (bbolt, fsync on).
//
// It reports the PBX events and missed calls per second, the latency
// from the deciding PBX event leaving the fake PBX to the text arriving at
// the carrier (p50, p99, max), start-up time, RSS and CPU, each next to a
// baseline measured in the same run: one bare bbolt commit of a call's
// size in the same directory, and a raw read of the same events. It checks
// every missed call was texted exactly once, and nothing else was.
//
// With -kills N it kills textback with SIGKILL N times at random points of
// the load, restarts it each time, and checks afterwards, from the
// carrier's log and the ledger, that no missed call was lost once its
// deciding event was read, none was texted twice, no acknowledged opt-out
// was lost, and every text left `unknown` is explained. With -fault it
// runs the load through a fault: the PBX restarting, the carrier
// answering 500, 429 or not at all, the disk filling up.
//
//	go run ./cmd/textback-load -rate 50 -duration 20s
//	go run ./cmd/textback-load -pbx freeswitch -rate 1000 -duration 10s
//	go run ./cmd/textback-load -kills 50 -rate 100 -duration 60s
//	go run ./cmd/textback-load -fault carrier-500 -rate 50
//
// See contrib/BENCHMARKS.md for the figures and how they compare.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

type options struct {
	pbx        string
	rate       float64
	mix        float64
	duration   time.Duration
	span       time.Duration
	idle       time.Duration
	hold       int
	kills      int
	fault      string
	stops      float64
	textback   string
	dir        string
	keep       bool
	seed       uint64
	jsonOut    bool
	sendTimout time.Duration
	baseline   time.Duration
	numbers    int
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("textback-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.pbx, "pbx", "asterisk", "the fake PBX: asterisk (ARI) or freeswitch (event socket)")
	fs.Float64Var(&o.rate, "rate", 50, "missed calls a second (0: as fast as textback reads them)")
	fs.Float64Var(&o.mix, "mix", 0.25, "share of calls that are not missed (answered, internal), on top of -rate")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long calls keep starting")
	fs.DurationVar(&o.span, "span", 2*time.Second, "how long one call's events take, first to last (sets the calls in flight: rate/(1-mix) × span)")
	fs.DurationVar(&o.idle, "idle", 2*time.Second, "how long textback idles after READY before the idle RSS is read")
	fs.IntVar(&o.numbers, "numbers", 0, "before textback starts, put this many opted-out numbers (with their consent history) in its ledger")
	fs.IntVar(&o.hold, "hold", 0, "before the load, hold this many calls in flight at once (ringing, undecided) to measure memory per tracked call; they are then finished and texted")
	fs.IntVar(&o.kills, "kills", 0, "kill textback with SIGKILL this many times during the load, restarting it each time")
	fs.StringVar(&o.fault, "fault", "", "run the load through a fault: pbx-restart, carrier-500, carrier-429, carrier-timeout, disk-full")
	fs.Float64Var(&o.stops, "stops", 0.05, "share of texted callers who reply STOP (through the carrier's signed webhook)")
	fs.StringVar(&o.textback, "textback", "", "the textback binary (default: go build ./cmd/textback into the work directory)")
	fs.StringVar(&o.dir, "dir", "", "work directory: ledger, config, logs (default: a new temporary directory, removed unless -keep)")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory")
	fs.Uint64Var(&o.seed, "seed", 1, "random seed (calls, kill times)")
	fs.BoolVar(&o.jsonOut, "json", false, "print the report as JSON")
	fs.DurationVar(&o.sendTimout, "send-timeout", 2*time.Second, "the carrier driver's request timeout")
	fs.DurationVar(&o.baseline, "baseline", 2*time.Second, "how long the raw-read baseline reads")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case o.pbx != "asterisk" && o.pbx != "freeswitch":
		return o, fmt.Errorf("-pbx %q: want asterisk or freeswitch", o.pbx)
	case o.rate < 0:
		return o, errors.New("-rate must not be negative")
	case o.mix < 0 || o.mix >= 1:
		return o, errors.New("-mix must be at least 0 and below 1")
	case o.stops < 0 || o.stops > 1:
		return o, errors.New("-stops must be between 0 and 1")
	case o.kills < 0 || o.hold < 0 || o.numbers < 0:
		return o, errors.New("-kills, -hold and -numbers must not be negative")
	case o.kills > 0 && o.fault != "":
		return o, errors.New("-kills and -fault are separate runs")
	}
	switch o.fault {
	case "", "pbx-restart", "carrier-500", "carrier-429", "carrier-timeout", "disk-full":
	default:
		return o, fmt.Errorf("-fault %q: want pbx-restart, carrier-500, carrier-429, carrier-timeout or disk-full", o.fault)
	}
	return o, nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "textback-load:", err)
		os.Exit(2)
	}
	rep, err := run(ctx, o, os.Stderr)
	if rep != nil && err == nil {
		if o.jsonOut {
			rep.writeJSON(os.Stdout)
		} else {
			rep.write(os.Stdout)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "textback-load:", err)
		os.Exit(1)
	}
	if rep != nil && len(rep.Failures) > 0 {
		os.Exit(1)
	}
}
