package handlers

import (
	"log/slog"
	"slices"
	"strings"
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

// BenchmarkLargeEnvelopeAck sends 4 MB envelopes one after another and
// reports the ack latency two ways: as the fake Slack saw it (from writing
// the envelope to reading the ack) and as rdnsbot_ack_seconds recorded it
// (from the frame's first byte). The two should be close: the metric counts
// slack-go's reading and parsing of the envelope.
func BenchmarkLargeEnvelopeAck(b *testing.B) {
	h := startHarness(b, withLog(slog.New(slog.DiscardHandler)))
	inner := map[string]any{"type": "app_home_opened", "user": userAlice, "tab": "messages", "padding": strings.Repeat("x", 4<<20)}
	var atFake time.Duration
	b.ResetTimer()
	for range b.N {
		env, _ := h.sendEvent(inner)
		_, latency := h.ack(env)
		atFake += latency
	}
	b.StopTimer()
	if err := waitFor(h.ctx(), func() bool { return sampleCount(b, h, "rdnsbot_ack_seconds") >= uint64(b.N) }); err != nil {
		b.Fatal("acks not all observed")
	}
	b.ReportMetric(float64(atFake.Milliseconds())/float64(b.N), "fake-ms/ack")
	b.ReportMetric(sampleSum(b, h, "rdnsbot_ack_seconds")*1000/float64(b.N), "metric-ms/ack")
}
