package slackfake

import (
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Slack's limits (https://docs.slack.dev/reference/block-kit/blocks,
// https://docs.slack.dev/reference/methods/chat.postMessage, …/chat.update).
const (
	maxBlocks        = 50
	maxHomeBlocks    = 100
	maxTextObject    = 3000
	maxSectionFields = 10
	maxPostText      = 40000 // "will truncate messages containing more than 40,000 characters"
	maxUpdateText    = 4000  // chat.update: "text field cannot exceed 4,000 characters"
)

// apiMethods are the Web API methods the fake serves.
var apiMethods = map[string]apiMethod{
	"apps.connections.open": openConnection,
	"auth.test":             authTest,
	"chat.postMessage":      postMessage,
	"chat.postEphemeral":    postEphemeral,
	"chat.update":           updateMessage,
	"conversations.join":    joinConversation,
	"conversations.history": conversationHistory,
	"conversations.info":    conversationInfo,
	"conversations.replies": conversationReplies,
	"files.info":            fileInfo,
	"views.publish":         publishView,
}

// https://docs.slack.dev/reference/methods/auth.test
func authTest(f *Fake, _ url.Values, _ []byte) (map[string]any, string) {
	id := f.cfg.identity
	return map[string]any{
		"url":                   "https://" + id.TeamName + ".slack.com/",
		"team":                  id.TeamName,
		"user":                  id.BotName,
		"team_id":               id.TeamID,
		"user_id":               id.BotUserID,
		"bot_id":                id.BotID,
		"is_enterprise_install": false,
	}, ""
}

// messageFromParams reads the message fields chat.postMessage, chat.postEphemeral and
// chat.update share, and checks them as Slack does.
func messageFromParams(p url.Values, maxText int) (Message, string) {
	m := Message{
		Channel:        p.Get("channel"),
		ThreadTS:       p.Get("thread_ts"),
		Text:           p.Get("text"),
		Parse:          p.Get("parse"),
		LinkNames:      p.Get("link_names"),
		ReplyBroadcast: p.Get("reply_broadcast") == "true",
		UnfurlLinks:    optionalBool(p, "unfurl_links"),
		UnfurlMedia:    optionalBool(p, "unfurl_media"),
	}
	if m.Channel == "" {
		return m, "channel_not_found"
	}
	if utf8.RuneCountInString(m.Text) > maxText {
		return m, "msg_too_long"
	}
	if p.Has("blocks") {
		m.Blocks = json.RawMessage(p.Get("blocks"))
		if !validBlocks(m.Blocks, maxBlocks) {
			return m, "invalid_blocks"
		}
	}
	if p.Has("attachments") {
		m.Attachments = json.RawMessage(p.Get("attachments"))
		if !json.Valid(m.Attachments) {
			return m, "invalid_attachments"
		}
	}
	if p.Has("metadata") {
		m.Metadata = json.RawMessage(p.Get("metadata"))
		if !json.Valid(m.Metadata) {
			return m, "invalid_metadata_format"
		}
	}
	return m, ""
}

func optionalBool(p url.Values, key string) *bool {
	if !p.Has(key) {
		return nil
	}
	v, _ := strconv.ParseBool(p.Get(key))
	return &v
}

// https://docs.slack.dev/reference/methods/chat.postMessage
func postMessage(f *Fake, p url.Values, _ []byte) (map[string]any, string) {
	m, code := messageFromParams(p, maxPostText)
	if code != "" {
		return nil, code
	}
	if code := f.storeBotPost(&m); code != "" {
		return nil, code
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return map[string]any{"channel": m.Channel, "ts": m.TS, "message": m.json(f, true, 0)}, ""
}

// storeBotPost records a message the bot posts, as Slack would: it refuses
// an empty one and one to a conversation the bot may not post in, and gives
// it the bot's identity and a new ts. It returns Slack's error code or "".
func (f *Fake) storeBotPost(m *Message) string {
	if m.Text == "" && m.Blocks == nil && m.Attachments == nil {
		return "no_text"
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if code := f.postErrorLocked(m.Channel); code != "" {
		return code
	}
	m.User, m.BotID = f.cfg.identity.BotUserID, f.cfg.identity.BotID
	m.TS = f.newTSLocked()
	f.messages = append(f.messages, m)
	f.notifyLocked()
	return ""
}

// https://docs.slack.dev/reference/methods/chat.postEphemeral
func postEphemeral(f *Fake, p url.Values, _ []byte) (map[string]any, string) {
	m, code := messageFromParams(p, maxPostText)
	if code != "" {
		return nil, code
	}
	m.Ephemeral, m.Recipient = true, p.Get("user")
	if m.Recipient == "" {
		return nil, "user_not_in_channel"
	}
	if code := f.storeBotPost(&m); code != "" {
		return nil, code
	}
	return map[string]any{"message_ts": m.TS}, ""
}

// https://docs.slack.dev/reference/methods/chat.update
func updateMessage(f *Fake, p url.Values, _ []byte) (map[string]any, string) {
	upd, code := messageFromParams(p, maxUpdateText)
	if code != "" {
		return nil, code
	}
	ts := p.Get("ts")
	f.mu.Lock()
	defer f.mu.Unlock()
	if code := f.postErrorLocked(upd.Channel); code != "" {
		return nil, code
	}
	i := slices.IndexFunc(f.messages, func(m *Message) bool {
		return m.Channel == upd.Channel && m.TS == ts && !m.Ephemeral
	})
	if i < 0 {
		return nil, "message_not_found"
	}
	m := f.messages[i]
	if m.BotID != f.cfg.identity.BotID {
		return nil, "cant_update_message"
	}
	if p.Has("text") {
		m.Text = upd.Text
		if !p.Has("blocks") {
			m.Blocks = nil // Slack keeps blocks only when text is omitted
		}
	}
	if p.Has("blocks") {
		m.Blocks = upd.Blocks
	}
	if p.Has("attachments") {
		m.Attachments = upd.Attachments
	}
	if p.Has("metadata") {
		m.Metadata = upd.Metadata
	}
	m.Edited = true
	f.notifyLocked()
	return map[string]any{"channel": m.Channel, "ts": m.TS, "text": m.Text, "message": m.json(f, true, 0)}, ""
}

// https://docs.slack.dev/reference/methods/conversations.join
func joinConversation(f *Fake, p url.Values, _ []byte) (map[string]any, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.channels[p.Get("channel")]
	switch {
	case !ok:
		return nil, "channel_not_found"
	case c.Type != Public:
		// Only public channels can be self-joined; someone must invite the bot elsewhere.
		return nil, "method_not_supported_for_channel_type"
	}
	out := map[string]any{}
	if c.BotMember {
		out["warning"] = "already_in_channel"
		out["response_metadata"] = map[string]any{"warnings": []string{"already_in_channel"}}
	}
	c.BotMember = true
	f.notifyLocked()
	out["channel"] = c.json()
	return out, ""
}

// https://docs.slack.dev/reference/methods/conversations.info
func conversationInfo(f *Fake, p url.Values, _ []byte) (map[string]any, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.channels[p.Get("channel")]
	if !ok || (c.Type != Public && !c.BotMember) {
		return nil, "channel_not_found"
	}
	return map[string]any{"channel": c.json()}, ""
}

// https://docs.slack.dev/reference/methods/conversations.replies: the parent, then
// the replies (after oldest when given), paged by cursor.
func conversationReplies(f *Fake, p url.Values, _ []byte) (map[string]any, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	channel, ts := p.Get("channel"), p.Get("ts")
	if code := f.postErrorLocked(channel); code != "" {
		return nil, code
	}
	thread := f.selectLocked(inThread(channel, ts))
	if len(thread) == 0 {
		return nil, "thread_not_found"
	}
	replies := len(thread)
	if thread[0].TS == ts {
		replies-- // the parent is not its own reply
	}
	if oldest := p.Get("oldest"); oldest != "" {
		// Replies after oldest (exclusive unless inclusive is set); the parent stays.
		inclusive, _ := strconv.ParseBool(p.Get("inclusive"))
		thread = slices.DeleteFunc(thread, func(m *Message) bool {
			c := compareTS(m.TS, oldest)
			return m.TS != ts && (c < 0 || (c == 0 && !inclusive))
		})
	}
	withMetadata, _ := strconv.ParseBool(p.Get("include_all_metadata")) // false unless a valid true
	return messagePage(p, thread, 1000, 1000, func(m *Message) map[string]any {
		count := 0
		if m.TS == ts {
			count = replies
		}
		return m.json(f, withMetadata, count)
	}), ""
}

// messagePage is the page of msgs that p's cursor and limit (default
// defaultLimit, at most maxLimit) ask for, as conversations.* answer it.
func messagePage(p url.Values, msgs []*Message, defaultLimit, maxLimit int, object func(*Message) map[string]any) map[string]any {
	start, _ := strconv.Atoi(p.Get("cursor"))
	limit, _ := strconv.Atoi(p.Get("limit"))
	if limit <= 0 || limit > maxLimit {
		limit = defaultLimit
	}
	start = min(max(start, 0), len(msgs))
	end := min(start+limit, len(msgs))
	page := make([]map[string]any, 0, end-start)
	for _, m := range msgs[start:end] {
		page = append(page, object(m))
	}
	out := map[string]any{"messages": page, "has_more": end < len(msgs)}
	if end < len(msgs) {
		// The cursor is opaque to clients; an offset is enough for a fake.
		out["response_metadata"] = map[string]any{"next_cursor": strconv.Itoa(end)}
	}
	return out
}

// https://docs.slack.dev/reference/methods/conversations.history: the channel's
// top-level messages (thread replies only when broadcast), newest first, between
// oldest and latest (both exclusive unless inclusive is set), paged by cursor.
func conversationHistory(f *Fake, p url.Values, _ []byte) (map[string]any, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	channel := p.Get("channel")
	if code := f.postErrorLocked(channel); code != "" {
		return nil, code
	}
	oldest, latest := p.Get("oldest"), p.Get("latest")
	inclusive, _ := strconv.ParseBool(p.Get("inclusive"))
	after := func(ts, bound string) bool {
		c := compareTS(ts, bound)
		return c > 0 || (inclusive && c == 0)
	}
	msgs := f.selectLocked(func(m *Message) bool {
		return m.Channel == channel && !m.Ephemeral && (m.ThreadTS == "" || m.ThreadTS == m.TS || m.ReplyBroadcast) &&
			(oldest == "" || after(m.TS, oldest)) && (latest == "" || after(latest, m.TS))
	})
	slices.Reverse(msgs)
	withMetadata, _ := strconv.ParseBool(p.Get("include_all_metadata"))
	return messagePage(p, msgs, 100, 999, func(m *Message) map[string]any { return m.json(f, withMetadata, 0) }), ""
}

// https://docs.slack.dev/reference/methods/files.info
func fileInfo(f *Fake, p url.Values, _ []byte) (map[string]any, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	file, ok := f.files[p.Get("file")]
	if !ok {
		return nil, "file_not_found"
	}
	return map[string]any{
		"file":     *file,
		"comments": []any{},
		"paging":   map[string]any{"count": 100, "total": 0, "page": 1, "pages": 0},
	}, ""
}

// https://docs.slack.dev/reference/methods/views.publish
func publishView(f *Fake, _ url.Values, body []byte) (map[string]any, string) {
	var req struct {
		UserID string          `json:"user_id"`
		View   json.RawMessage `json:"view"`
		Hash   *string         `json:"hash"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.UserID == "" || req.View == nil {
		return nil, "invalid_arguments"
	}
	var view struct {
		Type   string          `json:"type"`
		Blocks json.RawMessage `json:"blocks"`
	}
	if err := json.Unmarshal(req.View, &view); err != nil || view.Type != "home" {
		return nil, "invalid_arguments"
	}
	if !validBlocks(view.Blocks, maxHomeBlocks) {
		return nil, "invalid_blocks"
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	published := f.views[req.UserID]
	if req.Hash != nil && len(published) > 0 && *req.Hash != viewHash(len(published)) {
		return nil, "hash_conflict"
	}
	f.views[req.UserID] = append(published, req.View)
	f.notifyLocked()
	n := len(f.views[req.UserID])
	return map[string]any{"view": map[string]any{
		"id":      "V0FAKE" + strconv.Itoa(n),
		"team_id": f.cfg.identity.TeamID,
		"type":    view.Type,
		"blocks":  view.Blocks,
		"hash":    viewHash(n),
		"app_id":  f.cfg.identity.AppID,
		"bot_id":  f.cfg.identity.BotID,
	}}, ""
}

// viewHash is the hash Slack would give the n-th published version of a user's view.
func viewHash(n int) string { return "fakehash." + strconv.Itoa(n) }

// validBlocks checks a blocks array as Slack does: valid JSON, at most max blocks, each
// with a type, no text object over 3,000 characters and no section with over 10 fields.
func validBlocks(raw json.RawMessage, max int) bool {
	var blocks []map[string]any
	if err := json.Unmarshal(raw, &blocks); err != nil || len(blocks) > max {
		return false
	}
	for _, b := range blocks {
		if t, _ := b["type"].(string); t == "" {
			return false
		}
		if fields, ok := b["fields"].([]any); ok && len(fields) > maxSectionFields {
			return false
		}
		if !textObjectsFit(b) {
			return false
		}
	}
	return true
}

// textObjectsFit reports whether every text object ({"type":"plain_text"|"mrkdwn",
// "text":…}) inside v has at most maxTextObject characters.
func textObjectsFit(v any) bool {
	switch v := v.(type) {
	case map[string]any:
		if t, _ := v["type"].(string); t == "plain_text" || t == "mrkdwn" {
			if s, ok := v["text"].(string); ok && utf8.RuneCountInString(s) > maxTextObject {
				return false
			}
		}
		for _, child := range v {
			if !textObjectsFit(child) {
				return false
			}
		}
	case []any:
		for _, child := range v {
			if !textObjectsFit(child) {
				return false
			}
		}
	}
	return true
}
