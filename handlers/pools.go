package handlers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/slack-go/slack"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/internal/clip"
	"github.com/rdnsbot/rdnsbot/pool"
)

// Limits of a pool's messages: a /22 summarised must stay a summary, and
// its thread a handful of messages, whatever DNS answered.
const (
	poolSummaryFindings = 8    // finding groups listed in the summary; all are in the thread
	poolSummaryZones    = 5    // reverse zones listed in the summary
	poolThreadZones     = 20   // reverse zones listed in the thread
	poolDetailLines     = 10   // names shown per finding in the thread
	poolAddrChars       = 400  // characters of an address list in the summary
	poolThreadAddrChars = 1500 // characters of an address list in the thread
)

// poolNotWatched says why a pool's failing addresses get no watch.
const poolNotWatched = ":information_source: I don't watch pool addresses one by one: `/rdns monitor &lt;block or range&gt;` keeps them under check and posts only on change, or watch single addresses with `/rdns watch &lt;ip&gt;`."

// poolNoProbe says why the SMTP probe skips pools.
const poolNoProbe = ":information_source: The SMTP greeting probe is not run on pools (one connection per address would look like a port scan); name single addresses with `smtp` to probe them."

// poolExamples keeps, while a pool is checked, what the summary does not:
// each finding's wording as the first address with it got it, and the
// first result that does not pass, whose guidance shows how to fix and
// verify. Check calls add one result at a time.
type poolExamples struct {
	messages map[diagnose.Code]string
	failing  *diagnose.Result
}

func (e *poolExamples) add(r diagnose.Result) {
	if e.messages == nil {
		e.messages = map[diagnose.Code]string{}
	}
	for _, f := range r.Findings {
		if _, ok := e.messages[f.Code]; !ok {
			e.messages[f.Code] = f.Message
		}
	}
	if e.failing == nil && r.Status != diagnose.StatusPass {
		e.failing = &r
	}
}

// checkPools is the check pipeline for a command that names CIDR blocks or
// ranges: the pools are checked with package pool (bounded concurrency,
// paced per reverse domain by the bot's one pacer), the command's single
// targets as by check. One summary goes where check's would, and the
// details, grouped by finding, go in its thread, followed by the single
// targets' reports. Only the single targets are watched.
func (b *Bot) checkPools(ctx context.Context, o origin, cmd command) {
	ctx = withLogAttrs(ctx, "targets", cmd.names())
	// The single targets and the pool at once, in one session: they ask
	// the shared zone and name-server questions once.
	sess := b.diag.Session()
	var (
		others []diagnose.Result
		notes  []string
		wg     sync.WaitGroup
	)
	if len(cmd.targets) > 0 {
		wg.Go(func() {
			var note string
			others, note = b.diagnose(ctx, sess, o, cmd.targets)
			notes = append(notes, b.probeSMTP(ctx, o, others, note))
		})
	}
	var ex poolExamples
	rep := pool.Check(ctx, sess, cmd.set.All(), pool.Config{Pacer: b.pacer, Options: diagnose.Options{HELO: o.helo, Fresh: o.fresh}, OnResult: func(r diagnose.Result) {
		b.metrics.Diagnosed(o.metric(), &r)
		ex.add(r)
	}})
	wg.Wait()
	if o.smtp {
		notes = append(notes, poolNoProbe)
	}
	s := rep.Summary()
	notes = append(notes, poolNotWatched)
	summary := poolSummaryMessage(cmd.pools, &s, others, strings.TrimSpace(strings.Join(notes, "\n")))
	details := poolDetailMessages(&s, &ex, o.helo)

	thread := o.threadTS
	ts, err := b.out.post(ctx, o.channel, thread, summary)
	if err != nil {
		if b.fallbackPossible(ctx, o, err) {
			intro := textMessage(privateNote)
			b.respondAll(ctx, o, slices.Concat([]message{intro, summary}, details, reportMessages(others, nil, "", o.helo)))
		}
		return
	}
	if thread == "" {
		thread = ts
	}
	o.threadTS = thread
	ctx = withLogAttrs(ctx, "thread", thread)
	watching, watchNote := b.startWatches(ctx, o, others)
	msgs := details
	if len(others) > 0 {
		msgs = append(msgs, reportMessages(others, watching, watchNote, o.helo)...)
	}
	if err := b.out.postAll(ctx, o.channel, thread, msgs); err != nil {
		b.metrics.SlackErrors.Inc()
		b.log.WarnContext(ctx, "posting the pool's details failed", "err", err)
		return
	}
	b.log.InfoContext(ctx, "answered", "pool_addresses", s.Addresses, "results", len(others))
}

// statusOrder lists failures first.
var statusOrder = []diagnose.Status{diagnose.StatusFail, diagnose.StatusPermerror, diagnose.StatusTemperror, diagnose.StatusPass}

// poolCounts is "3 fail, 1 temperror, 10 pass", failures first.
func poolCounts(s *pool.Summary) string {
	var parts []string
	for _, st := range statusOrder {
		if n := s.Counts[st]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d %s", statusEmoji(st), n, escape(string(st))))
		}
	}
	for st, n := range s.Counts { // statuses diagnose may add later
		if !slices.Contains(statusOrder, st) {
			parts = append(parts, fmt.Sprintf("%s %d %s", statusEmoji(st), n, escape(string(st))))
		}
	}
	return strings.Join(parts, " · ")
}

// poolHeads describes each pool named: "*84.200.20.0/28*: 14 addresses
// (84.200.20.1 to 84.200.20.14, network and broadcast left out)".
func poolHeads(pools []pool.Pool) string {
	var lines []string
	for _, p := range pools {
		line := fmt.Sprintf("*%s*: %s", escape(p.String()), addresses(p.Len()))
		if p.Len() > 1 {
			line += fmt.Sprintf(" (%s to %s", escape(p.First().String()), escape(p.Last().String()))
			if p.EndsSkipped() {
				line += ", network and broadcast addresses left out"
			}
			line += ")"
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n")
}

// poolSummaryMessage is the one channel message for a pool check: what was
// checked, the counts by status, the failing addresses by finding, the
// reverse zones and providers, then the single targets' headlines and the
// notes. Everything from DNS is escaped or in code spans.
func poolSummaryMessage(pools []pool.Pool, s *pool.Summary, others []diagnose.Result, note string) message {
	var b strings.Builder
	b.WriteString(poolHeads(pools) + "\n")
	fmt.Fprintf(&b, "%d checked: %s", s.Addresses, poolCounts(s))
	if s.NotChecked > 0 {
		fmt.Fprintf(&b, "\n:hourglass: %d not checked: I ran out of time (not a DNS failure); check them again.", s.NotChecked)
	}
	failing := 0
	for _, g := range s.Findings {
		if g.Severity == diagnose.SeverityInfo {
			continue
		}
		if failing == 0 {
			b.WriteString("\n*Findings*")
		}
		if failing++; failing > poolSummaryFindings {
			continue
		}
		fmt.Fprintf(&b, "\n%s %s (%d): %s", severityEmoji(g.Severity), code(string(g.Code)), g.Count, escape(clip.To(g.Addresses, poolAddrChars)))
	}
	if failing > poolSummaryFindings {
		fmt.Fprintf(&b, "\n…and %d more findings, in the thread.", failing-poolSummaryFindings)
	}
	if zones := zoneLines(s, poolSummaryZones, poolAddrChars, false); zones != "" {
		b.WriteString("\n*Reverse zones* (whoever controls them sets the PTRs)\n" + zones)
	}
	if len(s.Providers) > 0 {
		var ps []string
		for _, p := range s.Providers[:min(len(s.Providers), poolSummaryZones)] {
			ps = append(ps, fmt.Sprintf("%s (%d)", escape(p.Name), p.Count))
		}
		b.WriteString("\n*Providers:* " + strings.Join(ps, ", "))
	}
	plain := []string{fmt.Sprintf("%s: %d addresses checked", names(pools), s.Addresses)}
	for i := range others {
		b.WriteString("\n" + headline(&others[i]))
		plain = append(plain, plainHeadline(&others[i]))
	}
	if note != "" {
		b.WriteString("\n" + note)
	}
	b.WriteString("\nDetails are in the thread.")
	return message{Text: clip.To(strings.Join(plain, "; "), maxFallbackChars), Blocks: capBlocks(sections(b.String()))}
}

// addresses is "1 address" or "n addresses".
func addresses(n int) string {
	if n == 1 {
		return "1 address"
	}
	return fmt.Sprintf("%d addresses", n)
}

// names is the pools, space-separated and escaped, for fallback texts.
func names(pools []pool.Pool) string {
	ns := make([]string, len(pools))
	for i, p := range pools {
		ns[i] = p.String()
	}
	return escape(strings.Join(ns, " "))
}

// zoneLines lists up to limit reverse zones, one a line; full adds the
// name servers.
func zoneLines(s *pool.Summary, limit, addrChars int, full bool) string {
	var lines []string
	for i, z := range s.ReverseZones {
		if i == limit {
			lines = append(lines, fmt.Sprintf("…and %d more zones.", len(s.ReverseZones)-limit))
			break
		}
		line := "• " + code(z.Name)
		if z.Classless {
			line += " (RFC 2317 classless delegation)"
		}
		line += fmt.Sprintf(": %d (%s)", z.Count, escape(clip.To(z.Addresses, addrChars)))
		if full && len(z.Nameservers) > 0 {
			line += ", served by " + codes(z.Nameservers)
		}
		if z.Provider != "" {
			line += ", " + escape(z.Provider)
		}
		lines = append(lines, line)
	}
	if s.ReverseZoneUnknown > 0 {
		lines = append(lines, fmt.Sprintf("• %d addresses: zone not found, DNS did not answer", s.ReverseZoneUnknown))
	}
	return strings.Join(lines, "\n")
}

// poolDetailMessages are the thread's messages: per finding, its wording,
// every address and the names it is about; the reverse zones with their
// servers; the providers' how-to; and one failing address's full
// guidance as the example of how to fix and verify. Bounded by the
// limits above, split at Block Kit's.
func poolDetailMessages(s *pool.Summary, ex *poolExamples, helo string) []message {
	var blocks []slack.Block
	for _, g := range s.Findings {
		var b strings.Builder
		fmt.Fprintf(&b, "%s *%s* %s: %s\n", severityEmoji(g.Severity), escape(string(g.Severity)), code(string(g.Code)), addresses(g.Count))
		if m := ex.messages[g.Code]; m != "" {
			fmt.Fprintf(&b, "_e.g._ %s\n", escape(m))
		}
		b.WriteString(escape(clip.To(g.Addresses, poolThreadAddrChars)) + "\n")
		for i, d := range g.Details {
			if i == poolDetailLines {
				fmt.Fprintf(&b, "…and %d more.\n", len(g.Details)-i)
				break
			}
			line := "• " + code(d.IP.String()) + ": " + code(d.Name)
			if len(d.Addresses) > 0 {
				line += " → " + codes(d.Addresses)
			}
			b.WriteString(clip.To(line, maxSectionChars/poolDetailLines) + "\n")
		}
		blocks = append(blocks, sections(b.String())...)
	}
	if zones := zoneLines(s, poolThreadZones, poolThreadAddrChars, true); zones != "" {
		blocks = append(blocks, sections("*Who can fix it:* whoever controls the reverse zone, the owner of the addresses, not your domain registrar.\n"+zones)...)
	}
	for _, p := range s.Providers[:min(len(s.Providers), poolSummaryZones)] {
		blocks = append(blocks, mrkdwnSection(fmt.Sprintf("*Provider:* %s (%s)", providerText(&p.Provider), addresses(p.Count))))
	}
	if r := ex.failing; r != nil {
		blocks = append(blocks, slack.NewDividerBlock(), mrkdwnSection("*How to fix and verify, for example "+code(r.IP)+":*"))
		blocks = append(blocks, reportBlocks(r, helo, false, false)...)
	}
	if len(blocks) == 0 {
		return nil
	}
	return splitMessages(blocks, clip.To(fmt.Sprintf("Details of %d addresses", s.Addresses), maxFallbackChars))
}
