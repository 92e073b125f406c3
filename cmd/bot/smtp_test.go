package main

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/dnstest"
	"github.com/rdnsbot/rdnsbot/internal/redistest"
	"github.com/rdnsbot/rdnsbot/slackfake"
	"github.com/rdnsbot/rdnsbot/smtpprobe/smtptest"
)

// loopbackZone gives the SMTP test server's address (127.0.0.1) a PTR, so
// its greeting has a name to be compared with.
const loopbackZone = `
$ORIGIN 0.0.127.in-addr.arpa.
$TTL 300
@	SOA	ns1.example.net. hostmaster.example.net. 1 3600 600 86400 120
@	NS	ns1.example.net.
1	PTR	mail.example.com.
`

func findingCodes(fs []diagnose.Finding) []diagnose.Code {
	var out []diagnose.Code
	for _, f := range fs {
		out = append(out, f.Code)
	}
	return out
}

// bot diagnose --smtp reads the greeting of an in-process SMTP server on
// 127.0.0.1 and adds banner_mismatch to that address's findings, in the
// JSON (results[].findings) and the text; the EHLO names --smtp-helo. A
// loopback address is probed only with --smtp-allow-private, and the probe
// never changes the exit status.
func TestDiagnoseSMTP(t *testing.T) {
	g := diagnoseWorld(t)
	if err := g.Load(loopbackZone); err != nil {
		t.Fatal(err)
	}
	srv := smtptest.Start(t, "other.example.org ESMTP ready")
	base := []string{"diagnose", "--resolver", g[0].Addr(), "--authority-port", strconv.Itoa(g.Port()), "--timeout", "3s",
		"--smtp", "--smtp-port", strconv.Itoa(srv.Port()), "--smtp-helo", "rdnsbot.test.example"}

	exit, stdout, stderr := runBot(t, botBin, append(base, "--smtp-allow-private", "--json", "127.0.0.1")...)
	if exit != 1 { // the PTR name does not point back: fail
		t.Fatalf("exit %d, want 1\nstderr: %s", exit, stderr)
	}
	var out struct {
		Results []diagnose.Result `json:"results"`
	}
	if err := json.Unmarshal([]byte(stdout), &out); err != nil || len(out.Results) != 1 {
		t.Fatalf("JSON %v: %s", err, stdout)
	}
	codes := findingCodes(out.Results[0].Findings)
	if !slices.Contains(codes, diagnose.Code("banner_mismatch")) || !slices.Contains(codes, diagnose.CodeForwardMismatch) {
		t.Errorf("findings %v; want the diagnosis's (forward_mismatch) and the probe's banner_mismatch", codes)
	}
	if cmds := srv.Commands(); len(cmds) != 2 || cmds[0] != "EHLO rdnsbot.test.example" || cmds[1] != "QUIT" {
		t.Errorf("server saw %q; want EHLO rdnsbot.test.example, QUIT", cmds)
	}

	_, stdout, _ = runBot(t, botBin, append(base, "--smtp-allow-private", "127.0.0.1")...)
	if !strings.Contains(stdout, "[warning] banner_mismatch:") || !strings.Contains(stdout, "other.example.org") {
		t.Errorf("text output lacks the banner finding:\n%s", stdout)
	}

	// Without the lab flag a loopback address is not probed, and says so.
	_, stdout, _ = runBot(t, botBin, append(base, "127.0.0.1")...)
	if !strings.Contains(stdout, "smtp_not_probed") || strings.Contains(stdout, "banner_mismatch") {
		t.Errorf("loopback probed without --smtp-allow-private:\n%s", stdout)
	}
	if n := len(srv.Commands()); n != 4 {
		t.Errorf("server saw %d commands; want 4 (two probes)", n)
	}
}

func TestDiagnoseSMTPUsage(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		stderr string
	}{
		{[]string{"diagnose", "--smtp", "--smtp-port", "0", "--smtp-helo", "a.example", "192.0.2.1"}, "--smtp-port 0 is not a port number"},
		{[]string{"diagnose", "--smtp", "--smtp-helo", "not a name", "192.0.2.1"}, `--smtp-helo: smtpprobe: EHLO name "not a name" is not a fully qualified host name`},
		{[]string{"diagnose", "--smtp", "--smtp-helo", "bot_1.example.net", "192.0.2.1"}, "is not a fully qualified host name: character `_` not allowed"},
	} {
		exit, _, stderr := runBot(t, botBin, tc.args...)
		if exit != 2 || !strings.Contains(stderr, tc.stderr) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, exit, stderr, tc.stderr)
		}
	}
}

// The bot reads SMTP_PROBE_* and wires the probe: `/rdns 127.0.0.1 smtp`
// is answered with smtp_not_probed, because the bot never connects to a
// loopback address (only tests build a prober that may), and the test
// server on it is never dialled.
func TestServeSMTPProbe(t *testing.T) {
	fake := slackfake.Start(t)
	fake.AddChannel(slackfake.Channel{ID: "C0OPS", Name: "ops", Type: slackfake.Public, BotMember: true})
	g := dnstest.Start(t, 2)
	if err := g.Load(serveZone + loopbackZone); err != nil {
		t.Fatal(err)
	}
	srv := smtptest.Start(t, "other.example.org ESMTP")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bot := startBot(t, ctx, botEnv(fake, g, redistest.Start(t, redistest.Options{}),
		"SMTP_PROBE_HELO=rdnsbot.test.example", "SMTP_PROBE_PORT="+strconv.Itoa(srv.Port())))
	if err := fake.WaitConnected(ctx, 1); err != nil {
		t.Fatalf("bot did not connect: %v\n%s", err, bot.logs.String())
	}
	waitLog(t, ctx, bot, `"msg":"SMTP greeting probe on","ehlo":"rdnsbot.test.example","port":`+strconv.Itoa(srv.Port()))
	env, err := fake.SendSlashCommand(slackfake.SlashCommand{Command: "/rdns", Text: "127.0.0.1 smtp", UserID: "U0ALICE", ChannelID: "C0OPS"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := fake.WaitAck(ctx, env); err != nil {
		t.Fatal(err)
	}
	if _, err := fake.WaitForMessage(ctx, func(m slackfake.Message) bool {
		return m.ThreadTS != "" && strings.Contains(string(m.Blocks), "was not checked: it is not a public address")
	}); err != nil {
		t.Fatalf("no smtp_not_probed: %v\n%s", err, bot.logs.String())
	}
	if cmds := srv.Commands(); len(cmds) != 0 {
		t.Errorf("the bot probed loopback: %q", cmds)
	}
	bot.stop(t, ctx)
}
