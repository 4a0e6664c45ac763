package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"
)

// report is what a run measured and found.
type report struct {
	Options string
	Dir     string `json:",omitempty"`

	// Baselines, measured in the same run on the same machine and disk.
	Commit  latencies // one bare bbolt commit of a call's size
	RawRead float64   // events a second a plain client reads off the fake PBX

	StartupToReady time.Duration
	IdleRSS        int64
	Held           int
	HeldRSS        int64
	PerCallBytes   float64
	PeakRSS        int64

	Window     time.Duration // calls started during this
	LoadTime   time.Duration
	LoadCPU    time.Duration
	EventsSent int
	Requests   int // requests the carrier received

	Calls struct {
		Missed            int // missed calls generated
		Seen              int // ... that one connection got whole
		Unseen            int // ... that a kill or a PBX restart cut
		Other             int // answered, internal: never texted
		Double            int
		LostAtKill        int           // seen, not recorded, deciding event within lostWindow of a kill
		LostMaxBeforeKill time.Duration // the longest such gap
		NotRecorded       int           // disk-full: calls after the ledger refused writes
	}
	Latency    latencies // deciding event out of the PBX → text at the carrier
	TextStatus map[string]int
	Unknown    struct{ Texts, ByKill, ByTimeout, ByServerError, AtCarrier int }
	OptOuts    struct{ Acked, Lost int }
	Kills      *killReport `json:",omitempty"`
	Fault      struct {
		Exit    string `json:",omitempty"`
		LogLine string `json:",omitempty"`
	}
	Failures []string
}

func (o options) describe() string {
	s := fmt.Sprintf("%s, %.0f missed calls/s (+%.0f%% other calls), %s, %s a call", o.pbx, o.rate, o.mix*100, o.duration, o.span)
	if o.rate == 0 {
		s = fmt.Sprintf("%s, calls as fast as textback reads them (+%.0f%% other calls), %s", o.pbx, o.mix*100, o.duration)
	}
	if o.hold > 0 {
		s += fmt.Sprintf(", %d calls held", o.hold)
	}
	if o.kills > 0 {
		s += fmt.Sprintf(", %d kills", o.kills)
	}
	if o.fault != "" {
		s += ", fault " + o.fault
	}
	return s
}

func (r *report) fail(format string, args ...any) {
	if len(r.Failures) < 50 {
		r.Failures = append(r.Failures, fmt.Sprintf(format, args...))
	}
}

func mb(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/1e6) }

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }

func (r *report) write(w io.Writer) {
	p := func(name, format string, args ...any) {
		fmt.Fprintf(w, "%-34s %s\n", name, fmt.Sprintf(format, args...))
	}
	fmt.Fprintf(w, "textback-load: %s\n", r.Options)
	if r.Dir != "" {
		p("work directory", "%s", r.Dir)
	}
	p("baseline: bare bbolt commit", "p50 %s, p99 %s (%d commits of %d bytes, fsync)", ms(r.Commit.P50), ms(r.Commit.P99), r.Commit.N, recordSize)
	p("baseline: raw read", "%.0f events/s", r.RawRead)
	p("start-up to READY", "%s", ms(r.StartupToReady))
	p("RSS idle", "%s", mb(r.IdleRSS))
	if r.Held > 0 {
		p("RSS with calls in flight", "%s with %d calls (%.0f bytes a tracked call)", mb(r.HeldRSS), r.Held, r.PerCallBytes)
	}
	p("RSS peak under load", "%s", mb(r.PeakRSS))
	secs := r.LoadTime.Seconds()
	p("load", "%d events in %.1f s: %.0f events/s; %d missed calls started in %s: %.0f missed calls/s", r.EventsSent, secs,
		float64(r.EventsSent)/secs, r.Calls.Missed, r.Window, float64(r.Calls.Missed)/r.Window.Seconds())
	if r.LoadCPU > 0 {
		p("textback CPU under load", "%.2f s (%.0f%% of one core); %.0f events per CPU-second", r.LoadCPU.Seconds(),
			100*r.LoadCPU.Seconds()/secs, float64(r.EventsSent)/r.LoadCPU.Seconds())
	}
	if r.Latency.N > 0 {
		p("detect-to-send", "p50 %s, p99 %s, max %s over %d texts", ms(r.Latency.P50), ms(r.Latency.P99), ms(r.Latency.Max), r.Latency.N)
		if r.Commit.P50 > 0 {
			p("  against the bare commit", "p50 %.1f×, p99 %.1f× (same percentile)", float64(r.Latency.P50)/float64(r.Commit.P50), float64(r.Latency.P99)/float64(r.Commit.P99))
		}
	}
	p("calls", "%d missed (%d seen whole, %d cut by a kill or restart), %d others", r.Calls.Missed, r.Calls.Seen, r.Calls.Unseen, r.Calls.Other)
	var st []string
	for k, v := range r.TextStatus {
		st = append(st, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(st)
	p("texts in the ledger", "%v; %d requests at the carrier", st, r.Requests)
	p("texted twice", "%d", r.Calls.Double)
	if r.Unknown.Texts > 0 {
		p("unknown (never resent)", "%d: %d by a kill while with the driver, %d by a carrier timeout, %d by a carrier 5xx; %d of them reached the carrier",
			r.Unknown.Texts, r.Unknown.ByKill, r.Unknown.ByTimeout, r.Unknown.ByServerError, r.Unknown.AtCarrier)
	}
	p("opt-outs (STOP acknowledged)", "%d, %d lost", r.OptOuts.Acked, r.OptOuts.Lost)
	if r.Kills != nil {
		p("kills", "%d SIGKILLs; restart to READY p50 %s, max %s", r.Kills.Kills, ms(r.Kills.Restart.P50), ms(r.Kills.Restart.Max))
		p("lost at a kill", "%d calls whose deciding event was written at most %s before a kill (longest %s)",
			r.Calls.LostAtKill, lostWindow, ms(r.Calls.LostMaxBeforeKill))
	}
	if r.Fault.Exit != "" || r.Fault.LogLine != "" {
		p("fault", "textback exited: %s; %d calls after that not recorded", r.Fault.Exit, r.Calls.NotRecorded)
		p("textback said", "%s", r.Fault.LogLine)
	}
	if len(r.Failures) == 0 {
		p("result", "ok: every missed call seen was texted once, nothing else was, no opt-out lost")
	} else {
		p("result", "FAILED")
		for _, f := range r.Failures {
			fmt.Fprintf(w, "  - %s\n", f)
		}
	}
}

func (r *report) writeJSON(w io.Writer) {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	e.Encode(r)
}
