package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// botBin is the real binary, built once for the package's tests so that the
// CLI is tested end to end as users run it.
var botBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "botbin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	botBin = filepath.Join(dir, "bot")
	if out, err := exec.Command("go", "build", "-o", botBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
