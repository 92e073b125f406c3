package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// usageError is input the command cannot act on: it is printed to stderr
// with the command's usage, and the exit status is 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// subcommand is a flag set with its usage text. -h and --help print the
// usage to stdout and exit 0; a usage error prints it to stderr and exits 2:
// the same for every subcommand.
type subcommand struct {
	name  string
	usage string
	fs    *flag.FlagSet
}

func newSubcommand(name, usage string) *subcommand {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors and usage are printed by exit, once
	fs.Usage = func() {}
	return &subcommand{name: name, usage: usage, fs: fs}
}

// parse reads flags, which may come before, between or after the operands,
// and returns the operands. The error is flag.ErrHelp or a usageError.
func (c *subcommand) parse(args []string) ([]string, error) {
	var operands []string
	for rest := args; ; {
		if err := c.fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		if c.fs.NArg() == 0 {
			return operands, nil
		}
		operands = append(operands, c.fs.Arg(0))
		rest = c.fs.Args()[1:]
	}
}

// exit reports a parse or usage error and returns the exit status: 0 for
// help, 2 for bad usage.
func (c *subcommand) exit(err error, stdout, stderr io.Writer) int {
	if errors.Is(err, flag.ErrHelp) {
		c.printUsage(stdout)
		return 0
	}
	fmt.Fprintf(stderr, "bot %s: %v\n", c.name, err)
	c.printUsage(stderr)
	return 2
}

func (c *subcommand) printUsage(w io.Writer) {
	fmt.Fprint(w, c.usage)
	c.fs.SetOutput(w)
	c.fs.PrintDefaults()
	c.fs.SetOutput(io.Discard)
}
