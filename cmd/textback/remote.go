package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/textback/textback/ledger"
)

// remoteLedger is the running daemon's ledger, reached through its admin
// listener's /admin/ API (adminapi.go). It is what the admin commands use
// while the daemon holds the ledger file.
type remoteLedger struct {
	ctx  context.Context
	base string // http://127.0.0.1:8381
	path string // the daemon's ledger
}

var _ adminLedger = (*remoteLedger)(nil)

// errNoDaemon: nothing listens at the admin address.
var errNoDaemon = errors.New("no textback answers")

// adminTimeout bounds each admin API request but the streams (export,
// backup), which take as long as the ledger is big.
const adminTimeout = 30 * time.Second

// dialDaemon finds the daemon on the config's admin listener and checks
// that it keeps the ledger this config names. It returns an error wrapping
// errNoDaemon when nothing listens there.
func dialDaemon(ctx context.Context, cfg *Config) (*remoteLedger, error) {
	addr := dialable(cfg.Admin.Listen)
	r := &remoteLedger{ctx: ctx, base: "http://" + addr}
	var info adminInfo
	if err := r.getJSON("/admin/ledger", nil, &info); err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.status == http.StatusNotFound {
			return nil, fmt.Errorf("the textback on %s has no admin API (an older version still running?): restart it (systemctl restart textback)", addr)
		}
		return nil, err
	}
	if !sameFile(info.Ledger, cfg.LedgerPath()) {
		return nil, fmt.Errorf("the textback on %s keeps its ledger at %s, not at %s as this config says (--config)", addr, info.Ledger, cfg.LedgerPath())
	}
	r.path = info.Ledger
	return r, nil
}

// apiError is an answer other than 200 from the admin API; its message is
// the daemon's.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

// Unwrap makes a 404 ledger.ErrNotFound, as the file's answer would be.
func (e *apiError) Unwrap() error {
	if e.status == http.StatusNotFound {
		return ledger.ErrNotFound
	}
	return nil
}

// do sends one request to the admin API. A response other than 200 is an
// *apiError; the caller closes the body of a 200.
func (r *remoteLedger) do(ctx context.Context, method, path string, q url.Values) (*http.Response, error) {
	u := r.base + path
	var body io.Reader
	if method == http.MethodGet && len(q) > 0 {
		u += "?" + q.Encode()
	} else if method == http.MethodPost {
		body = strings.NewReader(q.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set(adminHeader, "1")
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := http.DefaultClient.Do(req)
	if errors.Is(err, syscall.ECONNREFUSED) {
		return nil, fmt.Errorf("%w on %s", errNoDaemon, strings.TrimPrefix(r.base, "http://"))
	}
	if err != nil {
		return nil, fmt.Errorf("the daemon's admin listener %s: %w", strings.TrimPrefix(r.base, "http://"), err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return nil, &apiError{status: resp.StatusCode, msg: strings.TrimSpace(string(msg))}
	}
	return resp, nil
}

// getJSON and postJSON are one request answered with one JSON value.
func (r *remoteLedger) getJSON(path string, q url.Values, v any) error {
	return r.roundTrip(http.MethodGet, path, q, v)
}

func (r *remoteLedger) postJSON(path string, form url.Values, v any) error {
	return r.roundTrip(http.MethodPost, path, form, v)
}

func (r *remoteLedger) roundTrip(method, path string, q url.Values, v any) error {
	ctx, cancel := context.WithTimeout(r.ctx, adminTimeout)
	defer cancel()
	resp, err := r.do(ctx, method, path, q)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("the daemon's answer to %s: %w", path, err)
	}
	return nil
}

func (r *remoteLedger) Path() string { return r.path }
func (r *remoteLedger) Close() error { return nil }

func (r *remoteLedger) Calls(n int) ([]ledger.Call, error) {
	var calls []ledger.Call
	err := r.getJSON("/admin/calls", url.Values{"n": {strconv.Itoa(n)}}, &calls)
	return calls, err
}

func (r *remoteLedger) Call(id string) (ledger.Call, error) {
	var c ledger.Call
	err := r.getJSON("/admin/call", url.Values{"id": {id}}, &c)
	return c, err
}

func (r *remoteLedger) Text(seq uint64) (ledger.Text, error) {
	var t ledger.Text
	err := r.getJSON("/admin/text", url.Values{"seq": {strconv.FormatUint(seq, 10)}}, &t)
	return t, err
}

func (r *remoteLedger) OptedOutNumbers() ([]ledger.NumberState, error) {
	var ns []ledger.NumberState
	err := r.getJSON("/admin/optouts", nil, &ns)
	return ns, err
}

func (r *remoteLedger) Number(raw, line string) (numberReport, error) {
	var rep numberReport
	err := r.getJSON("/admin/number", url.Values{"number": {raw}, "line": {line}}, &rep)
	return rep, err
}

func (r *remoteLedger) SetConsent(optOut bool, raw, line, note string) (consentChange, error) {
	action := "remove"
	if optOut {
		action = "add"
	}
	var ch consentChange
	err := r.postJSON("/admin/optout", url.Values{"action": {action}, "number": {raw}, "line": {line}, "note": {note}}, &ch)
	return ch, err
}

func (r *remoteLedger) Stats() (ledger.Stats, error) {
	var st ledger.Stats
	err := r.getJSON("/admin/ledger/stats", nil, &st)
	return st, err
}

func (r *remoteLedger) Purge(before time.Time) (ledger.PurgeStats, error) {
	var ps ledger.PurgeStats
	err := r.postJSON("/admin/ledger/purge", url.Values{"before": {before.Format(time.RFC3339Nano)}}, &ps)
	return ps, err
}

// Export copies the daemon's export to w; the daemon sends its record
// count in a header and its length, so a cut-short export is an error.
func (r *remoteLedger) Export(w io.Writer, what, format string, since time.Time) (int, error) {
	q := url.Values{"what": {what}, "format": {format}}
	if !since.IsZero() {
		q.Set("since", since.Format(time.RFC3339Nano))
	}
	resp, err := r.do(r.ctx, http.MethodGet, "/admin/ledger/export", q)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := strconv.Atoi(resp.Header.Get(headerRecords))
	if err != nil {
		return 0, fmt.Errorf("export from the daemon: no record count in its answer")
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return 0, fmt.Errorf("export from the daemon: %w", err)
	}
	return n, nil
}

// Backup saves the daemon's snapshot to path, on this side: the file is
// the caller's, written where the caller may write (the daemon's own
// file system is read-only but for its state directory).
func (r *remoteLedger) Backup(path string) (int64, error) {
	if sameFile(path, r.path) {
		return 0, fmt.Errorf("backup ledger to %s: that is the ledger itself", path)
	}
	resp, err := r.do(r.ctx, http.MethodGet, "/admin/ledger/backup", nil)
	if err != nil {
		return 0, fmt.Errorf("backup ledger to %s: %w", path, err)
	}
	defer resp.Body.Close()
	return ledger.SaveBackup(path, resp.Body, resp.ContentLength)
}
