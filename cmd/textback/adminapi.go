package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/textback/textback/ledger"
)

// The admin API: the running daemon does the ledger commands (calls,
// explain, optout, ledger export|backup|stats|purge) for the command line
// (remote.go), since it holds the ledger file's lock. Served on the admin
// listener under /admin/:
//
//	GET  /admin/ledger                 adminInfo: which ledger, which version
//	GET  /admin/calls?n=N              []ledger.Call, newest first (0: all)
//	GET  /admin/call?id=ID             ledger.Call
//	GET  /admin/text?seq=N             ledger.Text
//	GET  /admin/optouts                []ledger.NumberState
//	GET  /admin/number?number=&line=   numberReport
//	POST /admin/optout                 form action=add|remove, number, line, note: consentChange
//	GET  /admin/ledger/export?what=&format=&since=RFC3339
//	                                   the export as is; trailers Textback-Records, Textback-Error
//	GET  /admin/ledger/backup          a consistent snapshot of the file (Content-Length)
//	GET  /admin/ledger/stats           ledger.Stats
//	POST /admin/ledger/purge           form before=RFC3339: ledger.PurgeStats
//
// An error is a status (400 bad request, 404 no such record, 500) and a
// one-line message. The API reads phone numbers and changes consent, so
// every request must come from a loopback address (even with
// admin.allow_remote), be addressed to a loopback host (a web page cannot
// reach it through DNS rebinding) and carry the Textback-Admin header (a
// web page cannot send it cross-origin: the preflight is never granted).

// adminHeader must be on every admin API request.
const adminHeader = "Textback-Admin"

// The export's trailers.
const (
	trailerRecords = "Textback-Records"
	trailerError   = "Textback-Error"
)

// adminInfo is GET /admin/ledger.
type adminInfo struct {
	Ledger  string `json:"ledger"`
	Version string `json:"version"`
}

// adminAPI serves /admin/ from the daemon's ledger.
type adminAPI struct {
	core *ledger.Ledger
	log  zerolog.Logger
	mux  *http.ServeMux
}

func newAdminAPI(core *ledger.Ledger, log zerolog.Logger) *adminAPI {
	a := &adminAPI{core: core, log: log, mux: http.NewServeMux()}
	st := core.Store()
	a.mux.HandleFunc("GET /admin/ledger", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, adminInfo{Ledger: st.Path(), Version: versionString()})
	})
	a.mux.HandleFunc("GET /admin/calls", func(w http.ResponseWriter, r *http.Request) {
		n, err := queryInt(r, "n")
		if err != nil {
			apiFail(w, err)
			return
		}
		answer(w)(st.Calls(n))
	})
	a.mux.HandleFunc("GET /admin/call", func(w http.ResponseWriter, r *http.Request) {
		answer(w)(st.Call(r.FormValue("id")))
	})
	a.mux.HandleFunc("GET /admin/text", func(w http.ResponseWriter, r *http.Request) {
		seq, err := strconv.ParseUint(r.FormValue("seq"), 10, 64)
		if err != nil {
			apiFail(w, badRequest("seq %q is not a text number", r.FormValue("seq")))
			return
		}
		answer(w)(st.Text(seq))
	})
	a.mux.HandleFunc("GET /admin/optouts", func(w http.ResponseWriter, _ *http.Request) {
		answer(w)(st.OptedOutNumbers())
	})
	a.mux.HandleFunc("GET /admin/number", func(w http.ResponseWriter, r *http.Request) {
		rep, err := numberOf(a.core, r.FormValue("number"), r.FormValue("line"))
		answer(w)(rep, asBadRequest(err))
	})
	a.mux.HandleFunc("POST /admin/optout", a.optout)
	a.mux.HandleFunc("GET /admin/ledger/stats", func(w http.ResponseWriter, _ *http.Request) {
		answer(w)(st.Stats())
	})
	a.mux.HandleFunc("POST /admin/ledger/purge", func(w http.ResponseWriter, r *http.Request) {
		before, err := time.Parse(time.RFC3339Nano, r.FormValue("before"))
		if err != nil {
			apiFail(w, badRequest("before %q is not an RFC 3339 time", r.FormValue("before")))
			return
		}
		answer(w)(st.Purge(before))
	})
	a.mux.HandleFunc("GET /admin/ledger/export", a.export)
	a.mux.HandleFunc("GET /admin/ledger/backup", a.backup)
	return a
}

func (a *adminAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil || !isLoopback(host) {
		http.Error(w, "the admin API answers loopback clients only", http.StatusForbidden)
		return
	}
	if !isLoopback(requestHost(r)) {
		http.Error(w, "the admin API answers requests addressed to a loopback host only", http.StatusForbidden)
		return
	}
	if r.Header.Get(adminHeader) == "" {
		http.Error(w, "the admin API needs the "+adminHeader+" header (textback's commands send it)", http.StatusForbidden)
		return
	}
	a.mux.ServeHTTP(w, r)
}

// requestHost is the host a request is addressed to, without the port.
func requestHost(r *http.Request) string {
	h := r.Host
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	return strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
}

// optout is `textback optout add|remove`: the change is fsynced before
// the answer.
func (a *adminAPI) optout(w http.ResponseWriter, r *http.Request) {
	var optOut bool
	switch r.FormValue("action") {
	case "add":
		optOut = true
	case "remove":
	default:
		apiFail(w, badRequest("action %q: add or remove", r.FormValue("action")))
		return
	}
	ch, err := setConsent(a.core, optOut, r.FormValue("number"), r.FormValue("line"), r.FormValue("note"))
	answer(w)(ch, asBadRequest(err))
}

// export streams the export. Its count, or an error after the first
// byte, goes in a trailer; an error before it is an ordinary answer.
func (a *adminAPI) export(w http.ResponseWriter, r *http.Request) {
	var since time.Time
	if s := r.FormValue("since"); s != "" {
		var err error
		if since, err = time.Parse(time.RFC3339Nano, s); err != nil {
			apiFail(w, badRequest("since %q is not an RFC 3339 time", s))
			return
		}
	}
	w.Header().Set("Trailer", trailerRecords+", "+trailerError)
	w.Header().Set("Content-Type", "application/octet-stream")
	cw := &countingWriter{w: w}
	n, err := a.core.Store().Export(cw, r.FormValue("what"), r.FormValue("format"), since)
	switch {
	case err != nil && cw.n == 0:
		w.Header().Del("Trailer")
		apiFail(w, badRequest("%v", err))
	case err != nil:
		a.log.Warn().Err(err).Msg("admin API: export cut short")
		w.Header().Set(trailerError, err.Error())
	default:
		w.Header().Set(trailerRecords, strconv.Itoa(n))
	}
}

// backup streams a snapshot of the ledger, its size first.
func (a *adminAPI) backup(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/octet-stream")
	n, err := a.core.Store().WriteSnapshot(w, func(size int64) {
		w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	})
	if err != nil {
		// The client sees a short body and keeps no backup.
		a.log.Warn().Err(err).Int64("bytes", n).Msg("admin API: ledger snapshot cut short")
		return
	}
	a.log.Info().Int64("bytes", n).Msg("ledger snapshot sent for a backup")
}

// countingWriter counts what passes through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// errBadRequest marks an error in what the client asked.
var errBadRequest = errors.New("bad request")

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errBadRequest}, args...)...)
}

// asBadRequest marks err (a number that does not read) as the client's.
func asBadRequest(err error) error {
	if err == nil || errors.Is(err, ledger.ErrNotFound) {
		return err
	}
	if errors.Is(err, ledger.ErrNotANumber) || errors.Is(err, ledger.ErrInvalidNumber) {
		return fmt.Errorf("%w: %w", errBadRequest, err)
	}
	return err
}

// answer writes v as JSON, or the error.
func answer(w http.ResponseWriter) func(v any, err error) {
	return func(v any, err error) {
		if err != nil {
			apiFail(w, err)
			return
		}
		writeJSON(w, v)
	}
}

// apiFail answers with err's status and its message (without the bad
// request mark: the command prints it as the file's error would read).
func apiFail(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	msg := err.Error()
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, errBadRequest):
		code = http.StatusBadRequest
		msg = strings.TrimPrefix(msg, errBadRequest.Error()+": ")
	}
	http.Error(w, msg, code)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// queryInt reads an integer query parameter; absent is 0.
func queryInt(r *http.Request, name string) (int, error) {
	s := r.FormValue(name)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, badRequest("%s %q is not a number", name, s)
	}
	return n, nil
}
