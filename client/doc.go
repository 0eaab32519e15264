// Package client is duet's Go SDK: a signaling client for duet's WebSocket
// protocol (the Ant Media peer-to-peer protocol, docs/protocol.md) and a
// Peer that runs the whole WebRTC negotiation over it with pion/webrtc.
//
// A Client is one WebSocket to a duet server. It sends typed messages,
// answers nothing on its own except keep-alive, and reconnects when the
// socket is lost, the server announces server_will_stop, or the socket's
// own network address goes away (NetworkChanged), joining its rooms again
// — with the newest resume token when the join asked to resume
// (WithResume) and a fresh room token when it has a token source
// (WithTokenSource). Events arrive on subscriptions (Client.Subscribe) or
// a callback (Options.OnEvent).
//
// A Peer joins one room on a Client and turns what the server says into a
// pion PeerConnection: it offers when told start, answers an offer,
// trickles ICE candidates both ways. Its negotiation engine is the only
// place an offer or answer is made: perfect negotiation (the start
// receiver is impolite; glare is resolved by the polite side giving its
// offer up), renegotiation when a track is added or removed
// (Session.AddTrack, Session.RemoveTrack), and ICE restarts when the
// connection drops, fails or a local address goes away. A negotiated
// connection is a Session, returned by Peer.Accept once its data channel is
// open; it lasts through a lost signaling socket (the server holds the
// seat and the Peer takes it back), a restarted server (the two peers
// recognise each other by their session ids) and a network change, and
// ends only when the partner hangs up, another partner takes the seat, the
// connection fails for good, or the Peer is closed.
//
// Errors the server sends are *ServerError values that wrap the
// protocol.Error definitions, so errors.Is(err, protocol.ErrNoSpaceForNewPeer)
// tells a full room.
package client
