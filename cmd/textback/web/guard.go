// Package web is textback's two web pages: the intake page callers open
// from the link in their text (public listener, /i/), and the operator
// inbox (admin listener, /inbox/). Both are server-rendered with
// html/template and hand-written CSS embedded in the binary; the intake
// page needs no JavaScript, the inbox uses a small script only to poll for
// new activity.
//
// The package decides nothing about calls or consent: it reads and writes
// through package ledger, which stores everything (fsynced) before a page
// answers.
package web

import (
	"crypto/rand"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// limiter is a fixed-window counter per key: at most n events per window.
// It forgets keys whose window ended. Safe for concurrent use.
type limiter struct {
	mu     sync.Mutex
	n      int
	window time.Duration
	hits   map[string]*window
	sweep  time.Time
}

type window struct {
	start time.Time
	n     int
}

func newLimiter(n int, per time.Duration) *limiter {
	return &limiter{n: n, window: per, hits: map[string]*window{}}
}

// allow counts an event for key and reports whether it is within the
// limit.
func (l *limiter) allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.sweep) > l.window {
		for k, w := range l.hits {
			if now.Sub(w.start) >= l.window {
				delete(l.hits, k)
			}
		}
		l.sweep = now
	}
	w := l.hits[key]
	if w == nil || now.Sub(w.start) >= l.window {
		w = &window{start: now}
		l.hits[key] = w
	}
	w.n++
	return w.n <= l.n
}

// blocked reports whether key is over the limit without counting.
func (l *limiter) blocked(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.hits[key]
	return w != nil && now.Sub(w.start) < l.window && w.n >= l.n
}

// reset forgets key (a successful login).
func (l *limiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.hits, key)
}

// clientIP is the address a request came from. Behind a reverse proxy on
// the same host (the peer is loopback), the last address the proxy added
// to X-Forwarded-For is the client's; a header from anyone else is
// ignored, so a client cannot pick its own address to dodge a rate limit.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			parts := strings.Split(xff[len(xff)-1], ",")
			if last := strings.TrimSpace(parts[len(parts)-1]); net.ParseIP(last) != nil {
				return last
			}
		}
	}
	return host
}

// fromLoopback reports whether the peer is on this host (a reverse
// proxy), whose forwarding headers are believed.
func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// overTLS reports whether the browser reached us over HTTPS: directly, or
// through a reverse proxy on the same host that says so.
func overTLS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback() && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// sameOrigin rejects requests a browser marks as sent from another site:
// by Sec-Fetch-Site when the browser sends it, else by Origin. Pages here
// send no referrer, so a browser's same-origin post may carry
// "Origin: null"; that, and a request with neither header (an old
// browser), pass on to the CSRF token, which still has to match.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
		return site == "same-origin" || site == "none"
	}
	origin := r.Header.Get("Origin")
	if origin == "" || origin == "null" {
		return true
	}
	host := r.Host
	if fh := r.Header.Get("X-Forwarded-Host"); fh != "" && fromLoopback(r) {
		host = fh
	}
	o := strings.TrimPrefix(strings.TrimPrefix(origin, "https://"), "http://")
	return strings.EqualFold(o, host)
}

// securityHeaders are on every page: no framing, no sniffing, no referrer
// (the intake URL carries a token), nothing loaded from elsewhere.
func securityHeaders(w http.ResponseWriter, script bool) {
	h := w.Header()
	csp := "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
	if script {
		csp += "; script-src 'self'; connect-src 'self'"
	}
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

// randomID is 256 random bits in base32 (crypto/rand never fails on
// Linux).
func randomID() string { return rand.Text() + rand.Text() }
