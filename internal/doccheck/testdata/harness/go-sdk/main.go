// Harness of README.md's Go SDK example: the example is the body of run,
// one peer of room r1. answer is the other peer: it waits for "hello",
// says hello back and hangs up. The example must print the greeting and
// return nil, since a hang-up is how a call ends, not a failure.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/duet-rtc/duet/client"
	"github.com/duet-rtc/duet/protocol"
)

// What the example may use; kept used here so that an example that stops
// using one still compiles.
var (
	_ = errors.Is
	_ = io.EOF
	_ = fmt.Printf
	_ = protocol.ErrNoSpaceForNewPeer
)

func run(ctx context.Context) error {
	//snippet:here
}

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	partner := make(chan error, 1)
	go func() { partner <- answer(ctx) }()
	if err := run(ctx); err != nil {
		fmt.Println("the example returned", err)
		os.Exit(1)
	}
	if err := <-partner; err != nil {
		fmt.Println("the partner:", err)
		os.Exit(1)
	}
	fmt.Println("the example returned nil once the partner hung up")
}

func answer(ctx context.Context) error {
	c, err := client.Dial(ctx, os.Getenv("DUET_DOC_URL"), nil)
	if err != nil {
		return err
	}
	defer c.Close()
	p, err := client.NewPeer(ctx, c, "r1", nil)
	if err != nil {
		return err
	}
	s, err := p.Accept(ctx)
	if err != nil {
		p.Close()
		return err
	}
	m, err := s.Recv(ctx)
	if err != nil {
		p.Close()
		return err
	}
	if string(m.Data) != "hello" {
		p.Close()
		return fmt.Errorf("got %q, want hello", m.Data)
	}
	if err := s.SendText(ctx, "hello"); err != nil {
		p.Close()
		return err
	}
	if err := s.Flush(ctx); err != nil {
		p.Close()
		return err
	}
	return p.Close() // hang up
}
