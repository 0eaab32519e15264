package main

import (
	"context"
	"fmt"
	"io"
)

// benchMain is a placeholder until the bench subcommand lands.
func benchMain(_ context.Context, _ []string, _, stderr io.Writer, _ func(string) string) int {
	fmt.Fprintln(stderr, "duet bench: not built yet")
	return 2
}
