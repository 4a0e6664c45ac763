package modem

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/warthog618/modem/at"
	wsms "github.com/warthog618/sms"
	"github.com/warthog618/sms/encoding/pdumode"
	"github.com/warthog618/sms/encoding/tpdu"

	"github.com/textback/textback/sms"
)

// inbox turns what the modem received into sms.Inbound and sms.Status for
// the Receiver, reassembling multipart texts (in the Driver's reassembly,
// which outlives the session), and deletes each stored segment from the
// SIM only after the Receiver recorded the whole text.
type inbox struct {
	s  *session
	re *reassembly
	// again is set when the Receiver failed: the stored texts are read
	// again, and the texts due handed over again, at the next health
	// check.
	again bool
}

func newInbox(s *session) *inbox {
	return &inbox{s: s, re: s.d.parts}
}

// handle processes one indication. Only a broken link is an error.
func (in *inbox) handle(ctx context.Context, ind indication) error {
	switch ind.kind {
	case indCMTI, indCDSI:
		idx, ok := parseIndex(ind.lines[0])
		if !ok {
			in.s.d.log.Warn().Str("line", ind.lines[0]).Msg("unreadable new-message indication; sweeping the store")
			return in.sweep(ctx)
		}
		return in.readStored(ctx, idx)
	case indCMT, indCDS:
		return in.direct(ctx, ind.lines)
	}
	return nil
}

// sweep reads every stored message (AT+CMGL=4: all, PDU mode): texts that
// arrived while textback was down, or whose recording failed before.
func (in *inbox) sweep(ctx context.Context) error {
	info, err := in.s.cmd(ctx, "+CMGL=4", 0)
	if err != nil {
		if emptyStore(err) {
			info, err = nil, nil
		}
	}
	if err != nil {
		if isRefusal(err) {
			in.s.d.log.Warn().Err(err).Msg("cannot list stored messages")
			return nil
		}
		return err
	}
	in.again = false
	for _, m := range parseCMGL(info) {
		if err := in.take(ctx, m.idx, m.pdu, 0); err != nil {
			return err
		}
	}
	return nil
}

// emptyStore reports whether err is the +CMS ERROR: 321 (invalid memory
// index) some modems, phonesim among them, answer AT+CMGL with when the
// store is empty.
func emptyStore(err error) bool {
	var cms at.CMSError
	return errors.As(err, &cms) && strings.TrimSpace(string(cms)) == "321"
}

// retry sweeps again when the Receiver failed earlier.
func (in *inbox) retry(ctx context.Context) error {
	if !in.again {
		return nil
	}
	return in.sweep(ctx)
}

// readStored reads the message at idx (AT+CMGR) and takes it.
func (in *inbox) readStored(ctx context.Context, idx int) error {
	info, err := in.s.cmd(ctx, "+CMGR="+strconv.Itoa(idx), 0)
	if err != nil {
		if isRefusal(err) {
			in.s.d.log.Warn().Err(err).Int("index", idx).Msg("cannot read a stored message")
			return nil
		}
		return err
	}
	pdu, ok := parseCMGR(info)
	if !ok {
		in.s.d.log.Debug().Int("index", idx).Msg("no message at the index (already deleted)")
		return nil
	}
	return in.take(ctx, idx, pdu, 0)
}

// direct handles a +CMT: a text delivered without being stored. It is
// acknowledged (AT+CNMA) only after the Receiver recorded it; segments of
// a multipart text are acknowledged as they come, since the network
// would otherwise stop delivering.
func (in *inbox) direct(ctx context.Context, lines []string) error {
	if len(lines) < 2 {
		return nil
	}
	return in.take(ctx, -1, strings.TrimSpace(lines[1]), cmtLength(lines[0]))
}

// take decodes one PDU (hex, with its SMSC address) stored at idx (-1: a
// +CMT) and hands a complete text or a delivery report to the Receiver.
func (in *inbox) take(ctx context.Context, idx int, hexPDU string, wantLen int) error {
	log := in.s.d.log.With().Int("index", idx).Logger()
	tp, err := decodePDU(hexPDU, wantLen)
	if idx >= 0 && (err != nil || !isPart(tp)) {
		in.re.dropIdx(idx) // a part held at idx was deleted behind our back
	}
	if err != nil {
		log.Warn().Err(err).Str("pdu", hexPDU).Msg("undecodable message; deleting it")
		return in.ack(ctx, []int{idx}, true)
	}
	if tp.SmsType() == tpdu.SmsStatusReport {
		r := in.s.d.reports.lookup(tp)
		log := log.With().Int("mr", int(tp.MR)).Str("code", r.st.Code).Logger()
		if !r.known {
			log.Info().Msg("delivery report for no text of this process (sent before a restart?); dropped")
			return in.ack(ctx, []int{idx}, true)
		}
		if r.final {
			if err := in.s.rcv.UpdateStatus(ctx, r.st); err != nil {
				log.Warn().Err(err).Msg("delivery report not recorded; kept for later")
				in.again = true
				return in.ack(ctx, []int{idx}, false)
			}
			log.Info().Str("provider_id", r.st.ProviderID).Bool("delivered", r.st.Delivered).Stringer("outcome", r.st.Outcome).Msg("delivery report")
		}
		r.apply()
		return in.ack(ctx, []int{idx}, true)
	}
	if isPart(tp) {
		return in.takePart(ctx, tp, idx)
	}
	body, err := wsms.Decode([]*tpdu.TPDU{tp})
	if err != nil {
		log.Warn().Err(err).Msg("undecodable text; deleting it")
		return in.ack(ctx, []int{idx}, true)
	}
	m := inboundOf(tp, 1, string(body), in.s.d.cfg.Number)
	if err := in.s.rcv.Receive(ctx, m); err != nil {
		log.Warn().Err(err).Str("from", m.From).Str("provider_id", m.ProviderID).Msg("received text not recorded; kept on the SIM for later")
		in.again = true
		return in.ack(ctx, []int{idx}, false)
	}
	log.Info().Str("from", m.From).Str("provider_id", m.ProviderID).Int("segments", 1).Msg("text received")
	return in.ack(ctx, []int{idx}, true)
}

// takePart adds one part of a multipart text, stored at idx (-1: a +CMT),
// and hands the text to the Receiver once every part is in. A +CMT part
// is acknowledged at once unless it completes the text: then only after
// the Receiver recorded it, so that the network delivers it again
// otherwise.
func (in *inbox) takePart(ctx context.Context, tp *tpdu.TPDU, idx int) error {
	d := in.s.d
	_, seq, total, _ := partKey(tp)
	log := d.log.With().Int("index", idx).Str("from", tp.OA.Number()).Int("part", seq).Int("parts", total).Logger()
	if seq < 1 || seq > total {
		log.Warn().Msg("multipart segment numbered out of range; deleting it")
		return in.ack(ctx, []int{idx}, true)
	}
	now := d.now()
	p, res := in.re.add(tp, idx, now)
	if res == addedStale && !p.done {
		// Same sender, reference and number, other content: the sender
		// reused the reference, so the text held is not getting its
		// missing parts. Record it as it is, then start the new one.
		log.Warn().Ints("missing", p.missing()).Msg("a new multipart text reuses the reference of an incomplete one; recording the older one with its gaps")
		ok, err := in.deliver(ctx, p)
		if err != nil || !ok {
			return err // the new part stays on the SIM (or unacknowledged)
		}
		p, res = in.re.add(tp, idx, now)
	}
	switch {
	case res == addedStale:
		// A recorded text whose deletes are pending holds this slot: read
		// it again once they are done.
		in.again = true
		return nil
	case p.done:
		// A part of a recorded text read again (its delete was
		// interrupted): delete it.
		if err := in.cleanup(ctx, p); err != nil {
			return err
		}
		return in.ack(ctx, []int{idx}, idx < 0)
	case p.complete():
		ok, err := in.deliver(ctx, p)
		if err != nil || idx >= 0 {
			return err
		}
		return in.ack(ctx, []int{idx}, ok)
	}
	if res == addedAgain {
		log.Debug().Msg("multipart segment read again; already held")
	}
	if idx < 0 {
		return in.ack(ctx, []int{idx}, true) // a +CMT segment: acknowledge, wait for the rest
	}
	return nil
}

// deliver hands a multipart text to the Receiver, with gapMarker where
// parts are missing, then deletes its stored parts, each once. ok is
// false when the Receiver failed: everything is kept for a later try.
func (in *inbox) deliver(ctx context.Context, p *multipart) (ok bool, err error) {
	d := in.s.d
	log := d.log.With().Str("from", p.from).Int("parts", p.total).Ints("indexes", p.idxs).Logger()
	body, err := p.body()
	if err != nil {
		log.Warn().Err(err).Msg("undecodable multipart text; deleting it")
		in.re.recorded(p)
		return true, in.cleanup(ctx, p)
	}
	m := inboundOf(p.present()[0], p.total, body, d.cfg.Number)
	if err := in.s.rcv.Receive(ctx, m); err != nil {
		log.Warn().Err(err).Str("provider_id", m.ProviderID).Msg("received text not recorded; kept on the SIM for later")
		in.again = true
		return false, nil
	}
	if missing := p.missing(); len(missing) > 0 {
		log.Warn().Str("provider_id", m.ProviderID).Ints("missing", missing).Dur("waited", d.now().Sub(p.first)).
			Msg("multipart text recorded with parts missing (marked " + gapMarker + "): they did not arrive within partial_timeout")
	} else {
		log.Info().Str("provider_id", m.ProviderID).Int("segments", p.total).Msg("text received")
	}
	in.re.recorded(p)
	return true, in.cleanup(ctx, p)
}

// cleanup deletes the stored parts of a recorded text, each index once.
// A refused delete is logged and not tried again.
func (in *inbox) cleanup(ctx context.Context, p *multipart) error {
	for _, idx := range slices.Clone(p.idxs) {
		if err := in.ack(ctx, []int{idx}, true); err != nil {
			return err
		}
		in.re.dropIdx(idx)
	}
	return nil
}

// expire hands over the multipart texts that are due: complete ones the
// Receiver failed to record before, and incomplete ones older than
// partial_timeout (with gaps); and finishes the deletes a broken link
// interrupted.
func (in *inbox) expire(ctx context.Context) error {
	d := in.s.d
	deliver, cleanup := in.re.due(d.now(), d.cfg.PartialTimeout)
	for _, p := range cleanup {
		if err := in.cleanup(ctx, p); err != nil {
			return err
		}
	}
	for _, p := range deliver {
		if _, err := in.deliver(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

// isPart reports whether tp is a segment of a multipart text.
func isPart(tp *tpdu.TPDU) bool {
	if tp.SmsType() == tpdu.SmsStatusReport {
		return false
	}
	_, _, _, ok := partKey(tp)
	return ok
}

// ack deletes recorded stored messages from the SIM (AT+CMGD) or
// acknowledges a direct one (AT+CNMA, index -1). A message not recorded
// (ok false) is left on the SIM; a direct one is left unacknowledged so
// that the network delivers it again.
func (in *inbox) ack(ctx context.Context, idxs []int, ok bool) error {
	if !ok {
		return nil
	}
	for _, idx := range idxs {
		c := "+CMGD=" + strconv.Itoa(idx)
		if idx < 0 {
			c = "+CNMA"
		}
		if _, err := in.s.cmd(ctx, c, 0); err != nil {
			if isRefusal(err) {
				in.s.d.log.Warn().Err(err).Str("command", "AT"+c).Msg("modem refused")
				continue
			}
			return err
		}
	}
	return nil
}

// decodePDU decodes a PDU-mode hex string (SMSC address + TPDU) of a
// message the modem received.
func decodePDU(hexPDU string, wantLen int) (*tpdu.TPDU, error) {
	p, err := pdumode.UnmarshalHexString(hexPDU)
	if err != nil {
		return nil, fmt.Errorf("pdu: %w", err)
	}
	if wantLen > 0 && wantLen != len(p.TPDU) {
		return nil, fmt.Errorf("pdu: length %d announced, %d received", wantLen, len(p.TPDU))
	}
	tp, err := wsms.Unmarshal(p.TPDU, wsms.AsMT)
	if err != nil {
		return nil, fmt.Errorf("tpdu: %w", err)
	}
	return tp, nil
}

// inboundOf builds the Inbound of a text of total parts whose first
// present part is first. Its ProviderID is derived from the sender, the
// SMSC timestamp, the concatenation reference, the number of parts and
// the text, so that a text read twice (recorded, then not deleted
// before a crash) is the same message to the ledger.
func inboundOf(first *tpdu.TPDU, total int, body, to string) sms.Inbound {
	_, _, ref, _ := first.ConcatInfo()
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00%d\x00%s", first.OA.Number(), first.SCTS.Format(time.RFC3339), ref, total, body)
	from := first.OA.Number()
	return sms.Inbound{
		Provider:   "modem",
		ProviderID: "modem-" + hex.EncodeToString(h.Sum(nil)[:12]),
		From:       from,
		To:         to,
		Body:       body,
		ReceivedAt: first.SCTS.Time,
	}
}

// parseIndex reads the index of `+CMTI: "SM",3`.
func parseIndex(line string) (int, bool) {
	i := strings.LastIndexByte(line, ',')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(line[i+1:]))
	return n, err == nil && n >= 0
}

// cmtLength reads the TPDU length of `+CMT: ,25` or `+CDS: 25` (0 when
// absent).
func cmtLength(line string) int {
	i := strings.LastIndexByte(line, ',')
	if i < 0 {
		i = strings.IndexByte(line, ':')
	}
	if i < 0 {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSpace(line[i+1:]))
	if err != nil {
		return 0
	}
	return n
}

// parseCMGR finds the PDU line after `+CMGR: stat,,len`; lines in between
// that are not hex (an indication, garbage) are skipped.
func parseCMGR(info []string) (string, bool) {
	for i, l := range info {
		if !strings.HasPrefix(l, "+CMGR:") {
			continue
		}
		for _, p := range info[i+1:] {
			if p = strings.TrimSpace(p); isHex(p) {
				return p, true
			}
		}
	}
	return "", false
}

type listed struct {
	idx int
	pdu string
}

// parseCMGL reads `+CMGL: idx,stat,,len` + PDU pairs.
func parseCMGL(info []string) []listed {
	var out []listed
	for i := 0; i < len(info); i++ {
		v, ok := strings.CutPrefix(info[i], "+CMGL:")
		if !ok || i+1 >= len(info) {
			continue
		}
		f := strings.Split(v, ",")
		idx, err := strconv.Atoi(strings.TrimSpace(f[0]))
		if err != nil || idx < 0 {
			continue
		}
		if p := strings.TrimSpace(info[i+1]); isHex(p) {
			out = append(out, listed{idx, p})
			i++
		}
	}
	return out
}

func isHex(s string) bool {
	if len(s) < 2 || len(s)%2 != 0 {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F') {
			return false
		}
	}
	return true
}
