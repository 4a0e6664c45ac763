package modem

import (
	"context"
	"errors"
	"fmt"

	"github.com/rs/zerolog"
	"github.com/warthog618/modem/at"
	"github.com/warthog618/modem/gsm"
)

// Probe opens device, asks the modem what it is and what state its SIM and
// network are in, and closes it: `textback modem probe DEVICE`, for
// setting a modem up. It never enters a PIN and sends nothing. It must not
// run while a Driver uses the same device. An error means the device
// cannot be opened or does not answer AT; a SIM that wants a PIN is not an
// error (Info.SIM says so).
func Probe(ctx context.Context, device string, log zerolog.Logger) (Info, error) {
	d, err := New(Config{Device: device}, log)
	if err != nil {
		return Info{}, err
	}
	return d.probe(ctx)
}

func (d *Driver) probe(ctx context.Context) (Info, error) {
	port, err := d.open(ctx)
	if err != nil {
		return Info{}, fmt.Errorf("probe %s: %w", d.cfg.Device, err)
	}
	s := &session{d: d, rw: &wire{rw: port}, inds: make(chan indication, 1), done: make(chan struct{})}
	defer func() {
		close(s.done)
		port.Close()
	}()
	s.a = at.New(s.rw, at.WithTimeout(d.cfg.CommandTimeout))
	s.g = gsm.New(s.a, gsm.WithNumericErrors)
	err = s.g.Init()
	switch {
	case err == nil:
		s.info.GSM = true
	case errors.Is(err, gsm.ErrNotGSMCapable):
	default:
		return Info{}, fmt.Errorf("probe %s: the modem does not answer AT: %w", d.cfg.Device, err)
	}
	if st, err := s.simState(ctx); err == nil {
		s.info.SIM = st
	}
	if err := s.refresh(ctx); err != nil {
		return s.info, fmt.Errorf("probe %s: %w", d.cfg.Device, err)
	}
	return s.info, nil
}
