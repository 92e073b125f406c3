package handlers

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/slack-go/slack"

	"github.com/rdnsbot/rdnsbot/internal/clip"
	"github.com/rdnsbot/rdnsbot/metrics"
)

// Poster is the last stage: it sends messages to Slack (chat.postMessage,
// chat.postEphemeral, a command's response_url), retrying rate limits and
// Slack's 5xx, joining public channels, and falling back to text when Slack
// refuses the blocks. A chat.postMessage is posted once: it carries an
// idempotency key, and a send whose answer was a 5xx or lost is looked for
// by that key before it is repeated. The bot replies through it and the Announcer
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
	return b.retry(ctx, false, call)
}

// retry is withRetry that, with lost set, also repeats calls whose answer was
// lost (a timeout, a dropped connection): only for calls that look for their
// own earlier attempt before they repeat it.
func (b *Poster) retry(ctx context.Context, lost bool, call func() error) error {
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
		case ctx.Err() != nil:
			return err
		case errors.As(err, &rl):
			wait = max(rl.RetryAfter, 100*time.Millisecond)
		case errors.As(err, &sc) && sc.Code >= http.StatusInternalServerError, lost && answerLost(err):
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

// answerLost reports whether err means the request may have reached Slack
// but its answer did not come back: the client's timeout, a connection
// closed or reset before or while the answer was read.
func answerLost(err error) bool {
	var ue *url.Error
	var ne net.Error
	return errors.As(err, &ue) || errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// mayBeStored reports whether a failed chat.postMessage may still have
// posted its message: Slack's 5xx (it can store the message and then fail)
// and lost answers. A 429 or an ok:false error was refused before anything
// was stored.
func mayBeStored(err error) bool {
	var sc slack.StatusCodeError
	return (errors.As(err, &sc) && sc.Code >= http.StatusInternalServerError) || answerLost(err)
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
// message's ts, exactly once: it carries the next key of ctx's request
// (withPostKeys) in its metadata. It joins public channels the bot is not
// in, and falls back to plain text when Slack rejects the blocks.
func (b *Poster) post(ctx context.Context, channel, threadTS string, m message) (string, error) {
	return b.postKeyed(ctx, channel, threadTS, m, nextPostKey(ctx))
}

// postKeyed is post with its key given. Before it repeats a send that may
// have been stored (Slack's 5xx, a lost answer) or when k says an earlier
// attempt may have been, it looks for the message by its key and takes a
// found one as posted.
func (b *Poster) postKeyed(ctx context.Context, channel, threadTS string, m message, k postKey) (string, error) {
	meta := slack.MsgOptionMetadata(slack.SlackMetadata{EventType: k.event, EventPayload: k.payload()})
	unsure, since := k.maybeStored, k.since
	send := func(m message) (string, error) {
		var ts string
		err := b.retry(ctx, true, func() error {
			if unsure {
				found, err := b.findPost(ctx, channel, threadTS, k, since)
				if err != nil || found != "" {
					ts = found
					if found != "" {
						b.log.InfoContext(ctx, "an earlier attempt was posted", "key", k.key, "ts", found)
					}
					return err
				}
			}
			sent := time.Now()
			var err error
			_, ts, err = b.api.PostMessageContext(ctx, channel, append(postOptions(m, threadTS), meta)...)
			if err != nil && !unsure && mayBeStored(err) {
				unsure, since = true, sent.Add(-clockSkew)
			}
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
		return send(message{Text: clip.To(textOnly(m), maxTextChars)})
	case "msg_too_long":
		b.metrics.BlockFallbacks.Inc()
		return send(message{Text: clip.To(m.Text, maxFallbackChars)})
	}
	if err != nil {
		return "", fmt.Errorf("post to %s: %w", channel, err)
	}
	return ts, nil
}

// postEvent is the message-metadata event type of the bot's replies
// (announcements have their own, announcementEvent): its payload's "key"
// finds a post whose answer was lost
// (https://docs.slack.dev/messaging/message-metadata).
const postEvent = "rdnsbot_post"

// postKey names one post so that a repeat finds it.
type postKey struct {
	event string         // metadata event_type
	key   string         // payload "key": unique per post
	extra map[string]any // further payload fields
	// maybeStored says an earlier attempt (another replica's, an earlier
	// scheduler run's) may have posted it: look before the first send,
	// in the thread's replies since since (zero: all of them).
	maybeStored bool
	since       time.Time
}

func (k postKey) payload() map[string]any {
	p := make(map[string]any, len(k.extra)+1)
	maps.Copy(p, k.extra)
	p["key"] = k.key
	return p
}

// postKeys hands out the keys of one request's posts in the order they are
// made: the request (an event, a slash command's envelope) answered twice,
// by another replica after a redelivery, names its posts the same way.
type postKeys struct {
	base        string
	redelivered bool
	at          time.Time // when the request arrived
	n           atomic.Int64
}

type postKeysKey struct{}

// withPostKeys makes the posts made with ctx take their keys from request
// id (an event_id or envelope_id); redelivered says Slack sent it before,
// so another replica may have answered already.
func withPostKeys(ctx context.Context, id string, redelivered bool) context.Context {
	return context.WithValue(ctx, postKeysKey{}, &postKeys{base: id, redelivered: redelivered, at: time.Now()})
}

// nextPostKey is the key of ctx's next post; without a request (withPostKeys)
// a random one, which still finds the post when its own answer was lost.
func nextPostKey(ctx context.Context) postKey {
	pk, _ := ctx.Value(postKeysKey{}).(*postKeys)
	if pk == nil || pk.base == "" {
		return postKey{event: postEvent, key: rand.Text()}
	}
	k := postKey{event: postEvent, key: pk.base + "/" + strconv.FormatInt(pk.n.Add(1), 10)}
	if pk.redelivered {
		// Slack redelivers within minutes (dedupeTTL covers its retries).
		k.maybeStored, k.since = true, pk.at.Add(-dedupeTTL)
	}
	return k
}

// clockSkew is how far Slack's clock (message ts values) may be behind ours.
const clockSkew = time.Minute

// maxLookupPages bounds the pages (of lookupPageSize messages) of a
// channel's history read to find an earlier top-level attempt: its message
// is among the latest, and a busy channel must not turn one post into an
// unbounded scan. A thread is read whole: replies come oldest first, and a
// monitor's thread lives for good, so a bound would miss the newest.
const (
	maxLookupPages = 5
	lookupPageSize = 200
)

// findPost looks for the message of k in threadTS's replies
// (conversations.replies) or, for a top-level post, in the channel's
// history (conversations.history), both since since (zero: a thread's
// whole history, a channel's last dedupeTTL), and returns its ts or "".
func (b *Poster) findPost(ctx context.Context, channel, threadTS string, k postKey, since time.Time) (string, error) {
	oldest := ""
	if since.IsZero() && threadTS == "" {
		since = time.Now().Add(-dedupeTTL)
	}
	if !since.IsZero() {
		oldest = strconv.FormatInt(since.Unix(), 10) + ".000000"
	}
	match := func(msgs []slack.Message) string {
		for _, m := range msgs {
			if m.Metadata.EventType == k.event && m.Metadata.EventPayload["key"] == k.key {
				return m.Timestamp
			}
		}
		return ""
	}
	cursor := ""
	for page := 0; threadTS != "" || page < maxLookupPages; page++ {
		// Not retried here: postKeyed's retry repeats the whole look-up.
		var msgs []slack.Message
		var next string
		var err error
		if threadTS != "" {
			msgs, _, next, err = b.api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{
				ChannelID: channel, Timestamp: threadTS, Oldest: oldest, Cursor: cursor, Limit: lookupPageSize, IncludeAllMetadata: true})
		} else {
			var resp *slack.GetConversationHistoryResponse
			resp, err = b.api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{
				ChannelID: channel, Oldest: oldest, Cursor: cursor, Limit: lookupPageSize, IncludeAllMetadata: true})
			if err == nil {
				msgs, next = resp.Messages, resp.ResponseMetaData.NextCursor
			}
		}
		if slackError(err) == "thread_not_found" {
			return "", nil // no thread, so not our reply in it either
		}
		if err != nil {
			return "", fmt.Errorf("looking for post %s: %w", k.key, err)
		}
		if ts := match(msgs); ts != "" {
			return ts, nil
		}
		if next == "" {
			return "", nil
		}
		cursor = next
	}
	b.log.WarnContext(ctx, "earlier attempt not found within the pages read", "key", k.key, "pages", maxLookupPages)
	return "", nil
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
