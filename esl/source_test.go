package esl_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/textback/textback/esl"
	"github.com/textback/textback/esl/esltest"
	"github.com/textback/textback/ledger"
)

func TestSource_Run(t *testing.T) {
	s := newServer(t, esltest.Config{})
	cfg := testConfig(s.Addr())
	cfg.ShowNumber = func(n string) string { return "<" + strings.Repeat("x", len(n)) + ">" }
	r := start(t, cfg)
	waitReady(t, s, r, 1)

	t.Run("Commands", func(t *testing.T) {
		// One command at a time, each after the previous reply, and a
		// subscription to the events translation needs, not ALL.
		want := []string{
			"auth ********",
			"event plain CHANNEL_CREATE CHANNEL_BRIDGE CHANNEL_HANGUP_COMPLETE HEARTBEAT",
			"api version",
			"api show channels as json",
		}
		if got := s.Commands(); !slices.Equal(got, want) {
			t.Errorf("commands:\n got %q\nwant %q", got, want)
		}
	})
	t.Run("Verdicts", func(t *testing.T) {
		rows, traces := readExpected(t)
		for _, trace := range traces {
			var want []expectedRow
			for _, row := range rows {
				if row.Trace == trace {
					want = append(want, row)
				}
			}
			frames, _ := esltest.FreshIDs(captureEvents(t, trace))
			s.Send(frames...)
			v := r.verdict(t)
			var got []expectedRow
			if v.Outcome != ledger.Ignored {
				got = append(got, rowOf(trace, v))
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s over the socket: got %v, want %v", trace, got, want)
			}
		}
	})
	t.Run("SameCallTwice", func(t *testing.T) {
		// Original ids replayed twice: the second is a duplicate of a
		// decided call and yields nothing; fresh ids are a new call.
		frames := captureEvents(t, "d_busy.esl")
		s.Send(frames...)
		first := r.verdict(t)
		s.Send(frames...)
		fresh, _ := esltest.FreshIDs(frames)
		s.Send(fresh...)
		second := r.verdict(t)
		if second.Call == first.Call {
			t.Errorf("the duplicate replay decided call %s again", first.Call)
		}
	})
	t.Run("State", func(t *testing.T) {
		st := r.src.State()
		if !st.Connected || st.Version != "1.10.12-release~64bit" || st.Events == 0 || st.Since.IsZero() || st.Reconnects != 0 {
			t.Errorf("state %+v", st)
		}
	})
	if n := s.Accepted(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
	if n := r.log.count(t, "info", "connected to FreeSWITCH"); n != 1 {
		t.Errorf("%d 'connected' lines, want 1", n)
	}
	if n := r.log.count(t, "info", "freeswitch call ended"); n == 0 {
		t.Error("no call story in the log")
	}
	// Caller numbers reach the log only through ShowNumber.
	if strings.Contains(r.log.String(), "4155550123") || !strings.Contains(r.log.String(), `"from":"<xxxxxxxxxxxx>"`) {
		t.Errorf("a caller's number is logged without ShowNumber:\n%s", r.log)
	}
}

func TestSource_WrongPassword(t *testing.T) {
	s := newServer(t, esltest.Config{Password: "another-password"})
	r := start(t, testConfig(s.Addr()))
	waitFor(t, "6 attempts", func() bool { return s.Accepted() >= 6 })
	r.stop(t)

	if n := r.log.count(t, "error", "refused the event socket password"); n != 1 {
		t.Errorf("%d error lines about the password, want exactly 1:\n%s", n, r.log)
	}
	st := r.src.State()
	if st.Connected || st.Reconnects < 5 || !strings.Contains(st.LastError, esl.ErrAuth.Error()) {
		t.Errorf("state %+v", st)
	}
	// The delays grow: each one drawn from [d/2, d] with d doubling.
	var delays []float64
	for _, l := range r.log.lines(t) {
		if d, ok := l["retry_in"].(float64); ok {
			delays = append(delays, d)
		}
	}
	if len(delays) < 5 {
		t.Fatalf("%d retry delays logged", len(delays))
	}
	for i := 1; i < len(delays); i++ {
		if delays[i] < delays[i-1] && delays[i-1] < float64((30*time.Millisecond).Milliseconds())/2 {
			t.Errorf("retry delays shrink before the cap: %v", delays)
		}
	}
	if delays[len(delays)-1] <= delays[0] {
		t.Errorf("retry delays do not grow: %v", delays)
	}
}

func TestSource_ACLRejection(t *testing.T) {
	s := newServer(t, esltest.Config{})
	s.Plan(esltest.Plan{Reject: true}, esltest.Plan{Reject: true}, esltest.Plan{Reject: true})
	r := start(t, testConfig(s.Addr()))
	waitReady(t, s, r, 1) // the fourth connection is let in
	if n := s.Accepted(); n != 4 {
		t.Errorf("%d connections, want 4", n)
	}
	if n := r.log.count(t, "error", "ACL refuses this host"); n != 1 {
		t.Errorf("%d error lines about the ACL, want 1:\n%s", n, r.log)
	}
	if st := r.src.State(); !strings.Contains(st.LastError, esl.ErrRejected.Error()) {
		t.Errorf("last error %q", st.LastError)
	}
	replayCall(t, s, r, "a_noanswer.esl", ledger.Missed)
}

func TestSource_MuteServer(t *testing.T) {
	// A FreeSWITCH that accepts and says nothing: the handshake times out.
	s := newServer(t, esltest.Config{})
	s.Plan(esltest.Plan{Mute: true})
	cfg := testConfig(s.Addr())
	cfg.DialTimeout = 50 * time.Millisecond
	r := start(t, cfg)
	waitReady(t, s, r, 1)
	if st := r.src.State(); !strings.Contains(st.LastError, esl.ErrTimeout.Error()) {
		t.Errorf("last error %q, want a timeout", st.LastError)
	}
	replayCall(t, s, r, "b_answered.esl", ledger.Answered)
}

func TestSource_HeartbeatLoss(t *testing.T) {
	for _, c := range []struct {
		name  string
		plan  esltest.Plan
		stall bool
	}{
		{"NoHeartbeat", esltest.Plan{NoHeartbeat: true}, false},
		{"Stall", esltest.Plan{}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, esltest.Config{})
			s.Plan(c.plan)
			r := start(t, testConfig(s.Addr()))
			if c.stall {
				waitReady(t, s, r, 1)
				s.Stall()
			}
			waitReady(t, s, r, 2)
			if st := r.src.State(); !strings.Contains(st.LastError, "no HEARTBEAT") || st.Reconnects != 1 {
				t.Errorf("state %+v", st)
			}
			if n := r.log.count(t, "warn", "lost the connection"); n != 1 {
				t.Errorf("%d 'lost the connection' lines, want 1", n)
			}
			replayCall(t, s, r, "c_caller_cancel.esl", ledger.Missed)
		})
	}
}

// TestSource_StreamFaults: each fault on a working connection ends with
// the source connected again (or still connected) and calls decided.
func TestSource_StreamFaults(t *testing.T) {
	half := captureEvents(t, "a_noanswer.esl")[0]
	faults := []struct {
		name      string
		inject    func(*esltest.Server)
		reconnect bool
		wantErr   string
	}{
		{"NegativeLength", func(s *esltest.Server) { s.SendRaw(esltest.NegativeLength) }, true, "negative Content-Length"},
		{"HugeLength", func(s *esltest.Server) { s.SendRaw(esltest.HugeLength) }, true, "over the"},
		{"Garbage", func(s *esltest.Server) { s.SendRaw(esltest.Garbage) }, true, "header"},
		{"MidFrame", func(s *esltest.Server) { s.DropMidFrame(half) }, true, "stream ends after"},
		{"Dropped", func(s *esltest.Server) { s.Drop() }, true, ""},
		{"Restart", func(s *esltest.Server) { s.Restart() }, true, esl.ErrDisconnected.Error()},
		{"StrayReply", func(s *esltest.Server) {
			s.SendRaw([]byte("Content-Type: command/reply\nReply-Text: +OK late\n\n"))
		}, true, "no command waiting"},
		{"LogData", func(s *esltest.Server) { s.SendRaw(esltest.LogData("a log line\n")) }, false, ""},
		{"UnknownType", func(s *esltest.Server) { s.SendRaw(esltest.UnknownType) }, false, ""},
		{"BadEventBody", func(s *esltest.Server) {
			s.SendRaw([]byte("Content-Length: 12\nContent-Type: text/event-plain\n\nno colon\n\n\n"))
		}, false, ""},
	}
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, esltest.Config{})
			r := start(t, testConfig(s.Addr()))
			waitReady(t, s, r, 1)
			f.inject(s)
			if f.reconnect {
				waitReady(t, s, r, 2)
				st := r.src.State()
				if st.Reconnects != 1 || !strings.Contains(st.LastError, f.wantErr) {
					t.Errorf("state %+v, want one reconnect and an error saying %q", st, f.wantErr)
				}
			}
			replayCall(t, s, r, "g_voicemail_fallback.esl", ledger.Missed)
			if !f.reconnect {
				if n := s.Accepted(); n != 1 {
					t.Errorf("%d connections: a harmless frame dropped the connection", n)
				}
				if n := r.log.count(t, "warn", "skipping"); n != 1 {
					t.Errorf("%d warnings about the skipped frame, want 1", n)
				}
			}
		})
	}
}

// TestSource_Replies: a reply that comes too late, or a stale one, is never
// taken for another command's: the source drops the connection.
func TestSource_Replies(t *testing.T) {
	for _, c := range []struct {
		name    string
		plan    esltest.Plan
		wantErr error
		detail  string
	}{
		{"Late", esltest.Plan{SlowReply: 300 * time.Millisecond}, esl.ErrTimeout, "esl api version"},
		{"Crossed", esltest.Plan{CrossReply: true}, esl.ErrProtocol, "command/reply while waiting for api/response"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, esltest.Config{})
			s.Plan(c.plan)
			cfg := testConfig(s.Addr())
			cfg.CommandTimeout = 100 * time.Millisecond
			r := start(t, cfg)
			waitReady(t, s, r, 2)
			if st := r.src.State(); !strings.Contains(st.LastError, c.wantErr.Error()) || !strings.Contains(st.LastError, c.detail) || st.Version == "" {
				t.Errorf("state %+v, want an error saying %q", st, c.wantErr)
			}
			replayCall(t, s, r, "f_anonymous.esl", ledger.Missed)
		})
	}
}

// TestSource_Reconcile: after a reconnect, a call that ended while the
// connection was down is logged as unobserved and never decided; a call
// that was up before and ends after is decided as usual.
func TestSource_Reconcile(t *testing.T) {
	s := newServer(t, esltest.Config{})
	r := start(t, testConfig(s.Addr()))
	waitReady(t, s, r, 1)

	lost, lostIDs := esltest.FreshIDs(captureEvents(t, "a_noanswer.esl"))
	kept, _ := esltest.FreshIDs(captureEvents(t, "b_answered.esl"))
	split := func(frames []esl.Frame) int { // just after the A-leg's CHANNEL_CREATE
		for i, f := range frames {
			if strings.Contains(string(f.Body), "Event-Name: CHANNEL_CREATE\n") {
				return i + 1
			}
		}
		t.Fatal("no CHANNEL_CREATE")
		return 0
	}
	ls, ks := split(lost), split(kept)
	s.Send(lost[:ls]...)
	s.Send(kept[:ks]...)
	lostCall := r.event(t, ledger.EventOffered).Call
	keptCall := r.event(t, ledger.EventOffered).Call
	if lostCall != lostIDs["4cbccb0b-b7e8-47a2-b31e-4985993eb6d4"] {
		lostCall, keptCall = keptCall, lostCall
	}

	// The connection drops; the next one waits at the door while the
	// first call ends and the second goes on.
	hold := make(chan struct{})
	s.Plan(esltest.Plan{Hold: hold})
	s.Drop()
	waitFor(t, "the redial", func() bool { return s.Accepted() == 2 })
	if n := s.Send(lost[ls:]...); n != 0 {
		t.Fatalf("the rest of the lost call reached %d connections", n)
	}
	if slices.Contains(s.Channels(), lostCall) || !slices.Contains(s.Channels(), keptCall) {
		t.Fatalf("server channels %v", s.Channels())
	}
	close(hold)
	waitReady(t, s, r, 2)

	s.Send(kept[ks:]...)
	v := r.verdict(t)
	if v.Call != keptCall || v.Outcome != ledger.Answered {
		t.Errorf("verdict %+v, want call %s answered", v, keptCall)
	}
	select {
	case v := <-r.verdicts:
		t.Errorf("unexpected verdict %+v", v)
	default:
	}
	waitFor(t, "the lost call to be settled", func() bool { return r.src.State().Unobserved > 0 })
	if st := r.src.State(); st.Unobserved != 1 {
		t.Errorf("unobserved %d, want 1", st.Unobserved)
	}
	found := false
	for _, l := range r.log.lines(t) {
		if l["call"] == esl.PBX+":"+lostCall && strings.Contains(l["message"].(string), "not observed") {
			found = true
		}
	}
	if !found {
		t.Errorf("no log line says call %s was not observed:\n%s", lostCall, r.log)
	}
}

func TestSource_SlowConsumer(t *testing.T) {
	// Time spent waiting for the consumer is not FreeSWITCH's silence.
	s := newServer(t, esltest.Config{})
	lb := &logBuffer{}
	src, err := esl.New(testConfig(s.Addr()), zerolog.New(lb))
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan ledger.Event)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, events) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	ready, cancelWait := context.WithTimeout(ctx, waitLimit)
	defer cancelWait()
	if err := s.WaitReady(ready, 1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the source to be connected", func() bool { return src.State().Connected })
	s.Send(captureEvents(t, "a_noanswer.esl")...)
	// Nobody reads for 10 heartbeat intervals.
	deadline := time.Now().Add(10 * testHeartbeat)
	for time.Now().Before(deadline) {
		time.Sleep(testHeartbeat)
	}
	n := 0
	for end := false; !end; {
		select {
		case e := <-events:
			n++
			end = e.Kind == ledger.EventEnded
		case <-time.After(waitLimit):
			t.Fatalf("the call never ended (%d events; a redial lost it?)", n)
		}
	}
	if n < 2 {
		t.Errorf("%d events", n)
	}
	// Two more frames read from the socket (heartbeats) after the wait:
	// had the wait counted as silence, the first read would have failed
	// and these would come from a second connection.
	seen := src.State().Events
	waitFor(t, "two more heartbeats", func() bool { return src.State().Events >= seen+2 })
	if st := src.State(); s.Accepted() != 1 || st.Reconnects != 0 {
		t.Errorf("%d connections, state %+v: a slow consumer made the source redial", s.Accepted(), st)
	}
}

func TestSource_RecoversPanic(t *testing.T) {
	// A panic while handling input (here: the consumer closed the events
	// channel) is recovered; the source reconnects and does not die.
	s := newServer(t, esltest.Config{})
	lb := &logBuffer{}
	src, err := esl.New(testConfig(s.Addr()), zerolog.New(lb))
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan ledger.Event)
	close(events)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, events) }()
	ready, cancelWait := context.WithTimeout(ctx, waitLimit)
	defer cancelWait()
	if err := s.WaitReady(ready, 1); err != nil {
		t.Fatal(err)
	}
	s.Send(captureEvents(t, "a_noanswer.esl")...)
	if err := s.WaitReady(ready, 2); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if st := src.State(); !strings.Contains(st.LastError, "panic") {
		t.Errorf("last error %q", st.LastError)
	}
}

func TestSource_RunTwice(t *testing.T) {
	s := newServer(t, esltest.Config{})
	r := start(t, testConfig(s.Addr()))
	waitReady(t, s, r, 1)
	if err := r.src.Run(context.Background(), make(chan ledger.Event)); err == nil {
		t.Error("a second Run did not fail")
	}
}

func TestSource_CancelWhileConnecting(t *testing.T) {
	// Cancel returns promptly from a handshake that would hang.
	s := newServer(t, esltest.Config{})
	s.Plan(esltest.Plan{Mute: true})
	cfg := testConfig(s.Addr())
	cfg.DialTimeout = time.Hour
	r := start(t, cfg)
	waitFor(t, "the connection", func() bool { return s.Accepted() == 1 })
	r.stop(t)
}

func TestNew(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  esl.Config
		want string
	}{
		{"Defaults", esl.Config{Password: "x"}, ""},
		{"NoPassword", esl.Config{}, "no event socket password"},
		{"PasswordLineBreak", esl.Config{Password: "a\nevent plain ALL"}, "line break"},
		{"BadAddress", esl.Config{Address: "localhost", Password: "x"}, `"localhost" is not HOST:PORT`},
		{"EmptyProfile", esl.Config{Password: "x", Options: esl.Options{InboundProfiles: []string{"external", " "}}}, "inbound profile 1 is empty"},
		{"BadLineVariable", esl.Config{Password: "x", Options: esl.Options{LineVariable: "a b"}}, "has a space"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := esl.New(c.cfg, zerolog.Nop())
			if c.want == "" {
				if err != nil {
					t.Errorf("error %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
}

func TestProbe(t *testing.T) {
	s := newServer(t, esltest.Config{})
	cfg := testConfig(s.Addr())
	ctx := context.Background()
	info, err := esl.Probe(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if info.Version != "1.10.12-release~64bit" || !slices.Equal(info.Profiles, []string{"external", "internal"}) {
		t.Errorf("info %+v", info)
	}
	// (the exit after them may or may not be read before the close)
	if got := s.Commands(); !slices.Equal(got[:min(3, len(got))], []string{"auth ********", "api version", "api sofia status"}) {
		t.Errorf("commands %q", got)
	}

	t.Run("WrongPassword", func(t *testing.T) {
		bad := cfg
		bad.Password = "wrong"
		_, err := esl.Probe(ctx, bad)
		if !errors.Is(err, esl.ErrAuth) || !strings.Contains(err.Error(), s.Addr()) {
			t.Errorf("error %v", err)
		}
	})
	t.Run("ACL", func(t *testing.T) {
		s.Plan(esltest.Plan{Reject: true})
		_, err := esl.Probe(ctx, cfg)
		if !errors.Is(err, esl.ErrRejected) {
			t.Errorf("error %v", err)
		}
	})
	t.Run("Mute", func(t *testing.T) {
		s.Plan(esltest.Plan{Mute: true})
		short := cfg
		short.DialTimeout = 50 * time.Millisecond
		_, err := esl.Probe(ctx, short)
		if !errors.Is(err, esl.ErrTimeout) {
			t.Errorf("error %v", err)
		}
	})
	t.Run("Cancelled", func(t *testing.T) {
		s.Plan(esltest.Plan{Mute: true})
		long := cfg
		long.DialTimeout = time.Hour
		cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		_, err := esl.Probe(cctx, long)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v", err)
		}
	})
	t.Run("NobodyListens", func(t *testing.T) {
		dead := newServer(t, esltest.Config{})
		addr := dead.Addr()
		dead.Close()
		c := cfg
		c.Address = addr
		_, err := esl.Probe(ctx, c)
		if err == nil || !strings.Contains(err.Error(), "esl dial "+addr) {
			t.Errorf("error %v", err)
		}
	})
}
