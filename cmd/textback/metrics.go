package main

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/textback/textback/ledger"
	"github.com/textback/textback/sms"
)

// metrics is the admin listener's Prometheus registry. Most values are
// read at scrape time from snapshots the packages export (the PBX
// adapter's State, the driver's Status, the ledger's Stats and records);
// sends and their latency are counted by meteredDriver, which wraps the
// driver the dispatcher uses.
type metrics struct {
	reg     *prometheus.Registry
	sends   *prometheus.CounterVec
	latency prometheus.Histogram
}

func newMetrics(mon *monitor, store *ledger.Store) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.sends = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "textback_send_attempts_total",
		Help: "Texts handed to the driver since the daemon started, by the driver's outcome (accepted, temporary, rejected, opted_out, not_mobile, unknown).",
	}, []string{"outcome"})
	m.latency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "textback_detect_to_send_seconds",
		Help:    "From the decision that a call was missed to the driver accepting its text-back (held texts included).",
		Buckets: []float64{0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800, 7200, 43200},
	})
	for _, o := range []sms.Outcome{sms.Accepted, sms.Temporary, sms.Rejected, sms.OptedOut, sms.NotMobile, sms.Unknown} {
		m.sends.WithLabelValues(o.String())
	}
	m.reg.MustRegister(m.sends, m.latency, newStateCollector(mon, store))
	return m
}

// meteredDriver counts the dispatcher's sends and, for the text-back of
// a missed call, the time from the decision to the driver's acceptance.
// The call is found through the message's key, "textback-SEQ" (the
// dispatcher's idempotency key), in the ledger.
type meteredDriver struct {
	sms.Driver
	store *ledger.Store
	m     *metrics
}

func (d meteredDriver) Send(ctx context.Context, msg sms.Message) (sms.Result, error) {
	res, err := d.Driver.Send(ctx, msg)
	o := sms.OutcomeOf(err)
	d.m.sends.WithLabelValues(o.String()).Inc()
	if o == sms.Accepted {
		if decided := d.decidedAt(msg.Key); !decided.IsZero() {
			d.m.latency.Observe(time.Since(decided).Seconds())
		}
	}
	return res, err
}

// decidedAt is when the call a callback text answers was decided, or
// zero when key names no such text.
func (d meteredDriver) decidedAt(key string) time.Time {
	seq, err := strconv.ParseUint(strings.TrimPrefix(key, "textback-"), 10, 64)
	if err != nil || !strings.HasPrefix(key, "textback-") {
		return time.Time{}
	}
	t, err := d.store.Text(seq)
	if err != nil || t.Kind != ledger.KindCallback || t.Call == "" {
		return time.Time{}
	}
	c, err := d.store.Call(t.Call)
	if err != nil {
		return time.Time{}
	}
	return c.DecidedAt
}

// stateCollector reads the daemon's state at scrape time.
type stateCollector struct {
	mon   *monitor
	store *ledger.Store

	pbxConnected, pbxReconnects, pbxEvents, pbxUnknown, pbxMalformed, pbxUnobserved *prometheus.Desc
	driverReady, driverState, modemSignal, modemSent                                *prometheus.Desc
	ledgerBytes, outboxQueued, outboxOldest, optedOut, texts                        *prometheus.Desc
	calls, skips, inbound, scanErrors                                               *prometheus.Desc

	mu   sync.Mutex
	scan ledgerScan
}

func newStateCollector(mon *monitor, store *ledger.Store) *stateCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &stateCollector{mon: mon, store: store,
		pbxConnected:  d("textback_pbx_connected", "1 while the PBX adapter is connected and events flow (1 with pbx: none).", "pbx"),
		pbxReconnects: d("textback_pbx_reconnects_total", "Connections to the PBX after the first.", "pbx"),
		pbxEvents:     d("textback_pbx_events_total", "Events received from the PBX.", "pbx"),
		pbxUnknown:    d("textback_pbx_unknown_events_total", "PBX events of types the adapter does not know, skipped.", "pbx"),
		pbxMalformed:  d("textback_pbx_malformed_events_total", "PBX messages that were no readable event, skipped.", "pbx"),
		pbxUnobserved: d("textback_pbx_unobserved_calls_total", "Calls that ended while the PBX connection was down, not decided.", "pbx"),
		driverReady:   d("textback_driver_ready", "1 while the driver can send.", "driver"),
		driverState:   d("textback_driver_state", "The driver's state: 1 for the current one (starting, ready, down, stopped).", "driver", "state"),
		modemSignal:   d("textback_modem_signal_dbm", "The modem's signal in dBm at its last health check (absent when unknown).", "driver"),
		modemSent:     d("textback_modem_sent_last_hour", "Texts the modem sent in the last hour (its pacing counts).", "driver"),
		ledgerBytes:   d("textback_ledger_file_bytes", "The ledger file's size."),
		outboxQueued:  d("textback_outbox_queued", "Texts waiting in the outbox."),
		outboxOldest:  d("textback_outbox_oldest_queued_age_seconds", "Age of the oldest text waiting in the outbox (0 when none)."),
		optedOut:      d("textback_opted_out_numbers", "Numbers currently opted out."),
		texts:         d("textback_ledger_texts", "Texts in the ledger by status (queued, sending, sent, delivered, failed, unknown, dropped, shadow).", "status"),
		calls:         d("textback_calls_total", "Calls decided, by verdict (missed, answered, ignored) and reason.", "verdict", "reason"),
		skips:         d("textback_skips_total", "Decided calls not texted, by why (answered, opted_out, cooldown, rate_cap, ...).", "reason"),
		inbound:       d("textback_inbound_total", "Messages received, by kind (opt_out, opt_in, help, reply, ...).", "kind"),
		scanErrors:    d("textback_ledger_read_errors_total", "Scrapes that could not read the ledger."),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.pbxConnected, c.pbxReconnects, c.pbxEvents, c.pbxUnknown, c.pbxMalformed, c.pbxUnobserved,
		c.driverReady, c.driverState, c.modemSignal, c.modemSent, c.ledgerBytes, c.outboxQueued, c.outboxOldest, c.optedOut, c.texts,
		c.calls, c.skips, c.inbound, c.scanErrors} {
		ch <- d
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	p := c.mon.pbxState()
	gauge(c.pbxConnected, b2f(p.up()), p.PBX)
	if p.PBX != "none" {
		counter(c.pbxReconnects, float64(p.Reconnects), p.PBX)
		counter(c.pbxEvents, float64(p.Events), p.PBX)
		counter(c.pbxUnknown, float64(p.Unknown), p.PBX)
		counter(c.pbxMalformed, float64(p.Malformed), p.PBX)
		counter(c.pbxUnobserved, float64(p.Unobserved), p.PBX)
	}
	dr := c.mon.driverState()
	gauge(c.driverReady, b2f(dr.Ready), dr.Name)
	for _, s := range []string{"starting", "ready", "down", "stopped"} {
		gauge(c.driverState, b2f(dr.State == s), dr.Name, s)
	}
	if dr.Name == "modem" {
		if dr.SignalDBm != 0 {
			gauge(c.modemSignal, float64(dr.SignalDBm), dr.Name)
		}
		gauge(c.modemSent, float64(dr.SentLastHour), dr.Name)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := c.store.Gauges() // kept counts: cheap at any ledger size
	if err == nil {
		err = c.scan.update(c.store)
	}
	if err != nil {
		c.scan.errors++
	}
	counter(c.scanErrors, float64(c.scan.errors))
	if err != nil {
		return
	}
	gauge(c.ledgerBytes, float64(st.FileBytes))
	gauge(c.outboxQueued, float64(st.Queued))
	gauge(c.outboxOldest, st.OldestQueuedAge.Seconds())
	gauge(c.optedOut, float64(st.OptedOut))
	for _, s := range []ledger.TextStatus{ledger.StatusQueued, ledger.StatusSending, ledger.StatusSent, ledger.StatusDelivered,
		ledger.StatusFailed, ledger.StatusUnknown, ledger.StatusDropped, ledger.StatusShadow} {
		gauge(c.texts, float64(st.TextsByStatus[s]), string(s))
	}
	for k, n := range c.scan.calls {
		counter(c.calls, n, k[0], k[1])
	}
	for k, n := range c.scan.skips {
		counter(c.skips, n, k)
	}
	for k, n := range c.scan.inbound {
		counter(c.inbound, n, k)
	}
}

// ledgerScan counts the ledger's calls and inbound messages, reading only
// the records added since the last scrape (both are written once and
// kept: retention blanks bodies, never records).
type ledgerScan struct {
	lastCall, lastMsg uint64
	calls             map[[2]string]float64
	skips             map[string]float64
	inbound           map[string]float64
	errors            float64
}

func (s *ledgerScan) update(store *ledger.Store) error {
	if s.calls == nil {
		s.calls, s.skips, s.inbound = map[[2]string]float64{}, map[string]float64{}, map[string]float64{}
	}
	calls, err := newer(store.Calls, func(c ledger.Call) uint64 { return c.Seq }, s.lastCall)
	if err != nil {
		return err
	}
	msgs, err := newer(store.Messages, func(m ledger.Message) uint64 { return m.Seq }, s.lastMsg)
	if err != nil {
		return err
	}
	for _, c := range calls {
		s.calls[[2]string{string(c.Outcome), string(c.Reason)}]++
		if c.Action == ledger.ActionSkip {
			s.skips[string(c.Skip)]++
		}
		s.lastCall = max(s.lastCall, c.Seq)
	}
	for _, m := range msgs {
		s.inbound[string(m.Kind)]++
		s.lastMsg = max(s.lastMsg, m.Seq)
	}
	return nil
}

// newer returns the records with a sequence above last, from fetch
// (newest first, at most n), asking for more until it has them all.
func newer[T any](fetch func(n int) ([]T, error), seq func(T) uint64, last uint64) ([]T, error) {
	for n := 64; ; n *= 4 {
		got, err := fetch(n)
		if err != nil {
			return nil, err
		}
		if len(got) < n || seq(got[len(got)-1]) <= last {
			out := got[:0:0]
			for _, r := range got {
				if seq(r) > last {
					out = append(out, r)
				}
			}
			return out, nil
		}
	}
}
