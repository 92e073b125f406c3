package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/slack-go/slack"

	"github.com/rdnsbot/rdnsbot/internal/clocktest"
	"github.com/rdnsbot/rdnsbot/internal/redistest"
	"github.com/rdnsbot/rdnsbot/monitor"
	"github.com/rdnsbot/rdnsbot/slackfake"
	"github.com/rdnsbot/rdnsbot/store"
)

// monInterval is MONITOR_INTERVAL in the monitor rig: its floor. The clock
// is the test's, so an interval passes when the test says, never by waiting.
const monInterval = time.Second

// lateMonitors is the bot's Monitors, handed a scheduler after the bot
// started: a scheduler announces through the harness's poster, and
// startHarness builds both the poster and the bot.
type lateMonitors struct {
	s atomic.Pointer[monitor.Scheduler]
}

func (l *lateMonitors) Add(ctx context.Context, req monitor.Request) error {
	return l.s.Load().Add(ctx, req)
}

func (l *lateMonitors) Remove(ctx context.Context, k monitor.Key, addrs []netip.Addr) (int, error) {
	return l.s.Load().Remove(ctx, k, addrs)
}

func (l *lateMonitors) ListChannel(ctx context.Context, channel string) ([]monitor.Info, error) {
	return l.s.Load().ListChannel(ctx, channel)
}

func (l *lateMonitors) ListUser(ctx context.Context, user string) ([]monitor.Info, error) {
	return l.s.Load().ListUser(ctx, user)
}

// monitorRig is a harness whose monitors run on a real redis-server and on
// the test's clock, in one or more replicas (startReplica) that share the
// Redis keys and the clock, each with its own connections; the bot adds
// and lists through the first.
type monitorRig struct {
	*harness
	clock  *clocktest.Clock
	redis  *redistest.Server
	prefix string
	late   *lateMonitors
	log    *slog.Logger

	mu       sync.Mutex
	recorded int      // checks recorded, by every replica
	claimed  int      // announcements claimed to be posted
	posted   []string // announcements recorded as posted (idempotency keys)
}

func startMonitorRig(t *testing.T, opts ...harnessOption) *monitorRig {
	t.Helper()
	srv := redistest.Start(t, redistest.Options{})
	r := &monitorRig{clock: clocktest.New(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)), redis: srv, prefix: srv.Prefix(), late: &lateMonitors{},
		log: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	r.harness = startHarness(t, append(opts, withLog(r.log), withConfig(func(c *Config) { c.Monitors = r.late }))...)
	return r
}

// replica is one bot replica's monitor scheduler.
type replica struct {
	sched   *monitor.Scheduler
	stop    func() // stops it and waits for the work in flight
	checked atomic.Int64
}

// startReplica runs a scheduler announcing through poster, on its own
// connection to the rig's Redis keys; edit changes its configuration.
func (r *monitorRig) startReplica(poster *Poster, edit func(*monitor.Config)) *replica {
	r.t.Helper()
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: r.redis.Socket()})
	r.t.Cleanup(func() { _ = c.Close() })
	rep := &replica{}
	cfg := monitor.Config{Store: &countingStore{Store: store.NewRedis(c, r.prefix), rig: r, rep: rep}, Checker: r.diag, Announcer: NewAnnouncer(poster),
		Clock: r.clock, Interval: monInterval, Poll: monInterval, Gather: -1, Logger: r.log,
		// Unpaced: the clock stands still between steps, and a check put off
		// by pacing is recorded (given back) without being one.
		ZoneRate: -1}
	if edit != nil {
		edit(&cfg)
	}
	s, err := monitor.New(cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	r.late.s.CompareAndSwap(nil, s)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		s.Run(ctx)
		close(done)
	}()
	rep.sched, rep.stop = s, sync.OnceFunc(func() { cancel(); <-done })
	r.t.Cleanup(rep.stop)
	return rep
}

// newPoster is another replica's Poster: its own Slack client.
func (r *monitorRig) newPoster() *Poster {
	p := NewPoster(newFakeAPI(r.fake), r.log, nil)
	p.backoff = time.Millisecond // retries are counted, not timed
	return p
}

// countingStore tells the rig of each check and each post a scheduler
// recorded: the points a test waits for.
type countingStore struct {
	monitor.Store
	rig *monitorRig
	rep *replica
}

func (c *countingStore) MonitorCycle(ctx context.Context, now time.Time, done []store.MonitorCompletion, max int, checkLease, announceLease, gather time.Duration) (store.MonitorCycleResult, error) {
	res, err := c.Store.MonitorCycle(ctx, now, done, max, checkLease, announceLease, gather)
	if err == nil {
		n := 0
		for _, e := range res.Completed {
			if e == nil {
				n++
			}
		}
		c.rep.checked.Add(int64(n))
		c.rig.mu.Lock()
		c.rig.recorded += n
		c.rig.claimed += len(res.Announcements)
		c.rig.mu.Unlock()
	}
	return res, err
}

func (c *countingStore) MarkMonitorPosted(ctx context.Context, p store.MonitorPending) error {
	err := c.Store.MarkMonitorPosted(ctx, p)
	if err == nil {
		c.rig.mu.Lock()
		c.rig.posted = append(c.rig.posted, p.IdempotencyKey)
		c.rig.mu.Unlock()
	}
	return err
}

func (r *monitorRig) counts() (recorded, posted int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.recorded, len(r.posted)
}

// claimed is how many announcements the replicas took to post. The cycle
// that records a change claims its announcement (gathered for no time), so
// right after a step it counts every announcement that step made.
func (r *monitorRig) claimedAnnouncements() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.claimed
}

// waitRecorded waits until n checks in all have been recorded.
func (r *monitorRig) waitRecorded(n int) {
	r.t.Helper()
	if err := waitFor(r.ctx(), func() bool { got, _ := r.counts(); return got >= n }); err != nil {
		got, _ := r.counts()
		r.t.Fatalf("%d checks recorded, want %d: %v", got, n, err)
	}
}

// waitPosted waits until n announcements in all have been recorded as posted.
func (r *monitorRig) waitPosted(n int) {
	r.t.Helper()
	if err := waitFor(r.ctx(), func() bool { _, got := r.counts(); return got >= n }); err != nil {
		_, got := r.counts()
		r.t.Fatalf("%d announcements recorded as posted, want %d: %v\nposted: %s", got, n, err, r.dump())
	}
}

// step lets one interval pass and waits for the n checks due in it: every
// address is checked once an interval, so n is the addresses monitored.
func (r *monitorRig) step(n int) {
	r.t.Helper()
	before, _ := r.counts()
	r.clock.Advance(monInterval)
	r.waitRecorded(before + n)
}

// slash runs a /rdns command in the ops channel and returns its envelope.
func (r *monitorRig) slash(text string) string {
	r.t.Helper()
	env, err := r.fake.SendSlashCommand(slackfake.SlashCommand{Command: "/rdns", Text: text, UserID: userAlice, ChannelID: chanOps})
	if err != nil {
		r.t.Fatal(err)
	}
	r.ack(env)
	r.waitJob("command")
	return env
}

// response is what the bot answered to envelope env through its response_url.
func (r *monitorRig) response(env string) string {
	r.t.Helper()
	r.waitResponse(env)
	var b strings.Builder
	for _, p := range r.fake.Responses(env) {
		b.WriteString(string(p.Body))
	}
	return b.String()
}

// monitorRoot runs `/rdns monitor target` and returns the monitor's thread:
// the message that started it.
func (r *monitorRig) monitorRoot(target string) string {
	r.t.Helper()
	r.slash("monitor " + target)
	root := r.waitMessage("monitor started", func(m slackfake.Message) bool {
		return m.Channel == chanOps && m.ThreadTS == "" && strings.Contains(m.Text, "Monitoring `"+target+"`")
	})
	return root.TS
}

// monitorZone is 84.200.30.0/29's reverse zone and example.edu, where
// h1…h6 have .1….6 and a and b have .1 as well: the PTR of .N is the name
// ptrs[N] (in example.edu), none when empty.
func monitorZone(ptrs map[int]string) string {
	var b strings.Builder
	b.WriteString("$ORIGIN example.edu.\n$TTL 300\n@ SOA ns1.example.net. hostmaster.example.edu. 1 3600 600 86400 60\n" +
		"@ NS ns1.example.net.\n@ NS ns2.example.net.\na A 84.200.30.1\nb A 84.200.30.1\n")
	for i := 1; i <= 6; i++ {
		fmt.Fprintf(&b, "h%d A 84.200.30.%d\n", i, i)
	}
	b.WriteString("$ORIGIN 30.200.84.in-addr.arpa.\n@ SOA ns1.example.net. hostmaster.example.net. 1 3600 600 86400 30\n" +
		"@ NS ns1.example.net.\n@ NS ns2.example.net.\n")
	for i := 1; i <= 6; i++ {
		if n := ptrs[i]; n != "" {
			fmt.Fprintf(&b, "%d PTR %s.example.edu.\n", i, n)
		}
	}
	return b.String()
}

// serve loads ptrs into the resolver (server 0) and src into the reverse
// zone's authoritative servers: they differ while a change propagates.
func (r *monitorRig) serve(resolver, src map[int]string) {
	r.t.Helper()
	if err := r.dns[0].Load(monitorZone(resolver)); err != nil {
		r.t.Fatal(err)
	}
	for _, s := range r.dns[1:] {
		if err := s.Load(monitorZone(src)); err != nil {
			r.t.Fatal(err)
		}
	}
}

// threadPosts are the bot's messages in the ops channel's thread.
func (r *monitorRig) threadPosts(thread string) []slackfake.Message {
	var out []slackfake.Message
	for _, m := range r.fake.Thread(chanOps, thread) {
		if m.BotID == r.fake.Identity().BotID && m.TS != thread {
			out = append(out, m)
		}
	}
	return out
}

// announced counts the lines under heading naming ip in thread's
// announcements: how often that change of ip was announced.
func (r *monitorRig) announced(thread, heading, ip string) int {
	n := 0
	for _, m := range r.threadPosts(thread) {
		var blocks slack.Blocks
		if err := json.Unmarshal(m.Blocks, &blocks); err != nil {
			r.t.Fatalf("blocks %s: %v", m.Blocks, err)
		}
		under := false
		for line := range strings.Lines(textOnly(message{Blocks: blocks.BlockSet})) {
			switch {
			case !strings.HasPrefix(line, "• "): // a heading
				under = strings.Contains(line, heading)
			case under && strings.HasPrefix(line, "• `"+ip+"`"):
				n++
			}
		}
	}
	return n
}
