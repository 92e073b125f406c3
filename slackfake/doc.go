// Package slackfake is an in-process fake of Slack for end-to-end tests: the Web API
// methods rdnsbot calls and the Socket Mode websocket, served over real HTTP and a real
// websocket on 127.0.0.1 so the unmodified slack-go client and its socketmode client can
// talk to it.
//
// It follows what Slack documents and what slack-go v0.35.0 sends and expects
// (https://docs.slack.dev/apis/events-api/using-socket-mode,
// https://docs.slack.dev/reference/methods): tokens from the Authorization header or the
// "token" form field, {"ok":false,"error":…} for API errors, HTTP 429 with Retry-After,
// hello on connect, websocket pings, envelopes acked with {"envelope_id","payload"}.
//
// # Starting
//
//	fake := slackfake.Start(t) // closed by t.Cleanup
//	api := slack.New(fake.BotToken(),
//		slack.OptionAppLevelToken(fake.AppToken()),
//		slack.OptionAPIURL(fake.APIURL()))
//	client := socketmode.New(api)
//	go client.RunContext(ctx)
//	if err := fake.WaitConnected(ctx, 1); err != nil { … }
//
// New and Close do the same without a testing.TB. Options set the bot identity
// (WithIdentity), the server ping interval (WithPingInterval) and automatic redelivery of unacked events (WithRedelivery).
//
// # Socket Mode
//
// SendEnvelope sends any envelope; SendEvent (events_api, wrapped in an event_callback),
// SendUserMessage (stores a user's message and sends its message event),
// SendSlashCommand and SendBlockAction (interactive) build Slack's payloads. Envelopes
// sent while no socket is connected wait for the next connection. WaitAck returns the ack
// payload and its latency; Redeliver resends an envelope with retry_attempt and
// retry_reason set; Disconnect sends a disconnect request ("refresh_requested") and
// closes; DropConnections closes the sockets without a word. WaitConnected and
// Connections follow (re)connections.
//
// A redelivered envelope keeps its envelope_id (and its event_id), so WaitAck works
// across attempts; bots must dedupe by event_id, as Slack asks.
//
// # Web API
//
// Methods read the token from "Authorization: Bearer" or the "token" form field, as
// slack-go sends it: the app token for apps.connections.open, the bot token for the
// rest. No token is not_authed, the other kind of token not_allowed_token_type, any
// other token invalid_auth.
//
// auth.test, apps.connections.open, chat.postMessage, chat.postEphemeral, chat.update,
// conversations.join, conversations.info, conversations.replies, conversations.history
// (top-level messages after oldest, newest first), files.info and
// views.publish are served with Slack's response shapes and errors; any other method
// answers unknown_method. Channels (AddChannel) are public, private, DMs or group DMs
// with a bot membership flag: posting where the bot is not a member gives not_in_channel
// (public) or channel_not_found (private, group DM), and conversations.join works on
// public channels only. Block Kit and text limits are checked like Slack does
// (invalid_blocks, msg_too_long). Files added with AddFile are served by files.info and
// downloaded from their url_private(_download) with the bot token as a bearer;
// ResponseURL gives response_url endpoints whose posts are recorded.
//
// # Faults and inspection
//
// FailNext makes the next calls of a method fail (HTTP 429 with Retry-After, 5xx, or an
// ok:false error), or go unanswered (Fault.Hang: accept and never answer, until Unhang;
// Fault.Drop: close the connection), optionally after the method ran (Fault.Stored:
// "Slack stored it but answered 500"); SetLatency delays a method. Message ts values
// are the post's Unix time in microseconds, as Slack's. StallSockets silences the open
// sockets (no pings, frames or pongs) without closing them, as a dead network path
// does; Stalled counts them. Calls lists every call in order with the
// token removed; Messages, Thread, Ephemerals, Views, Responses and Acks show what the
// bot produced; WaitForMessage, WaitAck, WaitConnected and Wait block on a condition,
// never on a timer. AddMessage stores a user's message (a thread the bot answers in).
//
// A Fake is safe for concurrent use. Close stops every goroutine it started.
package slackfake
