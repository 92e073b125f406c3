package metrics

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/slack-go/slack"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/slackfake"
)

// value reads one sample back from the registry: the counter's value or
// the histogram's count, for the metric with exactly these labels.
func value(t *testing.T, m *Metrics, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, s := range f.GetMetric() {
			if len(s.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range s.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue next
				}
			}
			switch {
			case s.GetCounter() != nil:
				return s.GetCounter().GetValue()
			case s.GetHistogram() != nil:
				return float64(s.GetHistogram().GetSampleCount())
			case s.GetGauge() != nil:
				return s.GetGauge().GetValue()
			}
		}
	}
	return 0
}

// TestSlackTransportCountsMethodsAndOutcomes drives the real slack-go
// client against the fake Slack through the transport.
func TestSlackTransportCountsMethodsAndOutcomes(t *testing.T) {
	t.Parallel()
	fake := slackfake.Start(t)
	fake.AddChannel(slackfake.Channel{ID: "C0IN", Name: "in", Type: slackfake.Public, BotMember: true})
	fake.AddChannel(slackfake.Channel{ID: "G0OUT", Name: "out", Type: slackfake.Private})
	m := New()
	api := slack.New(fake.BotToken(), slack.OptionAPIURL(fake.APIURL()),
		slack.OptionHTTPClient(&http.Client{Transport: m.SlackTransport(nil)}))
	ctx := context.Background()
	if _, err := api.AuthTestContext(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := api.PostMessageContext(ctx, "C0IN", slack.MsgOptionText("hi", false)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := api.PostMessageContext(ctx, "G0OUT", slack.MsgOptionText("hi", false)); err == nil {
		t.Fatal("posting where the bot is not: no error")
	}
	for _, c := range []struct {
		method, outcome string
	}{{"auth.test", "ok"}, {"chat.postMessage", "ok"}, {"chat.postMessage", "channel_not_found"}} {
		if v := value(t, m, "rdnsbot_slack_api_calls_total", map[string]string{"method": c.method, "outcome": c.outcome}); v != 1 {
			t.Errorf("%s %s counted %v times, want 1", c.method, c.outcome, v)
		}
	}
	if v := value(t, m, "rdnsbot_slack_api_seconds", map[string]string{"method": "chat.postMessage"}); v != 2 {
		t.Errorf("chat.postMessage latency observed %v times, want 2", v)
	}
}

// TestSlackTransportPassesBodiesThrough: the peek for "ok" loses nothing
// of a large reply, and non-JSON or failing replies get a status class.
func TestSlackTransportPassesBodiesThrough(t *testing.T) {
	t.Parallel()
	big := `{"ok":true,"messages":"` + strings.Repeat("x", 100_000) + `"}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/conversations.replies":
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			io.WriteString(w, big)
		case "/api/chat.update":
			w.WriteHeader(http.StatusBadGateway)
		case "/api/chat.delete":
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		default:
			io.WriteString(w, "file body")
		}
	}))
	defer srv.Close()
	m := New()
	c := &http.Client{Transport: m.SlackTransport(nil)}
	for _, p := range []string{"/api/conversations.replies", "/api/chat.update", "/api/chat.delete", "/files-pri/T0-F0/x.eml"} {
		resp, err := c.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if p == "/api/conversations.replies" && string(body) != big {
			t.Errorf("body changed: %d bytes, want %d", len(body), len(big))
		}
	}
	for _, c := range []struct{ method, outcome string }{
		{"conversations.replies", "ok"}, {"chat.update", "5xx"}, {"chat.delete", "ratelimited"}, {"files", "2xx"},
	} {
		if v := value(t, m, "rdnsbot_slack_api_calls_total", map[string]string{"method": c.method, "outcome": c.outcome}); v != 1 {
			t.Errorf("%s %s counted %v times, want 1", c.method, c.outcome, v)
		}
	}
}

func TestObserversAndExposition(t *testing.T) {
	t.Parallel()
	m := New()
	m.Query(dns.TypePTR, "NXDOMAIN", 3*time.Millisecond)
	m.Query(dns.TypePTR, "timeout", time.Second)
	m.Rechecked(2*time.Second, diagnose.Result{Status: diagnose.StatusPass, DurationMS: 40})
	m.Diagnosed(OriginSlash, &diagnose.Result{Status: diagnose.StatusPermerror})
	m.StoreFailed("cycle", io.EOF)
	m.GaugeFunc("rdnsbot_work_queue_depth", "Jobs waiting.", func() float64 { return 7 })
	mon := m.Monitors()
	mon.Checked(90*time.Second, diagnose.Result{Status: diagnose.StatusFail, DurationMS: 30})
	mon.StoreFailed("monitor cycle", io.EOF)
	mon.Backlog(12, 16)
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"rdnsbot_dns_queries_total", map[string]string{"type": "PTR", "outcome": "NXDOMAIN"}, 1},
		{"rdnsbot_dns_queries_total", map[string]string{"type": "PTR", "outcome": "timeout"}, 1},
		{"rdnsbot_dns_query_seconds", map[string]string{"type": "PTR"}, 2},
		{"rdnsbot_diagnoses_total", map[string]string{"status": "pass", "origin": "recheck"}, 1},
		{"rdnsbot_diagnoses_total", map[string]string{"status": "permerror", "origin": "slash"}, 1},
		{"rdnsbot_recheck_lag_seconds", nil, 1},
		{"rdnsbot_redis_errors_total", map[string]string{"op": "cycle"}, 1},
		{"rdnsbot_work_queue_depth", nil, 7},
		{"rdnsbot_diagnoses_total", map[string]string{"status": "fail", "origin": "monitor"}, 1},
		{"rdnsbot_monitor_check_lag_seconds", nil, 1},
		{"rdnsbot_redis_errors_total", map[string]string{"op": "monitor cycle"}, 1},
		{"rdnsbot_monitor_checks_queued", nil, 12},
		{"rdnsbot_monitor_in_flight", nil, 16},
	}
	for _, c := range checks {
		if v := value(t, m, c.name, c.labels); v != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, v, c.want)
		}
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{"go_goroutines ", "go_memstats_alloc_bytes ", "process_open_fds ", "rdnsbot_envelopes_total 0"} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
