package main

import (
	"context"
	"io"

	"github.com/duet-rtc/duet/bench"
)

// benchMain runs the load generator (package bench).
func benchMain(ctx context.Context, args []string, stdout, stderr io.Writer, _ func(string) string) int {
	return bench.Main(ctx, args, stdout, stderr)
}
