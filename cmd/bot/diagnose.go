package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/rdnsbot/rdnsbot/diagnose"
)

const diagnoseUsage = `usage: bot diagnose [--resolver HOST:PORT] [--json] [--timeout DURATION] [--helo NAME] TARGET...

Diagnoses forward-confirmed reverse DNS (RFC 8601 iprev) for each TARGET: an
IPv4 or IPv6 address, or a host name (every A and AAAA address is diagnosed).

Exit status: 0 every address passes; 1 any fail or permerror (or a host name
without addresses); 3 only temporary DNS errors (including a host name whose
A or AAAA lookup did not answer); 2 bad usage or an unparseable target.
`

// diagnoseOutput is the --json document: a public contract, see
// README.md ("bot diagnose").
type diagnoseOutput struct {
	Results []diagnose.Result `json:"results"`
	Errors  []targetError     `json:"errors,omitempty"`
}

// targetError is a host name that could not be turned into addresses, or
// not into all of them (a family that did not answer, too many addresses).
type targetError struct {
	Target string `json:"target"`
	Error  string `json:"error"`
}

// cmdDiagnose runs the diagnosis engine from a terminal.
func cmdDiagnose(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("diagnose", flag.ContinueOnError)
	fs.SetOutput(stderr)
	resolver := fs.String("resolver", "", "recursive resolver HOST:PORT (default: first nameserver of /etc/resolv.conf)")
	asJSON := fs.Bool("json", false, `print one JSON document {"results": [...]}`)
	timeout := fs.Duration("timeout", 5*time.Second, "time budget for each target")
	helo := fs.String("helo", "", "the HELO/EHLO name your mail server announces, compared with the PTR name")
	authPort := fs.Int("authority-port", 53, "port to query authoritative servers on (for testing)")
	fs.Usage = func() {
		fmt.Fprint(stderr, diagnoseUsage)
		fs.PrintDefaults()
	}
	// Flags may follow targets: parse what remains after each target.
	var targets []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		targets = append(targets, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(targets) == 0 {
		fmt.Fprintln(stderr, "bot diagnose: no target given")
		fs.Usage()
		return 2
	}
	if *timeout <= 0 {
		fmt.Fprintf(stderr, "bot diagnose: --timeout %s must be positive\n", *timeout)
		return 2
	}
	bad := false
	for _, t := range targets {
		if _, _, err := diagnose.ParseTarget(t); err != nil {
			fmt.Fprintf(stderr, "bot %v\n", err) // "bot diagnose: invalid target …"
			bad = true
		}
	}
	if bad {
		return 2
	}
	d, err := diagnose.New(diagnose.Config{
		Resolver:      *resolver,
		Timeout:       *timeout,
		QueryTimeout:  min(time.Second, *timeout/4),
		AuthorityPort: *authPort,
	})
	if err != nil {
		fmt.Fprintf(stderr, "bot %v\n", err)
		return 2
	}

	type outcome struct {
		results []diagnose.Result
		err     error
	}
	outcomes := make([]outcome, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() {
			rs, err := d.Diagnose(ctx, t, diagnose.Options{HELO: *helo})
			outcomes[i] = outcome{rs, err}
		})
	}
	wg.Wait()

	out := diagnoseOutput{Results: []diagnose.Result{}}
	anyFail, anyTemp := false, false
	for i, o := range outcomes {
		// A host name may give results and an error together: a family
		// that did not answer, or addresses beyond the cap (a note only).
		switch {
		case errors.Is(o.err, diagnose.ErrNoAddress):
			anyFail = true
		case errors.Is(o.err, diagnose.ErrLookup), o.err != nil && !errors.Is(o.err, diagnose.ErrTooManyAddresses):
			anyTemp = true
		}
		if o.err != nil {
			out.Errors = append(out.Errors, targetError{Target: targets[i], Error: o.err.Error()})
			fmt.Fprintf(stderr, "bot %v\n", o.err)
		}
		for _, r := range o.results {
			switch r.Status {
			case diagnose.StatusFail, diagnose.StatusPermerror:
				anyFail = true
			case diagnose.StatusTemperror:
				anyTemp = true
			}
		}
		out.Results = append(out.Results, o.results...)
	}

	w := bufio.NewWriter(stdout)
	if *asJSON {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			fmt.Fprintf(stderr, "bot diagnose: %v\n", err)
			return 2
		}
	} else {
		for i, r := range out.Results {
			if i > 0 {
				fmt.Fprintln(w)
			}
			printResult(w, r)
		}
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintf(stderr, "bot diagnose: %v\n", err)
		return 2
	}
	switch {
	case anyFail:
		return 1
	case anyTemp:
		return 3
	}
	return 0
}

// printResult writes one result for a terminal: the verdict line, then the
// findings, then numbered steps with their commands.
func printResult(w io.Writer, r diagnose.Result) {
	subject := r.IP
	if r.Target != r.IP {
		subject = fmt.Sprintf("%s (%s)", r.IP, r.Target)
	}
	fmt.Fprintf(w, "%s: %s — %s\n", subject, r.Status, verdict(r))
	if r.ReverseZone != "" {
		fmt.Fprintf(w, "  reverse zone %s, name servers %s\n", r.ReverseZone, strings.Join(r.ReverseNameservers, ", "))
	}
	if r.Provider != nil {
		fmt.Fprintf(w, "  provider: %s\n", r.Provider.Name)
	}
	if len(r.Findings) > 0 {
		fmt.Fprintln(w, "  findings:")
		for _, f := range r.Findings {
			fmt.Fprintf(w, "    [%s] %s: %s\n", f.Severity, f.Code, f.Message)
		}
	}
	if len(r.Guidance) > 0 {
		fmt.Fprintln(w, "  steps:")
		for i, s := range r.Guidance {
			fmt.Fprintf(w, "    %d. %s\n", i+1, s.Text)
			for _, c := range s.Commands {
				fmt.Fprintf(w, "       $ %s\n", c)
			}
		}
	}
}

func verdict(r diagnose.Result) string {
	switch r.Status {
	case diagnose.StatusPass:
		return fmt.Sprintf("PTR %s resolves back to %s", r.ConfirmedName, r.IP)
	case diagnose.StatusFail:
		return fmt.Sprintf("PTR %s does not resolve back to %s", strings.Join(r.PTRNames, ", "), r.IP)
	case diagnose.StatusPermerror:
		return "no PTR record"
	}
	return "DNS did not answer; try again later"
}
