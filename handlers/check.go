package handlers

import (
	"context"
	"fmt"
	"strings"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/metrics"
	"github.com/rdnsbot/rdnsbot/watch"
)

// origin is where a request came from and where answers go.
type origin struct {
	// team is the Slack workspace the request came from: the SMTP probe's
	// per-workspace limit is charged to it.
	team string
	// helo is the name the mail server announces, when known (helo=NAME,
	// or the bounce's HELO): every diagnosis and recheck of the request
	// gets it.
	helo string
	// smtp asks for the SMTP greeting probe of each address diagnosed.
	smtp bool

	channel     string
	user        string
	threadTS    string // reply in this thread; "" for slash commands
	responseURL string // slash commands and shortcuts
	source      watch.Source
	fresh       bool // a recheck: never answered by an earlier diagnosis
}

// metric is the origin label of o's diagnoses, which its source decides:
// a DM counts as a mention.
func (o origin) metric() metrics.Origin {
	switch o.source {
	case watch.SourceCommand:
		return metrics.OriginSlash
	case watch.SourceBounce:
		return metrics.OriginBounce
	case watch.SourceButton:
		return metrics.OriginButton
	case watch.SourceShortcut:
		return metrics.OriginShortcut
	default: // watch.SourceMention, watch.SourceDM
		return metrics.OriginMention
	}
}

// Prober is the opt-in SMTP greeting probe; *smtpprobe.Prober is one.
type Prober interface {
	// ProbeResults probes each distinct address of results once, charged
	// to workspace, and appends the probe's findings to its results.
	ProbeResults(ctx context.Context, results []diagnose.Result, workspace string)
}

// unknownTeam is the probe limit's workspace for a request that names none:
// all of them share one budget rather than escaping the limit.
const unknownTeam = "unknown-team"

// noProbeText says the SMTP probe was asked for but is not set up.
const noProbeText = ":information_source: The SMTP greeting probe is not set up on this bot (its operator sets `SMTP_PROBE_HELO` to the bot's own host name), so only DNS was checked."

// check is the one pipeline every request that names IPs goes through:
// diagnose the targets, start watches for what fails, render, post. A slash
// command gets a summary in the channel and the guidance threaded under it
// (slash commands cannot start threads); everything else is answered in the
// origin's thread.
func (b *Bot) check(ctx context.Context, o origin, targets []string, intro string) {
	ctx = withLogAttrs(ctx, "targets", targets)
	results, note := b.diagnose(ctx, b.diag, o, targets)
	note = b.probeSMTP(ctx, o, results, note)
	thread := o.threadTS
	if thread == "" {
		ts, err := b.out.post(ctx, o.channel, "", summaryMessage(results, note))
		if err != nil {
			b.fallbackToResponseURL(ctx, o, results, note, err)
			return
		}
		thread = ts
	} else if note != "" {
		intro = strings.TrimSpace(intro + "\n" + note)
	}
	o.threadTS = thread
	ctx = withLogAttrs(ctx, "thread", thread)
	watching, watchNote := b.startWatches(ctx, o, results)
	if watchNote != "" {
		intro = strings.TrimSpace(intro + "\n" + watchNote)
	}
	if len(results) == 0 {
		if intro != "" {
			b.reply(ctx, o, textMessage(intro))
		}
		return
	}
	if err := b.out.postAll(ctx, o.channel, thread, reportMessages(results, watching, intro, o.helo)); err != nil {
		b.fallbackToResponseURL(ctx, o, results, intro, err)
		return
	}
	b.log.InfoContext(ctx, "answered", "results", len(results))
}

// diagnose runs the targets through in's DiagnoseTargets (one diagnosis
// per distinct address) and renders each target's problem (a host name may
// give results and an error together: its AAAA did not answer, too many
// addresses) as a note.
func (b *Bot) diagnose(ctx context.Context, in targetsDiagnoser, o origin, targets []string) ([]diagnose.Result, string) {
	batch := in.DiagnoseTargets(ctx, targets, diagnose.Options{HELO: o.helo, Fresh: o.fresh})
	for i := range batch.Diagnoses {
		b.metrics.Diagnosed(o.metric(), &batch.Diagnoses[i])
	}
	b.metrics.DiagnosesReused.Add(float64(batch.Reused))
	var problems []string
	for _, out := range batch.Outcomes {
		if out.Err != nil {
			problems = append(problems, fmt.Sprintf(":warning: %s: %s", code(out.Target), escape(out.Err.Error())))
		}
	}
	return batch.Distinct(), strings.Join(problems, "\n")
}

// probeSMTP runs the SMTP greeting probe on results when the request asks
// for it, appending its findings; note gains a line when the probe is not
// set up.
func (b *Bot) probeSMTP(ctx context.Context, o origin, results []diagnose.Result, note string) string {
	switch {
	case !o.smtp || len(results) == 0:
	case b.cfg.SMTPProbe == nil:
		note = strings.TrimSpace(note + "\n" + noProbeText)
	default:
		team := o.team
		if team == "" {
			team = unknownTeam
		}
		b.cfg.SMTPProbe.ProbeResults(ctx, results, team)
	}
	return note
}

// fallbackToResponseURL answers a request whose answer could not be posted
// in its conversation: where the bot may not post (private channel it is
// not in, DM between others), the user gets the whole report privately;
// after any other failure, at least a word on what went wrong.
func (b *Bot) fallbackToResponseURL(ctx context.Context, o origin, results []diagnose.Result, note string, postErr error) {
	if !b.fallbackPossible(ctx, o, postErr) {
		return
	}
	intro := strings.TrimSpace(note + "\n" + privateNote)
	// No buttons: their answers would go to a conversation the bot cannot reach.
	b.respondAll(ctx, o, reportMessages(results, nil, intro, o.helo))
}

// fallbackPossible logs a failed post and reports whether the answer
// should go to the requester alone instead: when the bot may not post in
// the conversation and there is a response_url. After any other failure
// the requester gets a word on what went wrong, and false.
func (b *Bot) fallbackPossible(ctx context.Context, o origin, postErr error) bool {
	b.log.WarnContext(ctx, "posting the answer failed", "err", postErr)
	if o.responseURL == "" {
		b.metrics.SlackErrors.Inc()
		return false
	}
	if !cannotPost(postErr) {
		b.metrics.SlackErrors.Inc()
		msg := textMessage(":warning: I could not post the answer here (Slack said " + code(errorCode(postErr)) + "); please try again.")
		if err := b.out.respond(ctx, o.responseURL, msg, false); err != nil {
			b.log.ErrorContext(ctx, "response_url failed", "err", err)
		}
		return false
	}
	return true
}

// privateNote says why an answer came to the requester alone.
const privateNote = "I can't post in this conversation, so only you see this, and I can't watch it here: invite me (`/invite @rdnsbot`) to get updates."

// respondAll sends msgs to the requester alone through o's response_url,
// stopping at the first failure.
func (b *Bot) respondAll(ctx context.Context, o origin, msgs []message) {
	for _, m := range msgs {
		if err := b.out.respond(ctx, o.responseURL, m, false); err != nil {
			b.metrics.SlackErrors.Inc()
			b.log.ErrorContext(ctx, "response_url failed", "err", err)
			return
		}
	}
}

// reply answers in the origin's thread, or to the requester alone.
func (b *Bot) reply(ctx context.Context, o origin, m message) {
	var err error
	switch {
	case o.threadTS != "":
		_, err = b.out.post(ctx, o.channel, o.threadTS, m)
		if err != nil && cannotPost(err) && o.responseURL != "" {
			err = b.out.respond(ctx, o.responseURL, m, false)
		}
	case o.responseURL != "":
		err = b.out.respond(ctx, o.responseURL, m, false)
	default:
		err = b.out.ephemeral(ctx, o.channel, o.user, "", m)
	}
	if err != nil {
		b.metrics.SlackErrors.Inc()
		b.log.ErrorContext(ctx, "reply failed", "err", err)
	}
}
