package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/duet-rtc/duet/admin"
	"github.com/duet-rtc/duet/internal/cli"
)

// Exit codes of duet rooms.
const (
	roomsOK           = 0
	roomsFailed       = 1 // the server could not be reached or failed
	roomsUsage        = 2
	roomsNotFound     = 3 // no such room or member
	roomsUnauthorized = 4 // the admin key was refused
	roomsAPIOff       = 5 // the server answered, but has no admin API (no admin_key)
)

const roomsUsageText = `usage: duet rooms COMMAND [flags] [APP/ROOM] [MEMBER]

Operate a running duet server (or cluster) through its admin API.

commands:
  ls [--app APP] [--limit N]   list rooms and their members
  show APP/ROOM                one room in detail
  end APP/ROOM                 end a room: every member gets stop (reason kicked)
  kick APP/ROOM MEMBER         remove one member (its id from ls or show)
  stats                        nodes, connections, rooms, calls

exit codes: 0 done, 1 server unreachable or failing, 2 usage, 3 no such room or member, 4 admin key refused,
  5 the server has no admin API (started without admin_key)

flags:`

func roomsMain(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("duet rooms", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	url := fs.String("url", envOr(getenv, "DUET_URL", "http://localhost:5080"), "the server's base URL (env DUET_URL)")
	key := fs.String("admin-key", getenv("DUET_ADMIN_KEY"), "admin key or admin token (env DUET_ADMIN_KEY; a flag shows in the process list)")
	app := fs.String("app", "", "ls: only this app's rooms")
	limit := fs.Int("limit", 0, "ls: at most this many rooms (server default 1000)")
	asJSON := fs.Bool("json", false, "print the API's JSON answer")
	timeout := fs.Duration("timeout", 15*time.Second, "give up after this long")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), roomsUsageText)
		cli.PrintFlags(fs.Output(), fs)
	}
	if len(args) == 0 {
		fmt.Fprintln(stderr, "duet rooms: which command? ls, show, end, kick or stats\nrun 'duet rooms --help' for the commands and flags")
		return roomsUsage
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "-help" || args[0] == "help" {
		return cli.Help(fs, stdout)
	}
	cmd := args[0]
	pos, err := cli.Parse(fs, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return cli.Help(fs, stdout)
	}
	if err != nil {
		return cli.Fail(stderr, "duet rooms", err)
	}
	want := map[string]int{"ls": 0, "stats": 0, "show": 1, "end": 1, "kick": 2}
	n, ok := want[cmd]
	if !ok || len(pos) != n {
		return cli.Fail(stderr, "duet rooms", errors.New(usageProblem(cmd, ok, n, len(pos))))
	}
	if *key == "" {
		return cli.Fail(stderr, "duet rooms", errors.New("no admin key: set DUET_ADMIN_KEY (or --admin-key) to the server's admin_key"))
	}
	var roomApp, room string
	if n > 0 {
		var ok bool
		roomApp, room, ok = strings.Cut(pos[0], "/")
		if !ok || roomApp == "" || room == "" {
			return cli.Fail(stderr, "duet rooms", fmt.Errorf("%q is not APP/ROOM; write e.g. WebRTCAppEE/%s", pos[0], strings.Trim(pos[0], "/")))
		}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	c := &admin.Client{URL: *url, Key: *key, HTTP: &http.Client{}}
	out := func(v any, text func(w io.Writer)) {
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			enc.Encode(v)
			return
		}
		text(stdout)
	}
	switch cmd {
	case "ls":
		r, err := c.Rooms(ctx, *app, *limit)
		if err != nil {
			return roomsError(stderr, err)
		}
		out(r, func(w io.Writer) { printRooms(w, r) })
	case "show":
		r, err := c.Room(ctx, roomApp, room)
		if err != nil {
			return roomsError(stderr, err)
		}
		out(r, func(w io.Writer) { printRoom(w, r) })
	case "end":
		r, err := c.EndRoom(ctx, roomApp, room)
		if err != nil {
			return roomsError(stderr, err)
		}
		out(r, func(w io.Writer) { fmt.Fprintf(w, "ended %s/%s: %d members removed\n", roomApp, room, r.Removed) })
	case "kick":
		if err := c.Kick(ctx, roomApp, room, pos[1]); err != nil {
			return roomsError(stderr, err)
		}
		out(admin.Removed{Removed: 1}, func(w io.Writer) { fmt.Fprintf(w, "removed %s from %s/%s\n", pos[1], roomApp, room) })
	case "stats":
		r, err := c.Stats(ctx)
		if err != nil {
			return roomsError(stderr, err)
		}
		out(r, func(w io.Writer) { printStats(w, r) })
	}
	return roomsOK
}

func envOr(getenv func(string) string, k, def string) string {
	if v := getenv(k); v != "" {
		return v
	}
	return def
}

func usageProblem(cmd string, known bool, want, got int) string {
	if !known {
		msg := fmt.Sprintf("unknown command %q (ls, show, end, kick, stats)", cmd)
		if s := cli.Suggest(cmd, []string{"ls", "show", "end", "kick", "stats"}); s != "" {
			msg += "; did you mean " + s + "?"
		}
		return msg
	}
	form := map[string]string{"ls": "ls", "stats": "stats", "show": "show APP/ROOM", "end": "end APP/ROOM", "kick": "kick APP/ROOM MEMBER"}[cmd]
	return fmt.Sprintf("%s takes %d argument(s), got %d: duet rooms %s", cmd, want, got, form)
}

func roomsError(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "duet rooms: %v\n", err)
	switch {
	case errors.Is(err, admin.ErrNotFound):
		return roomsNotFound
	case errors.Is(err, admin.ErrUnauthorized):
		return roomsUnauthorized
	case errors.Is(err, admin.ErrAPIOff):
		return roomsAPIOff
	}
	return roomsFailed
}

func coverageNote(w io.Writer, c admin.Coverage) {
	if c.Partial {
		fmt.Fprintf(w, "warning: partial answer: %d of %d nodes answered\n", c.AnsweredNodes, c.ExpectedNodes)
	}
}

func printRooms(w io.Writer, r admin.RoomsResponse) {
	coverageNote(w, r.Coverage)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "APP\tROOM\tSTATE\tCALL\tMEMBERS")
	for _, room := range r.Rooms {
		ids := make([]string, len(room.Members))
		for i, m := range room.Members {
			ids[i] = m.ID
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", room.App, room.Room, room.State, callLength(room), strings.Join(ids, " "))
	}
	tw.Flush()
	if r.Truncated {
		fmt.Fprintf(w, "(first %d rooms; use --app or --limit)\n", len(r.Rooms))
	}
}

func callLength(r admin.Room) string {
	if r.CallDurationMs == nil {
		return "-"
	}
	return (time.Duration(*r.CallDurationMs) * time.Millisecond).Round(time.Second).String()
}

func printRoom(w io.Writer, r admin.RoomResponse) {
	coverageNote(w, r.Coverage)
	fmt.Fprintf(w, "%s/%s  %s", r.App, r.Room.Room, r.State)
	if r.CallStartedAt != nil {
		fmt.Fprintf(w, "  call since %s (%s)", r.CallStartedAt.Format(time.RFC3339), callLength(r.Room))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MEMBER\tNODE\tREMOTE\tJOINED\tRESUMABLE")
	for _, m := range r.Members {
		joined := "-"
		if m.JoinedAt != nil {
			joined = m.JoinedAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\n", m.ID, m.Node, m.Remote, joined, m.Resumable)
	}
	tw.Flush()
}

func printStats(w io.Writer, r admin.StatsResponse) {
	coverageNote(w, r.Coverage)
	t := r.Totals
	fmt.Fprintf(w, "nodes %d  connections %d  rooms %d  calls %d  members %d\n", t.Nodes, t.Connections, t.Rooms, t.Calls, t.Members)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tVERSION\tUPTIME\tCONNECTIONS\tROOMS\tMEMBERS")
	for _, n := range r.Nodes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\n", n.ID, n.Version, time.Duration(n.UptimeSeconds)*time.Second, n.Connections, n.Rooms, n.Members)
	}
	tw.Flush()
}
