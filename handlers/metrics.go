package handlers

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// Metrics are the bot's counters, exposed on /metrics in the Prometheus text
// format (https://prometheus.io/docs/instrumenting/exposition_formats/).
// Plain atomics keep the handlers free of a metrics dependency.
type Metrics struct {
	Envelopes      atomic.Int64 // socket-mode envelopes received
	Duplicates     atomic.Int64 // redelivered events dropped
	Dropped        atomic.Int64 // jobs refused because the queue was full
	Diagnoses      atomic.Int64
	BouncesFound   atomic.Int64
	SlackErrors    atomic.Int64 // Web API calls that failed after retries
	BlockFallbacks atomic.Int64 // replies re-sent as text
	Panics         atomic.Int64 // handler panics recovered
	InFlight       atomic.Int64

	mu         sync.Mutex
	ackBuckets [len(ackBounds) + 1]int64
	ackSum     time.Duration
	ackCount   int64
}

// ackBounds are the histogram bounds for envelope ack latency; Slack's
// deadline is 3 s, our target 50 ms.
var ackBounds = [...]time.Duration{time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond,
	25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 500 * time.Millisecond, time.Second, 3 * time.Second}

// ObserveAck records how long an envelope waited for its ack.
func (m *Metrics) ObserveAck(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := 0
	for i < len(ackBounds) && d > ackBounds[i] {
		i++
	}
	m.ackBuckets[i]++
	m.ackSum += d
	m.ackCount++
}

// WritePrometheus writes every metric in the Prometheus text format.
func (m *Metrics) WritePrometheus(w io.Writer) {
	counter := func(name, help string, v int64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", name, help, name, name, v)
	}
	counter("rdnsbot_envelopes_total", "Socket-mode envelopes received.", m.Envelopes.Load())
	counter("rdnsbot_duplicate_events_total", "Redelivered events dropped.", m.Duplicates.Load())
	counter("rdnsbot_dropped_jobs_total", "Jobs refused because the work queue was full.", m.Dropped.Load())
	counter("rdnsbot_diagnoses_total", "Diagnoses run for Slack users.", m.Diagnoses.Load())
	counter("rdnsbot_bounces_total", "Reverse-DNS bounces recognised in channels.", m.BouncesFound.Load())
	counter("rdnsbot_slack_errors_total", "Slack Web API calls that failed after retries.", m.SlackErrors.Load())
	counter("rdnsbot_block_fallbacks_total", "Replies re-sent as plain text.", m.BlockFallbacks.Load())
	counter("rdnsbot_panics_total", "Handler panics recovered.", m.Panics.Load())
	fmt.Fprintf(w, "# HELP rdnsbot_jobs_in_flight Jobs being handled.\n# TYPE rdnsbot_jobs_in_flight gauge\nrdnsbot_jobs_in_flight %d\n", m.InFlight.Load())

	m.mu.Lock()
	defer m.mu.Unlock()
	const h = "rdnsbot_ack_seconds"
	fmt.Fprintf(w, "# HELP %s Time from envelope receipt to ack.\n# TYPE %s histogram\n", h, h)
	var cum int64
	for i, b := range ackBounds {
		cum += m.ackBuckets[i]
		fmt.Fprintf(w, "%s_bucket{le=\"%g\"} %d\n", h, b.Seconds(), cum)
	}
	cum += m.ackBuckets[len(ackBounds)]
	fmt.Fprintf(w, "%s_bucket{le=\"+Inf\"} %d\n%s_sum %g\n%s_count %d\n", h, cum, h, m.ackSum.Seconds(), h, m.ackCount)
}
