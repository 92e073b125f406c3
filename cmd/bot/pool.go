package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/pool"
)

// poolUsage is what bot diagnose's usage says about pools: the forms, the
// rule for which addresses a block includes, the limits and the output.
func poolUsage() string {
	forms := "A TARGET may also be a CIDR block or a range of addresses (a pool), mixed freely with the others: " +
		"203.0.113.0/24, 2001:db8::/120, 203.0.113.10-203.0.113.20. " + pool.Rule +
		fmt.Sprintf(" All pools together may have up to %d addresses, each counted once; larger ones are refused, never cut short.", pool.MaxAddresses)
	output := "With a pool, only the results of addresses that do not pass are printed (--all prints every one), " +
		"then a summary of the pools, failures first; --json prints every result and adds a \"summary\" object."
	return wrap(forms, 78) + "\n\n" + wrap(output, 78) + "\n\n"
}

// wrap breaks text into lines of at most width characters, at spaces.
func wrap(text string, width int) string {
	var b strings.Builder
	line := 0
	for _, w := range strings.Fields(text) {
		switch {
		case line == 0:
		case line+1+len(w) > width:
			b.WriteByte('\n')
			line = 0
		default:
			b.WriteByte(' ')
			line++
		}
		b.WriteString(w)
		line += len(w)
	}
	return b.String()
}

// poolFlags adds bot diagnose's pool flags to fs; the flag is whether every
// pool address's result is printed, not only the failing ones.
func poolFlags(fs *flag.FlagSet) *bool {
	return fs.Bool("all", false, "with CIDR blocks or ranges: print every address's result, not only those that do not pass")
}

// targets are bot diagnose's targets, each classified once by pool.Target.
type targets struct {
	names   []string
	others  []string    // addresses and host names, for diagnose, in order
	pools   []pool.Pool // the pools package pool took
	refused []error     // by index: the error of a pool target package pool refused
	isOther []bool      // by index: the target is among others
}

func splitTargets(names []string) targets {
	t := targets{names: names, refused: make([]error, len(names)), isOther: make([]bool, len(names))}
	for i, name := range names {
		switch p, ok, err := pool.Target(name); {
		case err != nil:
			t.refused[i] = err
		case ok:
			t.pools = append(t.pools, p)
		default:
			t.others, t.isOther[i] = append(t.others, name), true
		}
	}
	return t
}

// anyPool reports whether any target is for the pool path, taken or refused.
func (t targets) anyPool() bool { return slices.Contains(t.isOther, false) }

// poolOutput is the --json document with pools: diagnose's document, every
// result included, plus the summary of the pools (absent when none was
// checked). A public contract, see README.md ("Pools").
type poolOutput struct {
	diagnoseOutput
	Summary *pool.Summary `json:"summary,omitempty"`
}

// diagnosePools runs bot diagnose when some targets are pools. Addresses
// and host names are diagnosed as without pools, and together with them;
// the pools are joined (each address once, the total capped) and checked
// with package pool's pacing. A refused pool is an unusable target: it is
// reported and the others are still diagnosed. It returns how to print the
// document and the exit status, as for several targets.
func diagnosePools(ctx context.Context, d *diagnose.Diagnoser, a diagnoseArgs, t targets, all bool, stderr io.Writer) (write func(io.Writer) error, status int) {
	var (
		batch diagnose.Batch
		wg    sync.WaitGroup
	)
	sess := d.Session() // the host names and the pools ask each shared question once
	wg.Go(func() { batch = sess.DiagnoseTargets(ctx, t.others, a.opts) })
	checked, summary, joinErr := checkPools(ctx, sess, t.pools, a.opts)
	wg.Wait()

	// The outcomes in target order (DiagnoseTargets keeps the others'),
	// then the pools' results as one.
	var outcomes []diagnose.Outcome
	next := 0
	for i, name := range t.names {
		switch {
		case t.refused[i] != nil:
			outcomes = append(outcomes, unusable(name, t.refused[i]))
		case t.isOther[i]:
			outcomes = append(outcomes, batch.Outcomes[next])
			next++
		}
	}
	names := make([]string, len(t.pools))
	for i, p := range t.pools {
		names[i] = p.String()
	}
	if joinErr != nil {
		outcomes = append(outcomes, unusable(strings.Join(names, " "), joinErr))
	}
	outcomes = append(outcomes, diagnose.Outcome{Target: strings.Join(names, " "), Results: checked})
	out, status := collect(diagnose.Batch{Outcomes: outcomes}, stderr)
	if summary != nil && summary.NotChecked > 0 {
		fmt.Fprintf(stderr, "bot diagnose: %d pool addresses were not checked: cancelled or out of time\n", summary.NotChecked)
		if status == 0 {
			status = 3 // not diagnosed is not passing
		}
	}

	return func(w io.Writer) error {
		return writePools(w, out, t.pools, summary, batch.Results(), checked, all, a.asJSON)
	}, status
}

// unusable is the outcome of a refused pool target: an invalid target, as
// collect counts them, whose message is package pool's (it names the
// limit).
func unusable(target string, err error) diagnose.Outcome {
	return diagnose.Outcome{Target: target, Err: fmt.Errorf("%w: %w", diagnose.ErrInvalidTarget, err)}
}

// checkPools joins the pools and checks them: the results in address
// order and the summary, or the error of a union over the cap (nothing is
// checked then). No pools, no summary.
func checkPools(ctx context.Context, sess *diagnose.Session, pools []pool.Pool, opts diagnose.Options) ([]diagnose.Result, *pool.Summary, error) {
	if len(pools) == 0 {
		return nil, nil, nil
	}
	set, err := pool.Join(pools...)
	if err != nil {
		return nil, nil, err
	}
	byIP := make(map[string]diagnose.Result, set.Len())
	rep := pool.Check(ctx, sess, set.All(), pool.Config{Options: opts, OnResult: func(r diagnose.Result) { byIP[r.IP] = r }})
	results := make([]diagnose.Result, 0, len(byIP))
	for ip := range set.All() {
		if r, ok := byIP[ip.String()]; ok {
			results = append(results, r)
		}
	}
	s := rep.Summary()
	return results, &s, nil
}

// writePools prints the document: as JSON with every result and the
// summary; for a terminal the other targets' results, the pool addresses'
// that do not pass (all of them with all), then what each pool covers and
// the summary table.
func writePools(stdout io.Writer, out diagnoseOutput, pools []pool.Pool, s *pool.Summary, others, checked []diagnose.Result, all, asJSON bool) error {
	if asJSON {
		return writeJSON(stdout, poolOutput{out, s})
	}
	shown := others
	for _, r := range checked {
		if all || r.Status != diagnose.StatusPass {
			shown = append(shown, r)
		}
	}
	if err := writeDiagnoses(stdout, diagnoseOutput{Results: shown}, false); err != nil {
		return err
	}
	if s == nil {
		return nil
	}
	w := bufio.NewWriter(stdout)
	if len(shown) > 0 {
		fmt.Fprintln(w)
	}
	for _, p := range pools {
		fmt.Fprintf(w, "%s: %d addresses, %s to %s", p, p.Len(), p.First(), p.Last())
		if p.EndsSkipped() {
			fmt.Fprint(w, " (its network and broadcast addresses are left out: name them to check them)")
		}
		fmt.Fprintln(w)
	}
	if err := s.Table(w); err != nil {
		return err
	}
	return w.Flush()
}
