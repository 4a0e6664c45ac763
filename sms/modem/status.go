package modem

import (
	"time"
)

// State is the driver's state in Status.
type State string

// States of the driver.
const (
	StateStarting State = "starting" // Run not yet ready
	StateReady    State = "ready"    // texts are sent
	StateDown     State = "down"     // unplugged, not answering, no SIM, not registered: reopening with backoff
	StateStopped  State = "stopped"  // Run returned
)

// Info is what the modem says about itself, its SIM and its network.
// Fields it would not tell are empty (Signal -1).
type Info struct {
	Manufacturer string `json:"manufacturer"`
	Model        string `json:"model"`
	Revision     string `json:"revision"`
	IMEI         string `json:"imei"`
	// SIM is the AT+CPIN? state: READY, SIM PIN, SIM PUK, or an error
	// such as "not inserted".
	SIM string `json:"sim"`
	// Operator is the network the modem is registered on (AT+COPS?).
	Operator string `json:"operator"`
	// Registration is home, roaming, searching, denied, not registered
	// or unknown (AT+CREG?).
	Registration string `json:"registration"`
	// Signal is AT+CSQ's RSSI (0-31, -1 unknown); SignalDBm the same in
	// dBm (-113 to -51, 0 unknown).
	Signal    int `json:"signal"`
	SignalDBm int `json:"signal_dbm"`
	// SMSC is the service centre the SIM sends through (AT+CSCA?).
	SMSC string `json:"smsc"`
	// StorageUsed and StorageTotal are the SMS store's use (AT+CPMS?),
	// -1 unknown.
	StorageUsed  int `json:"storage_used"`
	StorageTotal int `json:"storage_total"`
	// GSM is whether AT+GCAP lists +CGSM.
	GSM bool `json:"gsm"`
}

// Status is the driver's state for `textback modem status` and `textback
// status`.
type Status struct {
	State     State     `json:"state"`
	Since     time.Time `json:"since"`
	LastError string    `json:"last_error,omitempty"`
	Device    string    `json:"device"`
	Number    string    `json:"number,omitempty"`
	Info
	// Pacing and queue.
	InFlight     int       `json:"in_flight"` // Send calls waiting or sending
	SentLastHour int       `json:"sent_last_hour"`
	SentLastDay  int       `json:"sent_last_day"`
	MaxPerHour   int       `json:"max_per_hour"`
	MaxPerDay    int       `json:"max_per_day"`
	MinGap       string    `json:"min_gap"`
	LastSend     time.Time `json:"last_send,omitzero"`
}

// Status returns a snapshot of the driver's state. It does not touch the
// modem (the values are from the last health check) and does not block.
func (d *Driver) Status() Status {
	st := d.state()
	st.InFlight = int(d.inflight.Load())
	st.SentLastHour, st.SentLastDay = d.pace.counts(d.now())
	st.MaxPerHour, st.MaxPerDay = d.cfg.MaxPerHour, d.cfg.MaxPerDay
	st.MinGap = d.cfg.MinGap.String()
	d.pace.mu.Lock()
	st.LastSend = d.pace.last
	d.pace.mu.Unlock()
	return st
}

func (d *Driver) state() Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.status
}

func (d *Driver) setState(s State, lastErr string) {
	d.mu.Lock()
	if d.status.State != s {
		d.status.Since = d.now()
	}
	d.status.State = s
	d.status.LastError = lastErr
	d.mu.Unlock()
	if s == StateReady {
		d.readyMu.Do(func() { close(d.ready) })
	}
}

func (d *Driver) setInfo(in Info) {
	d.mu.Lock()
	d.status.Info = in
	d.mu.Unlock()
}
