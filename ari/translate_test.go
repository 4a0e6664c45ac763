package ari

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/textback/textback/ledger"
)

// script builds ARI events for the rules no capture shows, one second
// apart.
type script struct {
	t    *testing.T
	at   time.Time
	msgs [][]byte
}

func newScript(t *testing.T) *script {
	return &script{t: t, at: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)}
}

// ch is a channel snapshot: id, name, state, and optional channelvars
// as key, value pairs.
func ch(id, name, state string, vars ...string) map[string]any {
	m := map[string]any{
		"id": id, "name": name, "state": state,
		"caller":   map[string]string{"name": "", "number": "+15557654321"},
		"dialplan": map[string]any{"context": "from-trunk", "exten": "5551000", "priority": 1},
	}
	if len(vars) > 0 {
		v := map[string]string{}
		for i := 0; i+1 < len(vars); i += 2 {
			v[vars[i]] = vars[i+1]
		}
		m["channelvars"] = v
	}
	return m
}

func (s *script) add(typ string, fields map[string]any) *script {
	s.at = s.at.Add(time.Second)
	fields["type"] = typ
	fields["timestamp"] = s.at.Format("2006-01-02T15:04:05.000-0700")
	b, err := json.Marshal(fields)
	if err != nil {
		s.t.Fatal(err)
	}
	s.msgs = append(s.msgs, b)
	return s
}

func (s *script) created(c map[string]any) *script {
	return s.add("ChannelCreated", map[string]any{"channel": c})
}
func (s *script) destroyed(c map[string]any) *script {
	return s.add("ChannelDestroyed", map[string]any{"channel": c, "cause": 16})
}
func (s *script) dial(caller, peer map[string]any, status string) *script {
	return s.add("Dial", map[string]any{"caller": caller, "peer": peer, "dialstatus": status})
}
func (s *script) app(c map[string]any, app string) *script {
	return s.add("ChannelDialplan", map[string]any{"channel": c, "dialplan_app": app})
}
func (s *script) state(c map[string]any, st string) *script {
	c["state"] = st
	return s.add("ChannelStateChange", map[string]any{"channel": c})
}
func (s *script) hangup(c map[string]any, soft bool) *script {
	return s.add("ChannelHangupRequest", map[string]any{"channel": c, "soft": soft})
}
func (s *script) varset(c map[string]any, k, v string) *script {
	return s.add("ChannelVarset", map[string]any{"channel": c, "variable": k, "value": v})
}
func (s *script) enter(bridge, typ string, c map[string]any, members ...string) *script {
	return s.add("ChannelEnteredBridge", map[string]any{"channel": c,
		"bridge": map[string]any{"id": bridge, "bridge_type": typ, "channels": members}})
}

// run translates the script and returns the ledger events and verdicts.
func (s *script) run(o Options) ([]ledger.Event, []ledger.Verdict) {
	s.t.Helper()
	tr := newTranslator(o)
	tracker := ledger.NewTracker(ledger.TrackerOptions{})
	var events []ledger.Event
	var verdicts []ledger.Verdict
	for _, m := range s.msgs {
		_, _, err := tr.handle(m, func(e ledger.Event) error {
			events = append(events, e)
			if v, ok := tracker.Observe(e); ok {
				verdicts = append(verdicts, v)
			}
			return nil
		})
		if err != nil {
			s.t.Fatalf("%s: %v", m, err)
		}
	}
	return events, verdicts
}

func outcomes(vs []ledger.Verdict) string {
	var out []string
	for _, v := range vs {
		out = append(out, fmt.Sprintf("%s:%s:%s", v.Call, v.Outcome, v.Reason))
	}
	return strings.Join(out, " ")
}

var carrier = Options{Trunks: []string{"carrier"}}

func TestTranslate_Rules(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		play func(s *script)
		want string // verdicts, "call:outcome:reason" in order
	}{
		{"LocalAnsweredByVoicemailIsNoPerson", carrier, func(s *script) {
			r := ch("1", "PJSIP/carrier-1", "Ring")
			l1 := ch("2", "Local/100@vm-1;1", "Down")
			l2 := ch("3", "Local/100@vm-1;2", "Ring")
			s.created(r).created(l1).created(l2).dial(r, l1, "").app(l2, "VoiceMail").
				dial(r, l1, "ANSWER").state(r, "Up").hangup(r, false).destroyed(r)
		}, "1:missed:voicemail"},
		{"HoldingBridgeIsNoPerson", carrier, func(s *script) {
			r := ch("1", "PJSIP/carrier-1", "Ring")
			p := ch("2", "PJSIP/carrier-2", "Ring")
			s.created(r).created(p).state(r, "Up").enter("park", "holding", r, "1", "2").
				enter("park", "holding", p, "1", "2").hangup(r, false).destroyed(r).destroyed(p)
		}, "1:missed:ivr_abandon 2:missed:noanswer"},
		{"BridgesThroughALocalPair", carrier, func(s *script) {
			r := ch("1", "PJSIP/carrier-1", "Ring")
			l1 := ch("2", "Local/101@x-1;1", "Down")
			l2 := ch("3", "Local/101@x-1;2", "Ring")
			ph := ch("4", "PJSIP/101-4", "Down")
			s.created(r).created(l1).created(l2).dial(r, l1, "").dial(l2, ph, "").created(ph).
				enter("b1", "mixing", r, "1").enter("b1", "mixing", l1, "1", "2").
				enter("b2", "mixing", l2, "3").enter("b2", "mixing", ph, "3", "4").destroyed(r)
		}, "1:answered:"},
		{"PickedUpByAnotherPhone", carrier, func(s *script) {
			r := ch("1", "PJSIP/carrier-1", "Ring")
			ph := ch("2", "PJSIP/102-2", "Ring")
			s.created(r).created(ph).enter("b", "mixing", ph, "2").enter("b", "mixing", r, "2", "1").
				destroyed(ph).destroyed(r)
		}, "2:ignored:internal 1:answered:"},
		{"MergedBridges", carrier, func(s *script) {
			r := ch("1", "PJSIP/carrier-1", "Ring")
			ph := ch("2", "PJSIP/100-2", "Down")
			s.created(r).created(ph).dial(r, ph, "").enter("a", "mixing", r, "1").enter("b", "mixing", ph, "2").
				add("BridgeMerged", map[string]any{"bridge": map[string]any{"id": "a", "bridge_type": "mixing"}, "bridge_from": map[string]any{"id": "b"}}).
				destroyed(r)
		}, "1:answered:"},
		{"WithheldByCallerIDChange", carrier, func(s *script) {
			r := ch("1", "PJSIP/carrier-1", "Ring")
			s.created(r).add("ChannelCallerId", map[string]any{"channel": r, "caller_presentation_txt": "Presentation Prohibited, Not Screened"}).
				hangup(r, false).destroyed(r)
		}, "1:missed:caller_hangup"},
		{"OutboundThroughTheTrunk", carrier, func(s *script) {
			ph := ch("1", "PJSIP/100-1", "Ring")
			tk := ch("2", "PJSIP/carrier-2", "Down")
			s.created(ph).created(tk).dial(ph, tk, "").dial(ph, tk, "ANSWER").destroyed(tk).destroyed(ph)
		}, "1:ignored:outbound"},
		{"TrunkDialledOutAloneIsNoCall", carrier, func(s *script) {
			tk := ch("2", "PJSIP/carrier-2", "Down")
			s.created(tk).state(tk, "Up").destroyed(tk)
		}, ""},
		{"OriginatedWithLinkedID", carrier, func(s *script) {
			tk := ch("2", "PJSIP/carrier-2", "Down", VarLinkedID, "2", VarPres, "allowed")
			s.created(tk).state(tk, "Up").destroyed(tk)
		}, "2:ignored:outbound"},
		{"LinkedIDGroupsLegs", carrier, func(s *script) {
			r := ch("1", "PJSIP/carrier-1", "Ring", VarLinkedID, "1")
			ph := ch("7", "PJSIP/100-7", "Down", VarLinkedID, "1")
			// no Dial event: only linkedid ties the phone to the call
			s.created(r).created(ph).enter("b", "mixing", r, "1").enter("b", "mixing", ph, "1", "7").destroyed(r)
		}, "1:answered:"},
		{"QueueJoinEmpty", carrier, func(s *script) {
			r := ch("1", "PJSIP/carrier-1", "Ring")
			s.created(r).app(r, "Queue").varset(r, "QUEUESTATUS", "JOINEMPTY").hangup(r, true).destroyed(r)
		}, "1:missed:unavailable"},
		{"ChanUnavail", carrier, func(s *script) {
			r := ch("1", "PJSIP/carrier-1", "Ring")
			s.created(r).varset(r, "DIALSTATUS", "CHANUNAVAIL").hangup(r, true).destroyed(r)
		}, "1:missed:unavailable"},
		{"LegStatusIsNoise", carrier, func(s *script) {
			r := ch("1", "PJSIP/carrier-1", "Ring")
			l2 := ch("3", "Local/100@x-1;2", "Ring")
			l1 := ch("2", "Local/100@x-1;1", "Down")
			// a Local leg's own DIALSTATUS does not decide; the caller's does
			s.created(r).created(l2).created(l1).dial(r, l1, "").varset(l2, "DIALSTATUS", "CANCEL").
				varset(r, "DIALSTATUS", "BUSY").hangup(r, true).destroyed(r)
		}, "1:missed:busy"},
		{"DefaultTrunkRule", Options{}, func(s *script) {
			in := ch("1", "PJSIP/my-provider-1", "Ring")
			phone := ch("2", "PJSIP/2001-2", "Ring")
			anon := ch("3", "PJSIP/anonymous-3", "Ring")
			loc := ch("4", "Local/s@ivr-4;2", "Ring")
			s.created(in).created(phone).created(anon).created(loc).
				destroyed(in).destroyed(phone).destroyed(anon).destroyed(loc)
		}, "1:missed:noanswer 2:ignored:internal 3:missed:noanswer"},
		{"QualifiedTrunkOtherTech", Options{Trunks: []string{"SIP/carrier"}}, func(s *script) {
			r := ch("1", "PJSIP/carrier-1", "Ring")
			s.created(r).destroyed(r)
		}, "1:ignored:internal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newScript(t)
			tc.play(s)
			_, vs := s.run(tc.opts)
			if got := outcomes(vs); got != tc.want {
				t.Errorf("verdicts %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTranslate_WithheldFlag(t *testing.T) {
	s := newScript(t)
	r := ch("1", "PJSIP/carrier-1", "Ring", VarPres, "prohib_passed_screen")
	s.created(r).destroyed(r)
	events, vs := s.run(carrier)
	if len(vs) != 1 || !vs[0].Withheld || vs[0].Textable() || !events[0].Withheld {
		t.Errorf("verdicts %+v, events %+v: want withheld from the start", vs, events)
	}
}

// TestTranslate_Evicts: past MaxChannels the oldest channel is forgotten;
// its call gets no more events.
func TestTranslate_Evicts(t *testing.T) {
	s := newScript(t)
	a, b, c := ch("1", "PJSIP/carrier-1", "Ring"), ch("2", "PJSIP/carrier-2", "Ring"), ch("3", "PJSIP/carrier-3", "Ring")
	s.created(a).created(b).created(c).destroyed(a).destroyed(b).destroyed(c)
	events, vs := s.run(Options{Trunks: []string{"carrier"}, MaxChannels: 2})
	if got := outcomes(vs); got != "2:missed:noanswer 3:missed:noanswer" {
		t.Errorf("verdicts %q", got)
	}
	var offered []string
	for _, e := range events {
		if e.Kind == ledger.EventOffered {
			offered = append(offered, e.Call)
		}
	}
	if !slices.Equal(offered, []string{"1", "2", "3"}) {
		t.Errorf("offered %v", offered)
	}
}

func TestTranslate_Reconcile(t *testing.T) {
	s := newScript(t)
	a, b := ch("1", "PJSIP/carrier-1", "Ring"), ch("2", "PJSIP/100-2", "Ring")
	tr := newTranslator(carrier)
	for _, m := range s.created(a).created(b).msgs {
		tr.handle(m, func(ledger.Event) error { return nil })
	}
	gone := tr.reconcile(map[string]bool{"2": true})
	if len(gone) != 1 || gone[0].Call != "1" || !gone[0].Inbound || gone[0].From != "+15557654321" {
		t.Errorf("unobserved %+v, want call 1", gone)
	}
	if len(tr.chans) != 1 || len(tr.calls) != 1 {
		t.Errorf("%d channels, %d calls left, want 1 and 1", len(tr.chans), len(tr.calls))
	}
}

func TestSplitName(t *testing.T) {
	for name, want := range map[string][2]string{
		"PJSIP/carrier-0000001a":        {"PJSIP", "carrier"},
		"PJSIP/my-trunk-0000001a":       {"PJSIP", "my-trunk"},
		"Local/100@ring-ext-00000003;2": {"Local", "100@ring-ext"},
		"SIP/carrier-00000001":          {"SIP", "carrier"},
		"weird":                         {"", "weird"},
		"DAHDI/1-1":                     {"DAHDI", "1"},
	} {
		if tech, ep := splitName(name); tech != want[0] || ep != want[1] {
			t.Errorf("splitName(%q) = %q, %q; want %q", name, tech, ep, want)
		}
	}
}
