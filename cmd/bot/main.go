// Command bot is rdnsbot: a Slack bot that explains and tracks reverse-DNS
// (FCrDNS, RFC 8601 iprev) failures behind "550 5.7.25" bounces.
//
//	bot                         run the Slack bot (socket mode)
//	bot diagnose TARGET...      diagnose IPs or hostnames from a terminal
//	bot parse-bounce [FILE...]  find the rejected sending IP in bounces
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage:
  bot                                   run the Slack bot (configured from the environment)
  bot diagnose [flags] TARGET...        diagnose IPs or hostnames (bot diagnose -h)
  bot parse-bounce [--json] [FILE...]   find the rejected sending IP in bounces
  bot healthcheck [URL]                 exit 0 when URL (default http://127.0.0.1:8080/readyz) answers 200
  bot help                              this text (every command takes -h too)

The bot's configuration is read from the environment: see README.md.
`

// run dispatches a subcommand and returns the process exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		return cmdServe(ctx, stderr)
	}
	switch args[0] {
	case "diagnose":
		return cmdDiagnose(ctx, args[1:], stdout, stderr)
	case "parse-bounce":
		return cmdParseBounce(ctx, args[1:], stdin, stdout, stderr)
	case "healthcheck":
		return cmdHealthcheck(ctx, args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "bot: unknown command %q\n%s", args[0], usage)
		return 2
	}
}
