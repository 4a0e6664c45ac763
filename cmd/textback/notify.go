package main

import (
	"context"
	"sync"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
	"github.com/rs/zerolog"
)

// statusPoll is how often the main loop reads the PBX's and the driver's
// state for systemd's STATUS and READY (cheap snapshots, no I/O).
const statusPoll = 200 * time.Millisecond

// startPoll is how often it reads them until READY.
const startPoll = 5 * time.Millisecond

// notifier speaks systemd's notify protocol (Type=notify): READY=1 once
// the PBX's events flow and the driver can send, STATUS= as that changes,
// WATCHDOG=1 from the main loop, RELOADING=1/READY=1 around a reload and
// STOPPING=1. Without $NOTIFY_SOCKET every message is dropped.
type notifier struct {
	log      zerolog.Logger
	watchdog time.Duration // WatchdogSec; 0 when off

	mu     sync.Mutex
	ready  bool   // READY=1 was sent
	status string // the last STATUS sent
	failed bool   // a send failed (logged once)
}

func newNotifier(log zerolog.Logger) *notifier {
	n := &notifier{log: log}
	wd, err := sd.SdWatchdogEnabled(false)
	if err != nil {
		log.Warn().Err(err).Msg("systemd watchdog settings unreadable; not pinging")
	}
	n.watchdog = wd
	return n
}

// send sends one notify message; the caller holds n.mu.
func (n *notifier) send(state string) {
	if _, err := sd.SdNotify(false, state); err != nil && !n.failed {
		n.failed = true
		n.log.Warn().Err(err).Msg("systemd notify failed")
	}
}

// update sends STATUS when it changed, and READY=1 the first time ready
// is true.
func (n *notifier) update(status string, ready bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if status != n.status {
		n.status = status
		n.send("STATUS=" + status)
	}
	if ready && !n.ready {
		n.ready = true
		n.send("READY=1")
	}
}

// reloading wraps a reload in RELOADING=1 ... READY=1, when the daemon
// is ready already (before that, systemd still waits for the first
// READY=1, which only the PBX and the driver bring).
func (n *notifier) reloading(reload func()) {
	n.mu.Lock()
	wasReady := n.ready
	if wasReady {
		n.send("RELOADING=1\nMONOTONIC_USEC=" + sd.SdNotifyMonotonicUsec())
	}
	n.mu.Unlock()
	reload()
	if wasReady {
		n.mu.Lock()
		n.send("READY=1")
		n.mu.Unlock()
	}
}

func (n *notifier) stopping() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.send("STOPPING=1\nSTATUS=stopping")
}

// loop is the daemon's main loop until ctx ends: it follows the PBX's and
// the driver's state for STATUS and READY, and pings the watchdog at half
// its interval, so a wedged daemon is restarted.
func (n *notifier) loop(ctx context.Context, m *monitor) {
	poll := time.NewTicker(statusPoll)
	defer poll.Stop()
	var ping <-chan time.Time
	if n.watchdog > 0 {
		t := time.NewTicker(n.watchdog / 2)
		defer t.Stop()
		ping = t.C
		n.mu.Lock()
		n.send("WATCHDOG=1")
		n.mu.Unlock()
	}
	// Until READY the state is read every startPoll: systemctl start (and
	// anything ordered after textback) waits for it.
	start := time.NewTicker(startPoll)
	defer start.Stop()
	for {
		n.update(m.statusLine())
		n.mu.Lock()
		if n.ready {
			start.Stop()
		}
		n.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-poll.C:
		case <-start.C:
		case <-ping:
			n.mu.Lock()
			n.send("WATCHDOG=1")
			n.mu.Unlock()
		}
	}
}
