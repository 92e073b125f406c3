package handlers

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/slack-go/slack"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/dnstest"
	"github.com/rdnsbot/rdnsbot/metrics"
	"github.com/rdnsbot/rdnsbot/monitor"
	"github.com/rdnsbot/rdnsbot/slackfake"
	"github.com/rdnsbot/rdnsbot/store"
	"github.com/rdnsbot/rdnsbot/watch"
)

// Conversations of the test workspace.
const (
	chanOps     = "C0MAILOPS" // public, bot is a member
	chanOther   = "C0OTHER"   // public, bot is not a member
	chanSecret  = "G0SECRET"  // private, bot is not a member
	chanNoBounc = "C0CHATTER" // public member, not in BOUNCE_CHANNELS when set
	userAlice   = "U0ALICE"
	slackbotID  = "USLACKBOT"
	slackbotBot = "B0SLACKBOT"
)

// harness is a running bot wired to a fake Slack and test DNS servers.
type harness struct {
	t       testing.TB
	fake    *slackfake.Fake
	dns     dnstest.Group
	diag    *diagnose.Diagnoser
	bot     *Bot
	poster  *Poster
	metrics *metrics.Metrics
	jobs    chan string // names of finished jobs
	store   store.Store // nil unless withWatches
	stop    func()      // stops the bot (and scheduler) and waits for them
	runErr  error
}

// setup is what harness options change before the bot starts.
type setup struct {
	cfg    Config
	store  store.Store   // non-nil: run a recheck scheduler on it
	maxAge time.Duration // the scheduler's WATCH_MAX_AGE, default 72h
	caps   watch.Caps
	log    *slog.Logger
	// webTimeout bounds each Web API call (http.Client.Timeout); 0: none.
	webTimeout time.Duration
	diag       func(*diagnose.Config)
	// monitors non-nil: run a monitor scheduler on it, every second.
	monitors store.MonitorStore
}

type harnessOption func(*setup)

func withConfig(f func(*Config)) harnessOption { return func(s *setup) { f(&s.cfg) } }

// withWatches runs a scheduler on st that rechecks every 100ms.
func withWatches(st store.Store) harnessOption { return func(s *setup) { s.store = st } }

// withMonitors runs a monitor scheduler on st, checking each address
// every second (the minimum) and announcing at once.
func withMonitors(st store.MonitorStore) harnessOption { return func(s *setup) { s.monitors = st } }

// withCaps caps the scheduler's watches.
func withCaps(c watch.Caps) harnessOption { return func(s *setup) { s.caps = c } }

// withLog logs to log instead of the test's log.
func withLog(log *slog.Logger) harnessOption { return func(s *setup) { s.log = log } }

// withWebTimeout makes each Web API call give up after d.
func withWebTimeout(d time.Duration) harnessOption { return func(s *setup) { s.webTimeout = d } }

// withDiagnose changes the diagnoser's configuration.
func withDiagnose(f func(*diagnose.Config)) harnessOption { return func(s *setup) { s.diag = f } }

// withMaxAge ends watches after d.
func withMaxAge(d time.Duration) harnessOption { return func(s *setup) { s.maxAge = d } }

func startHarness(t testing.TB, opts ...harnessOption) *harness {
	t.Helper()
	fake := slackfake.Start(t, slackfake.WithPingInterval(100*time.Millisecond))
	for _, c := range []slackfake.Channel{
		{ID: chanOps, Name: "mail-ops", Type: slackfake.Public, BotMember: true},
		{ID: chanOther, Name: "other", Type: slackfake.Public},
		{ID: chanSecret, Name: "secret", Type: slackfake.Private},
		{ID: chanNoBounc, Name: "chatter", Type: slackfake.Public, BotMember: true},
	} {
		fake.AddChannel(c)
	}
	zone, err := os.ReadFile("testdata/world.zone")
	if err != nil {
		t.Fatal(err)
	}
	g := dnstest.Start(t, 3)
	if err := g.Load(string(zone)); err != nil {
		t.Fatal(err)
	}
	g[0].SetFault("8.10.200.84.in-addr.arpa.", 0, dnstest.Fault{Drop: true})
	su := setup{cfg: Config{Workers: 4}, log: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	for _, o := range opts {
		o(&su)
	}
	dc := diagnose.Config{Resolver: g[0].Addr(), AuthorityPort: g.Port(), Timeout: 2 * time.Second, QueryTimeout: 200 * time.Millisecond}
	if su.diag != nil {
		su.diag(&dc)
	}
	diag, err := diagnose.New(dc)
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	api := slack.New(fake.BotToken(), slack.OptionAppLevelToken(fake.AppToken()), slack.OptionAPIURL(fake.APIURL()),
		slack.OptionHTTPClient(&http.Client{Timeout: su.webTimeout, Transport: m.SlackTransport(nil)}))
	log := su.log
	h := &harness{t: t, fake: fake, dns: g, diag: diag, jobs: make(chan string, 1024), store: su.store, metrics: m}
	// Bottom up, as cmd/bot wires them: poster, announcer, scheduler, bot.
	h.poster = NewPoster(api, log, m)
	h.poster.backoff = time.Millisecond // retries are counted, not timed
	ctx, cancel := context.WithCancel(context.Background())
	var running sync.WaitGroup
	if su.store != nil {
		sched, err := watch.New(watch.Config{Store: su.store, Checker: diag, Announcer: NewAnnouncer(h.poster), Logger: log,
			Intervals: []time.Duration{100 * time.Millisecond}, Poll: 200 * time.Millisecond, MaxAge: su.maxAge, Caps: su.caps, Observer: m})
		if err != nil {
			t.Fatal(err)
		}
		su.cfg.Watches = sched
		running.Go(func() { sched.Run(ctx) })
	}
	if su.monitors != nil {
		mon, err := monitor.New(monitor.Config{Store: su.monitors, Checker: diag, Announcer: NewAnnouncer(h.poster), Logger: log,
			Interval: time.Second, Poll: 100 * time.Millisecond, Gather: -1})
		if err != nil {
			t.Fatal(err)
		}
		su.cfg.Monitors = mon
		running.Go(func() { mon.Run(ctx) })
	}
	h.bot = New(h.poster, diag, su.cfg)
	h.bot.afterJob = func(name string) {
		select {
		case h.jobs <- name:
		default: // nobody is waiting for jobs in this test
		}
	}
	running.Go(func() { h.runErr = h.bot.Run(ctx) })
	var once sync.Once
	h.stop = func() { once.Do(func() { cancel(); running.Wait() }) }
	t.Cleanup(h.checkNoRawControlSequences)
	t.Cleanup(h.stop)
	h.waitConnected(1)
	return h
}

// allowedSequences are the mrkdwn control sequences the bot writes on
// purpose: a mention of the requester, dates, channel links, provider docs.
var allowedSequences = regexp.MustCompile(`^<(@[UW][A-Z0-9]+|!date\^\d+\^[^|>]*\|[^>]*|#[CG][A-Z0-9]+|https://[^|> ]+\|Provider docs)>$`)

// checkNoRawControlSequences fails the test if anything the bot posted holds
// a control sequence it did not mean to write: echoed user, bounce or DNS
// text must always arrive escaped.
func (h *harness) checkNoRawControlSequences() {
	var texts []string
	for _, c := range []string{chanOps, chanOther, chanSecret, chanNoBounc} {
		for _, m := range h.botPosts(c) {
			texts = append(texts, m.Text, decodeJSON(h.t, m.Blocks))
		}
		for _, m := range h.fake.Ephemerals(c) {
			texts = append(texts, m.Text, decodeJSON(h.t, m.Blocks))
		}
	}
	for _, a := range h.fake.Acks() {
		texts = append(texts, decodeJSON(h.t, a.Payload))
	}
	for _, text := range texts {
		for _, seq := range regexp.MustCompile(`<[^<>]*>`).FindAllString(text, -1) {
			if !allowedSequences.MatchString(seq) {
				h.t.Errorf("bot wrote raw control sequence %q in: %s", seq, text)
			}
		}
	}
}

// decodeJSON returns raw JSON as Slack reads it (no \u003c escapes).
func decodeJSON(t testing.TB, raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Errorf("bot sent invalid JSON %s: %v", raw, err)
		return ""
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return b.String()
}

// testWriter sends logs to t.Log so they show only for failing tests.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (h *harness) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	h.t.Cleanup(cancel)
	return ctx
}

func (h *harness) waitConnected(n int) {
	h.t.Helper()
	if err := h.fake.WaitConnected(h.ctx(), n); err != nil {
		h.t.Fatalf("bot did not connect: %v", err)
	}
	// Ready follows the hello; wait for it so tests start from a live socket.
	if err := waitFor(h.ctx(), h.bot.Ready); err != nil {
		h.t.Fatal("bot never became ready")
	}
}

// waitFor waits for cond, checking whenever the bot finishes work and at
// short intervals otherwise (readiness flips on the socket, not on a job).
func waitFor(ctx context.Context, cond func() bool) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

// waitJob waits for the next finished job named name.
func (h *harness) waitJob(name string) {
	h.t.Helper()
	ctx := h.ctx()
	for {
		select {
		case got := <-h.jobs:
			if got == name {
				return
			}
		case <-ctx.Done():
			h.t.Fatalf("job %q never finished", name)
		}
	}
}

// waitResponse waits for a post to the response_url of envelope env.
func (h *harness) waitResponse(env string) {
	h.t.Helper()
	if err := h.fake.Wait(h.ctx(), func() bool { return len(h.fake.Responses(env)) > 0 }); err != nil {
		h.t.Fatalf("no response_url post for %s: %v", env, err)
	}
}

func (h *harness) sendEvent(inner map[string]any) (envelopeID, eventID string) {
	h.t.Helper()
	env, id, err := h.fake.SendEvent(slackfake.Event{Inner: inner})
	if err != nil {
		h.t.Fatal(err)
	}
	return env, id
}

func (h *harness) ack(envelopeID string) (json.RawMessage, time.Duration) {
	h.t.Helper()
	payload, latency, err := h.fake.WaitAck(h.ctx(), envelopeID)
	if err != nil {
		h.t.Fatalf("no ack for %s: %v", envelopeID, err)
	}
	return payload, latency
}

// waitMessage waits for a bot post matching match.
func (h *harness) waitMessage(what string, match func(m slackfake.Message) bool) slackfake.Message {
	h.t.Helper()
	m, err := h.fake.WaitForMessage(h.ctx(), match)
	if err != nil {
		h.t.Fatalf("no message %s: %v\nposted: %s", what, err, h.dump())
	}
	return m
}

// dump lists everything the bot posted, for failure messages.
func (h *harness) dump() string {
	var b strings.Builder
	for _, c := range []string{chanOps, chanOther, chanSecret, chanNoBounc} {
		for _, m := range h.fake.Messages(c) {
			b.WriteString("\n" + c + " " + m.TS + " thread=" + m.ThreadTS + ": " + m.Text + " " + string(m.Blocks))
		}
	}
	return b.String()
}

// content is what a user sees of a message: text and blocks, as sent.
func content(m slackfake.Message) string { return m.Text + "\n" + string(m.Blocks) }

func inThread(channel, thread string, contains ...string) func(slackfake.Message) bool {
	return func(m slackfake.Message) bool {
		if m.Channel != channel || m.ThreadTS != thread {
			return false
		}
		c := content(m)
		for _, s := range contains {
			if !strings.Contains(c, s) {
				return false
			}
		}
		return true
	}
}

// botPosts are every message the bot posted in channel.
func (h *harness) botPosts(channel string) []slackfake.Message {
	var out []slackfake.Message
	for _, m := range h.fake.Messages(channel) {
		if m.BotID == h.fake.Identity().BotID {
			out = append(out, m)
		}
	}
	return out
}

func msgEvent(channel, user, text, ts string) map[string]any {
	return map[string]any{"type": "message", "channel": channel, "channel_type": "channel", "user": user, "text": text, "ts": ts}
}

// counterValue reads a counter back.
func counterValue(t testing.TB, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// histogram is an unlabelled histogram of the harness's registry.
func histogram(t testing.TB, h *harness, name string) *dto.Histogram {
	t.Helper()
	families, err := h.metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetHistogram()
		}
	}
	return nil
}

// sampleCount is a histogram's count.
func sampleCount(t testing.TB, h *harness, name string) uint64 {
	return histogram(t, h, name).GetSampleCount()
}

// sampleSum is a histogram's sum.
func sampleSum(t testing.TB, h *harness, name string) float64 {
	return histogram(t, h, name).GetSampleSum()
}

// value is a labelled counter of the harness's registry, 0 when absent.
func value(t testing.TB, h *harness, name, label, labelValue string) float64 {
	t.Helper()
	families, err := h.metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == labelValue {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
