package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rdnsbot/rdnsbot/dnstest"
	"github.com/rdnsbot/rdnsbot/internal/bouncetest"
	"github.com/rdnsbot/rdnsbot/internal/redistest"
	"github.com/rdnsbot/rdnsbot/slackfake"
)

// serveWorld is the test DNS; fixed adds the PTR (and its A) that a
// provider publishes for 84.200.10.9.
func serveWorld(fixed bool) string {
	if !fixed {
		return serveZone
	}
	return strings.NewReplacer("mail\tA\t84.200.10.5\n", "mail\tA\t84.200.10.5\nfixed\tA\t84.200.10.9\n",
		"5\tPTR\tmail.example.com.\n", "5\tPTR\tmail.example.com.\n9\tPTR\tfixed.example.com.\n").Replace(serveZone)
}

const serveZone = `
$ORIGIN example.net.
$TTL 300
@	SOA	ns1.example.net. hostmaster.example.net. 1 3600 600 86400 60
@	NS	ns1
ns1	A	127.0.0.2
$ORIGIN example.com.
@	SOA	ns1.example.net. hostmaster.example.com. 1 3600 600 86400 60
@	NS	ns1.example.net.
mail	A	84.200.10.5
$ORIGIN 10.200.84.in-addr.arpa.
@	SOA	ns1.example.net. hostmaster.example.net. 1 3600 600 86400 30
@	NS	ns1.example.net.
5	PTR	mail.example.com.
`

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestServeEndToEnd runs the built bot against a fake Slack, test DNS and a
// real Redis, as an operator would: environment in, SIGTERM out.
func TestServeEndToEnd(t *testing.T) {
	fake := slackfake.Start(t)
	fake.AddChannel(slackfake.Channel{ID: "C0OPS", Name: "ops", Type: slackfake.Public, BotMember: true})
	g := dnstest.Start(t, 2)
	if err := g.Load(serveZone); err != nil {
		t.Fatal(err)
	}
	redisSrv := redistest.Start(t, redistest.Options{})
	httpAddr := freeAddr(t)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bot := startBot(t, ctx, botEnv(fake, g, redisSrv, "HTTP_ADDR="+httpAddr))
	if err := fake.WaitConnected(ctx, 1); err != nil {
		t.Fatalf("bot did not connect: %v\n%s", err, bot.logs.String())
	}
	waitHTTP(t, ctx, "http://"+httpAddr+"/readyz", http.StatusOK)

	env, err := fake.SendSlashCommand(slackfake.SlashCommand{Command: "/rdns", Text: "84.200.10.5", UserID: "U0ALICE", ChannelID: "C0OPS"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := fake.WaitAck(ctx, env); err != nil {
		t.Fatal(err)
	}
	if _, err := fake.WaitForMessage(ctx, func(m slackfake.Message) bool { return m.ThreadTS != "" && strings.Contains(m.Text, "passes FCrDNS") }); err != nil {
		t.Fatalf("no threaded answer: %v\n%s", err, bot.logs.String())
	}

	// The fake Slack shows a post before the bot has read its reply (and
	// counted the call): scrape until the job is done.
	waitLog(t, ctx, bot, `"msg":"job done"`)
	metrics := get(t, ctx, "http://"+httpAddr+"/metrics")
	for _, want := range []string{"rdnsbot_envelopes_total 1", `rdnsbot_diagnoses_total{origin="slash",status="pass"} 1`,
		"rdnsbot_ack_seconds_count 1", `rdnsbot_slack_api_calls_total{method="chat.postMessage",outcome="ok"} 2`,
		`rdnsbot_slack_api_calls_total{method="auth.test",outcome="ok"} 1`, `rdnsbot_dns_queries_total{outcome="NOERROR",type="PTR"}`,
		`rdnsbot_diagnosis_seconds_count{origin="slash"} 1`, "rdnsbot_active_watches 0", "rdnsbot_work_queue_depth 0",
		"go_goroutines ", "process_open_fds "} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, metrics)
		}
	}
	if get(t, ctx, "http://"+httpAddr+"/healthz") != "ok\n" {
		t.Error("/healthz not ok")
	}

	bot.stop(t, ctx)
	for _, secret := range []string{fake.AppToken(), fake.BotToken()} {
		if strings.Contains(bot.logs.String(), secret) {
			t.Errorf("logs leak a token")
		}
	}
	logs := bot.logs.String()
	for _, want := range []string{`"msg":"starting"`, `"resolver":"` + g[0].Addr() + `"`, `"msg":"stopping"`, `"msg":"stopped"`,
		`"msg":"answered"`, `"envelope":`, `"channel":"C0OPS"`, `"targets":["84.200.10.5"]`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s", want)
		}
	}
}

// botEnv is the environment of a bot wired to the test's fake Slack, DNS
// and Redis.
func botEnv(fake *slackfake.Fake, g dnstest.Group, redisSrv *redistest.Server, extra ...string) []string {
	return append(append(os.Environ(),
		"SLACK_APP_TOKEN="+fake.AppToken(), "SLACK_BOT_TOKEN="+fake.BotToken(), "SLACK_API_URL="+fake.APIURL(),
		"DNS_RESOLVER="+g[0].Addr(), "DNS_AUTHORITY_PORT="+strconv.Itoa(g.Port()), "DNS_TIMEOUT=2s",
		"REDIS_URL="+redisSrv.URL(), "LOG_LEVEL=debug"), extra...)
}

// botProcess is the bot binary running as a child process.
type botProcess struct {
	cmd    *exec.Cmd
	logs   *syncBuffer
	exited chan error
}

func startBot(t *testing.T, ctx context.Context, env []string) *botProcess {
	t.Helper()
	p := &botProcess{cmd: exec.CommandContext(ctx, botBin), logs: &syncBuffer{}, exited: make(chan error, 1)}
	p.cmd.Env = env
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		if t.Failed() {
			t.Logf("bot logs:\n%s", p.logs.String())
		}
	})
	return p
}

// stop sends SIGTERM and expects a clean exit.
func (p *botProcess) stop(t *testing.T, ctx context.Context) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("bot exited with %v after SIGTERM", err)
		}
	case <-ctx.Done():
		t.Fatal("bot did not stop after SIGTERM")
	}
}

// kill ends the bot the hard way, as a crash or an OOM kill would.
func (p *botProcess) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.exited
}

// TestServeWatchSurvivesBotAndRedisRestarts: a watch acknowledged in a
// thread survives a SIGKILL of the bot and of Redis (append-only), and the
// next bot announces the fix once.
func TestServeWatchSurvivesBotAndRedisRestarts(t *testing.T) {
	fake := slackfake.Start(t)
	fake.AddChannel(slackfake.Channel{ID: "C0OPS", Name: "ops", Type: slackfake.Public, BotMember: true})
	g := dnstest.Start(t, 2)
	if err := g.Load(serveZone); err != nil {
		t.Fatal(err)
	}
	redisSrv := redistest.Start(t, redistest.Options{AppendOnly: true})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	env := botEnv(fake, g, redisSrv, "RECHECK_INTERVALS=1s")

	first := startBot(t, ctx, env)
	if err := fake.WaitConnected(ctx, 1); err != nil {
		t.Fatal(err)
	}
	cmdEnv, err := fake.SendSlashCommand(slackfake.SlashCommand{Command: "/rdns", Text: "84.200.10.9", UserID: "U0ALICE", ChannelID: "C0OPS"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := fake.WaitAck(ctx, cmdEnv); err != nil {
		t.Fatal(err)
	}
	guide, err := fake.WaitForMessage(ctx, func(m slackfake.Message) bool {
		return m.ThreadTS != "" && strings.Contains(string(m.Blocks), "keep rechecking")
	})
	if err != nil {
		t.Fatalf("watch not started: %v", err)
	}
	first.kill(t)
	redisSrv.Kill(t)
	redisSrv.Restart(t)

	second := startBot(t, ctx, env)
	if err := fake.WaitConnected(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := g.Load(serveWorld(true)); err != nil {
		t.Fatal(err)
	}
	isFixed := func(m slackfake.Message) bool {
		return m.ThreadTS == guide.ThreadTS && strings.Contains(m.Text, "is fixed")
	}
	if _, err := fake.WaitForMessage(ctx, isFixed); err != nil {
		t.Fatalf("no fixed announcement after restarts: %v", err)
	}
	second.stop(t, ctx)
	n := 0
	for _, m := range fake.Thread("C0OPS", guide.ThreadTS) {
		if isFixed(m) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("want one fixed announcement, got %d", n)
	}
}

func TestServeRejectsBadConfigNamingEveryVariable(t *testing.T) {
	cmd := exec.Command(botBin)
	cmd.Env = []string{"SLACK_APP_TOKEN=xoxb-secret-in-the-wrong-place", "DNS_RESOLVER=nope", "RECHECK_INTERVALS=1m,soon"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if cmd.ProcessState.ExitCode() != 2 {
		t.Fatalf("exit = %v, want 2; stderr: %s", err, stderr.String())
	}
	out := stderr.String()
	for _, want := range []string{"SLACK_APP_TOKEN", "SLACK_BOT_TOKEN: required", "DNS_RESOLVER"} {
		if !strings.Contains(out, want) {
			t.Errorf("stderr lacks %q: %s", want, out)
		}
	}
	if strings.Contains(out, "secret-in-the-wrong-place") {
		t.Errorf("stderr leaks the token: %s", out)
	}

	// One line per problem, one format, REDIS_URL among them, no secret.
	cmd = exec.Command(botBin)
	cmd.Env = []string{"SLACK_APP_TOKEN=xapp-...", "SLACK_BOT_TOKEN=xoxb-1", "RECHECK_INTERVALS=1m,soon",
		"REDIS_URL=redis://:hunter2@127.0.0.1:port/0", "WORKERS=zero"}
	stderr.Reset()
	cmd.Stderr = &stderr
	_ = cmd.Run()
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if cmd.ProcessState.ExitCode() != 2 || len(lines) != 4 {
		t.Fatalf("exit %d, want 2 and 4 lines: %s", cmd.ProcessState.ExitCode(), stderr.String())
	}
	for i, v := range []string{"SLACK_APP_TOKEN", "REDIS_URL", "WORKERS", "RECHECK_INTERVALS"} {
		if !strings.HasPrefix(lines[i], "bot: config: "+v+": ") || !strings.Contains(lines[i], "; expected ") {
			t.Errorf("line %d: %q, want bot: config: %s: …; expected …", i, lines[i], v)
		}
	}
	if strings.Contains(stderr.String(), "hunter2") {
		t.Errorf("stderr leaks the Redis password: %s", stderr.String())
	}
}

func TestHealthcheckCommand(t *testing.T) {
	srv := &http.Server{Handler: opsHandler(func() bool { return false }, http.NotFoundHandler())}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Close()
	for path, want := range map[string]int{"/healthz": 0, "/readyz": 1} {
		cmd := exec.Command(botBin, "healthcheck", "http://"+l.Addr().String()+path)
		_ = cmd.Run()
		if got := cmd.ProcessState.ExitCode(); got != want {
			t.Errorf("healthcheck %s exit = %d, want %d", path, got, want)
		}
	}
}

// waitLog waits until the bot has logged want.
func waitLog(t *testing.T, ctx context.Context, p *botProcess, want string) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !strings.Contains(p.logs.String(), want) {
		select {
		case <-ctx.Done():
			t.Fatalf("the bot never logged %s", want)
		case <-tick.C:
		}
	}
}

func waitHTTP(t *testing.T, ctx context.Context, url string, status int) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == status {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s never answered %d", url, status)
		case <-tick.C:
		}
	}
}

func get(t *testing.T, ctx context.Context, url string) string {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
	}
	return b.String()
}

// syncBuffer is a bytes.Buffer safe for the process writer and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestServeFailsWhenHTTPAddrIsTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cmd := exec.Command(botBin)
	cmd.Env = []string{"SLACK_APP_TOKEN=xapp-1", "SLACK_BOT_TOKEN=xoxb-1", "SLACK_API_URL=http://127.0.0.1:1/api/", "HTTP_ADDR=" + l.Addr().String()}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	_ = cmd.Run()
	if cmd.ProcessState.ExitCode() != 1 || !strings.Contains(stderr.String(), "HTTP_ADDR") {
		t.Errorf("exit %d, stderr %s", cmd.ProcessState.ExitCode(), stderr.String())
	}
}

// TestServeExitsWhenSlackDoesNotAnswer: a Slack API that accepts the
// connection and never answers auth.test makes the bot give up after
// SLACK_STARTUP_ATTEMPTS tries, exit 1 and say which API did not answer.
func TestServeExitsWhenSlackDoesNotAnswer(t *testing.T) {
	fake := slackfake.Start(t)
	fake.FailNext("auth.test", 100, slackfake.Fault{Hang: true})
	g := dnstest.Start(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Second)
	defer cancel()
	bot := startBot(t, ctx, append(os.Environ(),
		"SLACK_APP_TOKEN="+fake.AppToken(), "SLACK_BOT_TOKEN="+fake.BotToken(), "SLACK_API_URL="+fake.APIURL(),
		"DNS_RESOLVER="+g[0].Addr(), "SLACK_TIMEOUT=200ms", "SLACK_STARTUP_ATTEMPTS=3"))
	select {
	case err := <-bot.exited:
		if code := bot.cmd.ProcessState.ExitCode(); err == nil || code != 1 {
			t.Errorf("exit code %d (%v), want 1", code, err)
		}
	case <-ctx.Done():
		t.Fatal("the bot hung on a Slack API that does not answer")
	}
	logs := bot.logs.String()
	if want := "bot: Slack API " + fake.APIURL() + " did not answer: auth.test: no answer in 3 attempts"; !strings.Contains(logs, want) {
		t.Errorf("stderr lacks %q:\n%s", want, logs)
	}
	if n := strings.Count(logs, `"msg":"slack auth.test did not answer, retrying"`); n != 2 {
		t.Errorf("%d retries logged, want 2", n)
	}
	if n := len(fake.CallsTo("auth.test")); n != 3 {
		t.Errorf("%d auth.test calls, want 3", n)
	}
	for _, secret := range []string{fake.AppToken(), fake.BotToken()} {
		if strings.Contains(logs, secret) {
			t.Error("stderr leaks a token")
		}
	}
}

// TestServeMemoryBoundedUnderLargeUploads: sixteen concurrent uploads of a
// 24 MB bounce nested 8 MIME levels deep (issue 9) each get an answer or a
// clear busy reply, and the built bot's peak RSS (VmHWM) stays within
// 512 MiB: downloads are streamed into one buffer each and admitted by
// FILE_BYTES_BUDGET.
func TestServeMemoryBoundedUnderLargeUploads(t *testing.T) {
	fake := slackfake.Start(t)
	fake.AddChannel(slackfake.Channel{ID: "C0OPS", Name: "ops", Type: slackfake.Public, BotMember: true})
	g := dnstest.Start(t, 2)
	if err := g.Load(serveZone); err != nil {
		t.Fatal(err)
	}
	redisSrv := redistest.Start(t, redistest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bot := startBot(t, ctx, botEnv(fake, g, redisSrv, "LOG_LEVEL=info"))
	if err := fake.WaitConnected(ctx, 1); err != nil {
		t.Fatalf("bot did not connect: %v\n%s", err, bot.logs.String())
	}

	// One content for all sixteen: the test's own memory is not the bot's.
	eml := []byte(bouncetest.CRLF(bouncetest.Nested(24<<20, 8)))
	const uploads = 16
	var threads []string
	for i := range uploads {
		f := fake.AddFile(slackfake.File{Name: fmt.Sprintf("bounce%d.eml", i), Mimetype: "message/rfc822", Filetype: "eml",
			Content: eml, Channels: []string{"C0OPS"}})
		ts := fmt.Sprintf("1700300000.%06d", i)
		threads = append(threads, ts)
		_, _, err := fake.SendEvent(slackfake.Event{Inner: map[string]any{"type": "message", "subtype": "file_share", "channel": "C0OPS",
			"channel_type": "channel", "user": "U0ALICE", "ts": ts, "files": []map[string]any{{"id": f.ID, "name": f.Name,
				"mimetype": f.Mimetype, "filetype": f.Filetype, "size": len(eml), "url_private_download": f.URLPrivateDownload}}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	answered := func() (answers, busy int) {
		for _, ts := range threads {
			posts := fake.Thread("C0OPS", ts)
			switch {
			case len(posts) == 0:
			case strings.Contains(posts[0].Text, bouncetest.SendingIP):
				answers++
			case strings.Contains(posts[0].Text, "upload it again"):
				busy++
			}
		}
		return answers, busy
	}
	if err := fake.Wait(ctx, func() bool { a, b := answered(); return a+b == uploads }); err != nil {
		a, b := answered()
		t.Fatalf("%d uploads answered, %d told busy, of %d: %v", a, b, uploads, err)
	}
	a, b := answered()
	hwm := vmHWM(t, bot.cmd.Process.Pid)
	t.Logf("%d answered, %d told busy; peak RSS %d MiB", a, b, hwm>>20)
	if hwm > 512<<20 {
		t.Errorf("peak RSS %d MiB, limit 512 MiB", hwm>>20)
	}
	bot.stop(t, ctx)
}

// vmHWM is a process's peak resident set size, from /proc/<pid>/status.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM %q: %v", rest, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/<pid>/status")
	return 0
}
