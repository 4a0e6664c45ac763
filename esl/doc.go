// Package esl is textback's FreeSWITCH adapter: it watches a FreeSWITCH
// through mod_event_socket (an inbound connection) and turns its channel
// events into PBX-neutral ledger.Events.
//
// It owns everything textback knows about FreeSWITCH:
//
//   - the event-socket wire format (Reader, Frame, ParseEvent), for the live
//     connection, for replaying raw captures (ReadCapture) and for the fake
//     server in esl/esltest;
//   - which channel is the caller's (the A-leg: Call-Direction inbound on a
//     configured sofia profile, not a loopback leg, not an authenticated
//     phone), what means "a person answered" (the bridge variables or a
//     CHANNEL_BRIDGE, never CHANNEL_ANSWER or the Hangup-Cause), why a call
//     was missed (originate_disposition, DIALSTATUS, sip_hangup_disposition),
//     which line was called and whether the caller withheld the number;
//   - the connection's supervision (Source): dial and handshake timeouts,
//     HEARTBEAT liveness, redial with capped exponential backoff and jitter,
//     and reconciliation with `show channels` after a reconnect.
//
// It must not decide anything: whether a call is missed, answered or
// ignored, and whether its caller may be texted, is the ledger's business.
// It emits events with PBX "freeswitch" and the A-leg's UUID as the call
// id, and nothing else reaches the core.
//
// The connection is not made with github.com/percipia/eslgo's Conn: its
// Dial cannot be given a timeout or a context (an ACL rejection blocks it
// forever and leaks the goroutine and the socket), a Content-Length of -1
// or a huge one panics on a goroutine of its own (no recover in textback
// can catch it), and it delivers each event on a goroutine of its own. esl
// reads the socket itself, in one goroutine, with its own frame parser;
// the command text comes from eslgo's command package.
package esl
