package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/smtpprobe"
)

const diagnoseUsage = `usage: bot diagnose [--resolver HOST:PORT] [--json] [--timeout DURATION] [--helo NAME] [--smtp [--smtp-port N] [--smtp-helo NAME]] TARGET...

Diagnoses forward-confirmed reverse DNS (RFC 8601 iprev) for each TARGET: an
IPv4 or IPv6 address, or a host name (every A and AAAA address is diagnosed).
An unusable target is reported and the others are still diagnosed. With
--smtp, each address's SMTP greeting is then read (one connection, EHLO,
QUIT) and its findings are added to that address's findings.

Exit status: 2 bad usage or an unusable target; else 1 any fail or permerror
(or a host name without addresses); else 3 temporary DNS errors only
(including a host name whose A or AAAA lookup did not answer); else 0 every
address passes.

`

// diagnoseOutput is the --json document: a public contract, see
// README.md ("bot diagnose").
type diagnoseOutput struct {
	Results []diagnose.Result `json:"results"`
	Errors  []targetError     `json:"errors,omitempty"`
}

// targetError is a target that is unusable, or a host name that could not
// be turned into addresses, or not into all of them (a family that did not
// answer, too many addresses).
type targetError struct {
	Target string `json:"target"`
	Error  string `json:"error"`
}

// diagnoseArgs are bot diagnose's parsed arguments.
type diagnoseArgs struct {
	targets []string
	cfg     diagnose.Config
	opts    diagnose.Options
	asJSON  bool
	// probe is the SMTP probe, nil without --smtp.
	probe *smtpprobe.Prober
}

// cmdDiagnose runs the diagnosis engine from a terminal.
func cmdDiagnose(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := newSubcommand("diagnose", diagnoseUsage+poolUsage())
	all := poolFlags(cmd.fs)
	a, err := parseDiagnoseArgs(cmd, args)
	if err != nil {
		return cmd.exit(err, stdout, stderr)
	}
	d, err := diagnose.New(a.cfg)
	if err != nil {
		fmt.Fprintf(stderr, "bot %v\n", err)
		return 2
	}
	var (
		write  func(io.Writer) error
		status int
	)
	if t := splitTargets(a.targets); t.anyPool() { // CIDR blocks and ranges: pool.go
		write, status = diagnosePools(ctx, d, a, t, *all, stderr)
	} else {
		var out diagnoseOutput
		out, status = collect(d.DiagnoseTargets(ctx, a.targets, a.opts), stderr)
		if a.probe != nil {
			// Each address once, its findings added to each of its results;
			// the CLI has no workspace, so only the per-IP limit applies. The
			// probe never changes the exit status.
			a.probe.ProbeResults(ctx, out.Results, "")
		}
		write = func(w io.Writer) error { return writeDiagnoses(w, out, a.asJSON) }
	}
	if err := write(stdout); err != nil {
		fmt.Fprintf(stderr, "bot diagnose: %v\n", err)
		return 2
	}
	return status
}

// parseDiagnoseArgs reads the flags and targets; every error is a usage
// error (or flag.ErrHelp).
func parseDiagnoseArgs(cmd *subcommand, args []string) (diagnoseArgs, error) {
	fs := cmd.fs
	resolver := fs.String("resolver", "", "recursive resolver: IP, IP:port or host:port (default: first nameserver of /etc/resolv.conf)")
	asJSON := fs.Bool("json", false, `print one JSON document {"results": [...], "errors": [...]}`)
	timeout := fs.Duration("timeout", 5*time.Second, "time budget for each target")
	helo := fs.String("helo", "", "the HELO/EHLO name your mail server announces, compared with the PTR name")
	authPort := fs.Int("authority-port", 53, "port to query authoritative servers on (for testing)")
	smtp := fs.Bool("smtp", false, "after the diagnosis, read each address's SMTP greeting (one connection to port 25, EHLO, QUIT)")
	smtpPort := fs.Int("smtp-port", 25, "port the SMTP greeting is read from")
	smtpHELO := fs.String("smtp-helo", "", "this host's own fully qualified name, sent in EHLO (default: the host name, if it is fully qualified)")
	smtpPrivate := fs.Bool("smtp-allow-private", false, "let --smtp connect to loopback and private addresses (tests and labs only)")
	targets, err := cmd.parse(args)
	switch {
	case err != nil:
		return diagnoseArgs{}, err
	case len(targets) == 0:
		return diagnoseArgs{}, usagef("no target given")
	case *timeout <= 0:
		return diagnoseArgs{}, usagef("--timeout %s must be positive", *timeout)
	case *authPort < 1 || *authPort > 65535:
		return diagnoseArgs{}, usagef("--authority-port %d is not a port number", *authPort)
	}
	var probe *smtpprobe.Prober
	if *smtp {
		if *smtpPort < 1 || *smtpPort > 65535 {
			return diagnoseArgs{}, usagef("--smtp-port %d is not a port number", *smtpPort)
		}
		name, err := smtpprobe.DefaultHELOName(*smtpHELO, os.Hostname)
		if he, ok := errors.AsType[*smtpprobe.HostnameError](err); ok {
			return diagnoseArgs{}, usagef("--smtp needs this host's fully qualified name for EHLO, and the host name %q is not one: pass --smtp-helo NAME", he.Hostname)
		} else if err != nil {
			return diagnoseArgs{}, usagef("--smtp-helo: %v", err)
		}
		if probe, err = smtpprobe.New(smtpprobe.Config{HELOName: name, Port: *smtpPort, AllowNonPublic: *smtpPrivate}); err != nil {
			return diagnoseArgs{}, usagef("--smtp: %v", err)
		}
	}
	if *resolver != "" {
		if _, err := diagnose.ParseResolver(*resolver); err != nil {
			return diagnoseArgs{}, usagef("--resolver %q is not a resolver address; expected an IP address, IP:port, [IPv6]:port or host:port, such as 1.1.1.1, 127.0.0.1:53 or [2606:4700:4700::1111]:53", *resolver)
		}
	}
	return diagnoseArgs{
		targets: targets,
		cfg: diagnose.Config{
			Resolver:      *resolver,
			Timeout:       *timeout,
			QueryTimeout:  min(time.Second, *timeout/4),
			AuthorityPort: *authPort,
		},
		opts:   diagnose.Options{HELO: *helo},
		asJSON: *asJSON,
		probe:  probe,
	}, nil
}

// collect turns a batch into the output document, reports each target's
// error on stderr and returns the exit status.
func collect(b diagnose.Batch, stderr io.Writer) (diagnoseOutput, int) {
	out := diagnoseOutput{Results: []diagnose.Result{}}
	var unusable, anyFail, anyTemp bool
	for _, o := range b.Outcomes {
		// A host name may give results and an error together: a family
		// that did not answer, or addresses beyond the cap (a note only).
		switch {
		case errors.Is(o.Err, diagnose.ErrBatchCap):
			anyTemp = true // not diagnosed: nothing known yet, as for a timeout
		case o.Err == nil, errors.Is(o.Err, diagnose.ErrTooManyAddresses):
		case errors.Is(o.Err, diagnose.ErrInvalidTarget):
			unusable = true
		case errors.Is(o.Err, diagnose.ErrNoAddress):
			anyFail = true
		default:
			anyTemp = true
		}
		if o.Err != nil {
			out.Errors = append(out.Errors, targetError{Target: o.Target, Error: o.Err.Error()})
			fmt.Fprintf(stderr, "bot %v\n", o.Err) // "bot diagnose: …": every diagnose error names its package
		}
		for _, r := range o.Results {
			switch r.Status {
			case diagnose.StatusFail, diagnose.StatusPermerror:
				anyFail = true
			case diagnose.StatusTemperror:
				anyTemp = true
			}
		}
		out.Results = append(out.Results, o.Results...)
	}
	switch {
	case unusable:
		return out, 2
	case anyFail:
		return out, 1
	case anyTemp:
		return out, 3
	}
	return out, 0
}

// writeDiagnoses prints the document as JSON or for a terminal.
func writeDiagnoses(stdout io.Writer, out diagnoseOutput, asJSON bool) error {
	if asJSON {
		return writeJSON(stdout, out)
	}
	w := bufio.NewWriter(stdout)
	for i, r := range out.Results {
		if i > 0 {
			fmt.Fprintln(w)
		}
		printResult(w, r)
	}
	return w.Flush()
}

// writeJSON prints a --json document (the results; with pools, the summary
// too): indented, and <, > and & as they are.
func writeJSON(stdout io.Writer, doc any) error {
	w := bufio.NewWriter(stdout)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	return w.Flush()
}

// printResult writes one result for a terminal: the verdict line, then the
// findings, then numbered steps with their commands.
func printResult(w io.Writer, r diagnose.Result) {
	subject := r.IP
	if r.Target != r.IP {
		subject = fmt.Sprintf("%s (%s)", r.IP, r.Target)
	}
	fmt.Fprintf(w, "%s: %s — %s\n", subject, r.Status, r.Status.Words())
	for _, name := range r.PTRNames {
		fmt.Fprintf(w, "  PTR %s → %s\n", name, forwardAddrs(r, name))
	}
	for _, s := range r.Siblings {
		fmt.Fprintf(w, "  sibling %s (an address of %s): %s — %s\n", s.IP, s.Host, s.Status, s.Status.Words())
	}
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

// forwardAddrs is where a PTR name points, as a terminal shows it.
func forwardAddrs(r diagnose.Result, name string) string {
	addrs, ok := r.Forward[name]
	switch {
	case !ok:
		return "(not looked up)"
	case len(addrs) == 0:
		return "(no A/AAAA)"
	}
	return strings.Join(addrs, ", ")
}
