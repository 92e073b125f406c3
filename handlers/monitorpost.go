package handlers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/internal/clip"
	"github.com/rdnsbot/rdnsbot/monitor"
)

var _ monitor.Announcer = (*Announcer)(nil)

// AnnounceChanges posts a monitor's announcement in its thread, exactly
// once, as Announce does for watches (announce).
func (an *Announcer) AnnounceChanges(ctx context.Context, a monitor.Announcement) error {
	ctx = withLogAttrs(ctx, "channel", a.Key.Channel, "thread", a.Key.Thread, "announcement", a.IdempotencyKey, "changes", len(a.Changes))
	return an.announce(ctx, a.Key.Channel, a.Key.Thread, a.IdempotencyKey, a.Attempt, monitorAnnouncement(a),
		map[string]any{"kind": "monitor", "changes": len(a.Changes)})
}

// changeKinds is the order of an announcement's groups (the bad news
// first) and each group's heading.
var changeKinds = []struct {
	kind    monitor.ChangeKind
	heading string
}{
	{monitor.ChangeRegression, ":rotating_light: *Broke*: FCrDNS stopped passing"},
	{monitor.ChangePTRChanged, ":pencil2: *PTR changed*"},
	{monitor.ChangeSiblingBroke, ":warning: *Another address of the name broke*"},
	{monitor.ChangeDNSUnanswered, ":hourglass: *DNS stopped answering* (not counted as broken)"},
	{monitor.ChangeRecovery, ":white_check_mark: *Fixed*: FCrDNS passes again"},
	{monitor.ChangeSiblingRecovered, ":white_check_mark: *The name's other address passes again*"},
	{monitor.ChangeDNSBack, ":signal_strength: *DNS answers again*"},
}

// monitorLinesPerKind bounds the addresses listed by name per group; the
// rest are counted, so a whole /22 breaking is still one message.
const monitorLinesPerKind = 20

// monitorAnnouncement is one monitor announcement: its changes grouped by
// kind, one line per address (up to monitorLinesPerKind), DNS data in
// code spans.
func monitorAnnouncement(a monitor.Announcement) message {
	var b strings.Builder
	b.WriteString(mention(a.RequestedBy) + "Monitor update:")
	var plain []string
	for _, ck := range changeKinds {
		var group []monitor.Change
		for _, c := range a.Changes {
			if c.Kind == ck.kind {
				group = append(group, c)
			}
		}
		if len(group) == 0 {
			continue
		}
		slices.SortFunc(group, func(x, y monitor.Change) int { return x.IP.Compare(y.IP) })
		fmt.Fprintf(&b, "\n%s (%s)", ck.heading, addresses(len(group)))
		plain = append(plain, fmt.Sprintf("%s: %d", ck.kind, len(group)))
		for i, c := range group {
			if i == monitorLinesPerKind {
				fmt.Fprintf(&b, "\n…and %d more.", len(group)-i)
				break
			}
			b.WriteString("\n• " + clip.To(changeLine(c), 280))
		}
	}
	return message{Text: clip.To("Monitor update: "+strings.Join(plain, ", "), maxFallbackChars), Blocks: capBlocks(sections(b.String()))}
}

// changeLine is one address's change.
func changeLine(c monitor.Change) string {
	ip := code(c.IP.String())
	switch c.Kind {
	case monitor.ChangePTRChanged:
		return fmt.Sprintf("%s: %s → %s", ip, codes(c.BeforeNames), codes(c.AfterNames))
	case monitor.ChangeSiblingBroke, monitor.ChangeSiblingRecovered:
		return fmt.Sprintf("%s: %s", ip, codes(c.Siblings))
	case monitor.ChangeDNSUnanswered:
		line := ip + ": no answer"
		if !c.Since.IsZero() {
			line += fmt.Sprintf(" since <!date^%d^{date_short_pretty} {time}|%s>", c.Since.Unix(), c.Since.UTC().Format(time.DateTime))
		}
		return line
	}
	line := fmt.Sprintf("%s: %s → %s", ip, escape(string(c.Before)), escape(string(c.After)))
	if c.Kind == monitor.ChangeRegression {
		line += ", " + c.Result.Status.Words()
		if f := firstError(&c.Result); f != "" {
			line += ": " + f
		}
	} else if len(c.AfterNames) > 0 {
		line += ": " + codes(c.AfterNames)
	}
	return line
}

// firstError is the first error finding's code, in a code span, or "".
func firstError(r *diagnose.Result) string {
	for _, f := range r.Findings {
		if f.Severity == diagnose.SeverityError {
			return code(string(f.Code))
		}
	}
	return ""
}
