package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/textback/textback/cmd/textback/web"
	"github.com/textback/textback/ledger"
)

// cmdRun is the daemon: the PBX adapter feeds the tracker and the ledger,
// the dispatcher sends, SIGHUP reloads lines and policy, SIGTERM stops.
func cmdRun(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "run", "[--config FILE]")
	path := configFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	// Catch SIGHUP from the start: its default action ends the process, and
	// a reload may come while the daemon is still starting (waiting for the
	// ledger's lock). It is acted on once the daemon runs.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	cfgPath := *path
	if cfgPath == "" {
		cfgPath = defaultConfigPath
	}
	cfg, err := LoadConfig(cfgPath)
	if err != nil {
		return err
	}
	if err := cfg.ValidateForRun(); err != nil {
		return err
	}
	log, err := cfg.logger(e)
	if err != nil {
		return err
	}
	coreCfg, err := cfg.core()
	if err != nil {
		return err
	}
	driver, err := newDriver(cfg, e, log)
	if err != nil {
		return err
	}
	src, err := newSource(cfg, log)
	if err != nil {
		return err
	}
	store, err := ledger.Open(cfg.LedgerPath(), ledger.StoreOptions{LockTimeout: cfg.lockTimeout()})
	if err != nil {
		return err
	}
	defer store.Close()
	core, err := ledger.New(store, coreCfg, ledger.Options{Log: log.With().Str("component", "ledger").Logger(), ShowNumber: cfg.numberFormatter()})
	if err != nil {
		return err
	}
	// The intake page and the operator inbox.
	pages, err := newWebPages(cfg, core, log)
	if err != nil {
		return err
	}
	// Carriers' webhooks (replies and delivery reports) and the intake
	// page. Bound now, so a port in use fails the start with a clear error.
	var public *webhookServer
	var carrierH http.Handler
	if wd, ok := driver.(webhookDriver); ok {
		carrierH = wd.Handler(core)
	}
	if carrierH != nil || pages.intake != nil {
		if public, err = newPublicServer(cfg.HTTP.Listen, carrierH, pages.intake); err != nil {
			return err
		}
	}
	// The admin listener (metrics, health, status), bound now too.
	mon := newMonitor(cfg, src, driver)
	met := newMetrics(mon, store)
	var admin *webhookServer
	if cfg.Admin.Listen != "off" {
		if admin, err = newAdminServer(cfg.Admin.Listen, mon, met,
			&statusHandler{mon: mon, store: store, started: time.Now(), show: cfg.numberFormatter()},
			newAdminAPI(core, log.With().Str("component", "admin").Logger()), pages.inbox); err != nil {
			return err
		}
	}
	start := log.Info().Str("version", versionString()).Str("ledger", store.Path()).Str("driver", driver.Name()).
		Str("pbx", cfg.PBX).Int("lines", len(coreCfg.Lines)).Bool("shadow", coreCfg.Policy.Shadow)
	if carrierH != nil {
		start = start.Str("webhooks", "http://"+public.Addr()+carrierPrefix+"/")
	}
	if pages.intake != nil {
		start = start.Str("intake", "http://"+public.Addr()+"/i/")
	}
	if admin != nil {
		start = start.Str("admin", "http://"+admin.Addr()+"/")
	}
	start.Msg("textback starting")

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	notify := newNotifier(log)
	var tasks taskGroup
	if public != nil {
		tasks.Go("http", func() error { return public.Run(ctx) }, cancel)
	}
	if admin != nil {
		tasks.Go("admin", func() error { return admin.Run(ctx) }, cancel)
	}
	if rd, ok := driver.(receivingDriver); ok {
		tasks.Go("driver", func() error {
			if err := rd.Run(ctx, core); err != nil {
				return fmt.Errorf("%w (%w)", err, errNoRestart)
			}
			return nil
		}, cancel)
	}
	tasks.Go("dispatcher", func() error {
		return ledger.NewDispatcher(core, meteredDriver{driver, store, met}, ledger.DispatcherOptions{Poster: newWebhookPoster()}).Run(ctx)
	}, cancel)
	if src != nil {
		events := make(chan ledger.Event, 1024)
		tracker := ledger.NewTracker(ledger.TrackerOptions{})
		tasks.Go("pbx", func() error { return src.Run(ctx, events) }, cancel)
		tasks.Go("tracker", func() error { return core.Watch(ctx, events, tracker) }, cancel)
	}
	tasks.Go("reload", func() error { return reloadOnHUP(ctx, hup, cfgPath, core, log, notify, pages) }, cancel)
	maint := newMaintainer(cfg, store, log.With().Str("component", "ledger").Logger())
	tasks.Go("maintenance", func() error { return maint.Run(ctx) }, cancel)

	// The main loop: systemd's READY, STATUS and watchdog.
	notify.loop(ctx, mon)
	notify.stopping()
	log.Info().Msg("textback stopping")
	return tasks.Wait()
}

// reloadOnHUP reloads lines, templates, keywords and policy on each SIGHUP
// from hup. A bad config is logged and the running one stays.
func reloadOnHUP(ctx context.Context, hup <-chan os.Signal, path string, core *ledger.Ledger, log zerolog.Logger, notify *notifier, pages *webPages) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
		}
		notify.reloading(func() { reload(path, core, pages, log) })
	}
}

// reload reads the config at path and hands its lines, templates,
// keywords and policy to the core and the lines' branding to the web
// pages, or logs why not and changes nothing. "config reloaded" is
// logged once both have the new config.
func reload(path string, core *ledger.Ledger, pages *webPages, log zerolog.Logger) {
	cfg, err := LoadConfig(path)
	if err == nil {
		err = cfg.ValidateForRun()
	}
	var coreCfg ledger.Config
	if err == nil {
		coreCfg, err = cfg.core()
	}
	var sites map[string]web.Site
	if err == nil {
		sites, err = cfg.sites()
	}
	if err == nil {
		err = core.Reload(coreCfg)
	}
	if err != nil {
		log.Error().Err(err).Msg("reload rejected; the running config stays")
		return
	}
	pages.reload(cfg, sites)
	log.Info().Int("lines", len(coreCfg.Lines)).Msg("config reloaded")
}

// taskGroup runs long-lived tasks; the first to fail cancels the others.
type taskGroup struct {
	wg   sync.WaitGroup
	mu   sync.Mutex
	errs []error
}

func (g *taskGroup) Go(name string, fn func() error, cancel context.CancelFunc) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := fn(); err != nil {
			g.mu.Lock()
			g.errs = append(g.errs, fmt.Errorf("%s: %w", name, err))
			g.mu.Unlock()
			cancel()
		}
	}()
}

// Wait waits for every task, at most 30 s, and returns their errors.
func (g *taskGroup) Wait() error {
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		return errors.New("tasks did not stop within 30s")
	}
	return errors.Join(g.errs...)
}
