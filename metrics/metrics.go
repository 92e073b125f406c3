// Package metrics is rdnsbot's Prometheus instrumentation
// (github.com/prometheus/client_golang), on a registry of its own per
// process, so tests each get theirs and run in parallel. It holds every
// metric /metrics serves: the Go runtime and process collectors, the bot's
// counters, DNS queries, diagnoses, Slack Web API calls, Redis errors,
// watches and rechecks, monitor checks, the work queue and the ack latency.
//
// Exposition format: https://prometheus.io/docs/instrumenting/exposition_formats/
package metrics

import (
	"net/http"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rdnsbot/rdnsbot/diagnose"
)

// Origin is what asked for a diagnosis, the label origin of
// rdnsbot_diagnoses_total.
type Origin string

const (
	OriginSlash    Origin = "slash"    // /rdns
	OriginMention  Origin = "mention"  // @rdnsbot, or a DM with the bot
	OriginBounce   Origin = "bounce"   // a bounce read in a channel
	OriginShortcut Origin = "shortcut" // the "Diagnose this bounce" message shortcut
	OriginButton   Origin = "button"   // Recheck now, Watch until fixed, Keep watching
	OriginRecheck  Origin = "recheck"  // the watch scheduler's rechecks
	OriginMonitor  Origin = "monitor"  // the monitor scheduler's checks
)

// Metrics is one process's metrics. Its fields are safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	Envelopes      prometheus.Counter
	Duplicates     prometheus.Counter
	Dropped        prometheus.Counter
	BouncesFound   prometheus.Counter
	SlackErrors    prometheus.Counter
	BlockFallbacks prometheus.Counter
	Panics         prometheus.Counter
	InFlight       prometheus.Gauge
	// Ack is the time from the first byte of an envelope's websocket frame
	// to its ack having been handed to the socket writer.
	Ack prometheus.Histogram
	// Refusals counts requests the bot would not run as asked (reason:
	// queue_full, files_busy, file_too_large), by how the user heard of it
	// (told: ack, thread, or lost when even the notice could not be queued).
	Refusals *prometheus.CounterVec
	// DiagnosesReused counts addresses answered by a diagnosis another
	// request ran (in flight, or finished within DIAGNOSIS_REUSE): not in
	// rdnsbot_diagnoses_total, which counts diagnoses run.
	DiagnosesReused prometheus.Counter

	diagnoses   *prometheus.CounterVec
	diagSeconds *prometheus.HistogramVec
	queries     *prometheus.CounterVec
	querySecs   *prometheus.HistogramVec
	slackCalls  *prometheus.CounterVec
	slackSecs   *prometheus.HistogramVec
	redisErrors *prometheus.CounterVec
	recheckLag  prometheus.Histogram
	monitorLag  prometheus.Histogram
	monQueued   prometheus.Gauge
	monRunning  prometheus.Gauge
}

// New registers every metric on a new registry.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := factory{reg}
	return &Metrics{
		reg:            reg,
		Envelopes:      f.counter("rdnsbot_envelopes_total", "Socket-mode envelopes received."),
		Duplicates:     f.counter("rdnsbot_duplicate_events_total", "Redelivered events dropped."),
		Dropped:        f.counter("rdnsbot_dropped_jobs_total", "Jobs refused because the work queue was full."),
		BouncesFound:   f.counter("rdnsbot_bounces_total", "Reverse-DNS bounces recognised."),
		SlackErrors:    f.counter("rdnsbot_slack_errors_total", "Replies that could not be delivered after retries."),
		BlockFallbacks: f.counter("rdnsbot_block_fallbacks_total", "Replies re-sent as plain text."),
		Panics:         f.counter("rdnsbot_panics_total", "Handler panics recovered."),
		InFlight:       f.gauge("rdnsbot_jobs_in_flight", "Jobs being handled."),
		Ack: f.histogram("rdnsbot_ack_seconds", "Time from the first byte of an envelope's websocket frame to its ack (Slack's deadline is 3 s).",
			[]float64{.005, .01, .025, .05, .1, .25, .5, 1, 2, 3, 5}),
		Refusals:        f.counterVec("rdnsbot_refusals_total", "Requests refused, by reason and by how the user was told.", "reason", "told"),
		DiagnosesReused: f.counter("rdnsbot_diagnoses_reused_total", "Addresses answered by a diagnosis another request ran."),
		diagnoses:       f.counterVec("rdnsbot_diagnoses_total", "Diagnoses run, by RFC 8601 status and by what asked for them.", "status", "origin"),
		diagSeconds: f.histogramVec("rdnsbot_diagnosis_seconds", "How long one diagnosis took, by origin.",
			[]float64{.01, .05, .1, .25, .5, 1, 2, 5, 10}, "origin"),
		queries: f.counterVec("rdnsbot_dns_queries_total", "DNS query attempts, by query type and outcome (the rcode, timeout or error).", "type", "outcome"),
		querySecs: f.histogramVec("rdnsbot_dns_query_seconds", "DNS query attempt latency, by query type.",
			[]float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2}, "type"),
		slackCalls: f.counterVec("rdnsbot_slack_api_calls_total", "Slack Web API calls, by method and outcome (ok, Slack's error code, or the HTTP status class).", "method", "outcome"),
		slackSecs: f.histogramVec("rdnsbot_slack_api_seconds", "Slack Web API call latency, by method.",
			[]float64{.025, .05, .1, .25, .5, 1, 2, 5}, "method"),
		redisErrors: f.counterVec("rdnsbot_redis_errors_total", "Store (Redis) operations that failed, by operation.", "op"),
		recheckLag:  f.histogram("rdnsbot_recheck_lag_seconds", "How late a due recheck ran.", lagBuckets),
		monitorLag:  f.histogram("rdnsbot_monitor_check_lag_seconds", "How late a due monitor check ran (against its due time, or the slot its zone's pacing gave it).", lagBuckets),
		monQueued:   f.gauge("rdnsbot_monitor_checks_queued", "Monitor checks claimed and waiting for a worker."),
		monRunning:  f.gauge("rdnsbot_monitor_in_flight", "Monitor checks and announcement posts running."),
	}
}

// lagBuckets are the buckets of the schedulers' lag, in seconds.
var lagBuckets = []float64{.1, .5, 1, 5, 15, 30, 60, 120, 300, 600}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry is where the metrics live. It is a test hook (the bot serves
// them through Handler): tests in other packages read the metrics back with it.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// GaugeFunc registers a gauge read from f at every scrape: the work-queue
// depth, the active watches. A second gauge of the same name is ignored:
// the first one registered is served.
func (m *Metrics) GaugeFunc(name, help string, f func() float64) {
	_ = m.reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
}

// Diagnosed counts one diagnosis that ran for origin.
func (m *Metrics) Diagnosed(origin Origin, r *diagnose.Result) {
	m.diagnoses.WithLabelValues(string(r.Status), string(origin)).Inc()
	m.diagSeconds.WithLabelValues(string(origin)).Observe(float64(r.DurationMS) / 1000)
}

// Query counts one DNS query attempt; it is diagnose.Config.QueryObserver.
func (m *Metrics) Query(qtype uint16, outcome string, d time.Duration) {
	t := dns.TypeToString[qtype]
	if t == "" {
		t = "other"
	}
	m.queries.WithLabelValues(t, outcome).Inc()
	m.querySecs.WithLabelValues(t).Observe(d.Seconds())
}

// Rechecked records a scheduled recheck: how late it ran, and its
// diagnosis (origin recheck). It implements watch.Observer.
func (m *Metrics) Rechecked(lag time.Duration, r diagnose.Result) {
	m.recheckLag.Observe(max(lag, 0).Seconds())
	m.Diagnosed(OriginRecheck, &r)
}

// StoreFailed counts a failed store operation. It implements watch.Observer.
func (m *Metrics) StoreFailed(op string, _ error) {
	m.redisErrors.WithLabelValues(op).Inc()
}

// Monitors is the monitor scheduler's monitor.Observer: its checks go to
// rdnsbot_monitor_check_lag_seconds and rdnsbot_diagnoses_total (origin
// monitor), its store errors to rdnsbot_redis_errors_total (its ops are
// named "monitor ..."), its backlog to rdnsbot_monitor_checks_queued and
// rdnsbot_monitor_in_flight.
func (m *Metrics) Monitors() MonitorObserver { return MonitorObserver{m} }

// MonitorObserver is Metrics seen by the monitor scheduler.
type MonitorObserver struct{ m *Metrics }

func (o MonitorObserver) Checked(lag time.Duration, r diagnose.Result) {
	o.m.monitorLag.Observe(max(lag, 0).Seconds())
	o.m.Diagnosed(OriginMonitor, &r)
}

func (o MonitorObserver) StoreFailed(op string, err error) { o.m.StoreFailed(op, err) }

func (o MonitorObserver) Backlog(queued, running int) {
	o.m.monQueued.Set(float64(queued))
	o.m.monRunning.Set(float64(running))
}

// factory registers metrics as it builds them.
type factory struct{ reg *prometheus.Registry }

func (f factory) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	f.reg.MustRegister(c)
	return c
}

func (f factory) gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	f.reg.MustRegister(g)
	return g
}

func (f factory) histogram(name, help string, buckets []float64) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets})
	f.reg.MustRegister(h)
	return h
}

func (f factory) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	f.reg.MustRegister(c)
	return c
}

func (f factory) histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	f.reg.MustRegister(h)
	return h
}
