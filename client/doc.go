// Package client is duet's Go SDK: a signaling client for duet's WebSocket
// protocol (the Ant Media peer-to-peer protocol, docs/protocol.md) and a
// Peer that runs the whole WebRTC negotiation over it with pion/webrtc.
//
// A Client is one WebSocket to a duet server. It sends typed messages,
// answers nothing on its own except keep-alive, and reconnects when the
// socket is lost or the server announces server_will_stop, joining its
// rooms again. Events arrive on subscriptions (Client.Subscribe) or a
// callback (Options.OnEvent).
//
// A Peer joins one room on a Client and turns what the server says into
// pion PeerConnections: it offers when told start, answers an offer,
// trickles ICE candidates both ways, and starts over with a fresh
// PeerConnection whenever the partner leaves and another arrives. Each
// negotiated connection is a Session, returned by Peer.Accept once its
// data channel is open.
//
// Errors the server sends are *ServerError values that wrap the
// protocol.Error definitions, so errors.Is(err, protocol.ErrNoSpaceForNewPeer)
// tells a full room.
package client
