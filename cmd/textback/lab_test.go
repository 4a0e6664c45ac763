package main

// The real-Asterisk tier of the daemon: `textback run` (a child process,
// the console driver, JSON logs at debug) watches the lab's Asterisk 22
// (.ci/lab/asterisk/lab.sh) while the lab's phones place real SIP calls;
// the test reads the daemon's stdout (its log lines and the texts the
// console driver prints) and checks which calls were texted. It runs only
// when TEXTBACK_LAB_ASTERISK is set, and then an unreachable Asterisk
// fails it:
//
//	.ci/lab/asterisk/lab.sh start
//	TEXTBACK_LAB_ASTERISK=http://127.0.0.1:8088 go test -race -count=1 -run TestLab -v ./cmd/textback/
//
// It holds the lab's lock (aritest.OpenLab), so it never runs at the same
// time as ari's lab tier.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/textback/textback/ari/aritest"
)

// labWait bounds every wait for the daemon's log in this tier: long
// enough for the slowest lab call (a 4 s queue) and a reconnection after
// an Asterisk restart, under -race on a busy machine.
const labWait = 45 * time.Second

// labLines are the lines the lab's DIDs are configured as, besides main
// (testLine, alias testDID 5551000): one line per DID, so that each
// decision names the line it came in on.
var labLines = []struct{ name, did string }{
	{"queue", "5551002"},
	{"ivr", "5551003"},
	{"direct", "5551004"},
	{"localgroup", "5551006"},
	{"shortgroup", "5551010"},
	{"voicemail", "5551011"},
	{"shortqueue", "5551012"},
	{"shortlocal", "5551013"},
}

// labConfig is configFor with the lab's Asterisk as the PBX, a line per
// lab DID, debug logs and no cooldown (several scenarios text the same
// caller on the same line).
func labConfig(t *testing.T, state string, lab *aritest.Lab) string {
	t.Helper()
	var lines strings.Builder
	for _, l := range labLines {
		fmt.Fprintf(&lines, `  %s:
    number: "+1555%s"
    aliases: [%q]
    country: US
    business: Acme Plumbing (%s)
    template: "Sorry we missed your call to {{.Business}}. Reply STOP to opt out."
`, l.name, l.did, l.did, l.name)
	}
	c := configFor(state, lines.String()+"policy: {cooldown: 0s}\n")
	for old, repl := range map[string]string{
		"log: {format: json}\n": "log: {format: json, level: debug}\n",
		"pbx: none\n": fmt.Sprintf("pbx: asterisk\nasterisk: {url: %q, username: %q, password: %q, app: textback-labrun, trunks: [%q]}\n",
			lab.URL, lab.User, lab.Password, lab.Trunk),
	} {
		if !strings.Contains(c, old) {
			t.Fatalf("configFor no longer says %q", old)
		}
		c = strings.Replace(c, old, repl, 1)
	}
	return c
}

// sameCall reports whether two logged call ids name the same Asterisk
// call: the ledger's id (ledger.Verdict.ID) is the adapter's (the
// linkedid) under the PBX's name, asterisk:ID. The lines are found with
// it; whether they all say the same call= is OneCallID's check.
func sameCall(a, b any) bool {
	bare := func(v any) string { s, _ := v.(string); return strings.TrimPrefix(s, "asterisk:") }
	return bare(a) != "" && bare(a) == bare(b)
}

// labRun drives the lab's phones and reads the daemon's log.
type labRun struct {
	*aritest.Lab
	t *testing.T
	d *daemon
	// mark is the number of log lines before the current scenario's
	// call: its lines are looked for after it.
	mark int
	// texted are the ledger ids of the calls that must be texted, in
	// order; calls every call decided.
	texted, calls []string
}

// use binds the run to a subtest.
func (r *labRun) use(t *testing.T) {
	r.t = t
	r.Lab = r.Lab.With(t)
	r.mark = len(r.lines())
}

// lines returns the daemon's JSON log lines so far (stdout also carries
// the console driver's texts, which are not JSON).
func (r *labRun) lines() []map[string]any {
	var out []map[string]any
	for _, l := range strings.Split(r.d.stdout.String(), "\n") {
		var m map[string]any
		if strings.HasPrefix(l, "{") && json.Unmarshal([]byte(l), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// await waits for a log line after the mark that matches, and returns it.
// It fails the test when the daemon exits or nothing comes in labWait (a
// hung call or a lost event, not a timing assertion).
func (r *labRun) await(what string, match func(map[string]any) bool) map[string]any {
	r.t.Helper()
	deadline := time.Now().Add(labWait)
	for {
		lines := r.lines()
		for _, l := range lines[min(r.mark, len(lines)):] {
			if match(l) {
				return l
			}
		}
		select {
		case <-r.d.done:
			r.t.Fatalf("the daemon exited (%v) before logging %s", r.d.err, what)
		default:
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("the daemon did not log %s within %s", what, labWait)
		}
		r.HealWhileWaiting() // a crashed lab phone would not ring
		time.Sleep(20 * time.Millisecond)
	}
}

// callEvent waits for the adapter's debug line of a call event.
func (r *labRun) callEvent(what string, match func(map[string]any) bool) map[string]any {
	r.t.Helper()
	return r.await(what, func(l map[string]any) bool {
		return l["message"] == "call event" && l["component"] == "asterisk" && match(l)
	})
}

// offered waits for the carrier's call to line (a DID) and returns its id.
func (r *labRun) offered(line string) string {
	r.t.Helper()
	l := r.callEvent("a call offered on "+line, func(l map[string]any) bool { return l["kind"] == "offered" && l["line"] == line })
	return l["call"].(string)
}

// event waits for an event of kind on the call, on a leg whose name
// starts with legPrefix.
func (r *labRun) event(call, kind, legPrefix string) {
	r.t.Helper()
	r.callEvent(fmt.Sprintf("%s on %s (%s)", kind, call, legPrefix), func(l map[string]any) bool {
		leg, _ := l["leg"].(string)
		return l["call"] == call && l["kind"] == kind && strings.HasPrefix(leg, legPrefix)
	})
}

// labWant is the daemon's decision for one call.
type labWant struct {
	verdict, reason, from, line string // "*": any from or line
	// skip is why the call is not texted; empty: it is texted.
	skip string
}

// decisions are the messages the ledger logs a decided call with.
var decisions = []string{"missed call", "answered call", "ignored call"}

// decided waits for the daemon's decision on call and checks it; a texted
// call is then awaited as a text accepted to the caller. It waits for the
// lab to be idle before returning.
func (r *labRun) decided(name, call string, w labWant) {
	r.t.Helper()
	l := r.await("the decision on "+call, func(l map[string]any) bool {
		return sameCall(l["call"], call) && slices.Contains(decisions, fmt.Sprint(l["message"]))
	})
	id := l["call"].(string) // as the ledger logs it
	r.calls = append(r.calls, id)
	action := "text"
	if w.skip != "" {
		action = "skip"
	}
	field := func(k, want string) string {
		v, _ := l[k].(string)
		if want == "*" {
			return want
		}
		return v
	}
	got := fmt.Sprintf("%s (%s) from=%q line=%q action=%s skip=%q", l["message"], field("reason", w.reason),
		field("from", w.from), field("line", w.line), field("action", action), field("skip", w.skip))
	want := fmt.Sprintf("%s call (%s) from=%q line=%q action=%s skip=%q", w.verdict, w.reason, w.from, w.line, action, w.skip)
	if got != want {
		r.t.Errorf("%s: the daemon decided %s\n want %s", name, got, want)
	} else {
		r.t.Logf("%s: %s", name, got)
	}
	if w.skip == "" {
		r.texted = append(r.texted, id)
		sent := r.await("the text for "+id, func(l map[string]any) bool {
			return l["call"] == id && strings.HasPrefix(fmt.Sprint(l["message"]), "text ")
		})
		if sent["message"] != "text accepted" || sent["to"] != aritest.LabCaller || sent["kind"] != "callback" {
			r.t.Errorf("%s: %v, want a callback text accepted to %s", name, sent, aritest.LabCaller)
		}
	}
	r.Idle()
}

// TestLab_RunAgainstAsterisk: the daemon watching the lab's Asterisk texts
// the caller of every missed call with a number, and no one else; a call
// after Asterisk restarted is texted too; a texted call's log lines share
// one call id.
func TestLab_RunAgainstAsterisk(t *testing.T) {
	lab := aritest.OpenLab(t) // before the daemon: its cleanup must run first
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := writeFile(t, dir, "textback.yaml", labConfig(t, state, lab))
	d := startDaemon(t, cfg)
	r := &labRun{Lab: lab, t: t, d: d}
	started := r.await("textback starting", func(l map[string]any) bool { return l["message"] == "textback starting" })
	if started["pbx"] != "asterisk" || started["driver"] != "console" || started["lines"] != float64(1+len(labLines)) {
		t.Errorf("starting line: %v", started)
	}
	r.await("connected to Asterisk", func(l map[string]any) bool { return l["message"] == "connected to Asterisk" })
	r.Idle()

	const caller = aritest.LabCaller
	missed := func(reason, line string) labWant {
		return labWant{verdict: "missed", reason: reason, from: caller, line: line}
	}
	answered := func(line string) labWant {
		return labWant{verdict: "answered", from: caller, line: line, skip: "answered"}
	}

	t.Run("NoAnswer", func(t *testing.T) {
		r.use(t)
		r.Dial("carrier", "5551010")
		r.decided("no answer", r.offered("5551010"), missed("noanswer", "shortgroup"))
	})
	t.Run("Answered", func(t *testing.T) {
		r.use(t)
		r.Dial("carrier", "5551000")
		call := r.offered("5551000")
		r.event(call, "ringing", "PJSIP/100-")
		r.UA("100", "accept")
		r.event(call, "connected", "PJSIP/100-")
		r.UA("carrier", "hangup")
		r.decided("answered", call, answered("main"))
	})
	t.Run("CallerCancels", func(t *testing.T) {
		r.use(t)
		r.Dial("carrier", "5551000")
		call := r.offered("5551000")
		r.event(call, "ringing", "PJSIP/10")
		r.UA("carrier", "hangup")
		r.decided("caller cancels", call, missed("caller_hangup", "main"))
	})
	t.Run("Busy", func(t *testing.T) {
		r.use(t)
		r.Dial("carrier", "5551004")
		call := r.offered("5551004")
		r.event(call, "ringing", "PJSIP/102-")
		r.UA("102", "hangup") // baresip rejects a ringing call with 486 Busy Here
		r.decided("busy", call, missed("busy", "direct"))
	})
	t.Run("Voicemail", func(t *testing.T) {
		r.use(t)
		r.Dial("carrier", "5551011")
		call := r.offered("5551011")
		r.event(call, "pbx_answered", "PJSIP/carrier-")
		r.UA("carrier", "hangup")
		r.decided("voicemail", call, missed("voicemail", "voicemail"))
	})
	t.Run("IVRAbandon", func(t *testing.T) {
		r.use(t)
		r.Dial("carrier", "5551003")
		call := r.offered("5551003")
		r.event(call, "pbx_answered", "PJSIP/carrier-")
		r.UA("carrier", "hangup")
		r.decided("ivr abandon", call, missed("ivr_abandon", "ivr"))
	})
	t.Run("Anonymous", func(t *testing.T) {
		r.use(t)
		r.Dial("anon", "5551010")
		r.decided("anonymous", r.offered("5551010"), labWant{verdict: "missed", reason: "noanswer", from: "anonymous", line: "shortgroup", skip: "anonymous"})
	})
	t.Run("Withheld", func(t *testing.T) {
		r.use(t)
		sip := r.WithheldInvite("5551000", "+15559876543")
		call := r.offered("5551000")
		r.event(call, "ringing", "PJSIP/10")
		if err := sip.Cancel(); err != nil {
			t.Error(err)
		}
		r.decided("withheld", call, labWant{verdict: "missed", reason: "caller_hangup", from: "+15559876543", line: "main", skip: "withheld"})
	})

	// Asterisk restarts in the middle: the daemon reconnects on its own
	// and the next missed call is texted.
	t.Run("AsteriskRestart", func(t *testing.T) {
		r.use(t)
		r.RestartAsterisk()
		r.await("connected to Asterisk again", func(l map[string]any) bool {
			n, _ := l["reconnects"].(float64)
			return l["message"] == "connected to Asterisk" && n >= 1
		})
		r.Dial("carrier", "5551000")
		call := r.offered("5551000")
		r.event(call, "ringing", "PJSIP/10")
		r.UA("carrier", "hangup")
		r.decided("call after the restart", call, missed("caller_hangup", "main"))
	})

	t.Run("Internal", func(t *testing.T) {
		r.use(t)
		r.Dial("100", "101")
		call := r.callEvent("an internal call", func(l map[string]any) bool { return l["kind"] == "internal" })["call"].(string)
		r.WaitChannel("PJSIP/101-", "Ringing") // the adapter says nothing of an internal call's ringing
		r.UA("100", "hangup")
		r.decided("internal", call, labWant{verdict: "ignored", reason: "internal", from: "*", line: "*", skip: "internal"})
	})
	t.Run("Outbound", func(t *testing.T) {
		r.use(t)
		r.Dial("100", "95550001")
		call := r.callEvent("an outbound call", func(l map[string]any) bool { return l["kind"] == "internal" && l["hint"] == "outbound" })["call"].(string)
		r.WaitChannel("PJSIP/carrier-", "Ringing")
		r.UA("100", "hangup")
		r.decided("outbound", call, labWant{verdict: "ignored", reason: "outbound", from: "*", line: "*", skip: "outbound"})
	})
	t.Run("QueueTimeout", func(t *testing.T) {
		r.use(t)
		r.Dial("carrier", "5551012")
		r.decided("queue timeout", r.offered("5551012"), missed("queue_timeout", "shortqueue"))
	})
	t.Run("QueueAnswered", func(t *testing.T) {
		r.use(t)
		r.Dial("carrier", "5551002")
		call := r.offered("5551002")
		r.event(call, "ringing", "PJSIP/101-")
		r.UA("101", "accept")
		r.event(call, "connected", "PJSIP/101-")
		r.UA("101", "hangup")
		r.decided("queue answered", call, answered("queue"))
	})
	t.Run("LocalRingGroupAnswered", func(t *testing.T) {
		r.use(t)
		r.Dial("carrier", "5551006")
		call := r.offered("5551006")
		r.event(call, "ringing", "PJSIP/101-")
		r.UA("101", "accept")
		r.event(call, "connected", "PJSIP/101-")
		r.UA("carrier", "hangup")
		r.decided("local ring group answered", call, answered("localgroup"))
	})
	t.Run("LocalRingGroupNoAnswer", func(t *testing.T) {
		r.use(t)
		r.Dial("carrier", "5551013")
		r.decided("local ring group no answer", r.offered("5551013"), missed("noanswer", "shortlocal"))
	})
	r.use(t)

	d.stop()
	lines := r.lines()
	out := d.stdout.String()

	// Exactly the texts expected, and none else: every decision was one
	// of the scenarios', the texts accepted are those of the missed calls
	// with a number, and the console driver printed as many, all to the
	// caller.
	var decidedIDs, textIDs []string
	for _, l := range lines {
		msg := fmt.Sprint(l["message"])
		switch {
		case slices.Contains(decisions, msg):
			decidedIDs = append(decidedIDs, fmt.Sprint(l["call"]))
		case strings.HasPrefix(msg, "text "):
			textIDs = append(textIDs, fmt.Sprint(l["call"]))
			if msg != "text accepted" {
				t.Errorf("%v", l)
			}
		}
		if lv := l["level"]; lv == "error" || (lv == "warn" && msg != "asterisk connection down") {
			t.Errorf("the daemon logged %v", l)
		}
	}
	if !slices.Equal(decidedIDs, r.calls) {
		t.Errorf("the daemon decided %v, want exactly %v", decidedIDs, r.calls)
	}
	if !slices.Equal(textIDs, r.texted) {
		t.Errorf("texts for %v, want exactly %v", textIDs, r.texted)
	}
	if len(r.texted) != 8 {
		t.Errorf("%d calls texted, want 8 (the missed calls with a number)", len(r.texted))
	}
	var sms int
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "── SMS to ") {
			sms++
			if !strings.HasPrefix(l, "── SMS to "+caller+" from +1555555") {
				t.Errorf("console text: %s", l)
			}
		}
	}
	if sms != len(r.texted) {
		t.Errorf("the console driver printed %d texts, want %d", sms, len(r.texted))
	}
	if strings.Contains(out+d.stderr.String(), lab.Password) {
		t.Error("the ARI password reached the daemon's output")
	}

	// One missed call's whole story under one call id: the adapter's
	// events, the decision and the text accepted all say the same call=.
	t.Run("OneCallID", func(t *testing.T) {
		if len(r.texted) == 0 {
			t.Fatal("no texted call")
		}
		id := r.texted[0]
		var story []map[string]any
		for _, l := range lines {
			if sameCall(l["call"], id) {
				story = append(story, l)
			}
		}
		var msgs []string
		ids := map[string]bool{}
		for _, l := range story {
			msg := fmt.Sprint(l["message"])
			if msg == "call event" {
				msg += " " + fmt.Sprint(l["kind"])
			}
			msgs = append(msgs, msg)
			ids[fmt.Sprint(l["call"])] = true
		}
		t.Logf("the story of %s: %s", id, strings.Join(msgs, ", "))
		for _, want := range []string{"call event offered", "call event ended", "missed call", "text accepted"} {
			if !slices.Contains(msgs, want) {
				t.Errorf("the story of %s lacks %q", id, want)
			}
		}
		if len(ids) != 1 {
			var got []string
			for _, l := range story {
				got = append(got, fmt.Sprintf("%s: call=%v", l["message"], l["call"]))
			}
			t.Errorf("the log lines of one call carry %d call ids, want one:\n%s", len(ids), strings.Join(got, "\n"))
		}
	})
}
