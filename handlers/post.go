package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/slack-go/slack"

	"github.com/rdnsbot/rdnsbot/metrics"
)

// Poster is the last stage: it sends messages to Slack (chat.postMessage,
// chat.postEphemeral, a command's response_url), retrying rate limits and
// Slack's 5xx, joining public channels, and falling back to text when Slack
// refuses the blocks. The bot replies through it and the Announcer
// announces through it; neither knows the other.
type Poster struct {
	api        *slack.Client
	httpClient *http.Client  // response_url posts
	backoff    time.Duration // first wait before retrying a 5xx; doubles
	log        *slog.Logger
	metrics    *metrics.Metrics
}

// NewPoster posts with api (a slack.Client with the bot token). m may be
// nil (no metrics), log nil (slog.Default()).
func NewPoster(api *slack.Client, log *slog.Logger, m *metrics.Metrics) *Poster {
	if log == nil {
		log = slog.Default()
	}
	if m == nil {
		m = metrics.New()
	}
	return &Poster{api: api, httpClient: &http.Client{Timeout: 30 * time.Second}, backoff: 250 * time.Millisecond, log: withContextAttrs(log.With("pkg", "handlers")), metrics: m}
}

// maxAttempts bounds how often one Web API call is tried: rate limits and
// Slack's own 5xx are transient, but a reply that cannot get through after a
// few tries is better logged than retried forever.
const maxAttempts = 5

// slackError returns Slack's error code ("not_in_channel", …) or "".
func slackError(err error) string {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err
	}
	return ""
}

// withRetry runs call, waiting out HTTP 429 (Retry-After, RFC 6585) and
// backing off on 5xx. Every wait honours ctx.
func (b *Poster) withRetry(ctx context.Context, call func() error) error {
	backoff := b.backoff
	for attempt := 1; ; attempt++ {
		err := call()
		if err == nil {
			return nil
		}
		var wait time.Duration
		var rl *slack.RateLimitedError
		var sc slack.StatusCodeError
		switch {
		case errors.As(err, &rl):
			wait = max(rl.RetryAfter, 100*time.Millisecond)
		case errors.As(err, &sc) && sc.Code >= http.StatusInternalServerError:
			wait = backoff
			backoff *= 2
		default:
			return err
		}
		if attempt >= maxAttempts {
			return fmt.Errorf("giving up after %d attempts: %w", attempt, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (while waiting to retry: %w)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

// postOptions are the options every post carries: escaped text we built
// ourselves, no unfurling of links found in bounces.
func postOptions(m message, threadTS string) []slack.MsgOption {
	opts := []slack.MsgOption{
		slack.MsgOptionText(m.Text, false),
		slack.MsgOptionDisableLinkUnfurl(),
		slack.MsgOptionDisableMediaUnfurl(),
	}
	if len(m.Blocks) > 0 {
		opts = append(opts, slack.MsgOptionBlocks(m.Blocks...))
	}
	if threadTS != "" {
		opts = append(opts, slack.MsgOptionTS(threadTS))
	}
	return opts
}

// post sends m to channel (in threadTS's thread when set) and returns the new
// message's ts. It joins public channels the bot is not in, and falls back
// to plain text when Slack rejects the blocks.
func (b *Poster) post(ctx context.Context, channel, threadTS string, m message, extra ...slack.MsgOption) (string, error) {
	send := func(m message) (string, error) {
		var ts string
		err := b.withRetry(ctx, func() error {
			var err error
			_, ts, err = b.api.PostMessageContext(ctx, channel, append(postOptions(m, threadTS), extra...)...)
			return err
		})
		return ts, err
	}
	ts, err := send(m)
	if slackError(err) == "not_in_channel" {
		if jerr := b.withRetry(ctx, func() error { _, _, _, err := b.api.JoinConversationContext(ctx, channel); return err }); jerr != nil {
			return "", fmt.Errorf("post to %s: not in channel, and join failed: %w", channel, jerr)
		}
		b.log.InfoContext(ctx, "joined channel to reply", "channel", channel)
		ts, err = send(m)
	}
	switch slackError(err) {
	case "invalid_blocks", "invalid_blocks_format":
		b.log.WarnContext(ctx, "slack rejected blocks, sending text", "channel", channel, "err", err)
		b.metrics.BlockFallbacks.Inc()
		return send(message{Text: truncate(textOnly(m), maxTextChars)})
	case "msg_too_long":
		b.metrics.BlockFallbacks.Inc()
		return send(message{Text: truncate(m.Text, maxFallbackChars)})
	}
	if err != nil {
		return "", fmt.Errorf("post to %s: %w", channel, err)
	}
	return ts, nil
}

// maxTextChars is below chat.postMessage's 40,000-character text limit.
const maxTextChars = 39000

// postAll posts messages in order into one thread, stopping at the first error.
func (b *Poster) postAll(ctx context.Context, channel, threadTS string, msgs []message) error {
	for _, m := range msgs {
		if _, err := b.post(ctx, channel, threadTS, m); err != nil {
			return err
		}
	}
	return nil
}

// respond answers through a slash command's response_url: the way to reach a
// user in a conversation the bot cannot post to.
func (b *Poster) respond(ctx context.Context, responseURL string, m message, inChannel bool) error {
	kind := slack.ResponseTypeEphemeral
	if inChannel {
		kind = slack.ResponseTypeInChannel
	}
	blocks := m.Blocks
	if len(blocks) > maxBlocksPerMessage {
		blocks = blocks[:maxBlocksPerMessage]
	}
	msg := &slack.WebhookMessage{Text: m.Text, ResponseType: kind}
	if len(blocks) > 0 {
		msg.Blocks = &slack.Blocks{BlockSet: blocks}
	}
	err := b.withRetry(ctx, func() error {
		return slack.PostWebhookCustomHTTPContext(ctx, responseURL, b.httpClient, msg)
	})
	return redactURL(err)
}

// redactURL hides the URL inside err: a response_url is a capability (anyone
// holding it can post as the bot for a while) and must not reach the logs.
func redactURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("response_url: %s: %w", ue.Op, ue.Err)
	}
	return err
}

// errorCode is Slack's error code for err, or a short generic word.
func errorCode(err error) string {
	if c := slackError(err); c != "" {
		return c
	}
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		return "ratelimited"
	}
	var sc slack.StatusCodeError
	if errors.As(err, &sc) {
		return sc.Status
	}
	return "an error"
}

// ephemeral shows m to one user only.
func (b *Poster) ephemeral(ctx context.Context, channel, user, threadTS string, m message) error {
	return b.withRetry(ctx, func() error {
		_, err := b.api.PostEphemeralContext(ctx, channel, user, postOptions(m, threadTS)...)
		return err
	})
}

// cannotPost reports whether err means the bot may not post in the channel
// at all (private channel, DM between others, archived…).
func cannotPost(err error) bool {
	switch slackError(err) {
	case "channel_not_found", "not_in_channel", "is_archived", "restricted_action",
		"method_not_supported_for_channel_type", "cannot_dm_bot", "team_access_not_granted":
		return true
	}
	return false
}

// respondOrLog answers through a response_url, logging a failure: for
// replies nobody else would see anyway.
func (b *Poster) respondOrLog(ctx context.Context, responseURL string, m message) {
	if err := b.respond(ctx, responseURL, m, false); err != nil {
		b.metrics.SlackErrors.Inc()
		b.log.ErrorContext(ctx, "response_url failed", "err", err)
	}
}
