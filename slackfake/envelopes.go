package slackfake

import (
	"fmt"
	"time"
)

// Event is an Events API event to send over the socket.
type Event struct {
	// Inner is the event itself, the event_callback's "event": a map, a struct or
	// json.RawMessage, e.g. {"type":"message","channel":"C…","user":"U…","text":…,"ts":…}.
	Inner any
	// ID is the event_id; "" picks a new unique one. Reuse an ID to send the same event
	// again as a new envelope.
	ID string
}

// SendEvent sends an events_api envelope whose payload is ev wrapped in an
// event_callback, and returns the envelope_id and event_id.
// https://docs.slack.dev/apis/events-api/#callback-field
func (f *Fake) SendEvent(ev Event) (envelopeID, eventID string, err error) {
	id := f.cfg.identity
	eventID = ev.ID
	if eventID == "" {
		f.mu.Lock()
		eventID = f.newIDLocked("Ev")
		f.mu.Unlock()
	}
	envelopeID, err = f.SendEnvelope("events_api", map[string]any{
		"token":                 "fake-verification-token",
		"team_id":               id.TeamID,
		"api_app_id":            id.AppID,
		"event":                 ev.Inner,
		"type":                  "event_callback",
		"event_id":              eventID,
		"event_time":            time.Now().Unix(),
		"event_context":         "4-fake-" + eventID,
		"is_ext_shared_channel": false,
		"authorizations": []map[string]any{{
			"enterprise_id":         nil,
			"team_id":               id.TeamID,
			"user_id":               id.BotUserID,
			"is_bot":                true,
			"is_enterprise_install": false,
		}},
	})
	return envelopeID, eventID, err
}

// SlashCommand is a slash command invocation to send over the socket.
type SlashCommand struct {
	Command     string // "/rdns"
	Text        string
	UserID      string
	UserName    string
	ChannelID   string
	ChannelName string
	// TriggerID and ResponseURL default to a fresh trigger id and
	// ResponseURL(envelopeID).
	TriggerID   string
	ResponseURL string
}

// SendSlashCommand sends a slash_commands envelope and returns its envelope_id; unless
// cmd names one, the command's response_url is ResponseURL(envelopeID), so its posts
// are Responses(envelopeID).
// https://docs.slack.dev/interactivity/implementing-slash-commands
func (f *Fake) SendSlashCommand(cmd SlashCommand) (string, error) {
	id := f.cfg.identity
	envelopeID := f.newInteraction(&cmd.TriggerID, &cmd.ResponseURL)
	payload := map[string]any{
		"token":                 "fake-verification-token",
		"team_id":               id.TeamID,
		"team_domain":           id.TeamName,
		"channel_id":            cmd.ChannelID,
		"channel_name":          cmd.ChannelName,
		"user_id":               cmd.UserID,
		"user_name":             cmd.UserName,
		"command":               cmd.Command,
		"text":                  cmd.Text,
		"api_app_id":            id.AppID,
		"is_enterprise_install": false,
		"response_url":          cmd.ResponseURL,
		"trigger_id":            cmd.TriggerID,
	}
	return f.sendEnvelopeWithID(envelopeID, "slash_commands", payload)
}

// BlockAction is a click on a Block Kit button to send over the socket.
type BlockAction struct {
	UserID    string
	ChannelID string
	// MessageTS is the message holding the button; if the fake has it, the payload
	// carries it as "message".
	MessageTS string
	ThreadTS  string // the thread the message is in, if any
	ActionID  string
	BlockID   string
	Value     string
	Text      string // the button's label
	// TriggerID and ResponseURL default as for SlashCommand.
	TriggerID   string
	ResponseURL string
}

// SendBlockAction sends an interactive envelope with a block_actions payload and returns
// its envelope_id; the response_url defaults to ResponseURL(envelopeID).
// https://docs.slack.dev/reference/interaction-payloads/block_actions-payload
func (f *Fake) SendBlockAction(a BlockAction) (string, error) {
	id := f.cfg.identity
	envelopeID := f.newInteraction(&a.TriggerID, &a.ResponseURL)
	actionTS := fmt.Sprintf("%d.%06d", time.Now().Unix(), time.Now().Nanosecond()/1000)
	container := map[string]any{
		"type":         "message",
		"message_ts":   a.MessageTS,
		"channel_id":   a.ChannelID,
		"is_ephemeral": false,
	}
	if a.ThreadTS != "" {
		container["thread_ts"] = a.ThreadTS
	}
	payload := map[string]any{
		"type":         "block_actions",
		"team":         map[string]any{"id": id.TeamID, "domain": id.TeamName},
		"user":         map[string]any{"id": a.UserID, "username": a.UserID, "team_id": id.TeamID},
		"api_app_id":   id.AppID,
		"token":        "fake-verification-token",
		"container":    container,
		"trigger_id":   a.TriggerID,
		"channel":      map[string]any{"id": a.ChannelID},
		"response_url": a.ResponseURL,
		"actions": []map[string]any{{
			"action_id": a.ActionID,
			"block_id":  a.BlockID,
			"text":      map[string]any{"type": "plain_text", "text": a.Text, "emoji": true},
			"value":     a.Value,
			"type":      "button",
			"action_ts": actionTS,
		}},
	}
	if c, ok := f.Channel(a.ChannelID); ok {
		payload["channel"] = map[string]any{"id": c.ID, "name": c.Name}
	}
	for _, m := range f.Messages(a.ChannelID) {
		if m.TS == a.MessageTS {
			payload["message"] = m.json(f, true, 0)
		}
	}
	return f.sendEnvelopeWithID(envelopeID, "interactive", payload)
}

// MessageAction is a message shortcut (type message_action) to send over the
// socket: the user picked CallbackID from the message's context menu.
type MessageAction struct {
	UserID     string
	ChannelID  string
	MessageTS  string // the message it was used on; the fake must hold it
	CallbackID string
	// TriggerID and ResponseURL default as for SlashCommand.
	TriggerID   string
	ResponseURL string
}

// SendMessageAction sends an interactive envelope with a message_action
// payload (team, user, channel, callback_id, trigger_id, message_ts, the
// message itself, response_url) and returns its envelope_id.
// https://docs.slack.dev/reference/interaction-payloads/shortcuts-interaction-payload
func (f *Fake) SendMessageAction(a MessageAction) (string, error) {
	var msg map[string]any
	for _, m := range f.Messages(a.ChannelID) {
		if m.TS == a.MessageTS {
			msg = m.json(f, false, 0)
		}
	}
	if msg == nil {
		return "", fmt.Errorf("slackfake: no message %s in %s", a.MessageTS, a.ChannelID)
	}
	id := f.cfg.identity
	envelopeID := f.newInteraction(&a.TriggerID, &a.ResponseURL)
	channel := map[string]any{"id": a.ChannelID}
	if c, ok := f.Channel(a.ChannelID); ok {
		channel["name"] = c.Name
	}
	payload := map[string]any{
		"type":         "message_action",
		"token":        "fake-verification-token",
		"action_ts":    fmt.Sprintf("%d.%06d", time.Now().Unix(), time.Now().Nanosecond()/1000),
		"team":         map[string]any{"id": id.TeamID, "domain": id.TeamName},
		"user":         map[string]any{"id": a.UserID, "name": a.UserID, "team_id": id.TeamID},
		"channel":      channel,
		"callback_id":  a.CallbackID,
		"trigger_id":   a.TriggerID,
		"message_ts":   a.MessageTS,
		"message":      msg,
		"response_url": a.ResponseURL,
	}
	return f.sendEnvelopeWithID(envelopeID, "interactive", payload)
}

// newInteraction returns a new envelope_id for a slash command or block action and fills
// in the trigger id and response_url (ResponseURL(envelopeID)) the caller left empty.
func (f *Fake) newInteraction(triggerID, responseURL *string) (envelopeID string) {
	envelopeID = newEnvelopeID()
	if *responseURL == "" {
		*responseURL = f.ResponseURL(envelopeID)
	}
	if *triggerID == "" {
		// Shaped like Slack's trigger ids.
		*triggerID = fmt.Sprintf("%d.%s", time.Now().UnixNano(), randomID(8))
	}
	return envelopeID
}
