package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/textback/textback/ari/aritest"
	"github.com/textback/textback/esl/esltest"
)

// fakePBX is the loopback PBX textback watches.
type fakePBX interface {
	// send writes one message to the connected client; it returns the
	// connection's epoch (1 for the first connection, 2 for the next...)
	// or an error when no client is connected.
	send(msg []byte) (int, error)
	// drop cuts every connection (a PBX restart).
	drop()
	close()
}

// ariPBX is aritest's fake Asterisk.
type ariPBX struct{ s *aritest.Server }

func newARIPBX() *ariPBX { return &ariPBX{s: aritest.NewServer()} }

func (p *ariPBX) send(msg []byte) (int, error) {
	if err := p.s.Send(msg); err != nil {
		return 0, err
	}
	return p.s.Connections(), nil
}

func (p *ariPBX) drop()  { p.s.Drop() }
func (p *ariPBX) close() { p.s.Close() }

// eslPBX is esltest's fake FreeSWITCH.
type eslPBX struct{ s *esltest.Server }

const eslPassword = "load-Pa55"

func newESLPBX() (*eslPBX, error) {
	s, err := esltest.NewServer(esltest.Config{Password: eslPassword, HeartbeatInterval: 2 * time.Second})
	if err != nil {
		return nil, err
	}
	return &eslPBX{s: s}, nil
}

func (p *eslPBX) send(msg []byte) (int, error) {
	if p.s.SendRaw(msg) == 0 {
		return 0, fmt.Errorf("no event-socket client subscribed")
	}
	return p.s.Accepted(), nil
}

func (p *eslPBX) drop()  { p.s.Restart() }
func (p *eslPBX) close() { p.s.Close() }

// carrierMode is how the fake carrier answers a request.
type carrierMode int

const (
	carrierOK      carrierMode = iota
	carrier500                 // 500 Internal Server Error
	carrier429                 // 429 Too Many Requests, Retry-After: 1
	carrierTimeout             // holds the request past the driver's timeout
)

// arrival is one send request the carrier received.
type arrival struct {
	at     time.Time
	to     string
	body   string
	status int // what the carrier answered
}

// fakeCarrier is a loopback Twilio: it takes texts, timestamps each
// request as it arrives, and answers per a fault plan.
type fakeCarrier struct {
	srv *httptest.Server

	mu       sync.Mutex
	arrivals []arrival
	fault    func(n int) carrierMode // n: the request's number, from 0
	n        int
	hold     chan struct{} // closed at close: releases held requests
}

const (
	twilioSID   = "AC0123456789abcdef0123456789abcdef"
	twilioToken = "load-test-auth-token"
)

func newFakeCarrier() *fakeCarrier {
	c := &fakeCarrier{hold: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2010-04-01/Accounts/{sid}/Messages.json", c.message)
	mux.HandleFunc("GET /2010-04-01/Accounts/{sid}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"sid":%q,"status":"active"}`, strings.TrimSuffix(r.PathValue("sid"), ".json"))
	})
	c.srv = httptest.NewServer(mux)
	return c
}

func (c *fakeCarrier) setFault(f func(n int) carrierMode) {
	c.mu.Lock()
	c.fault = f
	c.mu.Unlock()
}

func (c *fakeCarrier) message(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	n := c.n
	c.n++
	mode := carrierOK
	if c.fault != nil {
		mode = c.fault(n)
	}
	a := arrival{at: at, to: r.PostForm.Get("To"), body: r.PostForm.Get("Body")}
	switch mode {
	case carrier500:
		a.status = http.StatusInternalServerError
	case carrier429:
		a.status = http.StatusTooManyRequests
	case carrierTimeout:
		a.status = 0 // never answered in time
	default:
		a.status = http.StatusCreated
	}
	c.arrivals = append(c.arrivals, a)
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch mode {
	case carrier500:
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, `{"code":20500,"message":"Internal Server Error","status":500}`)
	case carrier429:
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"code":20429,"message":"Too Many Requests","status":429}`)
	case carrierTimeout:
		select {
		case <-r.Context().Done():
		case <-c.hold:
		}
	default:
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"sid":"SM%032d","status":"queued","num_segments":"1","to":%s}`, n, strconv.Quote(a.to))
	}
}

// log returns a copy of every request so far.
func (c *fakeCarrier) log() []arrival {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]arrival(nil), c.arrivals...)
}

func (c *fakeCarrier) close() {
	close(c.hold)
	c.srv.Close()
}

// waitFor polls cond every 20 ms until it holds or ctx ends.
func waitFor(ctx context.Context, cond func() bool) error {
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}
