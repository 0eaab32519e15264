package client_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/duet-rtc/duet/client"
	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/protocol"
	"github.com/duet-rtc/duet/server"
)

// Two Go peers meet in room "r1" of a duet server running in this process
// and talk over their data channel.
func Example() {
	// A duet server on a free loopback port (server.New, then Serve).
	url, stopServer := exampleServer()
	defer stopServer()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Loopback: this machine may have no network.
	opts := &client.PeerOptions{Loopback: true}

	alice, err := client.Dial(ctx, url, nil)
	if err != nil {
		panic(err)
	}
	defer alice.Close()
	ap, err := client.NewPeer(ctx, alice, "r1", opts)
	if err != nil {
		panic(err)
	}
	defer ap.Close()

	bob, err := client.Dial(ctx, url, nil)
	if err != nil {
		panic(err)
	}
	defer bob.Close()
	bp, err := client.NewPeer(ctx, bob, "r1", opts)
	if err != nil {
		panic(err)
	}
	defer bp.Close()

	as, err := ap.Accept(ctx) // alice was waiting: she makes the offer
	if err != nil {
		panic(err)
	}
	bs, err := bp.Accept(ctx)
	if err != nil {
		panic(err)
	}
	as.SendText(ctx, "hello from alice")
	msg, err := bs.Recv(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println("bob got:", string(msg.Data))
	fmt.Println("alice offered:", as.Offerer())
	// Output:
	// bob got: hello from alice
	// alice offered: true
}

// A third peer is refused: the server's error definitions are sentinel
// errors for errors.Is.
func ExampleNewPeer_roomFull() {
	url, stop := exampleServer()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	for _, name := range []string{"alice", "bob", "carol"} {
		c, err := client.Dial(ctx, url, nil)
		if err != nil {
			panic(err)
		}
		defer c.Close()
		p, err := client.NewPeer(ctx, c, "r1", &client.PeerOptions{Loopback: true})
		if errors.Is(err, protocol.ErrNoSpaceForNewPeer) {
			fmt.Println(name, "was refused: the room is full")
			continue
		}
		if err != nil {
			panic(err)
		}
		defer p.Close()
		fmt.Println(name, "joined")
	}
	// Output:
	// alice joined
	// bob joined
	// carol was refused: the room is full
}

// The signaling client alone: join a room and watch what the server says.
func ExampleClient_Subscribe() {
	url, stop := exampleServer()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	a, err := client.Dial(ctx, url, nil)
	if err != nil {
		panic(err)
	}
	defer a.Close()
	events := a.Subscribe("r1")
	defer events.Close()
	if err := a.Join(ctx, "r1"); err != nil {
		panic(err)
	}

	b, err := client.Dial(ctx, url, nil)
	if err != nil {
		panic(err)
	}
	defer b.Close()
	if err := b.Join(ctx, "r1"); err != nil {
		panic(err)
	}
	b.Send(ctx, client.PeerMessage{Room: "r1", Definition: "greeting", Data: []byte(`"hi"`)})
	b.Leave(ctx, "r1")

	for ev := range events.Events() {
		switch ev := ev.(type) {
		case client.Joined:
			fmt.Println("joined", ev.Room)
		case client.Start:
			fmt.Println("a partner arrived: make the offer")
		case client.PeerMessage:
			fmt.Printf("peer message %s: %s\n", ev.Definition, ev.Data)
		case client.Stop:
			fmt.Println("the partner left")
			return
		}
	}
	// Output:
	// joined r1
	// a partner arrived: make the offer
	// peer message greeting: "hi"
	// the partner left
}

// exampleServer runs a duet server on a free loopback port and returns its
// WebSocket URL and a function that stops it.
func exampleServer() (url string, stop func()) {
	srv, err := server.New(config.Default(), server.Options{})
	if err != nil {
		panic(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	return "ws://" + ln.Addr().String() + "/WebRTCAppEE/websocket", func() { cancel(); <-served }
}

// A long call in a room that needs a token: the token source is asked at
// every join and rejoin, and again when the server refuses a rejoin
// because the token expired.
func ExampleWithTokenSource() {
	ctx := context.Background()
	c, err := client.Dial(ctx, "ws://localhost:5080/WebRTCAppEE/websocket", nil)
	if err != nil {
		panic(err)
	}
	defer c.Close()
	fetch := func(ctx context.Context) (string, error) {
		return "a fresh JWT from your backend", nil // e.g. an HTTP call
	}
	p, err := client.NewPeer(ctx, c, "r1", &client.PeerOptions{
		JoinOptions: []client.JoinOption{client.WithTokenSource(fetch)},
	})
	if err != nil {
		panic(err)
	}
	defer p.Close()
}

// Mid-call, a track is added and later removed: each change is
// negotiated on the same PeerConnection, whichever side makes it, and the
// data channel is not interrupted.
func ExampleSession_AddTrack() {
	var s *client.Session // from Peer.Accept
	camera, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "camera", "me")
	if err != nil {
		panic(err)
	}
	sender, err := s.AddTrack(camera) // then write samples to camera
	if err != nil {
		panic(err)
	}
	// … camera off:
	if err := s.RemoveTrack(sender); err != nil {
		panic(err)
	}
}
