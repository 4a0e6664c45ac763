package esl

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/textback/textback/ledger"
)

// t0 is when the synthetic calls start (µs since the epoch).
const t0 = 1795710852000000

// mkEvent builds an event from name/value pairs, encoding the values as
// FreeSWITCH does.
func mkEvent(t testing.TB, name string, kv ...string) *Event {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "Event-Name: %s\n", name)
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(&b, "%s: %s\n", kv[i], url.PathEscape(kv[i+1]))
	}
	b.WriteString("\n")
	e, err := ParseEvent([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// us is t0 plus s seconds, as a FreeSWITCH microsecond timestamp.
func us(s float64) string { return strconv.FormatInt(t0+int64(s*1e6), 10) }

// aLeg is the header set of a trunk A-leg's events, at second at; extra
// headers replace the defaults of the same name.
func aLeg(uuid string, at float64, extra ...string) []string {
	base := []string{
		"Event-Date-Timestamp", us(at),
		"Unique-ID", uuid,
		"Channel-Name", "sofia/external/+15557654321@198.51.100.7",
		"Call-Direction", "inbound",
		"Caller-Caller-ID-Number", "+15557654321",
		"Caller-Orig-Caller-ID-Number", "+15557654321",
		"Caller-Channel-Created-Time", us(0),
		"Caller-Privacy-Hide-Number", "false",
		"variable_sofia_profile_name", "external",
		"variable_sip_req_user", "5551000",
		"variable_sip_to_user", "5551000",
	}
	var kv []string
	for i := 0; i+1 < len(base); i += 2 {
		overridden := false
		for j := 0; j+1 < len(extra); j += 2 {
			overridden = overridden || extra[j] == base[i]
		}
		if !overridden {
			kv = append(kv, base[i], base[i+1])
		}
	}
	return append(kv, extra...)
}

// run feeds events to a translator with o and a tracker, and returns the
// verdicts and the ledger events.
func run(t testing.TB, o Options, events ...*Event) ([]ledger.Verdict, []ledger.Event) {
	t.Helper()
	tr := newTranslator(o, zerolog.Nop())
	tk := ledger.NewTracker(ledger.TrackerOptions{})
	var vs []ledger.Verdict
	var out []ledger.Event
	for _, e := range events {
		err := tr.observe(e, func(ev ledger.Event) error {
			out = append(out, ev)
			if v, ok := tk.Observe(ev); ok {
				vs = append(vs, v)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return vs, out
}

func TestTranslator_Scenarios(t *testing.T) {
	const id = "0a1b2c3d-0000-4000-8000-000000000001"
	create := func(extra ...string) *Event { return mkEvent(t, "CHANNEL_CREATE", aLeg(id, 0, extra...)...) }
	hangup := func(at float64, extra ...string) *Event {
		return mkEvent(t, "CHANNEL_HANGUP_COMPLETE", aLeg(id, at, append([]string{"Caller-Channel-Hangup-Time", us(at)}, extra...)...)...)
	}
	cases := []struct {
		name       string
		events     []*Event
		outcome    ledger.Outcome
		reason     ledger.Reason
		ring       time.Duration
		withheld   bool
		line, from string
		// inOrderOnly: the case's end lacks what a real
		// CHANNEL_HANGUP_COMPLETE carries (the bridge variables), so an
		// event after it cannot count.
		inOrderOnly bool
	}{
		{"NoAnswer", []*Event{create(), hangup(20, "variable_originate_disposition", "NO_ANSWER", "variable_DIALSTATUS", "NOANSWER",
			"Caller-Channel-Progress-Time", us(1), "variable_sip_hangup_disposition", "send_refuse")},
			ledger.Missed, ledger.ReasonNoAnswer, 20 * time.Second, false, "5551000", "+15557654321", false},
		{"DialstatusOnly", []*Event{create(), hangup(20, "variable_DIALSTATUS", "BUSY")},
			ledger.Missed, ledger.ReasonBusy, 20 * time.Second, false, "5551000", "+15557654321", false},
		{"NotRegistered", []*Event{create(), hangup(1, "variable_originate_disposition", "USER_NOT_REGISTERED", "variable_DIALSTATUS", "CHANUNAVAIL")},
			ledger.Missed, ledger.ReasonUnavailable, time.Second, false, "5551000", "+15557654321", false},
		{"BridgeVariable", []*Event{create(), hangup(30, "variable_originate_disposition", "SUCCESS", "variable_last_bridge_to", "b-leg",
			"variable_bridge_uepoch", us(4), "Hangup-Cause", "NO_ANSWER")},
			ledger.Answered, "", 4 * time.Second, false, "5551000", "+15557654321", false},
		{"BridgedTime", []*Event{create(), hangup(30, "Caller-Channel-Bridged-Time", us(6))},
			ledger.Answered, "", 6 * time.Second, false, "5551000", "+15557654321", false},
		{"ChannelBridgeEvent", []*Event{create(),
			mkEvent(t, "CHANNEL_BRIDGE", aLeg(id, 3, "Other-Leg-Unique-ID", "b-leg", "Caller-Channel-Bridged-Time", us(3))...),
			hangup(30, "variable_originate_disposition", "NO_ANSWER")},
			ledger.Answered, "", 3 * time.Second, false, "5551000", "+15557654321", true},
		{"ChannelBridgeOfTheOtherLeg", []*Event{create(),
			mkEvent(t, "CHANNEL_BRIDGE", "Unique-ID", "b-leg", "Channel-Name", "sofia/internal/100@10.0.0.5", "Call-Direction", "outbound",
				"Other-Type", "originator", "Bridge-A-Unique-ID", "b-leg", "Bridge-B-Unique-ID", id, "Event-Date-Timestamp", us(5)),
			hangup(30)},
			ledger.Answered, "", 5 * time.Second, false, "5551000", "+15557654321", true},
		{"AnsweredChannelIsNotAPerson", []*Event{create(), hangup(12, "Caller-Channel-Answered-Time", us(2),
			"variable_last_app", "playback", "variable_sip_hangup_disposition", "recv_bye", "Hangup-Cause", "NORMAL_CLEARING")},
			ledger.Missed, ledger.ReasonIVRAbandon, 2 * time.Second, false, "5551000", "+15557654321", false},
		{"VoicemailAfterNoAnswer", []*Event{create(), hangup(40, "variable_originate_disposition", "NO_ANSWER",
			"Caller-Channel-Progress-Time", us(0.1), "Caller-Channel-Answered-Time", us(20), "variable_last_app", "voicemail",
			"variable_sip_hangup_disposition", "recv_bye")},
			ledger.Missed, ledger.ReasonVoicemail, 20 * time.Second, false, "5551000", "+15557654321", false},
		{"IVRThenNoAnswer", []*Event{create(), hangup(40, "Caller-Channel-Answered-Time", us(1),
			"variable_originate_disposition", "NO_ANSWER", "variable_last_app", "bridge", "variable_sip_hangup_disposition", "recv_bye")},
			ledger.Missed, ledger.ReasonNoAnswer, time.Second, false, "5551000", "+15557654321", false},
		{"QueueAbandon", []*Event{create(), hangup(90, "Caller-Channel-Answered-Time", us(1), "variable_cc_queue", "support@default",
			"variable_current_application", "callcenter", "variable_sip_hangup_disposition", "recv_bye")},
			ledger.Missed, ledger.ReasonQueueAbandon, 90 * time.Second, false, "5551000", "+15557654321", false},
		{"QueueTimeout", []*Event{create(), hangup(300, "Caller-Channel-Answered-Time", us(1), "variable_cc_queue", "support@default",
			"variable_cc_cancel_reason", "TIMEOUT", "variable_last_app", "hangup", "variable_sip_hangup_disposition", "send_bye")},
			ledger.Missed, ledger.ReasonQueueTimeout, 300 * time.Second, false, "5551000", "+15557654321", false},
		{"CallerCancelled", []*Event{create(), hangup(3, "variable_originate_disposition", "ORIGINATOR_CANCEL", "variable_DIALSTATUS", "CANCEL",
			"variable_sip_hangup_disposition", "recv_cancel", "Hangup-Cause", "ORIGINATOR_CANCEL")},
			ledger.Missed, ledger.ReasonCallerHangup, 3 * time.Second, false, "5551000", "+15557654321", false},
		{"CallerGoneBeforeAnyDial", []*Event{create(), hangup(1, "variable_sip_hangup_disposition", "recv_cancel")},
			ledger.Missed, ledger.ReasonCallerHangup, time.Second, false, "5551000", "+15557654321", false},
		{"Withheld", []*Event{create("Caller-Privacy-Hide-Number", "true"),
			hangup(20, "Caller-Privacy-Hide-Number", "true", "variable_originate_disposition", "NO_ANSWER")},
			ledger.Missed, ledger.ReasonNoAnswer, 20 * time.Second, true, "5551000", "+15557654321", false},
		{"LineFromToUser", []*Event{
			mkEvent(t, "CHANNEL_HANGUP_COMPLETE", "Event-Date-Timestamp", us(9), "Unique-ID", id, "Channel-Name", "sofia/external/x",
				"Call-Direction", "inbound", "Caller-Caller-ID-Number", "+15557654321", "variable_sip_to_user", "5552000",
				"Caller-Destination-Number", "100", "variable_DIALSTATUS", "NOANSWER")},
			ledger.Missed, ledger.ReasonNoAnswer, 0, false, "5552000", "+15557654321", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, order := range []string{"InOrder", "Reversed"} {
				if order == "Reversed" && c.inOrderOnly {
					continue
				}
				events := c.events
				if order == "Reversed" {
					events = make([]*Event, len(c.events))
					for i, e := range c.events {
						events[len(events)-1-i] = e
					}
				}
				vs, evs := run(t, Options{}, events...)
				if len(vs) != 1 {
					t.Fatalf("%s: %d verdicts from %+v", order, len(vs), evs)
				}
				v := vs[0]
				if v.Outcome != c.outcome || v.Reason != c.reason || v.Withheld != c.withheld || v.Line != c.line || v.From != c.from || v.Call != id || v.PBX != "freeswitch" {
					t.Errorf("%s: verdict %+v\nfrom events %+v", order, v, evs)
				}
				if order == "InOrder" && v.RingTime != c.ring {
					t.Errorf("ring time %s, want %s", v.RingTime, c.ring)
				}
			}
		})
	}
}

func TestTranslator_Legs(t *testing.T) {
	const id = "0a1b2c3d-0000-4000-8000-000000000002"
	end := func(kv ...string) *Event {
		base := []string{"Event-Date-Timestamp", us(5), "Unique-ID", id, "Caller-Channel-Created-Time", us(0),
			"Caller-Caller-ID-Number", "100", "variable_DIALSTATUS", "NOANSWER"}
		return mkEvent(t, "CHANNEL_HANGUP_COMPLETE", append(base, kv...)...)
	}
	cases := []struct {
		name   string
		o      Options
		event  *Event
		want   ledger.Outcome // "" for no verdict at all
		reason ledger.Reason
	}{
		{"Trunk", Options{}, end("Channel-Name", "sofia/external/x@y", "Call-Direction", "inbound"), ledger.Missed, ledger.ReasonNoAnswer},
		{"ProfileFromChannelName", Options{InboundProfiles: []string{"carrier"}}, end("Channel-Name", "sofia/carrier/x@y", "Call-Direction", "inbound"), ledger.Missed, ledger.ReasonNoAnswer},
		{"OtherProfile", Options{}, end("Channel-Name", "sofia/internal/100@y", "Call-Direction", "inbound", "variable_sofia_profile_name", "internal"), ledger.Ignored, ledger.ReasonInternal},
		{"ConfiguredProfiles", Options{InboundProfiles: []string{"carrier1", "carrier2"}}, end("Channel-Name", "sofia/external/x@y", "Call-Direction", "inbound"), ledger.Ignored, ledger.ReasonInternal},
		{"AuthenticatedPhone", Options{}, end("Channel-Name", "sofia/external/100@y", "Call-Direction", "inbound", "variable_sip_authorized", "true"), ledger.Ignored, ledger.ReasonInternal},
		{"NotSofia", Options{}, end("Channel-Name", "verto.rtc/100", "Call-Direction", "inbound"), ledger.Ignored, ledger.ReasonInternal},
		{"Originated", Options{}, end("Channel-Name", "sofia/internal/100@y", "Call-Direction", "outbound"), ledger.Ignored, ledger.ReasonOutbound},
		{"BLeg", Options{}, end("Channel-Name", "sofia/internal/100@y", "Call-Direction", "outbound", "Other-Type", "originator"), "", ""},
		{"BLegByVariable", Options{}, end("Channel-Name", "sofia/internal/100@y", "Call-Direction", "outbound", "variable_originator", "a-leg"), "", ""},
		{"LoopbackA", Options{}, end("Channel-Name", "loopback/100-a", "Call-Direction", "outbound"), "", ""},
		{"LoopbackB", Options{}, end("Channel-Name", "loopback/100-b", "Call-Direction", "inbound", "variable_sofia_profile_name", "external"), "", ""},
		{"NoChannel", Options{}, end(), "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			vs, evs := run(t, c.o, c.event)
			if c.want == "" {
				if len(evs) != 0 {
					t.Errorf("events %+v, want none", evs)
				}
				return
			}
			if len(vs) != 1 || vs[0].Outcome != c.want || vs[0].Reason != c.reason {
				t.Errorf("verdicts %+v, want %s %s", vs, c.want, c.reason)
			}
		})
	}
}

func TestTranslator_LineVariable(t *testing.T) {
	const id = "0a1b2c3d-0000-4000-8000-000000000003"
	create := mkEvent(t, "CHANNEL_CREATE", aLeg(id, 0)...)
	hangupWith := mkEvent(t, "CHANNEL_HANGUP_COMPLETE", aLeg(id, 9, "variable_textback_line", "5559999", "variable_DIALSTATUS", "NOANSWER")...)
	hangupWithout := mkEvent(t, "CHANNEL_HANGUP_COMPLETE", aLeg(id, 9, "variable_DIALSTATUS", "NOANSWER")...)
	for _, c := range []struct {
		name   string
		o      Options
		events []*Event
		want   string
	}{
		{"Set", Options{LineVariable: "textback_line"}, []*Event{create, hangupWith}, "5559999"},
		{"SetPrefixed", Options{LineVariable: "variable_textback_line"}, []*Event{create, hangupWith}, "5559999"},
		{"SetReversed", Options{LineVariable: "textback_line"}, []*Event{hangupWith, create}, "5559999"},
		{"NotSetOnTheCall", Options{LineVariable: "textback_line"}, []*Event{create, hangupWithout}, "5551000"},
		{"NotConfigured", Options{}, []*Event{create, hangupWith}, "5551000"},
	} {
		t.Run(c.name, func(t *testing.T) {
			vs, _ := run(t, c.o, c.events...)
			if len(vs) != 1 || vs[0].Line != c.want {
				t.Errorf("verdicts %+v, want line %s", vs, c.want)
			}
		})
	}
}

func TestTranslator_OnceAndLate(t *testing.T) {
	const id = "0a1b2c3d-0000-4000-8000-000000000004"
	create := mkEvent(t, "CHANNEL_CREATE", aLeg(id, 0)...)
	hangup := mkEvent(t, "CHANNEL_HANGUP_COMPLETE", aLeg(id, 9, "variable_DIALSTATUS", "NOANSWER")...)
	bridge := mkEvent(t, "CHANNEL_BRIDGE", aLeg(id, 5)...)
	_, evs := run(t, Options{}, create, create, hangup, hangup, bridge, create)
	kinds := map[ledger.EventKind]int{}
	for _, e := range evs {
		kinds[e.Kind]++
	}
	if kinds[ledger.EventOffered] != 1 || kinds[ledger.EventEnded] != 1 || kinds[ledger.EventConnected] != 0 {
		t.Errorf("events %+v: a duplicate or late event started or decided the call again", evs)
	}
}

func TestTranslator_BoundedMemory(t *testing.T) {
	tr := newTranslator(Options{MaxCalls: 50, MaxAge: time.Hour}, zerolog.Nop())
	emit := func(ledger.Event) error { return nil }
	for i := range 1000 {
		id := fmt.Sprintf("0a1b2c3d-0000-4000-8000-%012d", i)
		if err := tr.observe(mkEvent(t, "CHANNEL_CREATE", aLeg(id, 0)...), emit); err != nil {
			t.Fatal(err)
		}
		if n := tr.inProgress(); n > 50 {
			t.Fatalf("%d calls remembered, cap 50", n)
		}
	}
	// Calls not heard of for MaxAge (by the PBX's clock) are forgotten.
	late := mkEvent(t, "CHANNEL_CREATE", aLeg("0a1b2c3d-0000-4000-8000-999999999999", 2*3600)...)
	if err := tr.observe(late, emit); err != nil {
		t.Fatal(err)
	}
	if n := tr.inProgress(); n != 1 {
		t.Errorf("%d calls remembered after MaxAge, want 1", n)
	}
	// A forgotten call is still decided when it ends.
	id := "0a1b2c3d-0000-4000-8000-000000000007"
	vs, _ := run(t, Options{MaxCalls: 1},
		mkEvent(t, "CHANNEL_CREATE", aLeg(id, 0)...),
		mkEvent(t, "CHANNEL_CREATE", aLeg("other", 1)...),
		mkEvent(t, "CHANNEL_HANGUP_COMPLETE", aLeg(id, 9, "variable_DIALSTATUS", "BUSY")...))
	if len(vs) != 1 || vs[0].Call != id || vs[0].Reason != ledger.ReasonBusy {
		t.Errorf("verdicts %+v", vs)
	}
}

func TestTranslator_Reconcile(t *testing.T) {
	tr := newTranslator(Options{}, zerolog.Nop())
	var out []ledger.Event
	emit := func(e ledger.Event) error { out = append(out, e); return nil }
	for _, id := range []string{"live", "gone"} {
		if err := tr.observe(mkEvent(t, "CHANNEL_CREATE", aLeg(id, 0)...), emit); err != nil {
			t.Fatal(err)
		}
	}
	// A B-leg known only from a bridge: dropped silently.
	tr.observe(mkEvent(t, "CHANNEL_BRIDGE", "Unique-ID", "b", "Channel-Name", "sofia/internal/1", "Call-Direction", "outbound"), emit)
	if err := tr.observe(mkEvent(t, "CHANNEL_CREATE", aLeg("ends-late", 0)...), emit); err != nil {
		t.Fatal(err)
	}
	missing := tr.missing(map[string]bool{"live": true})
	if len(missing) != 3 || tr.inProgress() != 4 {
		t.Errorf("missing %v, %d in progress", missing, tr.inProgress())
	}
	// One end was only queued behind the reply: it decides its call.
	tr.observe(mkEvent(t, "CHANNEL_HANGUP_COMPLETE", aLeg("ends-late", 9, "variable_DIALSTATUS", "NOANSWER")...), emit)
	gone := tr.forgetMissing(missing)
	if len(gone) != 1 || gone[0] != "gone" || tr.inProgress() != 1 {
		t.Errorf("gone %v, %d in progress", gone, tr.inProgress())
	}
	// Its end, if it came after all, still decides it.
	n := len(out)
	tr.observe(mkEvent(t, "CHANNEL_HANGUP_COMPLETE", aLeg("gone", 9, "variable_DIALSTATUS", "NOANSWER")...), emit)
	if len(out) == n || out[len(out)-1].Kind != ledger.EventEnded {
		t.Errorf("events after reconcile %+v", out[n:])
	}
}

func TestHints(t *testing.T) {
	for _, c := range []struct {
		d      string
		hint   ledger.Reason
		failed bool
	}{
		{"", "", false}, {"SUCCESS", "", false}, {"NO_ANSWER", ledger.ReasonNoAnswer, true},
		{"USER_BUSY", ledger.ReasonBusy, true}, {"ORIGINATOR_CANCEL", ledger.ReasonCallerHangup, true},
		{"CALL_REJECTED", ledger.ReasonUnavailable, true}, {"SOMETHING_NEW", ledger.ReasonNoAnswer, true},
	} {
		if h, f := dispositionHint(c.d); h != c.hint || f != c.failed {
			t.Errorf("dispositionHint(%q) = %q, %v", c.d, h, f)
		}
	}
	for _, c := range []struct {
		d    string
		hint ledger.Reason
	}{{"NOANSWER", ledger.ReasonNoAnswer}, {"BUSY", ledger.ReasonBusy}, {"CANCEL", ledger.ReasonCallerHangup}, {"CHANUNAVAIL", ledger.ReasonUnavailable}, {"ANSWER", ""}} {
		if h, _ := dialstatusHint(c.d); h != c.hint {
			t.Errorf("dialstatusHint(%q) = %q", c.d, h)
		}
	}
}

func TestBackoff(t *testing.T) {
	b := backoff{min: 10 * time.Millisecond, max: 200 * time.Millisecond}
	prev := time.Duration(0)
	for i := range 12 {
		d := b.next()
		ceil := min(10*time.Millisecond<<i, 200*time.Millisecond)
		if d < ceil/2 || d > ceil {
			t.Errorf("attempt %d: %s not in [%s, %s]", i, d, ceil/2, ceil)
		}
		if d < prev && ceil < 200*time.Millisecond {
			t.Errorf("attempt %d: %s shorter than %s before the cap", i, d, prev)
		}
		prev = d
	}
	b.reset()
	if d := b.next(); d > 10*time.Millisecond {
		t.Errorf("after reset: %s", d)
	}
}

func TestParseChannels(t *testing.T) {
	live, err := parseChannels(`{"row_count":2,"rows":[{"uuid":"a","direction":"inbound"},{"uuid":"b"}]}` + "\n")
	if err != nil || len(live) != 2 || !live["a"] || !live["b"] {
		t.Errorf("%v %v", live, err)
	}
	if live, err := parseChannels(`{"row_count":0}`); err != nil || len(live) != 0 {
		t.Errorf("%v %v", live, err)
	}
	for _, bad := range []string{"-ERR no reply", "not json", `{"rows":[]}`, `{"row_count":3,"rows":[{"uuid":"a"}]}`, `{"row_count":1,"rows":[{}]}`} {
		if _, err := parseChannels(bad); err == nil {
			t.Errorf("parseChannels(%q) did not fail", bad)
		}
	}
}

func TestVersionAndProfiles(t *testing.T) {
	if v := version("FreeSWITCH Version 1.10.12-release~64bit (-release 64bit)\n"); v != "1.10.12-release~64bit" {
		t.Errorf("version %q", v)
	}
	st := "                     Name\t   Type\t      Data\tState\n=====\n  external\tprofile\tsip:mod_sofia@1.2.3.4:5080\tRUNNING (0)\n" +
		"  external::carrier\tgateway\tsip:c@5.6.7.8\tNOREG\n  internal\tprofile\tsip:mod_sofia@1.2.3.4:5060\tRUNNING (0)\n=====\n"
	if p := sofiaProfiles(st); len(p) != 2 || p[0] != "external" || p[1] != "internal" {
		t.Errorf("profiles %q", p)
	}
	if p := sofiaProfiles("-ERR sofia Command not found!\n"); p != nil {
		t.Errorf("profiles %q", p)
	}
}

func TestOptions_Profiles(t *testing.T) {
	if p := (Options{}).Profiles(); len(p) != 1 || p[0] != "external" {
		t.Errorf("default %q", p)
	}
	o := Options{InboundProfiles: []string{"a", "b"}}
	p := o.Profiles()
	p[0] = "changed"
	if o.InboundProfiles[0] != "a" {
		t.Error("Profiles returned the caller's slice")
	}
}
