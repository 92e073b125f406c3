package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rdnsbot/rdnsbot/dnstest"
	"github.com/rdnsbot/rdnsbot/internal/redistest"
	"github.com/rdnsbot/rdnsbot/slackfake"
)

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
	cmd := exec.CommandContext(ctx, botBin)
	cmd.Env = append(os.Environ(),
		"SLACK_APP_TOKEN="+fake.AppToken(), "SLACK_BOT_TOKEN="+fake.BotToken(), "SLACK_API_URL="+fake.APIURL(),
		"DNS_RESOLVER="+g[0].Addr(), "REDIS_URL="+redisSrv.URL(), "HTTP_ADDR="+httpAddr, "LOG_LEVEL=debug")
	var logs syncBuffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() { _ = cmd.Process.Kill() }()

	if err := fake.WaitConnected(ctx, 1); err != nil {
		t.Fatalf("bot did not connect: %v\n%s", err, logs.String())
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
		t.Fatalf("no threaded answer: %v\n%s", err, logs.String())
	}

	metrics := get(t, ctx, "http://"+httpAddr+"/metrics")
	for _, want := range []string{"rdnsbot_envelopes_total 1", "rdnsbot_diagnoses_total 1", "rdnsbot_ack_seconds_count 1"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, metrics)
		}
	}
	if get(t, ctx, "http://"+httpAddr+"/healthz") != "ok\n" {
		t.Error("/healthz not ok")
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("bot exited with %v after SIGTERM\n%s", err, logs.String())
		}
	case <-ctx.Done():
		t.Fatal("bot did not stop after SIGTERM")
	}
	for _, secret := range []string{fake.AppToken(), fake.BotToken()} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("logs leak a token")
		}
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

	cmd = exec.Command(botBin)
	cmd.Env = []string{"SLACK_APP_TOKEN=xapp-1", "SLACK_BOT_TOKEN=xoxb-1", "RECHECK_INTERVALS=1m,soon"}
	stderr.Reset()
	cmd.Stderr = &stderr
	_ = cmd.Run()
	if cmd.ProcessState.ExitCode() != 2 || !strings.Contains(stderr.String(), "RECHECK_INTERVALS") {
		t.Errorf("bad RECHECK_INTERVALS: exit %d, %s", cmd.ProcessState.ExitCode(), stderr.String())
	}
}

func TestHealthcheckCommand(t *testing.T) {
	srv := &http.Server{Handler: opsHandler(func() bool { return false }, func(io.Writer) {})}
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
