// Command bare-relay runs the bare WebSocket relay (package
// bench/barerelay) that duet's benchmarks use as their ceiling.
//
//	bare-relay --listen 127.0.0.1:5090 [--engine duet|gorilla]
//
// It serves /ws?room=R and prints its address once listening.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/duet-rtc/duet/bench/barerelay"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:5090", "address to listen on")
	engine := flag.String("engine", "duet", "socket engine: duet (duet's own, the ceiling) or gorilla (gorilla/websocket)")
	flag.Parse()
	var h http.Handler
	switch *engine {
	case "duet":
		h = barerelay.NewEngine()
	case "gorilla":
		h = barerelay.NewGorilla()
	default:
		fmt.Fprintln(os.Stderr, "bare-relay: --engine must be duet or gorilla")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bare-relay:", err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", h)
	srv := &http.Server{Handler: mux}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); srv.Close() }()
	fmt.Println("bare-relay", *engine, "listening on", ln.Addr())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "bare-relay:", err)
		os.Exit(1)
	}
}
