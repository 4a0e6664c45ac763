package esl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/percipia/eslgo/command"
)

// Errors of the connection to FreeSWITCH. Each is wrapped with the
// address and the step that failed; test with errors.Is.
var (
	// ErrAuth: FreeSWITCH refused the password (-ERR invalid). Retrying
	// with the same password fails the same way.
	ErrAuth = errors.New("FreeSWITCH refused the event socket password")
	// ErrRejected: FreeSWITCH's event socket ACL refused this host
	// (text/rude-rejection) before any password was asked for.
	ErrRejected = errors.New("FreeSWITCH's event socket ACL refused this host")
	// ErrDisconnected: FreeSWITCH closed the event socket (a disconnect
	// notice: FreeSWITCH stopping, or `fsctl shutdown`).
	ErrDisconnected = errors.New("FreeSWITCH closed the event socket")
	// ErrTimeout: FreeSWITCH did not answer a command or greet in time, or
	// sent no HEARTBEAT for too long. The connection is dropped: a reply
	// arriving late would be taken for the next command's.
	ErrTimeout = errors.New("FreeSWITCH did not answer in time")
	// ErrProtocol: FreeSWITCH sent something it should not have at that
	// point (a reply of the wrong kind, no auth/request greeting).
	ErrProtocol = errors.New("unexpected message from FreeSWITCH")
)

// client is one authenticated event-socket connection. Everything happens
// in the goroutine that owns it: it writes a command, then reads frames
// (handing events to onEvent) until the command's reply arrives. So
// commands are serialised and a reply is never taken for another
// command's: after any timeout the connection is closed.
type client struct {
	conn    net.Conn
	r       *Reader
	addr    string
	timeout time.Duration // for one command's reply
	// onEvent handles an event frame read while waiting for a reply;
	// returning an error aborts the command.
	onEvent func(Frame) error
	// onOther handles a frame that is neither an event nor the awaited
	// reply and not fatal (log/data, a frame of unknown type).
	onOther func(Frame, error)
}

// dial connects and authenticates: it waits for the auth/request greeting
// (an ACL rejection arrives instead), sends the password and checks the
// reply. ctx bounds the whole exchange; so does timeout, per step.
func dial(ctx context.Context, addr, password string, timeout time.Duration) (*client, error) {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("esl dial %s: %w", addr, err)
	}
	c := &client{conn: conn, r: NewReader(conn), addr: addr, timeout: timeout}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if err := c.handshake(password); err != nil {
		conn.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("esl dial %s: %w", addr, ctx.Err())
		}
		return nil, err
	}
	return c, nil
}

func (c *client) handshake(password string) error {
	c.conn.SetDeadline(time.Now().Add(c.timeout))
	f, err := c.r.ReadFrame()
	if err != nil {
		return c.readErr("greeting", err)
	}
	switch ct := f.ContentType(); ct {
	case TypeAuthRequest:
	case TypeRudeRejection:
		return fmt.Errorf("esl dial %s: %w (add this host to event_socket.conf.xml's apply-inbound-acl)", c.addr, ErrRejected)
	case TypeDisconnect:
		return fmt.Errorf("esl dial %s: %w", c.addr, ErrDisconnected)
	default:
		return fmt.Errorf("esl dial %s: %w: %q instead of auth/request", c.addr, ErrProtocol, ct)
	}
	c.conn.SetDeadline(time.Time{})
	reply, err := c.command("auth", command.Auth{Password: password}, TypeCommandReply)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(reply.Get("Reply-Text"), "+OK") {
		return fmt.Errorf("esl auth %s: %w (check freeswitch.password against event_socket.conf.xml)", c.addr, ErrAuth)
	}
	return nil
}

// command sends cmd and returns its reply, which must be of content type
// want (command/reply or api/response). what names the command in errors
// (never the command text: auth's holds the password).
func (c *client) command(what string, cmd command.Command, want string) (Frame, error) {
	msg := cmd.BuildMessage()
	if strings.ContainsAny(msg, "\r\n") {
		return Frame{}, fmt.Errorf("esl %s %s: command has a line break", what, c.addr)
	}
	deadline := time.Now().Add(c.timeout)
	c.conn.SetWriteDeadline(deadline)
	if _, err := c.conn.Write([]byte(msg + "\n\n")); err != nil {
		return Frame{}, fmt.Errorf("esl %s %s: %w", what, c.addr, err)
	}
	c.conn.SetWriteDeadline(time.Time{})
	defer c.conn.SetReadDeadline(time.Time{})
	for {
		c.conn.SetReadDeadline(deadline)
		f, err := c.r.ReadFrame()
		if err != nil {
			if errors.Is(err, ErrUnknownContentType) && c.onOther != nil {
				c.onOther(f, err)
				continue
			}
			return Frame{}, c.readErr(what, err)
		}
		switch ct := f.ContentType(); {
		case ct == want:
			return f, nil
		case ct == TypeEventPlain || ct == TypeEventJSON || ct == TypeEventXML:
			if c.onEvent != nil {
				// Time spent handing the event on does not count
				// against FreeSWITCH's reply.
				start := time.Now()
				if err := c.onEvent(f); err != nil {
					return Frame{}, err
				}
				deadline = deadline.Add(time.Since(start))
			}
		case ct == TypeLogData:
			if c.onOther != nil {
				c.onOther(f, nil)
			}
		case ct == TypeDisconnect:
			return Frame{}, fmt.Errorf("esl %s %s: %w", what, c.addr, ErrDisconnected)
		default:
			// A reply of the other kind: the stream is not where textback
			// thinks it is (a crossed or stray reply). Start over.
			return Frame{}, fmt.Errorf("esl %s %s: %w: %s while waiting for %s", what, c.addr, ErrProtocol, ct, want)
		}
	}
}

// api runs an `api` command and returns the response body.
func (c *client) api(cmd, args string) (string, error) {
	f, err := c.command("api "+cmd, trimmed{command.API{Command: cmd, Arguments: args}}, TypeAPIResponse)
	if err != nil {
		return "", err
	}
	return string(f.Body), nil
}

// trimmed drops the trailing space eslgo leaves after a command without
// arguments ("api version ").
type trimmed struct{ command.Command }

func (t trimmed) BuildMessage() string { return strings.TrimRight(t.Command.BuildMessage(), " ") }

// readErr wraps an error from reading a frame.
func (c *client) readErr(what string, err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("esl %s %s: %w", what, c.addr, ErrTimeout)
	}
	return fmt.Errorf("esl %s %s: %w", what, c.addr, err)
}

// close says goodbye (best effort, without waiting) and closes.
func (c *client) close() {
	c.conn.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	c.conn.Write([]byte(command.Exit{}.BuildMessage() + "\n\n"))
	c.conn.Close()
}

// version extracts the version from `api version`'s reply
// ("FreeSWITCH Version 1.10.12-release~64bit (-release 64bit)").
func version(reply string) string {
	s := strings.TrimSpace(reply)
	if rest, ok := strings.CutPrefix(s, "FreeSWITCH Version "); ok {
		v, _, _ := strings.Cut(rest, " ")
		return v
	}
	return s
}
