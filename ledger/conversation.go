package ledger

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A conversation is everything between one caller and one line: missed
// calls, the texts sent to the caller and their status, the caller's
// replies, intake submissions, consent changes, and what operators did
// (claim, reply, mark handled). It is not a stored object: the operator
// inbox reads it out of the calls, texts, messages, consent and intake
// records. What is stored is the operators' part: who claimed it, when it
// was last marked handled, and a log of their actions.

var (
	bucketConvs   = []byte("conversations") // line + 0x00 + number → ConvState
	bucketActions = []byte("conv_actions")  // line + 0x00 + number + 0x00 + seq(8) → OperatorAction
)

// SkipClaimed: an operator has claimed the caller's conversation on the
// line; automatic texts to the caller are suppressed until it is released
// or marked handled.
const SkipClaimed Skip = "claimed"

// KindOperator is a text an operator typed in the inbox.
const KindOperator TextKind = "operator"

// ErrOptedOutReply is returned by Reply when the number opted out.
var ErrOptedOutReply = errors.New("the number opted out; textback will not text it")

// ConvState is what operators have done to a conversation.
type ConvState struct {
	Line      string    `json:"line"`
	Number    string    `json:"number"`
	ClaimedBy string    `json:"claimed_by,omitempty"`
	ClaimedAt time.Time `json:"claimed_at,omitempty"`
	HandledBy string    `json:"handled_by,omitempty"`
	HandledAt time.Time `json:"handled_at,omitempty"`
}

// OperatorActionKind names what an operator did.
type OperatorActionKind string

const (
	ActClaim   OperatorActionKind = "claim"
	ActRelease OperatorActionKind = "release"
	ActHandled OperatorActionKind = "handled"
	ActReply   OperatorActionKind = "reply"
)

// OperatorAction is one entry of a conversation's operator log.
type OperatorAction struct {
	Seq  uint64             `json:"seq"`
	At   time.Time          `json:"at"`
	User string             `json:"user"`
	Kind OperatorActionKind `json:"kind"`
	// Text is the outbox entry of a reply.
	Text uint64 `json:"text,omitempty"`
}

func convKey(line, number string) []byte {
	k := make([]byte, 0, len(line)+1+len(number))
	k = append(k, line...)
	k = append(k, 0)
	return append(k, number...)
}

func getConv(tx *bolt.Tx, line, number string) (ConvState, error) {
	st := ConvState{Line: line, Number: number}
	b := tx.Bucket(bucketConvs)
	if b == nil {
		return st, nil
	}
	_, err := getJSON(b, convKey(line, number), &st)
	return st, err
}

// ClaimTTL is how long a claim lasts: an operator who claims a
// conversation and forgets it does not silence textback for that caller
// for good.
const ClaimTTL = 24 * time.Hour

// Claimed reports whether the conversation is claimed at now.
func (st ConvState) Claimed(now time.Time) bool {
	return st.ClaimedBy != "" && now.Sub(st.ClaimedAt) < ClaimTTL
}

// claimedBy reports who holds the conversation at now, inside the
// policy's, the inbox's and the dispatcher's write transactions.
func claimedBy(tx *bolt.Tx, line, number string, now time.Time) (string, error) {
	st, err := getConv(tx, line, number)
	if err != nil || !st.Claimed(now) {
		return "", err
	}
	return st.ClaimedBy, nil
}

// operate changes a conversation's state and logs the action, in one
// fsynced write. fn may refuse by returning an error.
func (l *Ledger) operate(line, number, user string, kind OperatorActionKind, fn func(tx *bolt.Tx, st *ConvState, act *OperatorAction, now time.Time) error) (ConvState, error) {
	if strings.TrimSpace(user) == "" {
		return ConvState{}, errors.New("an operator action needs the operator's name")
	}
	r := l.rules.Load()
	cl := r.byName[line]
	if cl == nil {
		return ConvState{}, fmt.Errorf("%s: no line %q", kind, line)
	}
	num, err := NormalizeNumber(number, cl.Country)
	if err != nil {
		return ConvState{}, fmt.Errorf("%s: %w", kind, err)
	}
	now := l.now()
	var st ConvState
	err = l.store.db.Update(func(tx *bolt.Tx) error {
		var err error
		if st, err = getConv(tx, line, num.E164); err != nil {
			return err
		}
		act := OperatorAction{At: now, User: user, Kind: kind}
		if err := fn(tx, &st, &act, now); err != nil {
			return err
		}
		convs, err := tx.CreateBucketIfNotExists(bucketConvs)
		if err != nil {
			return err
		}
		if err := putJSON(convs, convKey(line, num.E164), st); err != nil {
			return err
		}
		acts, err := tx.CreateBucketIfNotExists(bucketActions)
		if err != nil {
			return err
		}
		if act.Seq, err = acts.NextSequence(); err != nil {
			return err
		}
		return putJSON(acts, append(append(convKey(line, num.E164), 0), u64(act.Seq)...), act)
	})
	if err != nil {
		return ConvState{}, fmt.Errorf("%s %s on line %s: %w", kind, l.show(num.E164), line, err)
	}
	l.log.Info().Str("line", line).Str("number", l.show(num.E164)).Str("user", user).Str("action", string(kind)).Msg("inbox")
	return st, nil
}

// Claim marks the conversation of number on line as taken by user: while
// it is claimed (at most ClaimTTL), the policy sends the caller no
// text-back (skip reason "claimed") and the inbox no automatic HELP
// answer; opt-out and opt-in confirmations still go out. Claiming a
// conversation another operator holds takes it over; claiming again
// renews the claim.
func (l *Ledger) Claim(line, number, user string) (ConvState, error) {
	return l.operate(line, number, user, ActClaim, func(_ *bolt.Tx, st *ConvState, _ *OperatorAction, now time.Time) error {
		st.ClaimedBy, st.ClaimedAt = user, now
		return nil
	})
}

// Release ends a claim; automatic texts resume.
func (l *Ledger) Release(line, number, user string) (ConvState, error) {
	return l.operate(line, number, user, ActRelease, func(_ *bolt.Tx, st *ConvState, _ *OperatorAction, _ time.Time) error {
		st.ClaimedBy, st.ClaimedAt = "", time.Time{}
		return nil
	})
}

// MarkHandled records that everything the caller sent so far was dealt
// with, and ends a claim. Anything the caller sends later makes the
// conversation unhandled again.
func (l *Ledger) MarkHandled(line, number, user string) (ConvState, error) {
	return l.operate(line, number, user, ActHandled, func(_ *bolt.Tx, st *ConvState, _ *OperatorAction, now time.Time) error {
		st.HandledBy, st.HandledAt = user, now
		st.ClaimedBy, st.ClaimedAt = "", time.Time{}
		return nil
	})
}

// Reply queues a text typed by user to number from line's number, for the
// dispatcher to send at once. It refuses, with an error wrapping
// ErrOptedOutReply, a number that opted out; the check and the enqueue
// are one write. A reply counts against no cooldown or cap: those are for
// automatic texts. It returns the queued text.
func (l *Ledger) Reply(line, number, user, body string) (Text, error) {
	body = strings.TrimSpace(body)
	var t Text
	if body == "" {
		return t, errors.New("reply: the text is empty")
	}
	r := l.rules.Load()
	cl := r.byName[line]
	if cl == nil {
		return t, fmt.Errorf("reply: no line %q", line)
	}
	_, err := l.operate(line, number, user, ActReply, func(tx *bolt.Tx, st *ConvState, act *OperatorAction, now time.Time) error {
		ns, err := getNumber(tx, st.Number)
		if err != nil {
			return err
		}
		if ns.OptedOut {
			return fmt.Errorf("%w (since %s)", ErrOptedOutReply, ns.Changed.UTC().Format(time.RFC3339))
		}
		n, _ := Segments(body)
		t = Text{Kind: KindOperator, Line: cl.Name, From: cl.number.E164, To: st.Number, Body: body, Segments: n,
			Status: StatusQueued, CreatedAt: now, UpdatedAt: now}
		if err := newText(tx, &t); err != nil {
			return err
		}
		act.Text = t.Seq
		return nil
	})
	if err != nil {
		return Text{}, err
	}
	l.signal()
	return t, nil
}

// EntryKind names an entry of a conversation's timeline.
type EntryKind string

const (
	EntryCall    EntryKind = "call"    // a missed call
	EntryText    EntryKind = "text"    // a text to the caller
	EntryMessage EntryKind = "message" // a text from the caller
	EntryIntake  EntryKind = "intake"  // an intake form
	EntryConsent EntryKind = "consent" // an opt-out or opt-in
	EntryAction  EntryKind = "action"  // an operator's claim, reply, handled
)

// Entry is one event of a conversation, for the inbox to show.
type Entry struct {
	At   time.Time `json:"at"`
	Kind EntryKind `json:"kind"`
	// Seq is the record's sequence in its bucket.
	Seq uint64 `json:"seq"`
	// Exactly one of these is set, by Kind.
	Call    *Call           `json:"call,omitempty"`
	Text    *Text           `json:"text,omitempty"`
	Message *Message        `json:"message,omitempty"`
	Intake  *Submission     `json:"intake,omitempty"`
	Consent *ConsentEvent   `json:"consent,omitempty"`
	Action  *OperatorAction `json:"action,omitempty"`
}

// inbound reports whether the entry is the caller reaching out: it makes
// the conversation need a person.
func (e Entry) inbound() bool {
	switch e.Kind {
	case EntryCall, EntryIntake:
		return true
	case EntryMessage:
		return e.Message.Kind == MsgReply || e.Message.Kind == MsgHelp
	}
	return false
}

// Conversation is one caller on one line.
type Conversation struct {
	Line   string    `json:"line"`
	Number string    `json:"number"`
	State  ConvState `json:"state"`
	// OptedOut: the number opted out; the inbox cannot reply.
	OptedOut bool `json:"opted_out,omitempty"`
	// LastAt is the newest entry's time; LastInbound the newest time the
	// caller reached out.
	LastAt      time.Time `json:"last_at"`
	LastInbound time.Time `json:"last_inbound,omitempty"`
	// Last is the newest entry.
	Last Entry `json:"last"`
	// Entries, newest first, are filled by Store.Conversation only.
	Entries []Entry `json:"entries,omitempty"`
}

// Unhandled reports whether the caller reached out after the
// conversation was last marked handled.
func (c Conversation) Unhandled() bool {
	return !c.LastInbound.IsZero() && c.LastInbound.After(c.State.HandledAt)
}

// ConvQuery selects conversations.
type ConvQuery struct {
	// Line keeps one line's conversations ("" all).
	Line string
	// Number keeps numbers containing these digits ("" all).
	Number string
}

// Conversations returns the conversations that match q, the most recent
// first. It reads every call, text, message and submission the ledger
// holds (bounded by retention); a small office's ledger reads in
// milliseconds.
func (s *Store) Conversations(q ConvQuery) ([]Conversation, error) {
	digits := onlyDigits(q.Number)
	var out []Conversation
	err := s.db.View(func(tx *bolt.Tx) error {
		convs := map[string]*Conversation{}
		err := eachEntry(tx, func(line, number string, e Entry) {
			if q.Line != "" && line != q.Line {
				return
			}
			if digits != "" && !strings.Contains(onlyDigits(number), digits) {
				return
			}
			k := string(convKey(line, number))
			c := convs[k]
			if c == nil {
				c = &Conversation{Line: line, Number: number}
				convs[k] = c
			}
			c.add(e)
		})
		if err != nil {
			return err
		}
		for _, c := range convs {
			if err := c.finish(tx); err != nil {
				return err
			}
			out = append(out, *c)
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool {
		if !out[i].LastAt.Equal(out[j].LastAt) {
			return out[i].LastAt.After(out[j].LastAt)
		}
		return string(convKey(out[i].Line, out[i].Number)) < string(convKey(out[j].Line, out[j].Number))
	})
	return out, err
}

// Conversation returns the conversation of number (E.164) on line with
// all its entries, newest first. A conversation with no entries is
// returned empty, not as an error.
func (s *Store) Conversation(line, number string) (Conversation, error) {
	c := Conversation{Line: line, Number: number}
	err := s.db.View(func(tx *bolt.Tx) error {
		err := eachEntry(tx, func(ln, num string, e Entry) {
			if ln == line && num == number {
				c.add(e)
				c.Entries = append(c.Entries, e)
			}
		})
		if err != nil {
			return err
		}
		// Consent is per number, whatever line the keyword came to.
		if err := eachConsent(tx, number, func(ev ConsentEvent) {
			if ev.Line != line { // the others came with eachEntry
				e := Entry{At: ev.At, Kind: EntryConsent, Seq: ev.Seq, Consent: &ev}
				c.add(e)
				c.Entries = append(c.Entries, e)
			}
		}); err != nil {
			return err
		}
		return c.finish(tx)
	})
	sort.SliceStable(c.Entries, func(i, j int) bool {
		a, b := c.Entries[i], c.Entries[j]
		if !a.At.Equal(b.At) {
			return a.At.After(b.At)
		}
		if ra, rb := entryRank[a.Kind], entryRank[b.Kind]; ra != rb {
			return ra > rb
		}
		return a.Seq > b.Seq
	})
	return c, err
}

// entryRank orders entries of the same instant as they follow from each
// other: a call, then a form or a message, then what textback did about
// it (a consent change, a text), then an operator's action.
var entryRank = map[EntryKind]int{EntryCall: 0, EntryIntake: 1, EntryMessage: 2, EntryConsent: 3, EntryText: 4, EntryAction: 5}

func (c *Conversation) add(e Entry) {
	if !e.At.Before(c.LastAt) {
		c.LastAt, c.Last = e.At, e
	}
	if e.inbound() && e.At.After(c.LastInbound) {
		c.LastInbound = e.At
	}
}

func (c *Conversation) finish(tx *bolt.Tx) error {
	st, err := getConv(tx, c.Line, c.Number)
	if err != nil {
		return err
	}
	c.State = st
	ns, err := getNumber(tx, c.Number)
	c.OptedOut = ns.OptedOut
	return err
}

// eachEntry calls fn with every record that belongs to a conversation,
// with its line and number. Consent changes are per number and come from
// eachConsent; those made on a line also come here.
func eachEntry(tx *bolt.Tx, fn func(line, number string, e Entry)) error {
	if err := eachRecord(tx, bucketCalls, func(_ []byte, c *Call) error {
		if c.Outcome == Missed && c.Line != "" && c.Number != "" {
			fn(c.Line, c.Number, Entry{At: callTime(c), Kind: EntryCall, Seq: c.Seq, Call: c})
		}
		return nil
	}); err != nil {
		return err
	}
	if err := eachRecord(tx, bucketTexts, func(_ []byte, t *Text) error {
		switch t.Kind {
		case KindWebhook, KindForward:
			return nil // to staff, not to the caller
		}
		if t.Line != "" && t.To != "" {
			fn(t.Line, t.To, Entry{At: t.CreatedAt, Kind: EntryText, Seq: t.Seq, Text: t})
		}
		return nil
	}); err != nil {
		return err
	}
	if err := eachRecord(tx, bucketMessages, func(_ []byte, m *Message) error {
		if m.Line != "" && m.Kind != MsgLoop && m.Kind != MsgStaff && strings.HasPrefix(m.From, "+") {
			fn(m.Line, m.From, Entry{At: m.ReceivedAt, Kind: EntryMessage, Seq: m.Seq, Message: m})
		}
		return nil
	}); err != nil {
		return err
	}
	if tx.Bucket(bucketIntake) != nil {
		if err := eachRecord(tx, bucketIntake, func(_ []byte, s *Submission) error {
			fn(s.Line, s.Number, Entry{At: s.SubmittedAt, Kind: EntryIntake, Seq: s.Seq, Intake: s})
			return nil
		}); err != nil {
			return err
		}
	}
	if err := eachRecord(tx, bucketConsent, func(_ []byte, ev *ConsentEvent) error {
		if ev.Line != "" {
			fn(ev.Line, ev.Number, Entry{At: ev.At, Kind: EntryConsent, Seq: ev.Seq, Consent: ev})
		}
		return nil
	}); err != nil {
		return err
	}
	if acts := tx.Bucket(bucketActions); acts != nil {
		return acts.ForEach(func(k, v []byte) error {
			parts := bytes.SplitN(k, []byte{0}, 3)
			if len(parts) != 3 {
				return nil
			}
			var a OperatorAction
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("decode operator action %x: %w", k, err)
			}
			fn(string(parts[0]), string(parts[1]), Entry{At: a.At, Kind: EntryAction, Seq: a.Seq, Action: &a})
			return nil
		})
	}
	return nil
}

func eachConsent(tx *bolt.Tx, number string, fn func(ConsentEvent)) error {
	prefix := append([]byte(number), 0)
	c := tx.Bucket(bucketConsent).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var e ConsentEvent
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("decode consent record %x: %w", k, err)
		}
		fn(e)
	}
	return nil
}

func onlyDigits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}
