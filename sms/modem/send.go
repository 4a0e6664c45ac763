package modem

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/warthog618/modem/at"
	"github.com/warthog618/modem/gsm"
	wsms "github.com/warthog618/sms"
	"github.com/warthog618/sms/encoding/tpdu"

	"github.com/textback/textback/sms"
)

// encode splits body into SMS-SUBMIT TPDUs for to: GSM-7 when it can carry
// the text, UCS-2 otherwise (never splitting a surrogate pair), with the
// driver's shared concatenation reference.
func (d *Driver) encode(to, body string, reports bool) ([]tpdu.TPDU, error) {
	opts := []wsms.EncoderOption{refOption{d.concat, d.mr}, wsms.To(to)}
	if reports {
		opts = append(opts, wsms.WithTemplateOption(srrOption{}))
	}
	return wsms.Encode([]byte(body), opts...)
}

// srrOption sets TP-SRR: the network sends a status report on delivery.
type srrOption struct{}

func (srrOption) ApplyTPDUOption(t *tpdu.TPDU) error {
	t.FirstOctet |= tpdu.FoSRR
	return nil
}

// send paces and sends one job. It finishes the job in every case and
// returns an error only when the session must be rebuilt.
func (s *session) send(ctx context.Context, j *job) error {
	d := s.d
	if ok, err := s.pace(ctx, j); err != nil || !ok {
		return err
	}
	res, serr, broken := s.transmit(ctx, j)
	log := d.log.With().Str("key", j.m.Key).Str("to", j.m.To).Logger()
	if serr != nil {
		o := sms.OutcomeOf(serr)
		ev := log.Warn()
		if o == sms.Temporary {
			ev = log.Info()
		}
		ev.Err(serr).Stringer("outcome", o).Bool("abandoned_by_caller", j.ctx.Err() != nil).Msg("text not accepted")
	} else {
		log.Info().Str("provider_id", res.ProviderID).Int("segments", res.Segments).Msg("text accepted by the modem")
	}
	if broken != nil {
		// Down before Send returns, so that a caller seeing the result
		// does not find the driver still "ready" with a dead session.
		d.setState(StateDown, broken.Error())
	}
	j.finish(res, serr)
	return broken
}

// pace waits for the gap since the last text, then takes the job: ok is
// true only then, and the caller sends it. Otherwise pace has finished the
// job itself (a cap reached, the job's ctx ended, the driver stopping) or
// Send gave it up, and nothing may be sent.
func (s *session) pace(ctx context.Context, j *job) (ok bool, err error) {
	d := s.d
	for {
		wait, allowed, retry, why := d.pace.reserve(d.now())
		if !allowed {
			if j.take() {
				j.finish(sms.Result{}, &sms.Error{Outcome: sms.Temporary, Message: "pacing: " + why, RetryAfter: retry})
			}
			return false, nil
		}
		if wait <= 0 {
			// Counted when taken, not once written: the cap holds even
			// if a write's completion is seen late; a text that then
			// fails before any byte goes out still counts (the safe
			// side of a SIM's fair-use limit).
			if !j.take() {
				return false, nil // Send gave it up
			}
			d.pace.record(d.now())
			return true, nil
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-j.ctx.Done():
			t.Stop()
			if j.take() {
				j.finish(sms.Result{}, &sms.Error{Outcome: sms.Temporary, Message: "not sent: waiting for the gap between texts", Err: j.ctx.Err()})
			}
			return false, nil
		case <-ctx.Done():
			t.Stop()
			if j.take() {
				j.finish(sms.Result{}, &sms.Error{Outcome: sms.Temporary, Message: "modem driver stopping"})
			}
			return false, ctx.Err()
		case <-s.a.Closed():
			t.Stop()
			if j.take() {
				j.finish(sms.Result{}, &sms.Error{Outcome: sms.Temporary, Message: "modem went away before the text was written"})
			}
			return false, fmt.Errorf("%w: the port closed (modem unplugged?)", errBroken)
		}
	}
}

// transmit writes the text's segments. broken is non-nil when the session
// must be rebuilt.
func (s *session) transmit(ctx context.Context, j *job) (res sms.Result, serr error, broken error) {
	d := s.d
	// Registration is not checked here: a modem that is not registered
	// answers +CMS ERROR: 331 (Temporary), and some report it wrongly.
	pdus, err := d.encode(j.m.To, j.m.Body, s.reports)
	if err != nil {
		return res, &sms.Error{Outcome: sms.Rejected, Message: "cannot encode the text", Err: err}, nil
	}
	deadline := d.now().Add(d.cfg.SendTimeout)
	if jd, ok := j.ctx.Deadline(); ok && jd.Before(deadline) {
		deadline = jd
	}
	var mrs []string
	written := false
	for i, p := range pdus {
		remaining := deadline.Sub(d.now())
		if err := j.ctx.Err(); err != nil || remaining <= 0 {
			if err == nil {
				err = context.DeadlineExceeded
			}
			if written {
				return res, &sms.Error{Outcome: sms.Unknown, Message: fmt.Sprintf("time ran out after %d of %d segments", i, len(pdus)), Err: err}, nil
			}
			return res, &sms.Error{Outcome: sms.Temporary, Message: "not sent: time ran out before the text was written", Err: err}, nil
		}
		tp, err := p.MarshalBinary()
		if err != nil {
			return res, &sms.Error{Outcome: sms.Rejected, Message: "cannot encode the text", Err: err}, nil
		}
		before := s.rw.pdus.Load()
		mr, err := s.g.SendPDU(tp, at.WithTimeout(remaining))
		if s.rw.pdus.Load() != before {
			written = true
		}
		if err != nil {
			if i > 0 {
				err = &partialError{sent: i, total: len(pdus), err: err}
			}
			serr, broken := s.failure(ctx, err, written)
			return res, serr, broken
		}
		mrs = append(mrs, mr)
	}
	id := d.providerID(mrs)
	if s.reports {
		d.reports.sent(id, mrs)
	}
	return sms.Result{ProviderID: id, Segments: len(pdus)}, nil, nil
}

// failure classifies a failed AT+CMGS and brings the session back in step.
func (s *session) failure(ctx context.Context, err error, written bool) (serr error, broken error) {
	switch {
	case isRefusal(err):
		return refusal(err, written), nil
	case errors.Is(err, at.ErrClosed):
		return refusal(err, written), fmt.Errorf("%w: during a send: %w", errBroken, err)
	default:
		// A timeout (the library sent ESC), or an answer without +CMGS
		// (gsm.ErrMalformedResponse: possibly a stale reply): the stream
		// may be out of step.
		if errors.Is(err, gsm.ErrMalformedResponse) || errors.Is(err, at.ErrDeadlineExceeded) {
			s.d.log.Warn().Err(err).Bool("pdu_written", written).Msg("send did not complete; resynchronising")
		}
		serr = refusal(err, written)
		if rerr := s.resync(ctx); rerr != nil {
			return serr, fmt.Errorf("%w: after a failed send: %w", errBroken, rerr)
		}
		return serr, nil
	}
}
