package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
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
//	                                   the export as is; its record count in Textback-Records
//	GET  /admin/ledger/backup          a consistent snapshot of the file
//
// The export and the snapshot are spooled to a temporary file before the
// first byte is sent (see spool); the answer has a Content-Length.
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

// headerRecords is the export's record count.
const headerRecords = "Textback-Records"

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

// export sends the export, its record count in a header.
func (a *adminAPI) export(w http.ResponseWriter, r *http.Request) {
	var since time.Time
	if s := r.FormValue("since"); s != "" {
		var err error
		if since, err = time.Parse(time.RFC3339Nano, s); err != nil {
			apiFail(w, badRequest("since %q is not an RFC 3339 time", s))
			return
		}
	}
	var n int
	f, size, err := spool(func(cw *countingWriter) error {
		var err error
		n, err = a.core.Store().Export(cw, r.FormValue("what"), r.FormValue("format"), since)
		if err != nil && cw.n == 0 {
			// an unknown record type or format: refused before the first byte
			err = fmt.Errorf("%w: %w", errBadRequest, err)
		}
		return err
	})
	if err != nil {
		apiFail(w, err)
		return
	}
	defer f.Close()
	w.Header().Set(headerRecords, strconv.Itoa(n))
	a.send(w, f, size, "export")
}

// backup sends a consistent snapshot of the ledger.
func (a *adminAPI) backup(w http.ResponseWriter, _ *http.Request) {
	f, size, err := spool(func(cw *countingWriter) error {
		_, err := a.core.Store().WriteSnapshot(cw, nil)
		return err
	})
	if err != nil {
		apiFail(w, err)
		return
	}
	defer f.Close()
	if a.send(w, f, size, "ledger snapshot") {
		a.log.Info().Int64("bytes", size).Msg("ledger snapshot sent for a backup")
	}
}

// spool runs write into an unnamed temporary file and returns the file,
// rewound, and its size. The ledger's read transaction then lasts as long
// as writing a local file, not as long as the client takes to read: a
// read transaction left open holds up the daemon's writes once the file
// must grow (a paused `textback ledger export | less` would stop calls
// being recorded).
func spool(write func(*countingWriter) error) (*os.File, int64, error) {
	f, err := os.CreateTemp("", "textback-admin-*")
	if err != nil {
		return nil, 0, fmt.Errorf("spool file: %w", err)
	}
	os.Remove(f.Name()) // gone with the last descriptor, even after a crash
	cw := &countingWriter{w: f}
	if err := write(cw); err != nil {
		f.Close()
		return nil, 0, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("spool file: %w", err)
	}
	return f, cw.n, nil
}

// send copies a spooled answer to the client and reports whether all of
// it went.
func (a *adminAPI) send(w http.ResponseWriter, f *os.File, size int64, what string) bool {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	if n, err := io.Copy(w, f); err != nil {
		// The client sees a short body (and keeps no backup).
		a.log.Warn().Err(err).Int64("bytes", n).Int64("of", size).Msg("admin API: " + what + " cut short")
		return false
	}
	return true
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
