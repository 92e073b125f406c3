package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/slack-go/slack"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/internal/clip"
	"github.com/rdnsbot/rdnsbot/pool"
	"github.com/rdnsbot/rdnsbot/watch"
)

// maxTargets bounds the targets one command may name.
const maxTargets = 10

type verb int

const (
	verbCheck verb = iota
	verbHelp
	verbWatch
	verbUnwatch
	verbList
	verbMonitor
	verbUnmonitor
	verbMonitors
)

// command is a parsed `/rdns` or mention text.
type command struct {
	verb    verb
	targets []string
	// pools are the CIDR blocks and ranges named, in order; set is their
	// union (each address once, within pool.MaxAddresses).
	pools []pool.Pool
	set   pool.Set
	// helo is the name given with helo=NAME: what the mail server announces
	// in EHLO, for helo_mismatch, helo_literal and the HELO identity's SPF.
	helo string
	// smtp asks for the opt-in SMTP greeting probe of each address.
	smtp bool
}

// heloOption is how a command names the HELO: helo=mail.example.com.
const heloOption = "helo="

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

// usageError is input we cannot act on: its problem is shown to the user
// together with the usage.
type usageError struct {
	problem string // plain text, for logs
	shown   string // mrkdwn, for Slack
}

func (e *usageError) Error() string { return "bad command: " + e.problem }

// usagef words a problem in our own text (no user input among args).
func usagef(format string, args ...any) error {
	p := fmt.Sprintf(format, args...)
	return &usageError{problem: p, shown: escape(p)}
}

// usageInput words a problem with the user's input, which format's one %s
// shows as inline code: %q alone would leave * _ ~ to mrkdwn.
func usageInput(format, input string) error {
	input = clip.To(input, 80)
	return &usageError{
		problem: fmt.Sprintf(format, strconv.Quote(input)),
		shown:   fmt.Sprintf(escape(format), code(input)),
	}
}

// usageReply is the usage message for a parseCommand error.
func usageReply(err error) message {
	var ue *usageError
	if errors.As(err, &ue) {
		return usageMessage(ue.shown)
	}
	return usageMessage("")
}

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
		case "monitors":
			return command{verb: verbMonitors}, nil
		case "monitor":
			c.verb, fields = verbMonitor, fields[1:]
		case "unmonitor":
			c.verb, fields = verbUnmonitor, fields[1:]
		}
	}
	for _, f := range fields {
		if v, ok := cutFold(f, heloOption); ok {
			// Quotes around the name and a sentence's end are not part
			// of it; anything else must pass parseHELO.
			helo, err := parseHELO(strings.TrimSuffix(strings.TrimRight(strings.TrimLeft(v, "(\"'`"), ")\"'`!?"), "."))
			if err != nil {
				return command{}, err
			}
			c.helo = helo
			continue
		}
		if l := strings.ToLower(f); l == "smtp" || l == "--smtp" {
			c.smtp = true
			continue
		}
		// Quotes, brackets ([192.0.2.1] as bounces print it) and sentence
		// punctuation are not part of an address.
		f = strings.TrimSuffix(strings.Trim(f, "()[]\"'`!?"), ".")
		if isWord(f) {
			continue
		}
		switch p, isPool, err := pool.Target(f); {
		case err != nil:
			// pool's words quote the user's text: shown as code, so none
			// of it is read as mrkdwn.
			return command{}, &usageError{problem: err.Error(), shown: code(err.Error())}
		case isPool && (c.verb == verbWatch || c.verb == verbUnwatch):
			return command{}, usageInput("watch and unwatch take single IP addresses, not a block or range like %s: I don't watch pool addresses one by one: /rdns monitor keeps a pool under check", f)
		case isPool:
			c.pools = append(c.pools, p)
			continue
		}
		ip, isIP, err := diagnose.ParseTarget(f)
		if err != nil {
			return command{}, usageInput("%s is not an IP address or host name", f)
		}
		switch {
		case isIP, c.verb == verbCheck, c.verb == verbMonitor:
		case c.verb == verbUnmonitor:
			return command{}, usageInput("unmonitor takes IP addresses, blocks or ranges, not %s", f)
		default:
			return command{}, usageInput("watch and unwatch take an IP address, not %s", f)
		}
		if isIP {
			f = ip.String()
		}
		c.targets = append(c.targets, f)
	}
	n := len(c.targets) + len(c.pools)
	switch {
	case c.verb == verbUnwatch && (c.helo != "" || c.smtp):
		return command{}, usagef("helo= and smtp go with a check, not with unwatch")
	case (c.verb == verbMonitor || c.verb == verbUnmonitor) && (c.helo != "" || c.smtp):
		return command{}, usagef("helo= and smtp go with a check, not with monitor or unmonitor")
	case n == 0 && c.verb == verbCheck:
		return command{}, usagef("tell me which IP address, mail host name, CIDR block or range to check")
	case n == 0:
		return command{}, usagef("name the IP address")
	case n > maxTargets:
		return command{}, usagef("at most %d targets at once, got %d", maxTargets, n)
	}
	if len(c.pools) > 0 {
		set, err := pool.Join(c.pools...)
		if err != nil {
			return command{}, usagef("%s", err.Error())
		}
		c.set = set
	}
	return c, nil
}

// names are the command's targets as the user named them, pools last.
func (c command) names() []string {
	names := slices.Clone(c.targets)
	for _, p := range c.pools {
		names = append(names, p.String())
	}
	return names
}

// cutFold is strings.CutPrefix ignoring the prefix's case.
func cutFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return "", false
}

// parseHELO checks a HELO name from a user or a bounce: a host name (one
// label is allowed: servers announce "localhost", and the diagnosis says
// what is wrong with it) or an address literal, bare or in brackets
// ([192.0.2.1], [IPv6:2001:db8::1], RFC 5321 §4.1.3), which the diagnosis
// reports as helo_literal. Anything else is a usage error.
func parseHELO(s string) (string, error) {
	lit := strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	if v, ok := cutFold(lit, "IPv6:"); ok && strings.HasPrefix(s, "[") {
		lit = v
	}
	if a, err := netip.ParseAddr(lit); err == nil && a.Zone() == "" {
		return s, nil
	}
	_, isIP, err := diagnose.ParseTarget(s)
	var te *diagnose.TargetError
	switch {
	case err == nil && !isIP, errors.As(err, &te) && te.Kind == diagnose.TargetSingleLabel:
		return s, nil
	case s == "":
		return "", usagef("helo= needs the name your mail server announces, e.g. helo=mail.example.com")
	}
	return "", usageInput("helo=%s is not a host name or an address literal", s)
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
		b.ack(ctx, env, ephemeralAck(usageReply(err)))
		return
	}
	o := origin{channel: sc.ChannelID, user: sc.UserID, responseURL: sc.ResponseURL, source: watch.SourceCommand, team: sc.TeamID}
	if b.queueFull() {
		// Say so in the ack: a reply queued behind the full queue would never come.
		b.metrics.Refusals.WithLabelValues("queue_full", "ack").Inc()
		b.ack(ctx, env, ephemeralAck(textMessage(":hourglass: I am overloaded right now; please try again in a minute.")))
		return
	}
	switch cmd.verb {
	case verbHelp:
		b.ack(ctx, env, ephemeralAck(usageMessage("")))
		return
	case verbCheck:
		b.ack(ctx, env, ephemeralAck(message{Text: "Checking " + escape(strings.Join(cmd.names(), ", ")) + "…"}))
	default:
		b.ack(ctx, env, nil)
	}
	// The event loop is the only producer, so the room seen above is still there.
	b.enqueue(ctx, "command", func(ctx context.Context) { b.runCommand(ctx, o, cmd) })
}

// runCommand executes a parsed command for a slash command, a mention or a DM.
func (b *Bot) runCommand(ctx context.Context, o origin, cmd command) {
	o.helo, o.smtp = cmd.helo, cmd.smtp
	switch cmd.verb {
	case verbHelp:
		b.reply(ctx, o, usageMessage(""))
	case verbCheck, verbWatch:
		if len(cmd.pools) > 0 {
			b.checkPools(ctx, o, cmd) // pools.go
			return
		}
		// A check watches whatever fails; `watch` says so explicitly.
		b.check(ctx, o, cmd.targets, "")
	case verbUnwatch:
		b.unwatchCommand(ctx, o, cmd.targets)
	case verbList:
		b.listCommand(ctx, o)
	case verbMonitor:
		b.monitorCommand(ctx, o, cmd) // monitors.go
	case verbUnmonitor:
		b.unmonitorCommand(ctx, o, cmd)
	case verbMonitors:
		b.monitorsCommand(ctx, o)
	}
}

// handleMention answers `@rdnsbot …` in the mention's thread.
func (b *Bot) handleMention(ctx context.Context, ev *messageEvent) {
	text := ev.Text
	if self := b.self.Load(); self != nil {
		text = strings.ReplaceAll(text, "<@"+self.UserID+">", " ")
	}
	o := origin{channel: ev.Channel, user: ev.User, threadTS: ev.replyThread(), source: watch.SourceMention, team: ev.Team}
	cmd, err := parseCommand(text)
	if err != nil {
		// A mention may carry a whole bounce: read it before giving up.
		if b.handleBounceText(ctx, ev, o) {
			return
		}
		b.reply(ctx, o, usageReply(err))
		return
	}
	b.runCommand(ctx, o, cmd)
}
