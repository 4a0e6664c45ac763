package carrier

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/textback/textback/sms"
)

// TelnyxTolerance is how far a Telnyx webhook's timestamp may be from the
// driver's clock, either way. An older request is a replay (or very late)
// and is refused.
const TelnyxTolerance = 300 * time.Second

// telnyxEvent is the part of a Telnyx webhook the driver reads.
type telnyxEvent struct {
	Data struct {
		EventType  string `json:"event_type"`
		OccurredAt string `json:"occurred_at"`
		Payload    struct {
			ID   string `json:"id"`
			From struct {
				PhoneNumber string `json:"phone_number"`
			} `json:"from"`
			To []struct {
				PhoneNumber string `json:"phone_number"`
				Status      string `json:"status"`
			} `json:"to"`
			Text       string `json:"text"`
			ReceivedAt string `json:"received_at"`
			Errors     []struct {
				Code flexString `json:"code"`
			} `json:"errors"`
		} `json:"payload"`
	} `json:"data"`
}

// flexString takes a JSON string or number (Telnyx error codes are
// documented as strings, and have been seen as numbers).
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*f = flexString(n.String())
	return nil
}

// telnyxWebhook verifies and reads a Telnyx webhook (API v2): the ed25519
// signature over "timestamp|body" and the timestamp window first, then
// message.received (a reply), message.sent and message.finalized
// (delivery reports). Other events are acknowledged and dropped.
func (d *Driver) telnyxWebhook(r *http.Request, raw []byte) (event, *hookError) {
	sig64, ts := r.Header.Get("Telnyx-Signature-Ed25519"), r.Header.Get("Telnyx-Timestamp")
	if sig64 == "" || ts == "" {
		return event{}, refuse(http.StatusUnauthorized, "missing telnyx-signature-ed25519 or telnyx-timestamp")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return event{}, refuse(http.StatusForbidden, "telnyx-timestamp %q is not a Unix time", ts)
	}
	if skew := d.now().Sub(time.Unix(sec, 0)); skew > TelnyxTolerance || skew < -TelnyxTolerance {
		return event{}, refuse(http.StatusForbidden, "telnyx-timestamp is %s from now, more than %s: replayed, or a clock is wrong", skew.Round(time.Second), TelnyxTolerance)
	}
	sig, err := base64.StdEncoding.DecodeString(sig64)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return event{}, refuse(http.StatusForbidden, "telnyx-signature-ed25519 is not an ed25519 signature")
	}
	signed := make([]byte, 0, len(ts)+1+len(raw))
	signed = append(append(append(signed, ts...), '|'), raw...)
	if !ed25519.Verify(d.s.telnyxKey, signed, sig) {
		return event{}, refuse(http.StatusForbidden, "telnyx-signature-ed25519 does not verify with telnyx.public_key")
	}

	var e telnyxEvent
	if err := json.Unmarshal(raw, &e); err != nil {
		return event{}, refuse(http.StatusBadRequest, "malformed JSON: %v", err)
	}
	p := &e.Data.Payload
	switch e.Data.EventType {
	case "":
		return event{}, refuse(http.StatusBadRequest, "no data.event_type")
	case "message.received":
		if p.ID == "" || p.From.PhoneNumber == "" {
			return event{}, refuse(http.StatusBadRequest, "message.received without data.payload.id or from.phone_number")
		}
		in := &sms.Inbound{Provider: d.Name(), ProviderID: p.ID, From: p.From.PhoneNumber, Body: p.Text}
		if len(p.To) > 0 {
			in.To = p.To[0].PhoneNumber
		}
		in.ReceivedAt = parseTime(p.ReceivedAt, e.Data.OccurredAt)
		return event{inbound: in}, nil
	case "message.sent", "message.finalized":
		if p.ID == "" || len(p.To) == 0 {
			return event{}, refuse(http.StatusBadRequest, "%s without data.payload.id or to", e.Data.EventType)
		}
		st := &sms.Status{Provider: d.Name(), ProviderID: p.ID, At: parseTime(e.Data.OccurredAt)}
		if st.At.IsZero() {
			st.At = d.now()
		}
		if len(p.Errors) > 0 {
			st.Code = string(p.Errors[0].Code)
		}
		switch p.To[0].Status {
		case "delivered":
			st.Delivered = true
		case "delivery_failed", "sending_failed", "expired":
			st.Outcome = d.failure(st.Code)
		default: // queued, sending, sent, delivery_unconfirmed: nothing final
		}
		return event{status: st}, nil
	default:
		return event{}, nil
	}
}

// parseTime returns the first of the RFC 3339 times that parses, zero when
// none does.
func parseTime(vs ...string) time.Time {
	for _, v := range vs {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return t
		}
	}
	return time.Time{}
}
