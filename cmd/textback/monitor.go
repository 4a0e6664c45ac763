package main

import (
	"fmt"
	"time"

	"github.com/textback/textback/ari"
	"github.com/textback/textback/esl"
	"github.com/textback/textback/sms"
	"github.com/textback/textback/sms/modem"
)

// monitor reads the running pieces' state for systemd (STATUS, READY),
// the admin listener (/readyz, /metrics, /status). It only takes the
// snapshots the packages export (ari/esl Source.State, modem
// Driver.Status); it never blocks on the PBX or the device.
type monitor struct {
	pbx    string // asterisk, freeswitch or none
	addr   string // the PBX's address as configured
	src    source
	driver sms.Driver
}

func newMonitor(cfg *Config, src source, driver sms.Driver) *monitor {
	m := &monitor{pbx: cfg.PBX, src: src, driver: driver}
	switch cfg.PBX {
	case "asterisk":
		m.addr = cfg.Asterisk.URL
	case "freeswitch":
		m.addr = cfg.FreeSWITCH.Address
	}
	return m
}

// pbxState is a PBX adapter's connection, PBX-neutral.
type pbxState struct {
	PBX        string    `json:"pbx"` // asterisk, freeswitch or none
	Address    string    `json:"address,omitempty"`
	Connected  bool      `json:"connected"`
	Since      time.Time `json:"since,omitzero"` // when Connected last changed
	Version    string    `json:"version,omitempty"`
	Reconnects int       `json:"reconnects"`
	Events     uint64    `json:"events"`
	Unknown    uint64    `json:"unknown_events"`
	Malformed  uint64    `json:"malformed_events"`
	Unobserved int       `json:"unobserved_calls"`
	LastError  string    `json:"last_error,omitempty"`
	Warnings   []string  `json:"warnings,omitempty"`
}

// up reports whether events flow (always, with no PBX to watch).
func (p pbxState) up() bool { return p.PBX == "none" || p.Connected }

// status is the PBX's part of systemd's STATUS line.
func (p pbxState) status() string {
	switch {
	case p.PBX == "none":
		return "no PBX (pbx: none)"
	case p.Connected:
		name := map[string]string{"asterisk": "Asterisk", "freeswitch": "FreeSWITCH"}[p.PBX]
		return fmt.Sprintf("watching %s %s at %s", name, p.Version, p.Address)
	case p.LastError == "":
		return fmt.Sprintf("%s: connecting to %s", p.PBX, p.Address)
	}
	return fmt.Sprintf("%s: reconnecting to %s (%s)", p.PBX, p.Address, p.LastError)
}

func (m *monitor) pbxState() pbxState {
	p := pbxState{PBX: m.pbx, Address: m.addr}
	switch s := m.src.(type) {
	case *ari.Source:
		st := s.State()
		p.Connected, p.Since, p.Version, p.Reconnects, p.LastError = st.Connected, st.Since, st.Version, st.Reconnects, st.LastError
		p.Events, p.Unknown, p.Malformed = uint64(st.Events), uint64(st.Unknown), uint64(st.Malformed)
		p.Warnings = st.Warnings
	case *esl.Source:
		st := s.State()
		p.Connected, p.Since, p.Version, p.Reconnects, p.LastError = st.Connected, st.Since, st.Version, st.Reconnects, st.LastError
		p.Events, p.Unobserved = st.Events, st.Unobserved
	}
	return p
}

// driverState is the driver's state, the same for every driver.
type driverState struct {
	Name      string    `json:"name"`
	State     string    `json:"state"` // starting, ready, down, stopped
	Ready     bool      `json:"ready"`
	Since     time.Time `json:"since,omitzero"`
	LastError string    `json:"last_error,omitempty"`
	// The modem's: its SIM, network and signal (-1 unknown), and pacing.
	SIM          string `json:"sim,omitempty"`
	Operator     string `json:"operator,omitempty"`
	Signal       int    `json:"signal"`
	SignalDBm    int    `json:"signal_dbm,omitempty"`
	SentLastHour int    `json:"sent_last_hour,omitempty"`
	SentLastDay  int    `json:"sent_last_day,omitempty"`
	MaxPerHour   int    `json:"max_per_hour,omitempty"`
	MaxPerDay    int    `json:"max_per_day,omitempty"`
}

// status is the driver's part of systemd's STATUS line.
func (d driverState) status() string {
	switch {
	case d.Name == "modem" && d.SIM != "" && d.SIM != "READY" && !d.Ready:
		return "modem: waiting for SIM (" + d.SIM + ")"
	case d.LastError != "" && !d.Ready:
		return fmt.Sprintf("%s: %s (%s)", d.Name, d.State, d.LastError)
	}
	return d.Name + ": " + d.State
}

func (m *monitor) driverState() driverState {
	d := driverState{Name: m.driver.Name(), State: "ready", Ready: true, Signal: -1}
	if md, ok := m.driver.(*modem.Driver); ok {
		st := md.Status()
		d.State, d.Since, d.LastError = string(st.State), st.Since, st.LastError
		d.Ready = st.State == modem.StateReady
		d.SIM, d.Operator, d.Signal, d.SignalDBm = st.SIM, st.Operator, st.Signal, st.SignalDBm
		d.SentLastHour, d.SentLastDay, d.MaxPerHour, d.MaxPerDay = st.SentLastHour, st.SentLastDay, st.MaxPerHour, st.MaxPerDay
	}
	return d
}

// readiness says whether the daemon does its job: the PBX's events flow
// and the driver can send. When not, reason says what is missing.
func (m *monitor) readiness() (ready bool, reason string) {
	return readiness(m.pbxState(), m.driverState())
}

func readiness(p pbxState, d driverState) (ready bool, reason string) {
	switch {
	case !p.up() && !d.Ready:
		return false, p.status() + "; " + d.status()
	case !p.up():
		return false, p.status()
	case !d.Ready:
		return false, d.status()
	}
	return true, ""
}

// statusLine is systemd's STATUS (the PBX, then the driver) and whether
// the daemon is ready, from one snapshot.
func (m *monitor) statusLine() (line string, ready bool) {
	p, d := m.pbxState(), m.driverState()
	ready, _ = readiness(p, d)
	return p.status() + "; " + d.status(), ready
}
