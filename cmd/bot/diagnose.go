package main

import (
	"context"
	"fmt"
	"io"
)

// STUB: owned by the diagnose helper, replaced by the real command.
func cmdDiagnose(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "bot diagnose: not built yet")
	return 2
}
