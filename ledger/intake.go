package ledger

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The intake page: a caller who got a text-back with a link answers a few
// questions; the answers are stored with the call, forwarded to the line's
// staff and shown in the operator inbox. The token in the link names the
// call (token.go); the ledger makes sure a call's form is taken once.

// Buckets of the intake page and the inbox. They are created by the first
// write that needs them, so that a ledger written by an older textback
// opens read-only as before; readers treat a missing bucket as empty.
var (
	bucketIntake      = []byte("intake")       // seq → Submission
	bucketIntakeCalls = []byte("intake_calls") // call id → submission seq (the token was used)
)

// The errors of the intake page; test with errors.Is.
var (
	// ErrIntakeUsed means the call's form was already submitted: a token
	// is good for one submission.
	ErrIntakeUsed = errors.New("the form for this call was already sent")
	// ErrIntakeNoLine means the call is on no configured line, or on one
	// with no intake link: there is nobody to hand the answers to.
	ErrIntakeNoLine = errors.New("the call is on no line with an intake form")
)

// Field is one answer on the intake form, as the caller gave it.
type Field struct {
	// Name is the field's key in the line's config ("name", "need").
	Name string `json:"name"`
	// Label is the question as the form showed it.
	Label string `json:"label"`
	Value string `json:"value"`
}

// Submission is one filled-in intake form, stored with its call.
type Submission struct {
	Seq  uint64 `json:"seq"`
	Call string `json:"call"`
	Line string `json:"line"`
	// Number is the caller's E.164 number from the call record: the form
	// cannot change whom it is about.
	Number      string    `json:"number"`
	Fields      []Field   `json:"fields"`
	SubmittedAt time.Time `json:"submitted_at"`
	// Texts are the staff SMS summaries and the webhook post it queued.
	Texts []uint64 `json:"texts,omitempty"`
	// Purged: retention blanked the answers (Store.Purge); the questions
	// and the rest are kept.
	Purged bool `json:"purged,omitempty"`
}

// WebhookIntake is the JSON body posted to a line's webhook for a
// submission. Kind tells it apart from a reply (WebhookReply has none).
type WebhookIntake struct {
	Kind        string    `json:"kind"` // "intake"
	ID          string    `json:"id"`   // "intake:SEQ", stable across retries
	Call        string    `json:"call"`
	Line        string    `json:"line"`
	LineNumber  string    `json:"line_number"`
	From        string    `json:"from"`
	Fields      []Field   `json:"fields"`
	SubmittedAt time.Time `json:"submitted_at"`
}

// IntakeCall is what the intake page needs to know about the call a token
// names.
type IntakeCall struct {
	Call Call
	// Line is the line the call came in on (its branding is cmd's).
	Line Line
	// Used is the submission when the form was already sent.
	Used *Submission
}

// IntakeCall looks up the call a verified token names. It returns an
// error wrapping ErrNotFound when the ledger has no such call (purged, or
// a token signed for another ledger with the same secret), and one
// wrapping ErrIntakeNoLine when the call is on no configured line.
func (l *Ledger) IntakeCall(callID string) (IntakeCall, error) {
	var out IntakeCall
	call, err := l.store.Call(callID)
	if err != nil {
		return out, err
	}
	if call.ID != callID {
		// Store.Call also finds calls by sequence or bare PBX id; a
		// token names one exactly.
		return out, fmt.Errorf("call %q: %w", callID, ErrNotFound)
	}
	out.Call = call
	cl := l.rules.Load().byName[call.Line]
	if cl == nil || cl.Link == "" || call.Number == "" {
		return out, fmt.Errorf("call %s: %w", callID, ErrIntakeNoLine)
	}
	out.Line = cl.Line
	err = l.store.db.View(func(tx *bolt.Tx) error {
		s, ok, err := intakeOfCall(tx, callID)
		if ok {
			out.Used = &s
		}
		return err
	})
	return out, err
}

func intakeOfCall(tx *bolt.Tx, callID string) (Submission, bool, error) {
	var s Submission
	idx := tx.Bucket(bucketIntakeCalls)
	if idx == nil {
		return s, false, nil
	}
	seq := idx.Get([]byte(callID))
	if seq == nil {
		return s, false, nil
	}
	ok, err := getJSON(tx.Bucket(bucketIntake), seq, &s)
	if err == nil && !ok {
		err = fmt.Errorf("intake of call %s: index points at missing record %d", callID, btou64(seq))
	}
	return s, true, err
}

// maxSummary bounds the staff SMS summary of a submission (three
// segments of plain text).
const maxSummary = 450

// SubmitIntake stores the answers to the intake form of a call, marks the
// call's token used and queues the staff summaries (one SMS per staff
// number) and the webhook post, in one fsynced write: when it returns nil
// the submission is on disk. It returns an error wrapping ErrIntakeUsed
// when the form was already sent (the stored submission is returned
// with it), ErrNotFound for an unknown call and ErrIntakeNoLine for a
// call on no configured line. The caller validates the fields' sizes.
func (l *Ledger) SubmitIntake(callID string, fields []Field) (Submission, error) {
	r := l.rules.Load()
	now := l.now()
	var s Submission
	err := l.store.db.Update(func(tx *bolt.Tx) error {
		s = Submission{}
		prev, used, err := intakeOfCall(tx, callID)
		if err != nil {
			return err
		}
		if used {
			s = prev
			return ErrIntakeUsed
		}
		var call Call
		seq := btou64(tx.Bucket(bucketCallIDs).Get([]byte(callID)))
		if seq == 0 {
			return ErrNotFound
		}
		if _, err := getJSON(tx.Bucket(bucketCalls), u64(seq), &call); err != nil {
			return err
		}
		cl := r.byName[call.Line]
		if cl == nil || cl.Link == "" || call.Number == "" {
			return ErrIntakeNoLine
		}
		b, err := tx.CreateBucketIfNotExists(bucketIntake)
		if err != nil {
			return err
		}
		idx, err := tx.CreateBucketIfNotExists(bucketIntakeCalls)
		if err != nil {
			return err
		}
		if s.Seq, err = b.NextSequence(); err != nil {
			return err
		}
		s.Call, s.Line, s.Number, s.Fields, s.SubmittedAt = call.ID, cl.Name, call.Number, fields, now
		if err := r.forwardIntake(tx, cl, &s, now); err != nil {
			return err
		}
		if err := putJSON(b, u64(s.Seq), s); err != nil {
			return err
		}
		return idx.Put([]byte(callID), u64(s.Seq))
	})
	if err != nil {
		if errors.Is(err, ErrIntakeUsed) {
			return s, fmt.Errorf("intake for call %s: %w", callID, err)
		}
		return Submission{}, fmt.Errorf("intake for call %s: %w", callID, err)
	}
	if len(s.Texts) > 0 {
		l.signal()
	}
	l.log.Info().Str("call", s.Call).Str("from", l.show(s.Number)).Str("line", s.Line).Uint64("intake", s.Seq).
		Int("texts", len(s.Texts)).Msg("intake form received")
	return s, nil
}

// forwardIntake queues a submission's staff summaries and webhook post.
func (r *rules) forwardIntake(tx *bolt.Tx, cl *compiledLine, s *Submission, now time.Time) error {
	summary := IntakeSummary(cl.Business, s.Number, s.Fields)
	for _, staff := range cl.Staff {
		n, _ := Segments(summary)
		t := &Text{Kind: KindForward, Call: s.Call, Line: cl.Name, From: cl.number.E164, To: staff, Body: summary,
			Segments: n, Status: StatusQueued, CreatedAt: now, UpdatedAt: now}
		if err := newText(tx, t); err != nil {
			return err
		}
		s.Texts = append(s.Texts, t.Seq)
	}
	if cl.Webhook != "" {
		body, err := json.Marshal(WebhookIntake{Kind: "intake", ID: fmt.Sprintf("intake:%d", s.Seq), Call: s.Call,
			Line: cl.Name, LineNumber: cl.number.E164, From: s.Number, Fields: s.Fields, SubmittedAt: s.SubmittedAt})
		if err != nil {
			return err
		}
		t := &Text{Kind: KindWebhook, Call: s.Call, Line: cl.Name, To: cl.Webhook, Body: string(body),
			Status: StatusQueued, CreatedAt: now, UpdatedAt: now}
		if err := newText(tx, t); err != nil {
			return err
		}
		s.Texts = append(s.Texts, t.Seq)
	}
	return nil
}

// IntakeSummary is the staff SMS for a submission: who, then each answer
// on one line, cut to a few segments.
func IntakeSummary(business, number string, fields []Field) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Intake form for %s from %s:", business, number)
	for _, f := range fields {
		v := strings.Join(strings.Fields(f.Value), " ")
		if v == "" {
			continue
		}
		fmt.Fprintf(&b, "\n%s: %s", f.Label, v)
	}
	s := b.String()
	if r := []rune(s); len(r) > maxSummary {
		s = string(r[:maxSummary-1]) + "…"
	}
	return s
}

// Submissions returns up to limit intake submissions, newest first
// (limit <= 0: all).
func (s *Store) Submissions(limit int) ([]Submission, error) {
	var out []Submission
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketIntake)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Last(); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Prev() {
			var sub Submission
			if err := json.Unmarshal(v, &sub); err != nil {
				return fmt.Errorf("decode intake record %x: %w", k, err)
			}
			out = append(out, sub)
		}
		return nil
	})
	return out, err
}

// purgeIntake blanks the answers of submissions made before before, at
// most purgeBatch per write transaction. It returns how many it changed.
func (s *Store) purgeIntake(before time.Time) (int, error) {
	n := 0
	for {
		var keys [][]byte
		err := s.db.View(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketIntake)
			if b == nil {
				return nil
			}
			return b.ForEach(func(k, v []byte) error {
				if len(keys) >= purgeBatch {
					return nil
				}
				var sub Submission
				if err := json.Unmarshal(v, &sub); err != nil {
					return fmt.Errorf("decode intake record %x: %w", k, err)
				}
				if sub.SubmittedAt.Before(before) && !sub.Purged {
					keys = append(keys, append([]byte(nil), k...))
				}
				return nil
			})
		})
		if err != nil || len(keys) == 0 {
			return n, err
		}
		err = s.db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketIntake)
			for _, k := range keys {
				var sub Submission
				if ok, err := getJSON(b, k, &sub); err != nil || !ok {
					return err
				}
				for i := range sub.Fields {
					sub.Fields[i].Value = ""
				}
				sub.Purged = true
				if err := putJSON(b, k, sub); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return n, err
		}
		n += len(keys)
	}
}
