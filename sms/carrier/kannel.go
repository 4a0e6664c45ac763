package carrier

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/textback/textback/sms"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
)

// kannelWebhook verifies and reads a call from Kannel's smsbox: an
// sms-service get-url or post-url on inbound, a dlr-url on status. Kannel
// signs nothing: the token in the URL, compared in constant time, and a
// loopback listener are the protection.
//
// The get-url form (see contrib/carrier/kannel.yaml):
//
//	.../inbound?token=T&id=%I&from=%p&to=%P&text=%b&charset=%C
//
// The post-url form sends the text as the body and the numbers as
// X-Kannel-From and X-Kannel-To headers:
//
//	.../inbound?token=T&id=%I
//
// %I is Kannel's id of the message; without it the id is derived from the
// sender, recipient, time (%t, X-Kannel-Time) and text.
func (d *Driver) kannelWebhook(kind string, r *http.Request, raw []byte) (event, *hookError) {
	if e := checkToken(r, d.s.token); e != nil {
		return event{}, e
	}
	q := r.URL.Query()
	if kind == "status" {
		id := q.Get("id")
		if id == "" {
			return event{}, refuse(http.StatusBadRequest, "no id")
		}
		st := &sms.Status{Provider: d.Name(), ProviderID: id, Code: q.Get("status"), At: d.now()}
		switch st.Code {
		case "1": // delivered to the phone
			st.Delivered = true
		case "2", "16": // not delivered, rejected by the SMSC
			st.Outcome = sms.Rejected
		case "4", "8": // queued on the SMSC, accepted by the SMSC
		default:
			return event{}, refuse(http.StatusBadRequest, "status %q is not a Kannel delivery report type", st.Code)
		}
		return event{status: st}, nil
	}

	var in sms.Inbound
	var when string
	if from := r.Header.Get("X-Kannel-From"); r.Method == http.MethodPost && from != "" {
		_, params := mediaType(r)
		in.From, in.To, in.Body = from, r.Header.Get("X-Kannel-To"), decodeText(raw, params["charset"])
		when = r.Header.Get("X-Kannel-Time")
	} else {
		in.From, in.To, in.Body = q.Get("from"), q.Get("to"), decodeText([]byte(q.Get("text")), q.Get("charset"))
		when = q.Get("ts")
	}
	if in.From == "" {
		return event{}, refuse(http.StatusBadRequest, "no sender (from=%%p, or X-Kannel-From with send-sender = true)")
	}
	in.Provider, in.ProviderID = d.Name(), q.Get("id")
	if in.ProviderID == "" {
		h := sha256.Sum256([]byte(in.From + "\x00" + in.To + "\x00" + when + "\x00" + in.Body))
		in.ProviderID = "sha256:" + hex.EncodeToString(h[:12])
	}
	return event{inbound: &in}, nil
}

// decodeText turns a text Kannel passed on into UTF-8 by the charset it
// named (%C, or the Content-Type's charset): UTF-8 as it is, UTF-16BE
// (UCS-2) and Latin-1 converted; bytes of no named charset (8-BIT) are
// UTF-8 when they read as UTF-8, Latin-1 otherwise.
func decodeText(b []byte, charset string) string {
	switch strings.ToUpper(strings.TrimSpace(charset)) {
	case "UTF-16BE", "UTF-16", "UCS-2", "UCS-2BE":
		if s, err := unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM).NewDecoder().Bytes(b); err == nil {
			return string(s)
		}
	case "ISO-8859-1", "LATIN1", "ISO_8859-1":
		if s, err := charmap.ISO8859_1.NewDecoder().Bytes(b); err == nil {
			return string(s)
		}
	case "WINDOWS-1252", "CP1252":
		if s, err := charmap.Windows1252.NewDecoder().Bytes(b); err == nil {
			return string(s)
		}
	}
	if utf8.Valid(b) {
		return string(b)
	}
	s, _ := charmap.ISO8859_1.NewDecoder().Bytes(b) // every byte is a Latin-1 character
	return string(s)
}
