package esltest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/textback/textback/esl"
)

// client is a bare event-socket client for testing the server.
type client struct {
	t *testing.T
	c net.Conn
	r *esl.Reader
}

func dialServer(t *testing.T, s *Server) *client {
	t.Helper()
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return &client{t: t, c: c, r: esl.NewReader(c)}
}

func (c *client) send(cmd string) {
	c.t.Helper()
	if _, err := c.c.Write([]byte(cmd + "\n\n")); err != nil {
		c.t.Fatal(err)
	}
}

// raw reads the next frame and returns its bytes.
func (c *client) raw() []byte {
	c.t.Helper()
	f, err := c.r.ReadFrame()
	if err != nil {
		c.t.Fatal(err)
	}
	return f.Append(nil)
}

func (c *client) frame() esl.Frame {
	c.t.Helper()
	f, err := c.r.ReadFrame()
	if err != nil {
		c.t.Fatal(err)
	}
	return f
}

// capture is a/testdata capture's frames.
func capture(t *testing.T, name string) []esl.Frame {
	t.Helper()
	frames, err := LoadCapture(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return frames
}

func newServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestServer_SpeaksLikeFreeSWITCH: the handshake, the replies and the
// goodbye are byte for byte what FreeSWITCH 1.10.12 sent in the captures.
func TestServer_SpeaksLikeFreeSWITCH(t *testing.T) {
	frames := capture(t, "a_noanswer.esl")
	want := func(i int) []byte { return frames[i].Append(nil) }
	s := newServer(t, Config{})
	c := dialServer(t, s)
	if got := c.raw(); !bytes.Equal(got, want(0)) {
		t.Errorf("greeting %q, want %q", got, want(0))
	}
	c.send("auth ClueCon")
	if got := c.raw(); !bytes.Equal(got, want(1)) {
		t.Errorf("auth reply %q, want %q", got, want(1))
	}
	c.send("event plain ALL")
	if got := c.raw(); !bytes.Equal(got, want(2)) {
		t.Errorf("event reply %q, want %q", got, want(2))
	}
	events := Events(frames)
	if n := s.Send(events...); n != 1 {
		t.Fatalf("sent to %d connections", n)
	}
	for i, e := range events {
		if got := c.raw(); !bytes.Equal(got, e.Append(nil)) {
			t.Fatalf("event %d differs from the capture", i)
		}
	}
	c.send("exit")
	bye, notice := want(len(frames)-2), want(len(frames)-1)
	if got := c.raw(); !bytes.Equal(got, bye) {
		t.Errorf("exit reply %q, want %q", got, bye)
	}
	if got := c.raw(); !bytes.Equal(got, notice) {
		t.Errorf("disconnect notice %q, want %q", got, notice)
	}
	if _, err := c.r.ReadFrame(); err != io.EOF {
		t.Errorf("after the notice: %v, want EOF", err)
	}
}

func TestServer_WrongPassword(t *testing.T) {
	s := newServer(t, Config{Password: "right"})
	c := dialServer(t, s)
	c.frame()
	c.send("auth wrong")
	if f := c.frame(); f.Get("Reply-Text") != "-ERR invalid" {
		t.Errorf("reply %+v", f)
	}
	if f := c.frame(); f.ContentType() != esl.TypeDisconnect {
		t.Errorf("then %+v", f)
	}
	if got := s.Commands(); len(got) != 1 || got[0] != "auth ********" {
		t.Errorf("commands %q: the password must not be recorded", got)
	}
}

func TestServer_Subscription(t *testing.T) {
	s := newServer(t, Config{HeartbeatInterval: 5 * time.Millisecond})
	c := dialServer(t, s)
	c.frame()
	c.send("auth ClueCon")
	c.frame()
	c.send("event plain CHANNEL_HANGUP_COMPLETE HEARTBEAT")
	c.frame()
	s.Send(Events(capture(t, "b_answered.esl"))...)
	hangups, beats := 0, 0
	for hangups < 2 || beats < 2 {
		f := c.frame()
		e, err := esl.ParseEvent(f.Body)
		if err != nil {
			t.Fatal(err)
		}
		switch e.Name() {
		case "CHANNEL_HANGUP_COMPLETE":
			hangups++
		case "HEARTBEAT":
			beats++
			if e.Get("Event-Info") != "System Ready" || e.Time("Event-Date-Timestamp").IsZero() {
				t.Errorf("heartbeat %+v", e.Fields())
			}
		default:
			t.Fatalf("%s was not subscribed to", e.Name())
		}
	}
}

func TestServer_API(t *testing.T) {
	s := newServer(t, Config{})
	c := dialServer(t, s)
	c.frame()
	c.send("auth ClueCon")
	c.frame()
	c.send("api version")
	if f := c.frame(); f.ContentType() != esl.TypeAPIResponse || !strings.HasPrefix(string(f.Body), "FreeSWITCH Version 1.10.12-release~64bit") {
		t.Errorf("version %+v", f)
	}
	c.send("api show channels as json")
	if f := c.frame(); string(f.Body) != "{\"row_count\":0}\n" {
		t.Errorf("no channels: %q", f.Body)
	}
	events := Events(capture(t, "a_noanswer.esl"))
	s.Send(events[:10]...) // the A-leg's CHANNEL_CREATE is among them
	c.send("api show channels as json")
	if f := c.frame(); !strings.Contains(string(f.Body), `"row_count":1,"rows":[{"uuid":"4cbccb0b-b7e8-47a2-b31e-4985993eb6d4"}]`) {
		t.Errorf("one channel: %q", f.Body)
	}
	c.send("api nonsense")
	if f := c.frame(); !strings.HasPrefix(string(f.Body), "-ERR nonsense Command not found") {
		t.Errorf("unknown api %q", f.Body)
	}
	c.send("event plain BACKGROUND_JOB")
	c.frame()
	c.send("bgapi version")
	reply := c.frame()
	job, ok := strings.CutPrefix(reply.Get("Reply-Text"), "+OK Job-UUID: ")
	if !ok || reply.Get("Job-UUID") != job {
		t.Fatalf("bgapi reply %+v", reply)
	}
	e, err := esl.ParseEvent(c.frame().Body)
	if err != nil || e.Name() != "BACKGROUND_JOB" || e.Get("Job-UUID") != job || !strings.HasPrefix(string(e.Body), "FreeSWITCH Version") {
		t.Errorf("background job %+v %v", e, err)
	}
}

func TestServer_Faults(t *testing.T) {
	t.Run("Reject", func(t *testing.T) {
		s := newServer(t, Config{})
		s.Plan(Plan{Reject: true})
		c := dialServer(t, s)
		if f := c.frame(); f.ContentType() != esl.TypeRudeRejection || string(f.Body) != "Access Denied, go away.\n" {
			t.Errorf("got %+v", f)
		}
		if f := c.frame(); f.ContentType() != esl.TypeDisconnect {
			t.Errorf("then %+v", f)
		}
		if _, err := c.r.ReadFrame(); err != io.EOF {
			t.Errorf("then %v, want EOF", err)
		}
	})
	t.Run("Mute", func(t *testing.T) {
		s := newServer(t, Config{})
		s.Plan(Plan{Mute: true})
		c := dialServer(t, s)
		c.c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if _, err := c.r.ReadFrame(); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("got %v, want silence", err)
		}
	})
	t.Run("StreamFaults", func(t *testing.T) {
		s := newServer(t, Config{})
		c := dialServer(t, s)
		c.frame()
		c.send("auth ClueCon")
		c.frame()
		c.send("event plain ALL")
		c.frame()
		s.SendRaw(LogData("hello\n"))
		if f := c.frame(); f.ContentType() != esl.TypeLogData || string(f.Body) != "hello\n" {
			t.Errorf("log/data %+v", f)
		}
		s.SendRaw(UnknownType)
		if _, err := c.r.ReadFrame(); !errors.Is(err, esl.ErrUnknownContentType) {
			t.Errorf("unknown type: %v", err)
		}
		s.SendRaw(NegativeLength)
		if _, err := c.r.ReadFrame(); !errors.Is(err, esl.ErrMalformed) {
			t.Errorf("negative length: %v", err)
		}
	})
	t.Run("MidFrame", func(t *testing.T) {
		s := newServer(t, Config{})
		c := dialServer(t, s)
		c.frame()
		c.send("auth ClueCon")
		c.frame()
		c.send("event plain ALL")
		c.frame()
		s.DropMidFrame(Events(capture(t, "a_noanswer.esl"))[0])
		if _, err := c.r.ReadFrame(); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("got %v", err)
		}
	})
	t.Run("SlowAndCrossedReplies", func(t *testing.T) {
		s := newServer(t, Config{})
		s.Plan(Plan{SlowReply: 30 * time.Millisecond, CrossReply: true})
		c := dialServer(t, s)
		c.frame()
		c.send("auth ClueCon")
		c.frame()
		start := time.Now()
		c.send("api version")
		if f := c.frame(); f.ContentType() != esl.TypeCommandReply {
			t.Errorf("crossed reply %+v", f)
		}
		if f := c.frame(); f.ContentType() != esl.TypeAPIResponse {
			t.Errorf("late reply %+v", f)
		}
		if time.Since(start) < 30*time.Millisecond {
			t.Error("the reply was not late")
		}
	})
	t.Run("StallAndRestart", func(t *testing.T) {
		s := newServer(t, Config{HeartbeatInterval: time.Millisecond})
		c := dialServer(t, s)
		c.frame()
		c.send("auth ClueCon")
		c.frame()
		c.send("event plain HEARTBEAT")
		c.frame()
		c.frame() // a heartbeat
		s.Stall()
		// Drain what was in flight, then silence.
		c.c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		for {
			if _, err := c.r.ReadFrame(); err != nil {
				break
			}
		}
		c2 := dialServer(t, s)
		c2.frame()
		c2.send("auth ClueCon")
		c2.frame()
		s.Restart()
		if f := c2.frame(); f.ContentType() != esl.TypeDisconnect {
			t.Errorf("restart: %+v", f)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Wait(ctx, func() bool { return s.Live() == 0 }); err != nil {
			t.Errorf("connections still open after a restart: %d", s.Live())
		}
	})
}

func TestFreshIDs(t *testing.T) {
	events := Events(capture(t, "b_answered.esl"))
	fresh, ids := FreshIDs(events)
	if len(ids) < 3 {
		t.Fatalf("%d ids replaced", len(ids))
	}
	for i := range events {
		if len(fresh[i].Body) != len(events[i].Body) {
			t.Fatalf("event %d changed length", i)
		}
		for old := range ids {
			if bytes.Contains(fresh[i].Body, []byte(old)) {
				t.Fatalf("event %d still holds %s", i, old)
			}
		}
	}
	e, _ := esl.ParseEvent(fresh[0].Body)
	if e.Get("Unique-ID") != ids["b75037ef-41f7-4370-bac8-0e8a5f14fc9c"] {
		t.Errorf("the A-leg's id is %s", e.Get("Unique-ID"))
	}
}

func TestReadCommand(t *testing.T) {
	r := bufio.NewReader(strings.NewReader("\nauth x\n\nsendmsg uuid\ncall-command: hangup\n\n"))
	for _, want := range []string{"auth x", "sendmsg uuid"} {
		got, err := readCommand(r)
		if err != nil || got != want {
			t.Errorf("got %q %v, want %q", got, err, want)
		}
	}
}
