package main

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/textback/textback/ledger"
	bolt "go.etcd.io/bbolt"
)

// lostWindow is how long before a kill a deciding event may have been
// written and still not be in the ledger: it was in the socket, in the
// adapter or in the group being committed when the process died. A
// missed call whose deciding event left the PBX earlier than this before
// a kill, or with no kill after it, must be in the ledger.
const lostWindow = time.Second

// verify checks the run against the carrier's log and the ledger (opened
// after textback stopped) and fills rep.
//
// drops are the times the fake PBX dropped its connections (a PBX
// restart): like a kill, a drop loses what was on its way to textback.
func verify(rep *report, calls []call, log []arrival, acked map[string]bool, path, daemonLog string, drops []time.Time, o options) error {
	st, err := ledger.Open(path, ledger.StoreOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("open the ledger after the run: %w", err)
	}
	defer st.Close()
	if err := st.DB().View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			rep.fail("ledger consistency: %v", err)
		}
		return nil
	}); err != nil {
		return err
	}
	recorded, err := st.Calls(0)
	if err != nil {
		return err
	}
	byNumber := map[string][]ledger.Call{}
	for _, c := range recorded {
		if c.Number != "" {
			byNumber[c.Number] = append(byNumber[c.Number], c)
		}
	}
	callbacks := map[string][]arrival{}
	for _, a := range log {
		if strings.HasPrefix(a.body, callbackPrefix) {
			callbacks[a.to] = append(callbacks[a.to], a)
		}
	}
	rep.Requests = len(log)
	statuses := map[string]int{}
	var lat, toDecision, toCarrier []time.Duration
	kills := drops
	if rep.Kills != nil {
		kills = append(kills, rep.Kills.killedAt...)
	}
	slices.SortFunc(kills, time.Time.Compare)
	for i := range calls {
		c := &calls[i]
		got := callbacks[c.e164]
		accepted, held := 0, 0
		for _, a := range got {
			switch a.status {
			case http.StatusCreated:
				accepted++
			case 0:
				held++ // the carrier may have sent it
			}
		}
		if !c.t.missed {
			rep.Calls.Other++
			if len(got) > 0 {
				rep.fail("call %d (%s, %s) was not missed but was texted", c.n, c.t.name, c.e164)
			}
			continue
		}
		if c.held {
			rep.Calls.Held++
		} else {
			rep.Calls.Missed++
		}
		if accepted+held > 1 {
			rep.Calls.Double++
			rep.fail("call %d (%s): %d texts accepted by the carrier and %d held past the timeout: texted twice", c.n, c.e164, accepted, held)
		}
		if !c.seen() || whileDown(rep.Kills, c.firstAt, c.lastAt) {
			// No live connection got it whole: textback cannot know it.
			// (A message written after a kill, before the PBX noticed
			// the connection was dead, went nowhere.)
			rep.Calls.Unseen++
			continue
		}
		rep.Calls.Seen++
		rc := byNumber[c.e164]
		if len(rc) == 0 {
			if k, ok := killAfter(kills, c.decideAt); ok && k.Sub(c.decideAt) <= lostWindow {
				rep.Calls.LostAtKill++
				rep.Calls.LostMaxBeforeKill = max(rep.Calls.LostMaxBeforeKill, k.Sub(c.decideAt))
				continue
			}
			if o.fault == "disk-full" {
				rep.Calls.NotRecorded++
				continue
			}
			rep.fail("missed call %d (%s, %s): its deciding event left the PBX and it is not in the ledger", c.n, c.t.name, c.e164)
			continue
		}
		call := rc[0]
		if call.Action != ledger.ActionText {
			if acked[c.e164] {
				continue
			}
			rep.fail("missed call %s (%s) recorded but not texted: %s (%s)", call.ID, c.e164, call.Skip, call.Detail)
			continue
		}
		t, err := st.Text(call.Text)
		if err != nil {
			return err
		}
		statuses[string(t.Status)]++
		switch t.Status {
		case ledger.StatusSent, ledger.StatusDelivered:
			if accepted != 1 {
				rep.fail("text %d for %s is %s in the ledger but the carrier accepted %d", t.Seq, c.e164, t.Status, accepted)
			}
		case ledger.StatusUnknown:
			rep.Unknown.Texts++
			if len(got) > 0 {
				rep.Unknown.AtCarrier++ // the request arrived: the carrier may have sent it
			}
			why := t.Error
			switch {
			case strings.Contains(why, "stopped while the text was with the driver"):
				rep.Unknown.ByKill++
			case strings.Contains(why, "timeout") || strings.Contains(why, "deadline") || strings.Contains(why, "Timeout"):
				rep.Unknown.ByTimeout++
			case strings.Contains(why, "HTTP 5"):
				rep.Unknown.ByServerError++ // the carrier failed after taking the request: it may have sent it
			default:
				rep.fail("text %d for %s is unknown for no known reason: %q", t.Seq, c.e164, why)
			}
		case ledger.StatusQueued, ledger.StatusSending:
			if o.fault == "disk-full" && rep.Fault.Exit != "" {
				// textback stopped because it could not write: its outcome
				// (or, queued, its send) is for the next start, which marks
				// a sending text unknown (Recover) and sends a queued one.
				// The carrier must still have it at most once (above).
				if t.Status == ledger.StatusSending {
					rep.Calls.SendingAtStop++
				} else {
					rep.Calls.QueuedAtStop++
				}
				continue
			}
			rep.fail("text %d for %s still %s after the drain", t.Seq, c.e164, t.Status)
		}
		if len(got) > 0 && !c.decideAt.IsZero() && !c.held {
			lat = append(lat, got[0].at.Sub(c.decideAt))
			if !call.DecidedAt.IsZero() {
				toDecision = append(toDecision, call.DecidedAt.Sub(c.decideAt))
				toCarrier = append(toCarrier, got[0].at.Sub(call.DecidedAt))
			}
		}
	}
	rep.TextStatus = statuses
	rep.Latency = summarize(lat)
	rep.ToDecision, rep.ToCarrier = summarize(toDecision), summarize(toCarrier)
	rep.OptOuts.Acked = len(acked)
	for number := range acked {
		ns, err := st.Number(number)
		if err != nil {
			return err
		}
		if !ns.OptedOut {
			rep.OptOuts.Lost++
			rep.fail("opt-out of %s was acknowledged (200) and is not in the ledger", number)
		}
	}
	if o.fault == "disk-full" {
		rep.Fault.LogLine = lastLine(daemonLog, "no space")
		if rep.Fault.LogLine == "" {
			rep.fail("the ledger filled the disk and textback's log does not say so")
		}
	}
	return nil
}

// whileDown reports whether [from, to] meets a time textback was down:
// from a kill to the restarted process's READY.
func whileDown(k *killReport, from, to time.Time) bool {
	if k == nil {
		return false
	}
	for i, down := range k.killedAt {
		up := time.Now()
		if i < len(k.upAt) {
			up = k.upAt[i]
		}
		if !to.Before(down) && !from.After(up) {
			return true
		}
	}
	return false
}

func killAfter(kills []time.Time, t time.Time) (time.Time, bool) {
	if t.IsZero() {
		return time.Time{}, false
	}
	for _, k := range kills {
		if !k.Before(t) {
			return k, true
		}
	}
	return time.Time{}, false
}

// lastLine returns the last line of path containing sub.
func lastLine(path, sub string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	last := ""
	for sc.Scan() {
		if strings.Contains(sc.Text(), sub) {
			last = sc.Text()
		}
	}
	return last
}
