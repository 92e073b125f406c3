package main

import (
	"context"
	"fmt"
	"io"
)

// STUB: owned by the lead, replaced by the Slack bot.
func cmdServe(ctx context.Context, stderr io.Writer) int {
	fmt.Fprintln(stderr, "bot: not built yet")
	return 2
}
