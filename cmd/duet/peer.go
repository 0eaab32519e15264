package main

import (
	"context"
	"fmt"
	"io"
)

// peerMain is a placeholder until the peer subcommand lands.
func peerMain(_ context.Context, _ []string, _, stderr io.Writer, _ func(string) string) int {
	fmt.Fprintln(stderr, "duet peer: not built yet")
	return 2
}
