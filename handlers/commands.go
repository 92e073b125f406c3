package handlers

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"unicode"

	"github.com/slack-go/slack"

	"github.com/rdnsbot/rdnsbot/diagnose"
)

// maxTargets bounds the targets one command may name.
const maxTargets = 10

// usageText is mrkdwn: its angle brackets are escaped, or Slack would read
// <ip|hostname> as a link.
const usageText = "*Usage*\n" +
	"• `/rdns &lt;ip|hostname&gt; […]`: check reverse DNS (FCrDNS) the way Gmail and Outlook do\n" +
	"• `/rdns watch &lt;ip&gt;`: recheck until it is fixed, and say so here\n" +
	"• `/rdns unwatch &lt;ip&gt;`: stop rechecking\n" +
	"• `/rdns list`: what is watched in this conversation\n" +
	"• `/rdns help`: this help\n" +
	"Or paste/forward a bounce (`550 5.7.25 …`) into a channel I am in, or mention me with an IP."

type verb int

const (
	verbCheck verb = iota
	verbHelp
	verbWatch
	verbUnwatch
	verbList
)

// command is a parsed `/rdns` or mention text.
type command struct {
	verb    verb
	targets []string
}

var slackLink = regexp.MustCompile(`<([^<>|]*)(?:\|([^<>]*))?>`)

// plainSlackText turns Slack's wire text back into what the user typed:
// auto-links <http://x|x> become their label, entities are decoded.
func plainSlackText(s string) string {
	s = slackLink.ReplaceAllStringFunc(s, func(m string) string {
		sub := slackLink.FindStringSubmatch(m)
		if sub[2] != "" {
			return sub[2]
		}
		return sub[1]
	})
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s)
}

// errBadCommand marks input we cannot act on; its message is shown (escaped)
// to the user together with the usage.
var errBadCommand = errors.New("bad command")

// parseCommand reads the text of `/rdns …`, a mention without the mention
// itself, or a DM. People write sentences ("can you check 192.0.2.1
// please?"), so plain words are skipped; anything else must be an IP address
// or a host name, checked syntactically before any DNS.
func parseCommand(text string) (command, error) {
	fields := strings.FieldsFunc(plainSlackText(text), func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\n' || r == ',' || r == ';'
	})
	c := command{verb: verbCheck}
	if len(fields) > 0 {
		switch strings.ToLower(fields[0]) {
		case "help", "-h", "--help", "?":
			return command{verb: verbHelp}, nil
		case "list", "ls":
			return command{verb: verbList}, nil
		case "watch":
			c.verb, fields = verbWatch, fields[1:]
		case "unwatch", "stop":
			c.verb, fields = verbUnwatch, fields[1:]
		}
	}
	for _, f := range fields {
		// Quotes, brackets ([192.0.2.1] as bounces print it) and sentence
		// punctuation are not part of an address.
		f = strings.TrimSuffix(strings.Trim(f, "()[]\"'`!?"), ".")
		if isWord(f) {
			continue
		}
		ip, isIP, err := diagnose.ParseTarget(f)
		if err != nil {
			return command{}, fmt.Errorf("%w: %q is not an IP address or host name", errBadCommand, truncate(f, 80))
		}
		if c.verb != verbCheck && !isIP {
			return command{}, fmt.Errorf("%w: watch and unwatch take an IP address, not %q", errBadCommand, truncate(f, 80))
		}
		if isIP {
			f = ip.String()
		}
		c.targets = append(c.targets, f)
	}
	switch {
	case len(c.targets) == 0 && c.verb == verbCheck:
		return command{}, fmt.Errorf("%w: tell me which IP address or mail host name to check", errBadCommand)
	case len(c.targets) == 0:
		return command{}, fmt.Errorf("%w: name the IP address", errBadCommand)
	case len(c.targets) > maxTargets:
		return command{}, fmt.Errorf("%w: at most %d targets at once, got %d", errBadCommand, maxTargets, len(c.targets))
	}
	return c, nil
}

// isWord reports whether s is a plain word (letters only, or empty): never
// an address, and no host name worth checking (a single label).
func isWord(s string) bool {
	for _, r := range s {
		if !unicode.IsLetter(r) {
			return false
		}
	}
	return true
}

// usageMessage shows what went wrong (escaped) and how to use the command.
func usageMessage(problem string) message {
	text := usageText
	if problem != "" {
		text = ":warning: " + escape(problem) + "\n" + usageText
	}
	return message{Text: "rdnsbot usage", Blocks: []slack.Block{mrkdwnSection(text)}}
}

// ephemeralAck is an ack payload that shows text to the command's user only.
func ephemeralAck(m message) map[string]any {
	ack := map[string]any{"response_type": slack.ResponseTypeEphemeral, "text": m.Text}
	if len(m.Blocks) > 0 {
		ack["blocks"] = m.Blocks
	}
	return ack
}

// onSlashCommand acks /rdns at once (usage, errors and "checking…" need no
// DNS) and queues the real work.
func (b *Bot) onSlashCommand(ctx context.Context, env envelope, sc slack.SlashCommand) {
	cmd, err := parseCommand(sc.Text)
	if err != nil {
		b.ack(ctx, env, ephemeralAck(usageMessage(strings.TrimPrefix(err.Error(), errBadCommand.Error()+": "))))
		return
	}
	origin := origin{channel: sc.ChannelID, user: sc.UserID, responseURL: sc.ResponseURL, source: "command"}
	if b.queueFull() {
		// Say so in the ack: a reply queued behind the full queue would never come.
		b.ack(ctx, env, ephemeralAck(textMessage(":hourglass: I am overloaded right now; please try again in a minute.")))
		return
	}
	switch cmd.verb {
	case verbHelp:
		b.ack(ctx, env, ephemeralAck(usageMessage("")))
		return
	case verbCheck:
		b.ack(ctx, env, ephemeralAck(message{Text: "Checking " + escape(strings.Join(cmd.targets, ", ")) + "…"}))
	default:
		b.ack(ctx, env, nil)
	}
	// The event loop is the only producer, so the room seen above is still there.
	b.enqueue("command", func(ctx context.Context) { b.runCommand(ctx, origin, cmd) })
}

// origin is where a request came from and where answers go.
type origin struct {
	channel     string
	user        string
	threadTS    string // reply in this thread; "" for slash commands
	responseURL string // slash commands only
	source      string // command, mention, bounce, button
}

// runCommand executes a parsed command for a slash command or a mention.
func (b *Bot) runCommand(ctx context.Context, o origin, cmd command) {
	switch cmd.verb {
	case verbHelp:
		b.reply(ctx, o, usageMessage(""))
	case verbCheck, verbWatch:
		// A check watches whatever fails; `watch` says so explicitly.
		b.check(ctx, o, cmd.targets, "")
	case verbUnwatch:
		b.unwatchCommand(ctx, o, cmd.targets)
	case verbList:
		b.listCommand(ctx, o)
	}
}

// outcome is the diagnosis of one target: results, or why there are none.
type outcome struct {
	target  string
	results []diagnose.Result
	err     error
}

// diagnoseAll diagnoses targets concurrently, keeping their order.
func (b *Bot) diagnoseAll(ctx context.Context, targets []string) ([]diagnose.Result, []string) {
	outs := make([]outcome, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() {
			rs, err := b.diag.Diagnose(ctx, t, diagnose.Options{})
			outs[i] = outcome{target: t, results: rs, err: err}
		})
	}
	wg.Wait()
	b.metrics.Diagnoses.Add(int64(len(targets)))
	var results []diagnose.Result
	var problems []string
	for _, o := range outs {
		// A host name may give results and an error together (its AAAA did
		// not answer, too many addresses): show both.
		if o.err != nil {
			problems = append(problems, fmt.Sprintf(":warning: %s: %s", code(o.target), escape(o.err.Error())))
		}
		results = append(results, o.results...)
	}
	return results, problems
}

// check diagnoses targets and answers: for a slash command, a summary in the
// channel and the guidance threaded under it (slash commands cannot start
// threads); otherwise everything in the origin's thread.
func (b *Bot) check(ctx context.Context, o origin, targets []string, intro string) {
	results, problems := b.diagnoseAll(ctx, targets)
	note := strings.Join(problems, "\n")
	thread := o.threadTS
	if thread == "" {
		ts, err := b.post(ctx, o.channel, "", summaryMessage(results, note))
		if err != nil {
			b.fallbackToResponseURL(ctx, o, results, note, err)
			return
		}
		thread = ts
	} else if note != "" {
		intro = strings.TrimSpace(intro + "\n" + note)
	}
	o.threadTS = thread
	watching, watchNote := b.startWatches(ctx, o, results)
	if watchNote != "" {
		intro = strings.TrimSpace(intro + "\n" + watchNote)
	}
	if len(results) == 0 {
		if intro != "" {
			_, _ = b.post(ctx, o.channel, thread, textMessage(intro))
		}
		return
	}
	if err := b.postAll(ctx, o.channel, thread, reportMessages(results, watching, intro)); err != nil {
		b.metrics.SlackErrors.Add(1)
		b.log.ErrorContext(ctx, "posting report failed", "channel", o.channel, "err", err)
	}
}

// fallbackToResponseURL answers a slash command whose summary could not be
// posted: in a conversation the bot may not post to (private channel it is
// not in, DM between others) the user gets the whole report privately;
// after any other failure, at least a word on what went wrong.
func (b *Bot) fallbackToResponseURL(ctx context.Context, o origin, results []diagnose.Result, note string, postErr error) {
	b.log.WarnContext(ctx, "posting summary failed", "channel", o.channel, "err", postErr)
	if o.responseURL == "" {
		b.metrics.SlackErrors.Add(1)
		return
	}
	if !cannotPost(postErr) {
		b.metrics.SlackErrors.Add(1)
		msg := textMessage(":warning: I could not post the answer here (Slack said " + code(errorCode(postErr)) + "); please try again.")
		if err := b.respond(ctx, o.responseURL, msg, false); err != nil {
			b.log.ErrorContext(ctx, "response_url failed", "err", err)
		}
		return
	}
	intro := strings.TrimSpace(note + "\nI can't post in this conversation, so only you see this, and I can't watch it here: invite me (`/invite @rdnsbot`) to get updates.")
	// No buttons: their answers would go to a conversation the bot cannot reach.
	msgs := reportMessages(results, nil, intro)
	for _, m := range msgs {
		if err := b.respond(ctx, o.responseURL, m, false); err != nil {
			b.metrics.SlackErrors.Add(1)
			b.log.ErrorContext(ctx, "response_url failed", "err", err)
			return
		}
	}
}

// reply answers in the origin's thread, or to the slash command's user.
func (b *Bot) reply(ctx context.Context, o origin, m message) {
	var err error
	switch {
	case o.threadTS != "":
		_, err = b.post(ctx, o.channel, o.threadTS, m)
	case o.responseURL != "":
		err = b.respond(ctx, o.responseURL, m, false)
	default:
		err = b.ephemeral(ctx, o.channel, o.user, "", m)
	}
	if err != nil {
		b.metrics.SlackErrors.Add(1)
		b.log.ErrorContext(ctx, "reply failed", "channel", o.channel, "err", err)
	}
}

// handleMention answers `@rdnsbot …` in the mention's thread.
func (b *Bot) handleMention(ctx context.Context, ev *messageEvent) {
	text := ev.Text
	if self := b.self.Load(); self != nil {
		text = strings.ReplaceAll(text, "<@"+self.UserID+">", " ")
	}
	o := origin{channel: ev.Channel, user: ev.User, threadTS: ev.replyThread(), source: "mention"}
	cmd, err := parseCommand(text)
	if err != nil {
		// A mention may carry a whole bounce: read it before giving up.
		if b.handleBounceText(ctx, ev, o) {
			return
		}
		b.reply(ctx, o, usageMessage(strings.TrimPrefix(err.Error(), errBadCommand.Error()+": ")))
		return
	}
	b.runCommand(ctx, o, cmd)
}
