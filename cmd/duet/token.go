package main

import (
	"context"
	"fmt"
	"io"
)

// tokenMain is a placeholder until the token subcommand lands.
func tokenMain(_ context.Context, _ []string, _, stderr io.Writer, _ func(string) string) int {
	fmt.Fprintln(stderr, "duet token: not built yet")
	return 2
}
