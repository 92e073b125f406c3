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

	"github.com/rdnsbot/rdnsbot/bounce"
)

const parseBounceUsage = `usage: bot parse-bounce [--json] [FILE...]

Reads each FILE (none, or -: standard input) as a bounce and says whether the
rejection is about the sender's reverse DNS and which IP was rejected.
Exit status: 0 every input was read; 2 bad usage, or an input could not be
read or was too large (the others are still printed).

`

// bounceLine is one line of `parse-bounce --json`: the file, then the result.
type bounceLine struct {
	File string `json:"file"`
	bounce.Result
}

// cmdParseBounce reads bounces from files (or standard input for none or
// "-") and prints one verdict per input. It returns 0 when every input was
// read, 2 when one could not be (the others are still reported).
func cmdParseBounce(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := newSubcommand("parse-bounce", parseBounceUsage)
	asJSON := cmd.fs.Bool("json", false, "print one JSON object per input")
	files, err := cmd.parse(args)
	if err != nil {
		return cmd.exit(err, stdout, stderr)
	}
	if len(files) == 0 {
		files = []string{"-"}
	}
	out := bufio.NewWriterSize(stdout, 64<<10)
	defer out.Flush()
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	status := 0
	for _, name := range files {
		if ctx.Err() != nil {
			fmt.Fprintf(stderr, "bot parse-bounce: %v\n", ctx.Err())
			return 2
		}
		res, err := parseFile(name, stdin)
		if err != nil {
			out.Flush() // keep stdout and stderr in input order
			fmt.Fprintf(stderr, "bot parse-bounce: %v\n", err)
			status = 2
			continue
		}
		if *asJSON {
			if err := enc.Encode(bounceLine{File: name, Result: res}); err != nil {
				fmt.Fprintf(stderr, "bot parse-bounce: write: %v\n", err)
				return 2
			}
			continue
		}
		fmt.Fprintln(out, summary(name, res))
	}
	return status
}

// parseFile parses one named input, "-" being standard input.
func parseFile(name string, stdin io.Reader) (bounce.Result, error) {
	if name == "-" {
		res, err := bounce.ParseReader(stdin)
		return res, wrapTooLarge("standard input", err)
	}
	f, err := os.Open(name)
	if err != nil {
		return bounce.Result{}, err // *PathError already names the file
	}
	defer f.Close()
	res, err := bounce.ParseReader(f)
	return res, wrapTooLarge(name, err)
}

func wrapTooLarge(name string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, bounce.ErrTooLarge) {
		return fmt.Errorf("%s: %w; split it or pass only the bounce", name, err)
	}
	return fmt.Errorf("%s: %w", name, err)
}

// summary is the human form: the verdict, then what was found.
func summary(name string, r bounce.Result) string {
	var b strings.Builder
	verdict := "not a reverse-DNS rejection"
	if r.RDNS {
		verdict = "REVERSE DNS rejection"
	}
	fmt.Fprintf(&b, "%s: %s", name, verdict)
	var code []string
	if r.ReplyCode != 0 {
		code = append(code, fmt.Sprint(r.ReplyCode))
	}
	if r.Status != "" {
		code = append(code, r.Status)
	}
	if len(code) > 0 {
		fmt.Fprintf(&b, " (%s", strings.Join(code, " "))
		if r.Temporary {
			b.WriteString(", temporary")
		}
		b.WriteString(")")
	}
	if len(r.SendingIPs) > 0 {
		fmt.Fprintf(&b, "\n  sending IP: %s (from the %s)", strings.Join(r.SendingIPs, ", "), r.IPSource)
	}
	if r.Check != "" {
		fmt.Fprintf(&b, "\n  checked:    %s", r.Check)
	}
	if r.HELO != "" {
		literal := ""
		if r.HELOLiteral {
			literal = ", an address literal"
		}
		fmt.Fprintf(&b, "\n  HELO:       %s (from the %s%s)", r.HELO, r.HELOSource, literal)
	}
	if r.Receiver != "" {
		fmt.Fprintf(&b, "\n  receiver:   %s", r.Receiver)
	}
	if r.Recipient != "" {
		fmt.Fprintf(&b, "\n  recipient:  %s", r.Recipient)
	}
	if r.Evidence != "" {
		fmt.Fprintf(&b, "\n  evidence:   %s", strings.ReplaceAll(r.Evidence, "\n", "\n              "))
	}
	return b.String()
}
