package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/rs/zerolog"
	"github.com/textback/textback/sms"
	"github.com/textback/textback/sms/carrier"
	"github.com/textback/textback/sms/console"
	"github.com/textback/textback/sms/modem"
)

// newDriver builds the configured driver. Drivers are chosen here by an
// explicit switch; each driver adds its case.
func newDriver(cfg *Config, e *env, log zerolog.Logger) (sms.Driver, error) {
	switch cfg.Driver.Type {
	case "console":
		return console.New(e.stdout), nil
	case "carrier":
		d, err := carrier.New(cfg.Driver.Carrier.Config, carrier.WithLogger(log.With().Str("component", "carrier").Logger()))
		if err != nil {
			return nil, fmt.Errorf("driver.carrier: %w", err)
		}
		return d, nil
	case "modem":
		d, err := modem.New(cfg.Driver.Modem.Config, log)
		if err != nil {
			return nil, fmt.Errorf("driver.modem: %w", err)
		}
		return d, nil
	case "", "none":
		return nil, errors.New("driver: no driver configured (driver.type); use console to print texts")
	}
	return nil, fmt.Errorf("driver.type: %q is not a driver this build has (console, carrier, modem)", cfg.Driver.Type)
}

// webhookDriver is a driver that takes replies and delivery reports over
// HTTP (sms/carrier).
type webhookDriver interface {
	Handler(rcv sms.Receiver) http.Handler
}

// receivingDriver is a driver that receives by running (sms/modem): it
// hands replies to the core until ctx ends. An error from Run means
// retrying could harm the device (a SIM PIN refused): the daemon stops
// and must not be restarted automatically.
type receivingDriver interface {
	Run(ctx context.Context, rcv sms.Receiver) error
}

// errNoRestart marks errors after which systemd must not restart the
// daemon (the unit's RestartPreventExitStatus=78).
var errNoRestart = errors.New("not restarted automatically: fix the config, then start textback")

// exitNoRestart is the exit status of errNoRestart (EX_CONFIG).
const exitNoRestart = 78

// carrierPrefix is where the carrier webhooks are mounted on the HTTP
// listener: PREFIX/inbound and PREFIX/status.
const carrierPrefix = "/carrier"

// webhookServer is the HTTP listener carriers call. It is bound before
// the daemon reports itself started, so a port in use fails the start.
type webhookServer struct {
	srv *http.Server
	ln  net.Listener
}

// newHTTPServer is an http.Server for h with timeouts that keep a slow or
// stuck client from holding a connection.
func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
}

// Addr is the address the listener is bound to.
func (w *webhookServer) Addr() string { return w.ln.Addr().String() }

// Run serves until ctx ends, then lets requests in flight finish (their
// ledger writes complete and are answered) for up to ten seconds.
func (w *webhookServer) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- w.srv.Serve(w.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http listener %s: %w", w.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("http listener %s: shutdown: %w", w.Addr(), err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http listener %s: %w", w.Addr(), err)
	}
	return nil
}

// checkCarrier asks the carrier whether the configured credentials work,
// sending nothing. A carrier with no way to ask is not an error.
func checkCarrier(ctx context.Context, cfg *Config) error {
	d, err := carrier.New(cfg.Driver.Carrier.Config)
	if err != nil {
		return fmt.Errorf("driver.carrier: %w", err)
	}
	defer d.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := d.Check(ctx); err != nil && !errors.Is(err, carrier.ErrNoCheck) {
		return fmt.Errorf("driver.carrier: %w (textback check --offline skips this)", err)
	}
	return nil
}

// startSession runs a receiving driver's session for a one-off command
// and waits for it to be ready. Replies it receives meanwhile go to the
// ledger like the daemon's. stop ends the session and waits until the
// driver has let go of the device (a modem's tty), so call it before
// closing the ledger; on an error the session has ended already.
func startSession(ctx context.Context, rd receivingDriver, rcv sms.Receiver) (stop func(), err error) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- rd.Run(ctx, rcv) }()
	stop = func() { cancel(); <-done } // once
	ready, ok := rd.(interface{ Ready() <-chan struct{} })
	if !ok {
		return stop, nil
	}
	wait, cancelWait := context.WithTimeout(ctx, time.Minute)
	defer cancelWait()
	select {
	case <-ready.Ready():
		return stop, nil
	case err := <-done:
		cancel()
		if err == nil {
			err = errors.New("stopped before it was ready")
		}
		return nil, fmt.Errorf("driver: %w", err)
	case <-wait.Done():
		stop()
		return nil, fmt.Errorf("driver: not ready within a minute (textback modem probe DEVICE tells what the modem says)")
	}
}
