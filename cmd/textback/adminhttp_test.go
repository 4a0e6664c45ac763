package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/textback/textback/ari"
	"github.com/textback/textback/ari/aritest"
	"github.com/textback/textback/ledger"
	"github.com/textback/textback/sms/console"
)

func TestConfig_AdminListen(t *testing.T) {
	for _, tc := range []struct {
		admin, want string // want "": accepted
	}{
		{"", ""},
		{"admin: {listen: 127.0.0.1:8381}", ""},
		{"admin: {listen: \"[::1]:0\"}", ""},
		{"admin: {listen: localhost:9000}", ""},
		{"admin: {listen: \"off\"}", ""},
		{"admin: {listen: 0.0.0.0:8381}", `admin.listen: "0.0.0.0:8381" is not a loopback address`},
		{"admin: {listen: \":8381\"}", `admin.listen: ":8381" is not a loopback address`},
		{"admin: {listen: 192.0.2.7:8381}", "set admin.allow_remote: true"},
		{"admin: {listen: 192.0.2.7:8381, allow_remote: true}", ""},
		{"admin: {listen: 8381}", `admin.listen: "8381" is not host:port`},
		{"admin: {listen: 127.0.0.1:http-admin}", "bad port"},
	} {
		cfg, err := ParseConfig("t.yaml", []byte("pbx: none\n"+tc.admin+"\n"))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.admin, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want %q", tc.admin, err, tc.want)
		case tc.admin == "" && cfg.Admin.Listen != defaultAdminListen:
			t.Errorf("default admin.listen %q", cfg.Admin.Listen)
		}
	}
}

// adminGet fetches path from the admin listener.
func adminGet(t *testing.T, base, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(strings.TrimSuffix(base, "/") + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// metricValue is the value of the sample named exactly series
// (`name{label="v",...}`, labels sorted by name) in a /metrics body, or
// -1 when it is absent.
func metricValue(t *testing.T, body, series string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatalf("%s: %v", series, err)
	}
	return v
}

// TestAdmin_Handlers: the admin mux against an Asterisk adapter that has
// not connected (not ready: 503 with the reason) and with pbx: none
// (ready); /metrics serves textback's own registry and nothing else.
func TestAdmin_Handlers(t *testing.T) {
	store, err := ledger.Open(filepath.Join(t.TempDir(), "t.db"), ledger.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	src, err := ari.New(ari.Config{URL: "http://127.0.0.1:1", Username: "u", Password: "p"}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		cfg        *Config
		src        source
		readyCode  int
		readyWant  string
		connected  string
		pbxMetrics bool
	}{
		{"Asterisk", &Config{PBX: "asterisk", Asterisk: AsteriskConfig{URL: "http://127.0.0.1:1"}}, src, 503,
			"not ready: asterisk: connecting to http://127.0.0.1:1\n", `textback_pbx_connected{pbx="asterisk"} 0`, true},
		{"NoPBX", &Config{PBX: "none"}, nil, 200, "ready\n", `textback_pbx_connected{pbx="none"} 1`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mon := newMonitor(tc.cfg, tc.src, console.New(io.Discard))
			srv, err := newAdminServer("127.0.0.1:0", mon, newMetrics(mon, store), nil, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			srv.ln.Close() // served by httptest instead
			ts := httptest.NewServer(srv.srv.Handler)
			defer ts.Close()
			if code, body := adminGet(t, ts.URL, "/healthz"); code != 200 || body != "ok\n" {
				t.Errorf("/healthz: %d %q", code, body)
			}
			if code, body := adminGet(t, ts.URL, "/readyz"); code != tc.readyCode || body != tc.readyWant {
				t.Errorf("/readyz: %d %q, want %d %q", code, body, tc.readyCode, tc.readyWant)
			}
			code, body := adminGet(t, ts.URL, "/metrics")
			if code != 200 {
				t.Fatalf("/metrics: %d\n%s", code, body)
			}
			for _, want := range []string{tc.connected,
				`textback_driver_ready{driver="console"} 1`,
				`textback_driver_state{driver="console",state="ready"} 1`,
				`textback_driver_state{driver="console",state="down"} 0`,
				`textback_outbox_queued 0`, `textback_opted_out_numbers 0`,
				`textback_send_attempts_total{outcome="accepted"} 0`,
				`textback_detect_to_send_seconds_count 0`,
				`textback_ledger_read_errors_total 0`,
			} {
				if !strings.Contains(body, want+"\n") {
					t.Errorf("/metrics lacks %s", want)
				}
			}
			if got := strings.Contains(body, "textback_pbx_reconnects_total"); got != tc.pbxMetrics {
				t.Errorf("PBX connection counters present: %v, want %v", got, tc.pbxMetrics)
			}
			if metricValue(t, body, "textback_ledger_file_bytes") <= 0 {
				t.Errorf("no ledger size")
			}
			if strings.Contains(body, "go_goroutines") {
				t.Errorf("/metrics serves the default registry's Go metrics")
			}
			if code, _ := adminGet(t, ts.URL, "/nope"); code != 404 {
				t.Errorf("/nope: %d", code)
			}
		})
	}
}

// asteriskDaemon starts `textback run` watching a fake Asterisk and
// waits until it is connected. It returns the admin listener's URL and
// the config's path.
func asteriskDaemon(t *testing.T, extra string) (ast *aritest.Server, d *daemon, admin, cfg string) {
	t.Helper()
	ast = aritest.NewServer()
	t.Cleanup(ast.Close)
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg = writeFile(t, dir, "textback.yaml", pbxConfig(t, state,
		fmt.Sprintf("pbx: asterisk\nasterisk: {url: %q, username: %q, password: %q, trunks: [carrier]}\n", ast.URL, ast.User, ast.Password))+extra)
	d = startDaemon(t, cfg)
	started := d.waitLog("textback starting", 1)
	admin, _ = started["admin"].(string)
	if !strings.HasPrefix(admin, "http://127.0.0.1:") {
		t.Fatalf("starting line: admin = %q", admin)
	}
	ctx, cancel := context.WithTimeout(context.Background(), daemonWait)
	defer cancel()
	if err := ast.Wait(ctx, func(s aritest.Stats) bool { return s.Open > 0 && len(s.Filters) > 0 }); err != nil {
		t.Fatalf("the daemon did not connect to ARI: %v", err)
	}
	waitReadyz(t, admin, 200) // connected: reconciled with Asterisk's channels
	return ast, d, admin, cfg
}

// replayCaptures plays real Asterisk captures to the daemon.
func replayCaptures(t *testing.T, ast *aritest.Server, names ...string) {
	t.Helper()
	for _, name := range names {
		f, err := os.Open(filepath.Join(asteriskCaptures, name))
		if err != nil {
			t.Fatal(err)
		}
		_, err = ast.Replay(f, "")
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
}

// waitReadyz polls /readyz until it answers code, and returns its body.
func waitReadyz(t *testing.T, admin string, code int) string {
	t.Helper()
	deadline := time.Now().Add(daemonWait)
	for {
		got, body := adminGet(t, admin, "/readyz")
		if got == code {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d %q after %s, want %d", got, body, daemonWait, code)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRun_AdminMetrics: the running daemon's admin listener counts a
// missed call texted and an answered one skipped, the send and its
// latency, the PBX connection; /readyz follows the PBX going away.
func TestRun_AdminMetrics(t *testing.T) {
	ast, d, admin, _ := asteriskDaemon(t, "")
	if body := waitReadyz(t, admin, 200); body != "ready\n" {
		t.Errorf("/readyz: %q", body)
	}
	replayCaptures(t, ast, "b_answered_ext_hangup.jsonl", "a_noanswer.jsonl")
	d.waitLog("text accepted", 1)
	d.waitLog("answered call", 1)

	_, body := adminGet(t, admin, "/metrics")
	for series, want := range map[string]float64{
		`textback_calls_total{reason="noanswer",verdict="missed"}`: 1,
		`textback_calls_total{reason="",verdict="answered"}`:       1,
		`textback_skips_total{reason="answered"}`:                  1,
		`textback_send_attempts_total{outcome="accepted"}`:         1,
		`textback_send_attempts_total{outcome="unknown"}`:          0,
		`textback_detect_to_send_seconds_count`:                    1,
		`textback_ledger_texts{status="sent"}`:                     1,
		`textback_outbox_queued`:                                   0,
		`textback_pbx_connected{pbx="asterisk"}`:                   1,
		`textback_pbx_reconnects_total{pbx="asterisk"}`:            0,
		`textback_driver_ready{driver="console"}`:                  1,
	} {
		if got := metricValue(t, body, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	if metricValue(t, body, `textback_pbx_events_total{pbx="asterisk"}`) < 10 {
		t.Errorf("PBX events not counted:\n%s", body)
	}

	// Asterisk goes away and refuses the daemon: not ready, and why.
	ast.RefuseAuth(true)
	ast.Drop()
	if body := waitReadyz(t, admin, 503); !strings.HasPrefix(body, "not ready: asterisk: reconnecting to "+ast.URL) {
		t.Errorf("/readyz: %q", body)
	}
	if code, _ := adminGet(t, admin, "/healthz"); code != 200 {
		t.Errorf("/healthz %d while the PBX is down", code)
	}
	_, body = adminGet(t, admin, "/metrics")
	if got := metricValue(t, body, `textback_pbx_connected{pbx="asterisk"}`); got != 0 {
		t.Errorf("textback_pbx_connected = %v with Asterisk gone", got)
	}
	// Back: ready again, one reconnect.
	ast.RefuseAuth(false)
	waitReadyz(t, admin, 200)
	_, body = adminGet(t, admin, "/metrics")
	if got := metricValue(t, body, `textback_pbx_reconnects_total{pbx="asterisk"}`); got < 1 {
		t.Errorf("textback_pbx_reconnects_total = %v after a reconnect", got)
	}
	d.stop()
}
