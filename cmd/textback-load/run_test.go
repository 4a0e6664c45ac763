package main

import (
	"context"
	"io"
	"os"
	"testing"
	"time"
)

// TestRun drives the real daemon through short runs of each kind and
// fails on any broken invariant the run finds (a call lost or texted
// twice, an opt-out lost, an unexplained unknown). It measures nothing:
// the figures are textback-load's to print (see contrib/BENCHMARKS.md).
func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs textback")
	}
	base := options{rate: 20, mix: 0.25, duration: time.Second, span: 200 * time.Millisecond, stops: 0.3,
		seed: 1, sendTimout: 2 * time.Second, baseline: 100 * time.Millisecond}
	bin := t.TempDir() + "/textback"
	o := base
	o.pbx, o.textback = "asterisk", ""
	o.dir = t.TempDir()
	for _, tc := range []struct {
		name string
		edit func(*options)
	}{
		{"Asterisk", func(o *options) { o.pbx = "asterisk"; o.hold = 50 }},
		{"FreeSWITCH", func(o *options) { o.pbx = "freeswitch" }},
		{"Kills", func(o *options) { o.pbx = "asterisk"; o.kills = 2; o.duration = 2 * time.Second }},
		{"Carrier500", func(o *options) { o.pbx = "freeswitch"; o.fault = "carrier-500" }},
		{"CarrierTimeout", func(o *options) {
			o.pbx = "asterisk"
			o.fault = "carrier-timeout"
			o.sendTimout = 300 * time.Millisecond
		}},
		{"PBXRestart", func(o *options) { o.pbx = "freeswitch"; o.fault = "pbx-restart"; o.duration = 2 * time.Second }},
		{"DiskFull", func(o *options) {
			o.pbx = "freeswitch"
			o.fault = "disk-full"
			o.rate = 600
			o.duration = 5 * time.Second
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := base
			tc.edit(&o)
			if o.fault == "disk-full" && os.Geteuid() != 0 {
				t.Skip("mounts a small tmpfs: needs root")
			}
			o.dir = t.TempDir()
			if _, err := os.Stat(bin); err == nil {
				o.textback = bin
			}
			rep, err := run(context.Background(), o, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if o.textback == "" {
				os.Rename(o.dir+"/textback", bin) // built once for the rest
			}
			for _, f := range rep.Failures {
				t.Error(f)
			}
			if rep.Calls.Missed == 0 || rep.Calls.Seen == 0 || rep.TextStatus["sent"] == 0 {
				t.Fatalf("the run texted nothing: %+v", rep.Calls)
			}
			if rep.Commit.N != 2000 || (o.fault == "" && o.kills == 0 && rep.CommitPaced.N == 0) {
				t.Errorf("baselines: %d commits back to back, %d paced", rep.Commit.N, rep.CommitPaced.N)
			}
			if o.hold > 0 && (rep.Calls.Held != o.hold || rep.PerCallBytes == 0) {
				t.Errorf("held %d calls, want %d; %.0f bytes a call", rep.Calls.Held, o.hold, rep.PerCallBytes)
			}
			if o.kills > 0 && (rep.Kills == nil || rep.Kills.Kills != o.kills) {
				t.Errorf("kills: %+v, want %d", rep.Kills, o.kills)
			}
			if o.fault == "carrier-timeout" && rep.Unknown.ByTimeout == 0 {
				t.Errorf("no text held past the timeout is unknown: %+v", rep.Unknown)
			}
			if o.fault == "disk-full" && (rep.Fault.Exit == "" || rep.Fault.LogLine == "") {
				t.Errorf("the disk filled and textback did not stop saying so: exit %q, log %q", rep.Fault.Exit, rep.Fault.LogLine)
			}
			if o.fault == "carrier-500" && rep.Unknown.ByServerError == 0 {
				t.Errorf("no text answered 500 is unknown: %+v", rep.Unknown)
			}
		})
	}
}
