package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/textback/textback/ledger"
	"github.com/textback/textback/sms/modem"
)

// statusReport is GET /status on the admin listener: what `textback
// status` shows.
type statusReport struct {
	Version  string      `json:"version"`
	Started  time.Time   `json:"started"`
	Now      time.Time   `json:"now"`
	Ready    bool        `json:"ready"`
	NotReady string      `json:"not_ready,omitempty"`
	PBX      pbxState    `json:"pbx"`
	Driver   driverState `json:"driver"`
	Outbox   struct {
		Queued       int       `json:"queued"`
		OldestQueued time.Time `json:"oldest_queued,omitzero"`
	} `json:"outbox"`
	LastMissed *lastMissedCall `json:"last_missed,omitempty"`
	// Today counts since local midnight.
	Today struct {
		Missed  int `json:"missed"`
		Texts   int `json:"texts"` // texts the driver accepted (sent, delivered)
		OptOuts int `json:"opt_outs"`
		RateCap int `json:"rate_capped"` // missed calls not texted: a rate cap was reached
	} `json:"today"`
	Warnings []string `json:"warnings"`
	// Modem is the USB modem's own report (driver modem only).
	Modem *modem.Status `json:"modem,omitempty"`
}

// lastMissedCall is the last missed call and what became of it.
type lastMissedCall struct {
	ID      string    `json:"id"`
	From    string    `json:"from"`
	Line    string    `json:"line,omitempty"`
	Reason  string    `json:"reason"`
	EndedAt time.Time `json:"ended_at"`
	// Outcome: "text sent", "text queued", "not texted: cooldown", ...
	Outcome string `json:"outcome"`
}

// weakSignal is the RSSI (AT+CSQ, 0-31) under which the modem's signal is
// called weak: below 10 (-93 dBm) sends start to fail.
const weakSignal = 10

// statusHandler serves /status from the daemon's state and ledger.
type statusHandler struct {
	mon     *monitor
	store   *ledger.Store
	started time.Time
	show    NumberFormatter
}

func (h *statusHandler) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	rep, err := h.report(time.Now())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(rep)
}

func (h *statusHandler) report(now time.Time) (*statusReport, error) {
	r := &statusReport{Version: versionString(), Started: h.started, Now: now, Warnings: []string{}}
	r.PBX, r.Driver = h.mon.pbxState(), h.mon.driverState()
	r.Ready, r.NotReady = readiness(r.PBX, r.Driver)
	if md, ok := h.mon.driver.(*modem.Driver); ok {
		st := md.Status()
		r.Modem = &st
	}
	n, oldest, err := h.store.QueueDepth()
	if err != nil {
		return nil, err
	}
	r.Outbox.Queued, r.Outbox.OldestQueued = n, oldest
	midnight := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, now.Location())

	calls, err := since(h.store.Calls, func(c ledger.Call) time.Time { return c.DecidedAt }, midnight, 1)
	if err != nil {
		return nil, err
	}
	for _, c := range calls {
		if c.Outcome == ledger.Missed && !c.DecidedAt.Before(midnight) {
			r.Today.Missed++
			if c.Skip == ledger.SkipRateCap {
				r.Today.RateCap++
			}
		}
	}
	// The last missed call, even from before today.
	last, err := h.lastMissed()
	if err != nil {
		return nil, err
	}
	r.LastMissed = last
	texts, err := since(h.store.Texts, func(t ledger.Text) time.Time { return t.CreatedAt }, midnight, 0)
	if err != nil {
		return nil, err
	}
	for _, t := range texts {
		if t.Status == ledger.StatusSent || t.Status == ledger.StatusDelivered {
			r.Today.Texts++
		}
	}
	msgs, err := since(h.store.Messages, func(m ledger.Message) time.Time { return m.ReceivedAt }, midnight, 0)
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		if m.Kind == ledger.MsgOptOut {
			r.Today.OptOuts++
		}
	}
	r.Warnings = warnings(r, now)
	return r, nil
}

// lastMissed finds the newest missed call in the ledger.
func (h *statusHandler) lastMissed() (*lastMissedCall, error) {
	for n := 16; ; n *= 4 {
		calls, err := h.store.Calls(n)
		if err != nil {
			return nil, err
		}
		for _, c := range calls {
			if c.Outcome != ledger.Missed {
				continue
			}
			mc := &lastMissedCall{ID: c.ID, From: c.From, Line: c.Line, Reason: string(c.Reason), EndedAt: c.EndedAt}
			if c.Number != "" {
				mc.From = h.show(c.Number)
			}
			switch {
			case c.Action == ledger.ActionSkip:
				mc.Outcome = "not texted: " + string(c.Skip)
			case c.Text != 0:
				t, err := h.store.Text(c.Text)
				if err != nil {
					return nil, err
				}
				mc.Outcome = "text " + string(t.Status)
				if t.Error != "" {
					mc.Outcome += ": " + t.Error
				}
			default:
				mc.Outcome = string(c.Action)
			}
			return mc, nil
		}
		if len(calls) < n {
			return nil, nil
		}
	}
}

// since returns the records fetch gives (newest first) down to the first
// older than from; keep more past it (calls are dated by decision, which
// is nearly but not exactly in sequence order).
func since[T any](fetch func(n int) ([]T, error), at func(T) time.Time, from time.Time, keep int) ([]T, error) {
	for n := 64; ; n *= 4 {
		got, err := fetch(n)
		if err != nil {
			return nil, err
		}
		older := 0
		for i, r := range got {
			if at(r).Before(from) {
				older++
				if older > keep {
					return got[:i], nil
				}
			}
		}
		if len(got) < n {
			return got, nil
		}
	}
}

// warnings are what an admin should look at, worst first.
func warnings(r *statusReport, now time.Time) []string {
	var w []string
	if !r.PBX.up() {
		since := ""
		if !r.PBX.Since.IsZero() {
			since = " for " + now.Sub(r.PBX.Since).Round(time.Second).String()
		}
		w = append(w, fmt.Sprintf("not connected to the PBX%s: %s", since, r.PBX.status()))
	}
	if !r.Driver.Ready {
		w = append(w, "the driver cannot send: "+r.Driver.status())
	}
	w = append(w, r.PBX.Warnings...)
	if r.Driver.Name == "modem" && r.Driver.Signal >= 0 && r.Driver.Signal < weakSignal {
		w = append(w, fmt.Sprintf("modem signal weak (%d dBm, RSSI %d/31): move the modem or its antenna", r.Driver.SignalDBm, r.Driver.Signal))
	}
	if r.Driver.MaxPerHour > 0 && r.Driver.SentLastHour >= r.Driver.MaxPerHour {
		w = append(w, fmt.Sprintf("modem pacing cap reached: %d texts in the last hour (driver.modem.max_per_hour %d)", r.Driver.SentLastHour, r.Driver.MaxPerHour))
	}
	if r.Driver.MaxPerDay > 0 && r.Driver.SentLastDay >= r.Driver.MaxPerDay {
		w = append(w, fmt.Sprintf("modem pacing cap reached: %d texts in the last day (driver.modem.max_per_day %d)", r.Driver.SentLastDay, r.Driver.MaxPerDay))
	}
	if r.Today.RateCap > 0 {
		w = append(w, fmt.Sprintf("rate cap reached: %d missed call(s) today not texted (policy.max_per_hour, max_per_day)", r.Today.RateCap))
	}
	if !r.Outbox.OldestQueued.IsZero() && now.Sub(r.Outbox.OldestQueued) > 5*time.Minute {
		w = append(w, fmt.Sprintf("the oldest queued text has waited %s", now.Sub(r.Outbox.OldestQueued).Round(time.Second)))
	}
	return w
}

// cmdStatus asks the running daemon's admin listener how it is doing.
func cmdStatus(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "status", "[--config FILE] [--admin HOST:PORT] [--json]")
	path := configFlag(fs)
	addr := fs.String("admin", "", "the daemon's admin listener (default: admin.listen from the config)")
	asJSON := fs.Bool("json", false, "print the daemon's JSON as it is")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: status takes no arguments", errUsage)
	}
	body, err := fetchStatus(ctx, *path, *addr)
	if err != nil {
		return err
	}
	if *asJSON {
		_, err := e.stdout.Write(body)
		return err
	}
	var r statusReport
	if err := json.Unmarshal(body, &r); err != nil {
		return fmt.Errorf("not textback's status: %w", err)
	}
	writeStatus(e.stdout, &r)
	return nil
}

// fetchStatus asks the running daemon for its /status: at addr, or at the
// config's admin.listen.
func fetchStatus(ctx context.Context, path, addr string) ([]byte, error) {
	if addr == "" {
		cfg, err := loadConfigFlag(path)
		if err != nil {
			return nil, err
		}
		if cfg.Admin.Listen == "off" {
			return nil, errors.New("the admin listener is off (admin.listen: off): textback status needs it; journalctl -u textback and systemctl status textback tell what they can")
		}
		addr = cfg.Admin.Listen
	}
	url := "http://" + dialable(addr) + "/status"
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if errors.Is(err, syscall.ECONNREFUSED) {
		return nil, fmt.Errorf("textback is not running: nothing answers on %s (systemctl status textback)", dialable(addr))
	}
	if err != nil {
		return nil, fmt.Errorf("textback does not answer on %s: %w", dialable(addr), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}

// dialable turns a listen address into one to connect to: every
// interface (":8381", "0.0.0.0:8381") is reached on loopback.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// writeStatus prints the report as one screen.
func writeStatus(w io.Writer, r *statusReport) {
	ago := func(t time.Time) string {
		return t.Local().Format("2006-01-02 15:04:05") + " (" + r.Now.Sub(t).Round(time.Second).String() + " ago)"
	}
	state := "ready"
	if !r.Ready {
		state = "NOT READY: " + r.NotReady
	}
	fmt.Fprintf(w, "textback %s, running since %s: %s\n", r.Version, ago(r.Started), state)
	pbx := r.PBX.status()
	switch {
	case r.PBX.PBX == "none":
	case r.PBX.Connected:
		pbx += ", connected since " + ago(r.PBX.Since)
	case !r.PBX.Since.IsZero():
		pbx += ", down since " + ago(r.PBX.Since)
	}
	fmt.Fprintf(w, "pbx        %s\n", pbx)
	drv := r.Driver.status()
	if r.Driver.Name == "modem" {
		if r.Driver.Operator != "" {
			drv += ", " + r.Driver.Operator
		}
		if r.Driver.Signal >= 0 {
			drv += fmt.Sprintf(", signal %d dBm", r.Driver.SignalDBm)
		}
		if r.Driver.MaxPerHour > 0 {
			drv += fmt.Sprintf(", %d/%d texts this hour", r.Driver.SentLastHour, r.Driver.MaxPerHour)
		}
	}
	fmt.Fprintf(w, "driver     %s\n", drv)
	outbox := fmt.Sprintf("%d queued", r.Outbox.Queued)
	if !r.Outbox.OldestQueued.IsZero() {
		outbox += ", the oldest since " + ago(r.Outbox.OldestQueued)
	}
	fmt.Fprintf(w, "outbox     %s\n", outbox)
	if m := r.LastMissed; m != nil {
		line := ""
		if m.Line != "" {
			line = " on " + m.Line
		}
		fmt.Fprintf(w, "last miss  %s from %s%s, %s (%s): %s\n", m.ID, m.From, line, ago(m.EndedAt), m.Reason, m.Outcome)
	} else {
		fmt.Fprintf(w, "last miss  none yet\n")
	}
	fmt.Fprintf(w, "today      %d missed, %d texts sent, %d opt-outs\n", r.Today.Missed, r.Today.Texts, r.Today.OptOuts)
	if len(r.Warnings) == 0 {
		fmt.Fprintf(w, "warnings   none\n")
		return
	}
	fmt.Fprintf(w, "warnings   %d\n", len(r.Warnings))
	for _, x := range r.Warnings {
		fmt.Fprintf(w, "  - %s\n", x)
	}
}
