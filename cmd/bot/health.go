package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// opsHandler serves /healthz (the process runs), /readyz (the Slack socket
// is connected) and /metrics (Prometheus text format).
func opsHandler(ready func() bool, metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready() {
			http.Error(w, "not connected to slack", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", metrics)
	return mux
}

const healthcheckUsage = `usage: bot healthcheck [URL]

Exits 0 when URL (default http://127.0.0.1:8080/readyz) answers 200 OK, 1
otherwise: the container health check, as the image has no curl.

`

// cmdHealthcheck is the container health check: the image has no curl.
func cmdHealthcheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := newSubcommand("healthcheck", healthcheckUsage)
	operands, err := cmd.parse(args)
	if err == nil && len(operands) > 1 {
		err = usagef("one URL at most, got %d", len(operands))
	}
	if err != nil {
		return cmd.exit(err, stdout, stderr)
	}
	url := "http://127.0.0.1:8080/readyz"
	if len(operands) > 0 {
		url = operands[0]
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return cmd.exit(usagef("%q is not a URL", url), stdout, stderr)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "bot healthcheck: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "bot healthcheck: %s answered %s\n", url, resp.Status)
		return 1
	}
	return 0
}
