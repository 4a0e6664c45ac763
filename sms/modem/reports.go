package modem

import (
	"strconv"

	"github.com/warthog618/sms/encoding/tpdu"

	"github.com/textback/textback/sms"
)

// reportBook matches delivery reports (SMS-STATUS-REPORT, by TP-MR) to the
// texts Send returned a ProviderID for. It is in memory only, bounded by
// the 256 message references: a report arriving after a restart, or for
// a reference reused since, finds nothing. Used from Run's goroutine only.
type reportBook struct {
	byMR map[int]*awaiting
}

// awaiting is a sent text whose segments' reports are not all in.
type awaiting struct {
	id      string
	pending map[int]bool // TP-MR of the segments not yet reported delivered
	done    bool
}

func newReportBook() *reportBook { return &reportBook{byMR: map[int]*awaiting{}} }

// sent records a text accepted by the modem with its segments' references
// (the +CMGS answers).
func (b *reportBook) sent(id string, mrs []string) {
	a := &awaiting{id: id, pending: map[int]bool{}}
	for _, s := range mrs {
		mr, err := strconv.Atoi(s)
		if err != nil {
			continue
		}
		a.pending[mr&0xff] = true
		b.byMR[mr&0xff] = a // a reused reference now names this text
	}
}

// report is what a status report means for its text.
type report struct {
	st    sms.Status
	final bool // st is to be given to the Receiver
	known bool // the reference names a text of this process
	apply func()
}

// lookup maps a status report to its text without changing the book;
// apply records it once the Receiver took st. A text is Delivered when
// every segment was reported delivered, failed at the first segment
// reported failed; a temporary error the service centre still retries
// is not final.
func (b *reportBook) lookup(tp *tpdu.TPDU) report {
	mr := int(tp.MR)
	st := statusOf(tp)
	a := b.byMR[mr]
	if a == nil || a.done || !a.pending[mr] {
		return report{st: st}
	}
	st.ProviderID = a.id
	r := report{st: st, known: true}
	switch {
	case st.Delivered:
		r.final = len(a.pending) == 1
		r.apply = func() {
			delete(a.pending, mr)
			delete(b.byMR, mr)
			if len(a.pending) == 0 {
				a.done = true
			}
		}
	case st.Outcome == sms.Accepted:
		r.apply = func() {}
	default:
		r.final = true
		r.apply = func() {
			a.done = true
			for m := range a.pending {
				if b.byMR[m] == a {
					delete(b.byMR, m)
				}
			}
		}
	}
	return r
}

// statusOf turns an SMS-STATUS-REPORT into an sms.Status (ProviderID set
// by the caller). TP-ST (3GPP TS 23.040 9.2.3.15): 0x00-0x1f delivered;
// 0x20-0x3f temporary error, the service centre still trying (Accepted:
// nothing new); 0x40-0x5f permanent error (Rejected); 0x60-0x7f temporary
// error the service centre gave up on (Temporary: not delivered, the
// number may work later); above, reserved (Unknown).
func statusOf(tp *tpdu.TPDU) sms.Status {
	st := sms.Status{Provider: "modem", At: tp.DT.Time, Code: "TP-ST " + strconv.Itoa(int(tp.ST))}
	switch {
	case tp.ST < 0x20:
		st.Delivered = true
	case tp.ST < 0x40:
		st.Outcome = sms.Accepted
	case tp.ST < 0x60:
		st.Outcome = sms.Rejected
	case tp.ST < 0x80:
		st.Outcome = sms.Temporary
	default:
		st.Outcome = sms.Unknown
	}
	return st
}
