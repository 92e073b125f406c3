package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sethvargo/go-envconfig"
	"github.com/slack-go/slack"

	"github.com/rdnsbot/rdnsbot/config"
	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/handlers"
	"github.com/rdnsbot/rdnsbot/internal/keyrate"
	"github.com/rdnsbot/rdnsbot/metrics"
	"github.com/rdnsbot/rdnsbot/monitor"
	"github.com/rdnsbot/rdnsbot/smtpprobe"
	"github.com/rdnsbot/rdnsbot/store"
	"github.com/rdnsbot/rdnsbot/watch"
)

// cmdServe runs the Slack bot until ctx ends (SIGINT/SIGTERM).
func cmdServe(ctx context.Context, stderr io.Writer) int {
	cfg, err := config.Load(ctx, envconfig.OsLookuper())
	var problems *config.Error
	if errors.As(err, &problems) {
		for _, p := range problems.Problems {
			fmt.Fprintf(stderr, "bot: %v\n", p)
		}
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "bot: %v\n", err)
		return 2
	}
	level, _ := cfg.Level() // validated by Load
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	redis.SetLogger(redisLogger{log.With("pkg", "go-redis")})
	if err := serve(ctx, cfg, log); err != nil {
		log.Error("stopped", "err", err)
		// The last line, in words, for whoever reads why it exited.
		if down, ok := errors.AsType[*handlers.UnreachableError](err); ok {
			fmt.Fprintf(stderr, "bot: Slack API %s did not answer: %v\n", cfg.APIURL, down)
		} else {
			fmt.Fprintf(stderr, "bot: %v\n", err)
		}
		return 1
	}
	log.Info("stopped")
	return 0
}

// serve wires the parts together, bottom up (each part is built from the
// ones below it, none refers back), and runs them until ctx ends.
func serve(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	m := metrics.New()
	diag, err := diagnose.New(diagnose.Config{Resolver: cfg.DNSResolver, Timeout: cfg.DNSTimeout,
		AuthorityPort: cfg.DNSAuthorityPort, QueryObserver: m.Query,
		Reuse: cfg.DiagnosisReuse})
	if err != nil {
		return fmt.Errorf("diagnose: %w", err)
	}
	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()

	// Every Web API call is bounded: a Slack that accepts the connection and
	// never answers must not hang the bot.
	api := slack.New(cfg.BotToken.Reveal(), slack.OptionAppLevelToken(cfg.AppToken.Reveal()), slack.OptionAPIURL(cfg.APIURL),
		slack.OptionHTTPClient(&http.Client{Timeout: cfg.SlackTimeout, Transport: m.SlackTransport(nil)}))
	poster := handlers.NewPoster(api, log, m)
	announcer := handlers.NewAnnouncer(poster) // watches' and monitors' announcements
	sched, err := watch.New(watch.Config{
		Store: st, Checker: diag, Announcer: announcer, Observer: m,
		Intervals: cfg.RecheckIntervals, MaxAge: cfg.WatchMaxAge, Caps: cfg.Caps(), Logger: log,
	})
	if err != nil {
		return err
	}
	m.GaugeFunc("rdnsbot_active_watches", "Active watches, across replicas (read from the store at each scrape).", func() float64 {
		countCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		n, err := sched.ActiveWatches(countCtx)
		if err != nil {
			return -1
		}
		return float64(n)
	})
	// The SMTP probe is opt-in per request; without a usable EHLO name it
	// is off and replies say so.
	var probe handlers.Prober
	if pc, err := cfg.SMTPProbe(os.Hostname); err != nil {
		log.Warn("the SMTP greeting probe is off", "err", err)
	} else if p, err := smtpprobe.New(pc); err != nil {
		return fmt.Errorf("SMTP probe: %w", err)
	} else {
		probe = p
		log.Info("SMTP greeting probe on", "ehlo", pc.HELOName, "port", pc.Port)
	}
	// Monitors (issue 12): checked for good on the same store, announced by
	// the same poster, observed by the same metrics (series of their own);
	// MONITOR_* sets the interval, caps and zone rate.
	monStore, ok := st.(store.MonitorStore)
	if !ok {
		return fmt.Errorf("store %T keeps no monitors", st)
	}
	monCfg := cfg.Monitor()
	monCfg.Store, monCfg.Checker, monCfg.Announcer, monCfg.Logger = monStore, diag, announcer, log
	monCfg.Observer = m.Monitors()
	// One budget per reverse domain for the monitors' checks and the pool
	// checks users ask for: its servers see one rate from this replica.
	zones := keyrate.New(0)
	monCfg.ZoneBudget = zones
	monitors, err := monitor.New(monCfg)
	if err != nil {
		return fmt.Errorf("monitors: %w", err)
	}
	bot := handlers.New(poster, diag, handlers.Config{
		Monitors:       monitors,
		SMTPProbe:      probe,
		Workers:        cfg.Workers,
		BounceChannels: cfg.BounceChannels,
		Deliveries:     st,
		Watches:        sched,
		Slack: handlers.SlackLimits{Attempts: cfg.SlackStartupAttempts, Handshake: cfg.SlackTimeout,
			PingTimeout: cfg.SlackPingTimeout},
		FileBytesBudget: int64(cfg.FileBytesBudget),
		ZoneBudget:      zones,
		ZoneRate:        monCfg.ZoneRate,
	})

	var background sync.WaitGroup
	defer background.Wait()
	schedCtx, stopSched := context.WithCancel(ctx)
	defer stopSched()
	background.Go(func() { sched.Run(schedCtx) })
	background.Go(func() { monitors.Run(schedCtx) })

	if cfg.HTTPAddr != "" {
		// Bind before connecting to Slack: a bot without its health endpoint
		// would be restarted forever by its orchestrator.
		l, err := net.Listen("tcp", cfg.HTTPAddr)
		if err != nil {
			return fmt.Errorf("HTTP_ADDR: %w", err)
		}
		srv := &http.Server{Handler: opsHandler(bot.Ready, m.Handler()), ReadHeaderTimeout: 5 * time.Second}
		background.Go(func() {
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("http server", "addr", cfg.HTTPAddr, "err", err)
			}
		})
		defer func() {
			shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(shutdownCtx)
		}()
	}
	log.Info("starting", "slack_api", cfg.APIURL, "resolver", diag.Resolver(), "workers", cfg.Workers,
		"recheck_intervals", cfg.RecheckIntervals.String(), "watch_max_age", cfg.WatchMaxAge.String())
	// On SIGTERM: say so at once; Run then lets in-flight jobs finish. The
	// AfterFunc may have been started but not have logged yet when Run
	// returns (its stop does not wait for it), so it is also called after
	// Run, once in all.
	var stopping sync.Once
	logStopping := func() {
		stopping.Do(func() { log.Info("stopping", "reason", context.Cause(ctx).Error()) })
	}
	stopAfter := context.AfterFunc(ctx, logStopping)
	err = bot.Run(ctx)
	stopAfter()
	if ctx.Err() != nil {
		logStopping()
	}
	stopSched()
	return err // cmdServe words an UnreachableError for stderr
}

// openStore opens Redis when REDIS_URL is set, else an in-memory store.
// An unreachable Redis is not fatal: diagnoses need none, watching reports
// itself unavailable, and go-redis reconnects by itself.
func openStore(ctx context.Context, cfg *config.Config, log *slog.Logger) (store.Store, error) {
	if cfg.RedisURL == "" {
		log.Warn("REDIS_URL is unset: watches are kept in memory and die with the process")
		return store.NewMemory(), nil
	}
	r, err := store.Open(cfg.RedisURL.Reveal())
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := r.Ping(pingCtx); err != nil {
		log.Warn("redis is not reachable yet; watching is unavailable until it is", "err", err)
	}
	return r, nil
}

// redisLogger sends go-redis's own messages (reconnects, pool errors) to slog
// at warning level instead of its default stderr logger.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, fmt.Sprintf(format, v...))
}
