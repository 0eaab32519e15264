// Command duet is a WebRTC peer-to-peer signaling server compatible with
// Ant Media Server's peer-to-peer protocol.
//
//	duet [serve] [flags]   run the server (the default)
//	duet turn [flags]      run only the embedded TURN/STUN server
//	duet rooms ...         operate a server through its admin API
//	duet version           print the version, commit, build date and Go version
//	duet healthcheck       exit 0 when the configured server is alive
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/duet-rtc/duet/internal/cli"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// command is one subcommand.
type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int
}

func commands() []command {
	return []command{
		{"serve", "run the signaling server (default)", serve},
		{"turn", "run only the embedded TURN/STUN server (relays that outlive signaling restarts)", turnMain},
		{"peer", "join a room as a WebRTC peer and bridge its data channel to stdin/stdout", peerMain},
		{"token", "mint a room access token for testing", tokenMain},
		{"rooms", "list rooms, end a room or remove a member (admin API)", roomsMain},
		{"bench", "run a load scenario against a server", benchMain},
		{"healthcheck", "exit 0 when the configured server answers /healthz (for container health checks)", healthcheck},
		{"version", "print the version, commit, build date and Go version", versionMain},
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) > 0 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help") {
		usage(stdout)
		return 0
	}
	if len(args) > 0 && (args[0] == "--version" || args[0] == "-version") {
		return versionMain(ctx, args[1:], stdout, stderr, getenv)
	}
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		for _, c := range commands() {
			if c.name == args[0] {
				return c.run(ctx, args[1:], stdout, stderr, getenv)
			}
		}
		var names []string
		for _, c := range commands() {
			names = append(names, c.name)
		}
		msg := fmt.Sprintf("unknown command %q", args[0])
		if s := cli.Suggest(args[0], names); s != "" {
			msg += "; did you mean " + s + "?"
		}
		fmt.Fprintf(stderr, "duet: %s\nrun 'duet --help' for the commands\n", msg)
		return 2
	}
	return serve(ctx, args, stdout, stderr, getenv)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: duet [command] [flags]")
	fmt.Fprintln(w, "commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "run 'duet COMMAND --help' for a command's flags")
}
