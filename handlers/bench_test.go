package handlers

import (
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/rdnsbot/rdnsbot/dnstest"
	"github.com/rdnsbot/rdnsbot/slackfake"
)

// BenchmarkAckLatencyUnderBurst sends envelopes at 200/s (slash commands and
// pasted bounces, alternating) while every DNS query takes 20 ms, and
// reports the ack latency the fake Slack measured, from the envelope's write
// to its ack. Target: p99 <= 50 ms. Run a one-second burst with
// -benchtime=200x.
func BenchmarkAckLatencyUnderBurst(b *testing.B) {
	h := startHarness(b, withConfig(func(c *Config) { c.Workers = 16 }), withLog(slog.New(slog.DiscardHandler)))
	h.dns[0].SetFault("", 0, dnstest.Fault{Delay: 20 * time.Millisecond})
	const rate = 200
	tick := time.NewTicker(time.Second / rate)
	defer tick.Stop()
	envs := make([]string, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		<-tick.C
		var env string
		var err error
		if i%2 == 0 {
			env, err = h.fake.SendSlashCommand(slackfake.SlashCommand{Command: "/rdns", Text: "84.200.10.5", UserID: userAlice, ChannelID: chanOps})
		} else {
			env, _, err = h.fake.SendEvent(slackfake.Event{Inner: msgEvent(chanOps, userAlice, gmailBounce, "1700003000.000100")})
		}
		if err != nil {
			b.Fatal(err)
		}
		envs = append(envs, env)
	}
	latencies := make([]time.Duration, 0, len(envs))
	for _, env := range envs {
		_, latency := h.ack(env)
		latencies = append(latencies, latency)
	}
	b.StopTimer()
	slices.Sort(latencies)
	pct := func(p float64) time.Duration { return latencies[min(len(latencies)-1, int(p*float64(len(latencies))))] }
	b.ReportMetric(float64(pct(0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(pct(0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(latencies[len(latencies)-1].Microseconds())/1000, "max-ms")
	if p99 := pct(0.99); p99 > 50*time.Millisecond {
		b.Errorf("ack p99 = %s, target 50ms", p99)
	}
}
