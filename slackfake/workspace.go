package slackfake

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
)

// ChannelType is the kind of a conversation.
type ChannelType string

// Conversation kinds. Slack's own ids start with C (channels), D (DMs) and G (group DMs).
const (
	Public  ChannelType = "public"
	Private ChannelType = "private"
	IM      ChannelType = "im"
	MPIM    ChannelType = "mpim"
)

// Channel is a conversation of the fake workspace.
type Channel struct {
	ID   string
	Name string // "" for DMs
	Type ChannelType
	// BotMember says whether the bot is in the conversation. The bot can always post in
	// its own DMs (Type IM), whatever this says.
	BotMember bool
	// User is the other side of a DM.
	User string
}

// AddChannel adds or replaces a conversation. An empty ID gets a new one.
func (f *Fake) AddChannel(c Channel) Channel {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c.ID == "" {
		c.ID = f.newIDLocked(cmp.Or(map[ChannelType]string{IM: "D", MPIM: "G"}[c.Type], "C"))
	}
	if c.Type == IM {
		c.BotMember = true
	}
	f.channels[c.ID] = &c
	f.notifyLocked()
	return c
}

// Channel returns a conversation as it is now (BotMember changes on conversations.join).
func (f *Fake) Channel(id string) (Channel, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.channels[id]
	if !ok {
		return Channel{}, false
	}
	return *c, true
}

// postErrorLocked is the error Slack gives the bot posting to or reading channelID, or
// "" if it may.
func (f *Fake) postErrorLocked(channelID string) string {
	c, ok := f.channels[channelID]
	switch {
	case !ok:
		return "channel_not_found"
	case c.BotMember:
		return ""
	case c.Type == Public:
		return "not_in_channel"
	default:
		// Slack does not reveal private conversations the bot is not in.
		return "channel_not_found"
	}
}

// json is the conversation object of conversations.info and conversations.join.
func (c Channel) json() map[string]any {
	out := map[string]any{
		"id":          c.ID,
		"created":     1700000000, // a fixed creation time, before any message
		"is_channel":  c.Type == Public || c.Type == Private,
		"is_group":    c.Type == Private,
		"is_im":       c.Type == IM,
		"is_mpim":     c.Type == MPIM,
		"is_private":  c.Type != Public,
		"is_archived": false,
		"is_member":   c.BotMember,
	}
	if c.Name != "" {
		out["name"] = c.Name
		out["name_normalized"] = c.Name
	}
	if c.User != "" {
		out["user"] = c.User
	}
	return out
}

// Message is a message in the fake workspace: one the bot posted, or one a test added.
type Message struct {
	Channel  string
	TS       string
	ThreadTS string // the parent's ts for a reply; "" otherwise
	User     string // the author; the bot user for the bot's posts
	BotID    string // set on the bot's posts
	Text     string
	// Blocks, Attachments and Metadata are the raw JSON sent, nil when absent.
	Blocks      json.RawMessage
	Attachments json.RawMessage
	Metadata    json.RawMessage
	// UnfurlLinks and UnfurlMedia are nil unless the poster set them.
	UnfurlLinks *bool
	UnfurlMedia *bool
	Parse       string // "full", "none" or ""
	LinkNames   string // as sent: "1", "true", "false" or ""
	// ReplyBroadcast is reply_broadcast on a thread reply.
	ReplyBroadcast bool
	// Ephemeral messages (chat.postEphemeral) are seen only by Recipient.
	Ephemeral bool
	Recipient string
	// Edited is set once chat.update changed the message.
	Edited bool
	// Subtype ("file_share", "bot_message", …) and Files, for messages tests add.
	Subtype string
	Files   []File
}

// AddMessage stores a message as if a user had posted it (for threads a test starts), and
// returns it with its ts. It sends no event: use SendEvent for that.
func (f *Fake) AddMessage(m Message) Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	if m.TS == "" {
		m.TS = f.newTSLocked()
	}
	f.messages = append(f.messages, &m)
	f.notifyLocked()
	return m
}

// SendUserMessage stores m as AddMessage does and sends the message event Slack
// delivers for it (channel_type from the channel's type), returning the stored message
// and the envelope_id. For a Slackbot email post, set User "USLACKBOT", a BotID and Files.
func (f *Fake) SendUserMessage(m Message) (Message, string, error) {
	m = f.AddMessage(m)
	ev := m.json(f, false, 0)
	ev["channel"] = m.Channel
	ev["event_ts"] = m.TS
	if c, ok := f.Channel(m.Channel); ok {
		ev["channel_type"] = map[ChannelType]string{Public: "channel", Private: "group", IM: "im", MPIM: "mpim"}[c.Type]
	}
	envelopeID, _, err := f.SendEvent(Event{Inner: ev})
	return m, envelopeID, err
}

// newTSLocked returns a new message ts: as Slack's, the time of the post in Unix
// seconds and microseconds ("1764590000.123456"), made unique and increasing by
// taking the next microsecond when the clock has not moved. Clients may then ask
// conversations.history for what came after a moment they know.
func (f *Fake) newTSLocked() string {
	us := max(time.Now().UnixMicro(), f.lastTS+1)
	f.lastTS = us
	return fmt.Sprintf("%d.%06d", us/1e6, us%1e6)
}

// Messages returns the messages of a channel, thread replies included and ephemeral
// ones excluded, in ts order.
func (f *Fake) Messages(channel string) []Message {
	return f.selectMessages(func(m *Message) bool { return m.Channel == channel && !m.Ephemeral })
}

// Thread returns a thread's parent (if stored) and its replies, in ts order.
func (f *Fake) Thread(channel, threadTS string) []Message {
	return f.selectMessages(inThread(channel, threadTS))
}

// inThread selects the visible messages of a thread: its parent and its replies.
func inThread(channel, threadTS string) func(*Message) bool {
	return func(m *Message) bool {
		return m.Channel == channel && !m.Ephemeral && (m.TS == threadTS || m.ThreadTS == threadTS)
	}
}

// Ephemerals returns the ephemeral messages posted in a channel, in order.
func (f *Fake) Ephemerals(channel string) []Message {
	return f.selectMessages(func(m *Message) bool { return m.Channel == channel && m.Ephemeral })
}

// selectMessages returns copies of the messages keep selects, in ts order.
func (f *Fake) selectMessages(keep func(*Message) bool) []Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Message
	for _, m := range f.selectLocked(keep) {
		out = append(out, *m)
	}
	return out
}

// selectLocked returns the stored messages keep selects, in ts order.
func (f *Fake) selectLocked(keep func(*Message) bool) []*Message {
	var out []*Message
	for _, m := range f.messages {
		if keep(m) {
			out = append(out, m)
		}
	}
	slices.SortStableFunc(out, func(a, b *Message) int { return compareTS(a.TS, b.TS) })
	return out
}

// compareTS orders message timestamps ("1700000000.000100") numerically; as strings they
// only sort right when their integer parts have the same length.
func compareTS(a, b string) int {
	ai, af, _ := strings.Cut(a, ".")
	bi, bf, _ := strings.Cut(b, ".")
	if c := cmp.Compare(len(ai), len(bi)); c != 0 {
		return c
	}
	if c := strings.Compare(ai, bi); c != 0 {
		return c
	}
	return strings.Compare(af, bf)
}

// WaitForMessage waits until some message, ephemeral or not, satisfies match (checked
// again after every post and update), and returns it.
func (f *Fake) WaitForMessage(ctx context.Context, match func(Message) bool) (Message, error) {
	var found Message
	err := f.Wait(ctx, func() bool {
		for _, m := range f.selectMessages(func(*Message) bool { return true }) {
			if match(m) {
				found = m
				return true
			}
		}
		return false
	})
	if err != nil {
		return Message{}, fmt.Errorf("slackfake: waiting for a message: %w", err)
	}
	return found, nil
}

// json is the message object Slack returns in chat.* and conversations.* responses.
func (m *Message) json(f *Fake, withMetadata bool, replyCount int) map[string]any {
	out := map[string]any{
		"type": "message",
		"ts":   m.TS,
		"text": m.Text,
		"team": f.cfg.identity.TeamID,
	}
	if m.User != "" {
		out["user"] = m.User
	}
	if m.BotID != "" {
		out["bot_id"] = m.BotID
	}
	if m.BotID == f.cfg.identity.BotID {
		out["app_id"] = f.cfg.identity.AppID
		out["bot_profile"] = map[string]any{
			"id": m.BotID, "app_id": f.cfg.identity.AppID, "name": f.cfg.identity.BotName,
			"team_id": f.cfg.identity.TeamID, "deleted": false,
		}
	}
	if m.Subtype != "" {
		out["subtype"] = m.Subtype
	}
	if len(m.Files) > 0 {
		out["files"] = m.Files
		out["upload"] = true
	}
	if m.ThreadTS != "" {
		out["thread_ts"] = m.ThreadTS
	}
	if replyCount > 0 {
		out["thread_ts"] = m.TS
		out["reply_count"] = replyCount
	}
	if m.Blocks != nil {
		out["blocks"] = m.Blocks
	}
	if m.Attachments != nil {
		out["attachments"] = m.Attachments
	}
	if withMetadata && m.Metadata != nil {
		out["metadata"] = m.Metadata
	}
	if m.Edited {
		out["edited"] = map[string]any{"user": m.User, "ts": m.TS}
	}
	return out
}

// EmailAddress is one address of an email file.
type EmailAddress struct {
	Address  string `json:"address"`
	Name     string `json:"name"`
	Original string `json:"original"`
}

// File is a file in the fake workspace. Emails sent to a channel's address are files
// with Mode and Filetype "email" and their text in PlainText; Slack documents none of
// those fields, so their shapes follow real payloads (see slack-go #1521).
type File struct {
	ID       string // "" gets a new F… id
	Name     string
	Title    string
	Mimetype string
	Filetype string
	Mode     string // "hosted", "snippet", "email", …
	User     string
	Channels []string
	// Content is what url_private and url_private_download serve.
	Content []byte

	Subject          string
	From, To, Cc     []EmailAddress
	PlainText        string
	PreviewPlainText string
	HasMore          bool
	Headers          map[string]string // date, in_reply_to, reply_to, message_id

	// URLPrivate and URLPrivateDownload are set by AddFile.
	URLPrivate         string
	URLPrivateDownload string
}

// AddFile stores a file, served by files.info and at its url_private(_download), and
// returns it with its ID and URLs. Its JSON (MarshalJSON) is Slack's file object, to put
// in a message event's "files".
func (f *Fake) AddFile(file File) File {
	f.mu.Lock()
	defer f.mu.Unlock()
	if file.ID == "" {
		file.ID = f.newIDLocked("F")
	}
	if file.Name == "" {
		file.Name = file.ID
	}
	base := fmt.Sprintf("%s/files-pri/%s-%s/", f.srv.URL, f.cfg.identity.TeamID, file.ID)
	file.URLPrivate = base + file.Name
	file.URLPrivateDownload = base + "download/" + file.Name
	stored := file
	f.files[file.ID] = &stored
	f.notifyLocked()
	return file
}

// MarshalJSON encodes the file as Slack's file object.
func (file File) MarshalJSON() ([]byte, error) {
	out := map[string]any{
		"id":                   file.ID,
		"name":                 file.Name,
		"title":                file.Title,
		"mimetype":             file.Mimetype,
		"filetype":             file.Filetype,
		"mode":                 file.Mode,
		"user":                 file.User,
		"size":                 len(file.Content),
		"channels":             file.Channels,
		"url_private":          file.URLPrivate,
		"url_private_download": file.URLPrivateDownload,
		"is_external":          false,
		"is_public":            true,
	}
	if file.Mode == "email" {
		out["subject"] = file.Subject
		out["from"] = file.From
		out["to"] = file.To
		out["cc"] = file.Cc
		out["plain_text"] = file.PlainText
		out["preview_plain_text"] = file.PreviewPlainText
		out["has_more"] = file.HasMore
		out["headers"] = file.Headers
		out["pretty_type"] = "Email"
		out["username"] = "Email"
	}
	data, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("slackfake: marshalling file %s: %w", file.ID, err)
	}
	return data, nil
}

// serveFile serves url_private(_download). Without the bot token Slack redirects to the
// sign-in page with redir set to the file's path, which slack-go's GetFile reports.
func (f *Fake) serveFile(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+botToken {
		http.Redirect(w, r, "/signin?redir="+r.URL.Path, http.StatusFound)
		return
	}
	id := r.PathValue("key")
	id = id[strings.LastIndexByte(id, '-')+1:]
	f.mu.Lock()
	file, ok := f.files[id]
	f.mu.Unlock()
	if !ok || file.Name != r.PathValue("name") {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", file.Mimetype)
	_, _ = w.Write(file.Content)
}

// ResponsePost is one POST to a response_url.
type ResponsePost struct {
	Body json.RawMessage `json:"-"`
	// Fields of Body, decoded for convenience.
	Text            string          `json:"text"`
	ResponseType    string          `json:"response_type"`
	ThreadTS        string          `json:"thread_ts"`
	ReplaceOriginal bool            `json:"replace_original"`
	DeleteOriginal  bool            `json:"delete_original"`
	Blocks          json.RawMessage `json:"blocks"`
	At              time.Time       `json:"-"`
}

// ResponseURL returns the response_url for id and makes it accept posts. Slash commands
// sent with SendSlashCommand get ResponseURL(envelopeID) unless they name their own.
func (f *Fake) ResponseURL(id string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.responses[id]; !ok {
		f.responses[id] = nil
	}
	return f.srv.URL + "/commands/" + id
}

// Responses returns what was posted to ResponseURL(id), in order.
func (f *Fake) Responses(id string) []ResponsePost {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]ResponsePost(nil), f.responses[id]...)
}

func (f *Fake) serveResponseURL(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "reading body", http.StatusBadRequest)
		return
	}
	var post ResponsePost
	if err := json.Unmarshal(body, &post); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"ok": false, "error": "invalid_payload"})
		return
	}
	post.Body, post.At = body, time.Now()
	f.mu.Lock()
	_, known := f.responses[id]
	if known {
		f.responses[id] = append(f.responses[id], post)
		f.notifyLocked()
	}
	f.mu.Unlock()
	if !known {
		http.NotFound(w, r)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

// Views returns the views published for a user with views.publish, oldest first.
func (f *Fake) Views(userID string) []json.RawMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]json.RawMessage(nil), f.views[userID]...)
}
