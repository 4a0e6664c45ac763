package modem

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/warthog618/sms/encoding/tpdu"
	"github.com/warthog618/sms/encoding/ucs2"
)

// gapMarker stands where parts of a multipart text never arrived.
const gapMarker = "[…]"

// reassembly holds the multipart texts being put together. It lives on
// the Driver, so that a reconnect loses nothing; the SIM stays the
// durable store (a restart sweeps the stored parts again). Used from
// Run's goroutine only.
type reassembly struct {
	texts map[string]*multipart // by partKey
	byIdx map[int]partRef       // SIM index → the part stored there
}

// partRef names one part: its text's key and its sequence number.
type partRef struct {
	key string
	seq int
}

// multipart is one multipart text: its parts so far and the SIM indexes
// holding them.
type multipart struct {
	key   string
	from  string
	total int
	first time.Time          // when this process saw its first part
	parts map[int]*tpdu.TPDU // by sequence number, 1..total
	idxs  []int              // SIM indexes to delete once recorded, each once
	// done is set once the Receiver recorded the text: only the deletes
	// of idxs are left (they were interrupted).
	done bool
}

func newReassembly() *reassembly {
	return &reassembly{texts: map[string]*multipart{}, byIdx: map[int]partRef{}}
}

// partKey is the key of a multipart text (sender, concatenation
// reference, number of parts) and the part's sequence number; ok is false
// for a single-part text.
func partKey(tp *tpdu.TPDU) (key string, seq, total int, ok bool) {
	total, seq, ref, ok := tp.ConcatInfo()
	if !ok || total < 2 {
		return "", 0, 0, false
	}
	return fmt.Sprintf("%s/%d/%d", tp.OA.Number(), ref, total), seq, total, true
}

// addResult is what add made of a part.
type addResult int

const (
	addedNew   addResult = iota // a part not seen before
	addedAgain                  // a part already held (re-read, or sent twice)
	addedStale                  // same sender/ref/seq as a held part, other content
)

// add records a part stored at idx (-1: delivered directly) arriving at
// now, and returns its text. A part read again (same SIM index, or same
// sender, reference and sequence number) is not counted twice; a second
// copy stored at another index is deleted with the text.
func (r *reassembly) add(tp *tpdu.TPDU, idx int, now time.Time) (*multipart, addResult) {
	key, seq, total, _ := partKey(tp)
	if idx >= 0 {
		if old, ok := r.byIdx[idx]; ok && old != (partRef{key, seq}) {
			// The index was freed and reused behind our back (another
			// tool deleted the message): it no longer holds that part.
			r.dropIdx(idx)
		}
	}
	p := r.texts[key]
	if p == nil {
		p = &multipart{key: key, from: tp.OA.Number(), total: total, first: now, parts: map[int]*tpdu.TPDU{}}
		r.texts[key] = p
	}
	res := addedNew
	if held := p.parts[seq]; held != nil {
		res = addedAgain
		if !bytes.Equal(held.UD, tp.UD) {
			return p, addedStale // not ours to delete: left on the SIM
		}
	} else if !p.done {
		p.parts[seq] = tp
	}
	if idx >= 0 && !slices.Contains(p.idxs, idx) {
		p.idxs = append(p.idxs, idx)
		r.byIdx[idx] = partRef{key, seq}
	}
	return p, res
}

// dropIdx forgets a SIM index (deleted, or reused for another message).
func (r *reassembly) dropIdx(idx int) {
	ref, ok := r.byIdx[idx]
	if !ok {
		return
	}
	delete(r.byIdx, idx)
	if p := r.texts[ref.key]; p != nil {
		p.idxs = slices.DeleteFunc(p.idxs, func(i int) bool { return i == idx })
		if p.done && len(p.idxs) == 0 {
			delete(r.texts, ref.key)
		}
	}
}

// recorded marks p as recorded by the Receiver: it is forgotten once its
// stored parts are deleted.
func (r *reassembly) recorded(p *multipart) {
	p.done = true
	if len(p.idxs) == 0 {
		delete(r.texts, p.key)
	}
}

// due returns, in a stable order, the texts to hand to the Receiver now:
// complete ones (whose recording failed before) and those older than
// timeout; and the recorded ones whose deletes are left.
func (r *reassembly) due(now time.Time, timeout time.Duration) (deliver, cleanup []*multipart) {
	keys := make([]string, 0, len(r.texts))
	for k := range r.texts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		p := r.texts[k]
		switch {
		case p.done:
			cleanup = append(cleanup, p)
		case p.complete() || now.Sub(p.first) >= timeout:
			deliver = append(deliver, p)
		}
	}
	return deliver, cleanup
}

func (p *multipart) complete() bool { return len(p.parts) == p.total }

// missing returns the sequence numbers of the parts not received.
func (p *multipart) missing() []int {
	var out []int
	for seq := 1; seq <= p.total; seq++ {
		if p.parts[seq] == nil {
			out = append(out, seq)
		}
	}
	return out
}

// present returns the parts received, in order.
func (p *multipart) present() []*tpdu.TPDU {
	var out []*tpdu.TPDU
	for seq := 1; seq <= p.total; seq++ {
		if tp := p.parts[seq]; tp != nil {
			out = append(out, tp)
		}
	}
	return out
}

// body decodes the parts in order, with gapMarker for each run of
// missing parts. A UCS-2 surrogate pair split across a gap is dropped.
func (p *multipart) body() (string, error) {
	var b strings.Builder
	var dangling []byte
	gap := false
	for seq := 1; seq <= p.total; seq++ {
		tp := p.parts[seq]
		if tp == nil {
			if !gap {
				b.WriteString(gapMarker)
			}
			gap, dangling = true, nil
			continue
		}
		gap = false
		a, _ := tp.Alphabet()
		ud := tp.UD
		if dangling != nil {
			ud = append(append([]byte(nil), dangling...), ud...)
			dangling = nil
		}
		d, err := tpdu.DecodeUserData(ud, tp.UDH, a, tpdu.WithAllCharsets)
		var ds ucs2.ErrDanglingSurrogate
		switch {
		case errors.As(err, &ds):
			dangling = []byte(ds)
		case err != nil:
			return "", fmt.Errorf("part %d of %d: %w", seq, p.total, err)
		}
		b.Write(d)
	}
	if dangling != nil && p.complete() {
		return "", ucs2.ErrDanglingSurrogate(dangling)
	}
	return b.String(), nil
}
