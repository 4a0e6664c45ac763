package main

import (
	"fmt"
	"net"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The admin listener: loopback only by default; no authentication but the
// inbox's login.
//
//	/metrics  Prometheus
//	/healthz  200 while the process answers
//	/readyz   200 when the PBX is connected and the driver can send; 503 and why otherwise
//	/status   the JSON `textback status` shows
//	/admin/   the ledger commands, done by the daemon (adminapi.go)
//	/inbox/   the operator inbox (cmd/textback/web), behind its own login; / leads there

// validateAdmin checks admin.listen: a host:port, on loopback unless
// admin.allow_remote, or off.
func (c *Config) validateAdmin() error {
	a := c.Admin
	if a.Listen == "off" {
		return nil
	}
	host, port, err := net.SplitHostPort(a.Listen)
	if err != nil {
		return c.fieldErr("admin.listen", "%q is not host:port (127.0.0.1:8381) or off", a.Listen)
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return c.fieldErr("admin.listen", "%q: bad port %q", a.Listen, port)
	}
	if !a.AllowRemote && !isLoopback(host) {
		return c.fieldErr("admin.listen", "%q is not a loopback address, and the admin listener's /metrics, /status and /admin/ have no authentication; "+
			"listen on 127.0.0.1 or ::1, or set admin.allow_remote: true", a.Listen)
	}
	return nil
}

// isLoopback reports whether host names only loopback: localhost or a
// loopback IP. An empty host is every interface.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// newAdminServer binds the admin listener at addr, so a port in use fails
// the start. api, when not nil, is the admin API at /admin/; inbox, when
// not nil, is the operator inbox at /inbox/ (it has its own login).
func newAdminServer(addr string, mon *monitor, m *metrics, status, api, inbox http.Handler) (*webhookServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin.listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if ready, reason := mon.readiness(); !ready {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready:", reason)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	if status != nil {
		mux.Handle("GET /status", status)
	}
	if api != nil {
		mux.Handle("/admin/", api)
	}
	if inbox != nil {
		mux.Handle("/inbox/", inbox)
		mux.Handle("GET /{$}", http.RedirectHandler("/inbox/", http.StatusSeeOther))
	}
	return &webhookServer{srv: newHTTPServer(mux), ln: ln}, nil
}
