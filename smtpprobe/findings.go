package smtpprobe

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/internal/clip"
)

// Finding codes of the probe: their strings are a public contract (README,
// "SMTP greeting probe") like diagnose's codes, only ever added to.
const (
	// codeBannerMismatch (warning): the greeting's host name is not a PTR
	// name of the IP, or the greeting starts with no host name at all.
	codeBannerMismatch diagnose.Code = "banner_mismatch"
	// codeSlowGreeting (info): no greeting within the probe's budget, or a
	// greeting slower than the prober's slowGreeting.
	codeSlowGreeting diagnose.Code = "smtp_slow_greeting"
	// codeUnreachable (info): the port could not be reached; never blamed
	// on the user's server.
	codeUnreachable diagnose.Code = "smtp_unreachable"
	// codeRefused (info): the greeting is an error reply (554, 421…).
	codeRefused diagnose.Code = "smtp_refused"
	// codeBadReply (info): not an SMTP reply, or the connection closed mid-reply.
	codeBadReply diagnose.Code = "smtp_bad_reply"
	// codeNotProbed (info): the probe was not run (rate limit, not a public address).
	codeNotProbed diagnose.Code = "smtp_not_probed"
)

// findings turns a probe's result into findings about ip, whose PTR names
// (from the diagnosis, trailing dots or not) are ptrNames. With no PTR name
// there is nothing to compare the greeting with: no_ptr already says so.
// A server that greets but then does not answer EHLO in time gives no
// finding beyond the greeting's own.
func findings(r result, ip netip.Addr, ptrNames []string) []diagnose.Finding {
	var out []diagnose.Finding
	add := func(c diagnose.Code, s diagnose.Severity, format string, a ...any) {
		out = append(out, diagnose.Finding{Code: c, Severity: s, Message: fmt.Sprintf(format, a...)})
	}
	where := fmt.Sprintf("%s port %d", diagnose.CodeSpan(ip.String()), r.Addr.Port())
	budget := r.Budget.String()

	switch err := r.Err; {
	case err == nil:
	case errors.Is(err, errRateLimited):
		add(codeNotProbed, diagnose.SeverityInfo, "The SMTP greeting of %s was not checked: the probe limit for this address or workspace "+
			"is used up (the bot is not a port scanner). Try again later.", where)
	case errors.Is(err, errNotPublic):
		add(codeNotProbed, diagnose.SeverityInfo, "The SMTP greeting of %s was not checked: it is not a public address.", diagnose.CodeSpan(ip.String()))
	case errors.Is(err, errUnreachable):
		add(codeUnreachable, diagnose.SeverityInfo, "This bot could not connect to %s: %s. That is not a fault of your server: many "+
			"networks, this bot's own included, block outbound port 25, and a server that only sends mail needs no open port 25. "+
			"To check from another network: %s.", where, unreachableReason(err, budget), diagnose.CodeSpan(fmt.Sprintf("nc -v %s %d", ip, r.Addr.Port())))
	case errors.Is(err, errTimeout) && r.GreetingCode == 0:
		add(codeSlowGreeting, diagnose.SeverityInfo, "%s accepted the connection but sent no greeting within %s (this probe's budget). "+
			"Senders may wait up to 5 minutes for it (RFC 5321 §4.5.3.2), but some give up much sooner; a greeting delayed on purpose "+
			"(a tarpit for spam bots) looks the same.", where, budget)
	case errors.Is(err, errRefused):
		add(codeRefused, diagnose.SeverityInfo, "%s greeted this bot with %s instead of 220: it refuses the session (RFC 5321 §3.1), "+
			"often because it does not take connections from the bot's network. That says nothing about the mail your server sends.",
			where, diagnose.CodeSpan(clip.To(fmt.Sprintf("%d %s", r.GreetingCode, r.Greeting), 120)))
	case errors.Is(err, errGarbage):
		add(codeBadReply, diagnose.SeverityInfo, "What %s sent is not an SMTP reply: %s. Something other than a mail server may "+
			"answer there, or a filter between this bot and your server may interfere: check with %s from another network.",
			where, garbageReason(r, err), diagnose.CodeSpan(fmt.Sprintf("nc -v %s %d", ip, r.Addr.Port())))
	case errors.Is(err, errClosed):
		add(codeBadReply, diagnose.SeverityInfo, "%s closed the connection before a complete SMTP reply. Servers do that to clients "+
			"they refuse (this bot's network may be on a blocklist): check from another network.", where)
	}
	if r.GreetingCode == 220 && r.SlowGreeting > 0 && r.GreetingDelay > r.SlowGreeting {
		add(codeSlowGreeting, diagnose.SeverityInfo, "%s took %s to send its greeting (more than %s). Senders may wait up to "+
			"5 minutes (RFC 5321 §4.5.3.2), but some drop slow servers.", where, r.GreetingDelay.Round(10*time.Millisecond), r.SlowGreeting)
	}
	if f, ok := bannerFinding(r, ip, ptrNames); ok {
		out = append(out, f)
	}
	return out
}

// bannerFinding compares the greeting's host name with the PTR names.
func bannerFinding(r result, ip netip.Addr, ptrNames []string) (diagnose.Finding, bool) {
	if r.GreetingCode == 0 || len(ptrNames) == 0 {
		return diagnose.Finding{}, false
	}
	ptrs := make([]string, len(ptrNames))
	for i, n := range ptrNames {
		ptrs[i] = strings.ToLower(strings.TrimSuffix(n, "."))
		if ptrs[i] == r.GreetingName {
			return diagnose.Finding{}, false
		}
	}
	quoted := make([]string, len(ptrs))
	for i, n := range ptrs {
		quoted[i] = diagnose.CodeSpan(n)
	}
	f := diagnose.Finding{Code: codeBannerMismatch, Severity: diagnose.SeverityWarning}
	if r.GreetingName == "" {
		first, _, _ := strings.Cut(r.Greeting, "\n")
		f.Message = fmt.Sprintf("The SMTP greeting of %s (%s) does not start with a host name: RFC 5321 §4.2 asks for the "+
			"server's own name there, and checkers compare it with the PTR name %s.", diagnose.CodeSpan(ip.String()), diagnose.CodeSpan(clip.To(first, 120)),
			strings.Join(quoted, ", "))
		return f, true
	}
	f.Message = fmt.Sprintf("The SMTP greeting of %s names %s, which is not a PTR name of the IP (%s). Servers usually send the same "+
		"name in EHLO, and receivers compare that with the PTR: set the server's host name (Postfix %s, Exim %s) to the PTR name; "+
		"or, if %s is the name you want, make it the PTR and point its A/AAAA record at %s.", diagnose.CodeSpan(ip.String()), diagnose.CodeSpan(r.GreetingName),
		strings.Join(quoted, ", "), diagnose.CodeSpan("myhostname"), diagnose.CodeSpan("primary_hostname"), diagnose.CodeSpan(r.GreetingName), diagnose.CodeSpan(ip.String()))
	return f, true
}

// garbageReason says what was wrong with the reply, quoting the line.
func garbageReason(r result, err error) string {
	last := r.Greeting
	if len(r.EHLOReply) > 0 {
		last = r.EHLOReply[len(r.EHLOReply)-1]
	}
	if i := strings.LastIndexByte(last, '\n'); i >= 0 {
		last = last[i+1:]
	}
	switch {
	case errors.Is(err, errLineTooLong):
		return fmt.Sprintf("a line longer than %d octets (RFC 5321 §4.5.3.1.5), starting %s", maxLine, diagnose.CodeSpan(clip.To(last, 60)))
	case errors.Is(err, errTooManyLines):
		return fmt.Sprintf("a reply of more than %d lines", maxReplyLines)
	case errors.Is(err, errGreetingCode):
		return fmt.Sprintf("its greeting %s is neither 220 nor an error reply (RFC 5321 §4.3.2)",
			diagnose.CodeSpan(clip.To(fmt.Sprintf("%d %s", r.GreetingCode, last), 80)))
	}
	return fmt.Sprintf("%s is not a reply line (RFC 5321 §4.2)", diagnose.CodeSpan(clip.To(last, 80)))
}

// unreachableReason says why the connection failed, in a user's words.
func unreachableReason(err error, budget string) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "the connection was refused (nothing listens there, or a firewall rejects it)"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, syscall.ETIMEDOUT):
		return "no answer within " + budget + " (the port is filtered somewhere on the way)"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "no route to it from this bot's network"
	}
	return "the connection failed"
}
