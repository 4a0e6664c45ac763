package ari

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/CyCoreSystems/ari/v5"
)

// Errors the connection reports. Each is wrapped with context; test with
// errors.Is.
var (
	// ErrAuth: Asterisk refused the username or password (HTTP 401).
	ErrAuth = errors.New("ARI refused the username or password")
	// ErrReadOnly: the ARI user may not change anything (ari.conf
	// read_only = yes), so textback cannot set its event filter.
	ErrReadOnly = errors.New("the ARI user is read_only")
	// ErrAppReplaced: another websocket connected with the same
	// application name and took the events over.
	ErrAppReplaced = errors.New("another websocket took over the ARI application")
)

// HTTPError is an ARI request that got an unexpected HTTP status.
type HTTPError struct {
	Method, Path string
	Status       int
	Message      string // Asterisk's {"message": ...}, or the start of the body
}

func (e *HTTPError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	return fmt.Sprintf("%s %s: HTTP %d: %s", e.Method, e.Path, e.Status, msg)
}

// Is makes errors.Is(err, ErrAuth) and errors.Is(err, ErrReadOnly) work.
func (e *HTTPError) Is(target error) bool {
	switch target {
	case ErrAuth:
		return e.Status == http.StatusUnauthorized
	case ErrReadOnly:
		return e.Status == http.StatusForbidden
	}
	return false
}

// rest calls ARI's REST interface with its own HTTP client: every request
// has a timeout, and credentials go in a header, never in a URL.
type rest struct {
	base       string // http://host:port/ari
	user, pass string
	hc         *http.Client
}

// baseURL checks an ARI URL ("http://127.0.0.1:8088", with or without
// "/ari") and returns the REST base (ending in /ari) and the events
// websocket URL.
func baseURL(raw string) (base string, events *url.URL, err error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		// raw may hold a password: do not repeat it
		return "", nil, errors.New("ARI URL: not a URL; want http:// or https://host:port")
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return "", nil, fmt.Errorf("ARI URL %q: want http:// or https://host:port", u.Redacted())
	}
	if u.User != nil {
		return "", nil, fmt.Errorf("ARI URL %q: give the username and password separately, not in the URL", u.Redacted())
	}
	u.RawQuery, u.Fragment = "", ""
	u.Path = strings.TrimRight(u.Path, "/")
	if !strings.HasSuffix(u.Path, "/ari") {
		u.Path += "/ari"
	}
	base = u.String()
	ws := *u
	ws.Scheme = map[string]string{"http": "ws", "https": "wss"}[u.Scheme]
	ws.Path += "/events"
	return base, &ws, nil
}

func newREST(base, user, pass string, dial, request time.Duration) *rest {
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: dial, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   dial,
		ResponseHeaderTimeout: request,
		MaxIdleConns:          4,
		IdleConnTimeout:       90 * time.Second,
	}
	return &rest{base: base, user: user, pass: pass, hc: &http.Client{Transport: tr, Timeout: request}}
}

// do sends one request; body, when not nil, goes as JSON, and a 2xx
// answer is decoded into out when out is not nil.
func (r *rest) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.base+path, rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.SetBasicAuth(r.user, r.pass)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return &HTTPError{Method: method, Path: path, Status: resp.StatusCode, Message: errorMessage(data)}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decoding the answer: %w", method, path, err)
		}
	}
	return nil
}

// errorMessage is ARI's {"message": "..."} or the start of the body.
func errorMessage(data []byte) string {
	var m struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(data, &m) == nil && m.Message != "" {
		return m.Message
	}
	s := strings.TrimSpace(string(data))
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// filterBody is the event filter textback sets on its application.
func filterBody() any {
	type typ struct {
		Type string `json:"type"`
	}
	allowed := []typ{{"ApplicationReplaced"}}
	for _, t := range handledTypes {
		allowed = append(allowed, typ{t})
	}
	return map[string]any{"allowed": allowed}
}

// setFilter sets the application's event filter to the types the
// translation reads.
func (r *rest) setFilter(ctx context.Context, app string) error {
	return r.do(ctx, http.MethodPut, "/applications/"+url.PathEscape(app)+"/eventFilter", filterBody(), nil)
}

func (r *rest) info(ctx context.Context) (ari.AsteriskInfo, error) {
	var info ari.AsteriskInfo
	err := r.do(ctx, http.MethodGet, "/asterisk/info", nil, &info)
	return info, err
}

func (r *rest) channels(ctx context.Context) ([]ari.ChannelData, error) {
	var list []ari.ChannelData
	err := r.do(ctx, http.MethodGet, "/channels", nil, &list)
	return list, err
}
