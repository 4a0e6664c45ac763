package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/rs/zerolog"
	"github.com/textback/textback/sms/modem"
)

// cmdModem is IT's tool for a USB modem: probe a device before
// configuring it, or show what the configured one says. Both open the
// device themselves, so the daemon must be stopped (two programs on one
// modem garble each other's commands).
func cmdModem(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "modem", "status [--config FILE] | probe DEVICE | info [--config FILE]")
	path := configFlag(fs)
	admin := fs.String("admin", "", "status: the daemon's admin listener (default: admin.listen from the config)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 1 && fs.Arg(0) == "status" {
		return modemStatus(ctx, e, *path, *admin)
	}
	var device string
	switch {
	case fs.NArg() == 2 && fs.Arg(0) == "probe":
		device = fs.Arg(1)
	case fs.NArg() == 1 && fs.Arg(0) == "info":
		cfg, err := loadConfigFlag(*path)
		if err != nil {
			return err
		}
		if cfg.Driver.Modem == nil {
			return fmt.Errorf("driver.modem: the config has no modem (driver.type is %q); try textback modem probe DEVICE", cfg.Driver.Type)
		}
		device = cfg.Driver.Modem.Device
	default:
		return fmt.Errorf("%w: modem status, modem probe DEVICE, or modem info", errUsage)
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	info, err := modem.Probe(ctx, device, zerolog.Nop())
	if err != nil {
		return fmt.Errorf("%w (is textback running? stop it first: two programs on one modem garble each other)", err)
	}
	writeModemInfo(e.stdout, device, info)
	return nil
}

func writeModemInfo(w io.Writer, device string, i modem.Info) {
	row := func(k, v string) { fmt.Fprintf(w, "%-13s %s\n", k, orDash(v)) }
	row("device", device)
	row("manufacturer", i.Manufacturer)
	row("model", i.Model)
	row("revision", i.Revision)
	row("imei", i.IMEI)
	row("sim", i.SIM)
	row("operator", i.Operator)
	row("registration", i.Registration)
	signal := "unknown"
	if i.Signal >= 0 && i.Signal != 99 {
		signal = fmt.Sprintf("%d/31 (%d dBm)", i.Signal, i.SignalDBm)
	}
	row("signal", signal)
	row("smsc", i.SMSC)
	row("sms storage", fmt.Sprintf("%d of %d used", i.StorageUsed, i.StorageTotal))
	gsm := "no: this device cannot send SMS"
	if i.GSM {
		gsm = "yes"
	}
	row("gsm", gsm)
}

// modemStatus is the running daemon's view of its modem (from the admin
// listener, so the daemon keeps the device): state, SIM, network, signal,
// pacing and storage.
func modemStatus(ctx context.Context, e *env, path, admin string) error {
	body, err := fetchStatus(ctx, path, admin)
	if err != nil {
		return err
	}
	var r statusReport
	if err := json.Unmarshal(body, &r); err != nil {
		return fmt.Errorf("not textback's status: %w", err)
	}
	if r.Modem == nil {
		return fmt.Errorf("the running textback sends through %q, not a modem", r.Driver.Name)
	}
	m := r.Modem
	state := string(m.State) + " since " + m.Since.Local().Format("Jan 02 15:04:05")
	if m.LastError != "" {
		state += " (" + m.LastError + ")"
	}
	fmt.Fprintf(e.stdout, "%-13s %s\n", "state", state)
	writeModemInfo(e.stdout, m.Device, m.Info)
	fmt.Fprintf(e.stdout, "%-13s %d in the last hour (cap %d), %d in the last day (cap %d), at least %s apart; %d sending now\n",
		"pacing", m.SentLastHour, m.MaxPerHour, m.SentLastDay, m.MaxPerDay, m.MinGap, m.InFlight)
	fmt.Fprintf(e.stdout, "%-13s %d queued in the outbox\n", "queue", r.Outbox.Queued)
	return nil
}
