package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/template"
	"time"

	"github.com/textback/textback/sms"
	bolt "go.etcd.io/bbolt"
)

var _ sms.Receiver = (*Ledger)(nil)

// Standard confirmations. One is sent per consent change, never more.
const (
	optOutConfirmation = "{{.Business}}: you have been unsubscribed and will not receive any more texts from this number. Reply START to resubscribe."
	optInConfirmation  = "{{.Business}}: you are resubscribed and will get replies from this number again. Reply STOP to opt out."
)

// WebhookReply is the JSON body posted to a line's webhook for a reply.
type WebhookReply struct {
	// ID identifies the message across deliveries (at least once).
	ID         string    `json:"id"`
	Line       string    `json:"line"`
	LineNumber string    `json:"line_number"`
	From       string    `json:"from"`
	Body       string    `json:"body"`
	ReceivedAt time.Time `json:"received_at"`
	Review     bool      `json:"review,omitempty"`
}

// Receive records an inbound message and acts on it in one fsynced write:
// keywords change consent and queue exactly one confirmation; HELP queues
// the line's help text; other replies are queued for the line's staff.
// A message already recorded (same provider and id) is acknowledged and
// ignored. It returns nil only when the message is durable.
func (l *Ledger) Receive(ctx context.Context, in sms.Inbound) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if in.Provider == "" || in.ProviderID == "" {
		return errors.New("receive: a message needs a provider and a provider id")
	}
	r := l.rules.Load()
	now := l.now()
	var msg Message
	var dup bool
	err := l.store.update(func(tx *bolt.Tx) error {
		var err error
		msg, dup, err = r.receive(tx, in, now)
		return err
	})
	if err != nil {
		return fmt.Errorf("receive %s message %s: %w", in.Provider, in.ProviderID, err)
	}
	if dup {
		l.log.Debug().Str("provider", in.Provider).Str("id", in.ProviderID).Msg("duplicate inbound message ignored")
		return nil
	}
	if len(msg.Texts) > 0 {
		l.signal()
	}
	ev := l.log.Info()
	if msg.Review {
		ev = l.log.Warn().Bool("review", true)
	}
	ev.Str("from", l.show(msg.From)).Str("line", msg.Line).Str("kind", string(msg.Kind)).Uint64("msg", msg.Seq).
		Int("texts", len(msg.Texts)).Msg("inbound message")
	return nil
}

func (r *rules) receive(tx *bolt.Tx, in sms.Inbound, now time.Time) (Message, bool, error) {
	ids := tx.Bucket(bucketMsgIDs)
	idKey := []byte(in.Provider + "\x00" + in.ProviderID)
	if seq := btou64(ids.Get(idKey)); seq != 0 {
		return Message{}, true, nil
	}
	msgs := tx.Bucket(bucketMessages)
	seq, err := msgs.NextSequence()
	if err != nil {
		return Message{}, false, err
	}
	m := Message{Seq: seq, Provider: in.Provider, ProviderID: in.ProviderID, From: in.From, To: in.To,
		Body: in.Body, ReceivedAt: in.ReceivedAt, RecordedAt: now}
	if m.ReceivedAt.IsZero() {
		m.ReceivedAt = now
	}
	cl := r.lineFor(in.To)
	if cl == nil && len(r.lines) == 1 {
		cl = r.lines[0] // a modem's SIM has one line; its own number is often unknown
	}
	if err := r.act(tx, cl, &m, now); err != nil {
		return m, false, err
	}
	if err := putJSON(msgs, u64(seq), m); err != nil {
		return m, false, err
	}
	return m, false, ids.Put(idKey, u64(seq))
}

// act decides what a message means and queues what follows from it.
func (r *rules) act(tx *bolt.Tx, cl *compiledLine, m *Message, now time.Time) error {
	region := ""
	if cl != nil {
		m.Line = cl.Name
		region = cl.Country
	}
	num, err := NormalizeNumber(m.From, region)
	if err != nil {
		// Recorded for a person to see, never answered.
		m.Kind, m.Review = MsgReply, true
		return r.forward(tx, cl, m, now)
	}
	m.From = num.E164
	if r.isLineNumber(num.E164) {
		m.Kind = MsgLoop
		return nil
	}
	kw := defaultKeywords
	if cl != nil {
		kw = cl.keywords
	}
	match := kw.Match(m.Body)
	ns, err := getNumber(tx, num.E164)
	if err != nil {
		return err
	}
	line := m.Line
	switch {
	case match.Kind == KeywordOptOut:
		m.Kind, m.Review = MsgOptOut, match.Probable
		changed, err := setConsent(tx, num.E164, line, ConsentOptedOut, SourceKeyword, m.Body, match.Probable, now)
		if err != nil || !changed {
			if !changed {
				m.Kind = MsgKeep
			}
			return err
		}
		return r.replyWith(tx, cl, m, cl.confirmOut, KindConfirm, true, now)
	case match.Kind == KeywordOptIn && (!match.OnlyIfOptedOut || ns.OptedOut):
		m.Kind = MsgOptIn
		changed, err := setConsent(tx, num.E164, line, ConsentOptedIn, SourceKeyword, m.Body, false, now)
		if err != nil || !changed {
			if !changed {
				m.Kind = MsgKeep
			}
			return err
		}
		return r.replyWith(tx, cl, m, cl.confirmIn, KindConfirm, false, now)
	case match.Kind == KeywordHelp:
		m.Kind = MsgHelp
		if cl == nil {
			return nil
		}
		if by, err := claimedBy(tx, line, num.E164, now); err != nil {
			return err
		} else if by != "" {
			m.Suppressed = SkipClaimed // an operator answers; a person is told below
			return r.forward(tx, cl, m, now)
		}
		if last, ok := ns.LastHelp[line]; ok && now.Sub(last) < r.policy.HelpCooldown {
			return nil // answered recently: a loop guard
		}
		if ns.LastHelp == nil {
			ns.LastHelp = map[string]time.Time{}
		}
		ns.LastHelp[line] = now
		if err := putNumber(tx, ns); err != nil {
			return err
		}
		if err := r.replyWith(tx, cl, m, cl.help, KindHelp, false, now); err != nil {
			return err
		}
		// A caller asking for help wants a person too.
		return r.forward(tx, cl, m, now)
	}
	if cl != nil && r.staff[cl.Name][num.E164] {
		m.Kind = MsgStaff
		return nil
	}
	m.Kind = MsgReply
	return r.forward(tx, cl, m, now)
}

// defaultKeywords serves messages to no known line.
var defaultKeywords, _ = NewKeywords(KeywordConfig{})

func (r *rules) replyWith(tx *bolt.Tx, cl *compiledLine, m *Message, t *template.Template, kind TextKind, exempt bool, now time.Time) error {
	if cl == nil {
		return nil // no line to answer from; the change is recorded
	}
	loc := cl.Hours.Location
	if loc == nil {
		loc = time.UTC
	}
	body, err := RenderText(t, TextData{Business: cl.Business, Caller: m.From, Line: cl.number.E164, Time: now.In(loc)})
	if err != nil {
		return fmt.Errorf("line %s %s text: %w", cl.Name, kind, err)
	}
	n, _ := Segments(body)
	text := &Text{Kind: kind, Line: cl.Name, From: cl.number.E164, To: m.From, Body: body, Segments: n,
		Status: StatusQueued, CreatedAt: now, UpdatedAt: now, Exempt: exempt}
	if err := newText(tx, text); err != nil {
		return err
	}
	m.Texts = append(m.Texts, text.Seq)
	return nil
}

// forward queues the reply for the line's staff: one SMS per staff number
// and one webhook post.
func (r *rules) forward(tx *bolt.Tx, cl *compiledLine, m *Message, now time.Time) error {
	if cl == nil {
		m.Review = true
		return nil
	}
	for _, staff := range cl.Staff {
		t := &Text{Kind: KindForward, Line: cl.Name, From: cl.number.E164, To: staff,
			Body:   forwardBody(cl, m),
			Status: StatusQueued, CreatedAt: now, UpdatedAt: now}
		if err := newText(tx, t); err != nil {
			return err
		}
		m.Texts = append(m.Texts, t.Seq)
	}
	if cl.Webhook != "" {
		body, err := json.Marshal(WebhookReply{ID: fmt.Sprintf("%s:%s", m.Provider, m.ProviderID), Line: cl.Name,
			LineNumber: cl.number.E164, From: m.From, Body: m.Body, ReceivedAt: m.ReceivedAt, Review: m.Review})
		if err != nil {
			return err
		}
		t := &Text{Kind: KindWebhook, Line: cl.Name, To: cl.Webhook, Body: string(body),
			Status: StatusQueued, CreatedAt: now, UpdatedAt: now}
		if err := newText(tx, t); err != nil {
			return err
		}
		m.Texts = append(m.Texts, t.Seq)
	}
	return nil
}

func forwardBody(cl *compiledLine, m *Message) string {
	body := strings.TrimSpace(m.Body)
	return fmt.Sprintf("Reply to %s from %s: %s", cl.Business, m.From, body)
}

// UpdateStatus applies a delivery report to the text the provider id names.
// A report for an unknown id is not an error (another system's message, or
// a text purged since); it is logged at debug level.
func (l *Ledger) UpdateStatus(ctx context.Context, st sms.Status) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := l.now()
	var found bool
	var text Text
	err := l.store.update(func(tx *bolt.Tx) error {
		text = Text{} // this may run again (group commit): start from the record
		seq := btou64(tx.Bucket(bucketProvider).Get([]byte(st.ProviderID)))
		found = seq != 0
		if !found {
			return nil
		}
		ok, err := getJSON(tx.Bucket(bucketTexts), u64(seq), &text)
		if err != nil || !ok {
			found = false
			return err
		}
		old := text
		text.UpdatedAt = now
		if st.Code != "" {
			text.Code = st.Code
		}
		switch {
		case st.Delivered:
			text.Status = StatusDelivered
		case st.Outcome == sms.Accepted:
			return nil // an intermediate report (queued, sent): nothing new
		default:
			text.Status = StatusFailed
			text.Error = "carrier reported " + st.Outcome.String()
			switch st.Outcome {
			case sms.OptedOut:
				if _, err := setConsent(tx, text.To, text.Line, ConsentOptedOut, SourceCarrier, firstNonEmpty(st.Code, "delivery report"), false, now); err != nil {
					return err
				}
			case sms.NotMobile:
				ns, err := getNumber(tx, text.To)
				if err != nil {
					return err
				}
				ns.NotMobile = true
				if err := putNumber(tx, ns); err != nil {
					return err
				}
			}
		}
		return setText(tx, &old, &text)
	})
	if err != nil {
		return fmt.Errorf("delivery report %s %s: %w", st.Provider, st.ProviderID, err)
	}
	if !found {
		l.log.Debug().Str("provider", st.Provider).Str("id", st.ProviderID).Msg("delivery report for an unknown message")
		return nil
	}
	l.log.Info().Uint64("text", text.Seq).Str("call", text.Call).Str("status", string(text.Status)).Str("code", st.Code).Msg("delivery report")
	return nil
}
