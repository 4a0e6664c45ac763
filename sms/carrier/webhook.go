package carrier

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"slices"
	"strings"

	"github.com/textback/textback/sms"
)

// MaxWebhookBody is the largest webhook body (or query) the handler reads;
// a larger request is refused with 413 before it is read further.
const MaxWebhookBody = 256 << 10

// Handler returns the http.Handler for the carrier's webhooks, which hands
// what they carry to rcv. It takes:
//
//	.../inbound  replies from phones    → rcv.Receive
//	.../status   delivery reports       → rcv.UpdateStatus
//
// by the last element of the request path, so it can be mounted under any
// prefix, with or without http.StripPrefix. Config.PublicURL is the public
// address of that prefix: Twilio signs PublicURL + "/inbound" (plus the
// query, if the URL entered in Twilio's console has one). Telnyx sends all
// its events to one URL: either path takes any Telnyx event.
//
// Every request is verified before anything in it is believed: Twilio's
// X-Twilio-Signature, Telnyx's ed25519 signature with a timestamp at most
// 300 s from the driver's clock, or the webhook token (?token=) of kannel
// and http. An unsigned, forged, stale, oversized (MaxWebhookBody) or
// malformed request gets a 4xx and rcv is not called. A request rcv fails
// to record gets 500, so the carrier delivers it again; a duplicate
// delivery (the same message id) is the receiver's to ignore, and gets
// 2xx like the first. The answer to Twilio is an empty TwiML <Response/>
// (Twilio texts nothing back); Kannel, Telnyx and http carriers get an
// empty body.
//
// The handler is safe for concurrent use. rcv must not be nil.
func (d *Driver) Handler(rcv sms.Receiver) http.Handler {
	return &handler{d: d, rcv: rcv}
}

type handler struct {
	d   *Driver
	rcv sms.Receiver
}

// event is what one verified webhook carries: a reply, a report, or
// neither (an event the driver has no use for, acknowledged and dropped).
type event struct {
	inbound *sms.Inbound
	status  *sms.Status
}

// hookError refuses a webhook with an HTTP status.
type hookError struct {
	status int
	msg    string
}

func refuse(status int, format string, args ...any) *hookError {
	return &hookError{status: status, msg: fmt.Sprintf(format, args...)}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d := h.d
	kind := path.Base(r.URL.Path)
	if kind != "inbound" && kind != "status" {
		http.NotFound(w, r)
		return
	}
	if allow := d.methods(); !slices.Contains(allow, r.Method) {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		h.refused(w, r, kind, refuse(http.StatusMethodNotAllowed, "method %s not allowed", r.Method))
		return
	}
	if len(r.URL.RawQuery) > MaxWebhookBody {
		h.refused(w, r, kind, refuse(http.StatusRequestEntityTooLarge, "query too large"))
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxWebhookBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			h.refused(w, r, kind, refuse(http.StatusRequestEntityTooLarge, "body larger than %d bytes", MaxWebhookBody))
			return
		}
		h.refused(w, r, kind, refuse(http.StatusBadRequest, "reading the body: %v", err))
		return
	}
	var ev event
	var herr *hookError
	switch d.s.cfg.Preset {
	case PresetTwilio:
		ev, herr = d.twilioWebhook(kind, r, raw)
	case PresetTelnyx:
		ev, herr = d.telnyxWebhook(r, raw)
	case PresetKannel:
		ev, herr = d.kannelWebhook(kind, r, raw)
	default:
		ev, herr = d.httpWebhook(kind, r, raw)
	}
	if herr != nil {
		h.refused(w, r, kind, herr)
		return
	}
	if h.rcv == nil {
		http.Error(w, "no receiver", http.StatusServiceUnavailable)
		return
	}
	switch {
	case ev.inbound != nil:
		err = h.rcv.Receive(r.Context(), *ev.inbound)
	case ev.status != nil:
		err = h.rcv.UpdateStatus(r.Context(), *ev.status)
	}
	if err != nil {
		d.log.Error().Err(err).Str("webhook", kind).Msg("webhook not recorded; answered 500 so that the carrier delivers it again")
		http.Error(w, "not recorded; deliver it again", http.StatusInternalServerError)
		return
	}
	if d.s.cfg.Preset == PresetTwilio {
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		_, _ = io.WriteString(w, twiMLEmpty)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
}

// twiMLEmpty answers a Twilio webhook without texting back.
const twiMLEmpty = `<?xml version="1.0" encoding="UTF-8"?><Response/>`

// refused answers a refused webhook and logs why: a warning for what a
// misconfiguration or an attack looks like (bad signature, token, window),
// debug for the rest.
func (h *handler) refused(w http.ResponseWriter, r *http.Request, kind string, e *hookError) {
	ev := h.d.log.Debug()
	if e.status == http.StatusUnauthorized || e.status == http.StatusForbidden {
		ev = h.d.log.Warn()
	}
	ev.Str("webhook", kind).Int("status", e.status).Str("remote", r.RemoteAddr).Str("reason", e.msg).Msg("webhook refused")
	http.Error(w, e.msg, e.status)
}

// methods lists the methods the preset's webhooks use.
func (d *Driver) methods() []string {
	switch d.s.cfg.Preset {
	case PresetTwilio, PresetTelnyx:
		return []string{http.MethodPost}
	default:
		return []string{http.MethodGet, http.MethodPost}
	}
}

// checkToken verifies the webhook token in the query, in constant time.
func checkToken(r *http.Request, want string) *hookError {
	got := r.URL.Query().Get("token")
	if got == "" {
		return refuse(http.StatusUnauthorized, "missing token")
	}
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	if subtle.ConstantTimeCompare(g[:], w[:]) != 1 {
		return refuse(http.StatusForbidden, "wrong token")
	}
	return nil
}

// mediaType returns the request's media type, lower case, "" when none.
func mediaType(r *http.Request) (string, map[string]string) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return "", nil
	}
	return mt, params
}
