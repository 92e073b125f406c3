package main

import (
	"context"
	"fmt"
	"io"
)

// STUB: owned by the bounce helper, replaced by the real command.
func cmdParseBounce(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "bot parse-bounce: not built yet")
	return 2
}
