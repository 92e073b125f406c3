package handlers

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
)

func TestRespondNeverLeaksTheResponseURL(t *testing.T) {
	b := NewPoster(slack.New("xoxb-test"), nil, nil)
	b.httpClient = &http.Client{Timeout: time.Second}
	const secretURL = "http://127.0.0.1:1/commands/T0/123/secret-capability"
	err := b.respond(context.Background(), secretURL, textMessage("hi"), false)
	if err == nil {
		t.Fatal("posting to a closed port should fail")
	}
	if strings.Contains(err.Error(), "secret-capability") {
		t.Errorf("error leaks the response_url: %v", err)
	}
}

func TestWithRetryStopsOnPermanentErrors(t *testing.T) {
	p := NewPoster(slack.New("xoxb-test"), nil, nil)
	p.backoff = time.Millisecond // the waits are not under test, the attempts are
	calls := 0
	err := p.withRetry(context.Background(), func() error {
		calls++
		return slack.SlackErrorResponse{Err: "channel_not_found"}
	})
	if calls != 1 || slackError(err) != "channel_not_found" {
		t.Errorf("calls=%d err=%v", calls, err)
	}
	calls = 0
	err = p.withRetry(context.Background(), func() error {
		calls++
		return slack.StatusCodeError{Code: 503, Status: "503 Service Unavailable"}
	})
	var sc slack.StatusCodeError
	if calls != maxAttempts || !errors.As(err, &sc) {
		t.Errorf("5xx: calls=%d err=%v", calls, err)
	}
}
