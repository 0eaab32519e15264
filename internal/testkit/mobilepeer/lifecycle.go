package mobilepeer

import (
	"time"

	"github.com/pion/webrtc/v4"
)

// iceState follows a peer connection's ICE state as the SDKs do: iOS
// (AntMediaClient.connectionStateChanged) checks its connection 3 s after
// any closed, disconnected or failed state; Android
// (WebRTCClient.onIceConnectionChange) starts its rejoin attempts on
// disconnected or closed.
func (p *Peer) iceState(_ *webrtc.PeerConnection, s webrtc.ICEConnectionState) {
	switch p.opt.Kind {
	case IOS:
		if s == webrtc.ICEConnectionStateClosed || s == webrtc.ICEConnectionStateDisconnected || s == webrtc.ICEConnectionStateFailed {
			p.iosCheck()
		}
	case Android:
		if s == webrtc.ICEConnectionStateDisconnected || s == webrtc.ICEConnectionStateClosed {
			p.rePublishPlay()
		}
	}
}

// iosCheck is AntMediaClient.reconnectIfRequires for a p2p stream: once
// scheduled, 3 s later, if the call's peer connection is closed,
// disconnected or failed, it is dropped and the client joins again (on
// the socket if it is up, else on a new one, whose opening sends the
// join). A peer connection the user or a stop removed is not there to
// check: nothing happens.
func (p *Peer) iosCheck() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.checking || p.ctx.Err() != nil {
		return
	}
	p.checking = true
	p.check = time.AfterFunc(p.opt.Timers.Reconnect, func() {
		p.mu.Lock()
		p.checking = false
		pc, up := p.pc, p.ws != nil
		p.mu.Unlock()
		if pc == nil || p.ctx.Err() != nil {
			return
		}
		switch pc.ICEConnectionState() {
		case webrtc.ICEConnectionStateClosed, webrtc.ICEConnectionStateDisconnected, webrtc.ICEConnectionStateFailed:
		default:
			return
		}
		p.logf("connection down: joining again")
		p.dropPC()
		if up {
			p.sendJoin(nil)
		} else if err := p.connect(); err != nil {
			p.logf("reconnect: %v", err)
		}
	})
}

// rePublishPlay is WebRTCClient.rePublishPlay for a p2p stream: unless the
// user stopped or a reconnection is under way, the first rejoin attempt
// runs 3 s later.
func (p *Peer) rePublishPlay() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped || p.reconnecting || p.ctx.Err() != nil {
		return
	}
	p.reconnecting = true
	p.retry = time.AfterFunc(p.opt.Timers.Reconnect, p.rejoinAttempt)
}

// rejoinAttempt is the peerReconnectorRunnable (WebRTC-Android-SDK PR
// #89): it schedules the next attempt 10 s on, then, if the peer
// connection is not checking or connected, closes it and sends leave then
// join, on the socket if it is up (each dropped otherwise). A connected
// peer connection ends the attempts (onConnected).
func (p *Peer) rejoinAttempt() {
	p.mu.Lock()
	if p.stopped || !p.reconnecting || p.ctx.Err() != nil {
		p.mu.Unlock()
		return
	}
	p.retry = time.AfterFunc(p.opt.Timers.RetryEvery, p.rejoinAttempt)
	pc := p.pc
	p.mu.Unlock()
	if pc != nil {
		switch pc.ICEConnectionState() {
		case webrtc.ICEConnectionStateChecking, webrtc.ICEConnectionStateConnected, webrtc.ICEConnectionStateCompleted:
			return
		}
	}
	p.mu.Lock()
	p.attempts++
	p.mu.Unlock()
	p.logf("rejoin attempt: leave, then join")
	p.dropPC()
	p.send(map[string]any{"command": "leave", "streamId": p.opt.Room})
	p.sendJoin(nil)
}

// socketReconnector is WebSocketHandler.setupWsReconnection: every 5 s,
// a socket that is down is opened again (without a join: the rejoin
// attempts send it).
func (p *Peer) socketReconnector() {
	defer p.wg.Done()
	t := time.NewTicker(p.opt.Timers.SocketEvery)
	defer t.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
		}
		p.mu.Lock()
		down := p.ws == nil && !p.stopped
		p.mu.Unlock()
		if down {
			if err := p.connect(); err != nil {
				p.logf("socket reconnect: %v", err)
			}
		}
	}
}

// HangUp is the user ending the call, as the SDK's stop does. iOS:
// leave(streamId:) writes leave only when the socket is NOT connected,
// so nothing is sent; its peer connection is disconnected. Android:
// leave, then release(true): the socket closes and nothing reconnects.
// Plain: the peer connection is closed, nothing sent.
func (p *Peer) HangUp() {
	switch p.opt.Kind {
	case Android:
		p.send(map[string]any{"command": "leave", "streamId": p.opt.Room})
		p.mu.Lock()
		p.stopped = true
		ws := p.ws
		p.mu.Unlock()
		if ws != nil {
			ws.Close()
		}
	case IOS:
		p.mu.Lock()
		up := p.ws != nil
		p.mu.Unlock()
		if !up {
			p.send(map[string]any{"command": "leave", "streamId": p.opt.Room})
		}
	}
	p.dropPC()
}

// JoinAgain is the user calling again on the same socket (iOS
// join(streamId:): a fresh peer connection, then join), with extra fields
// on the join (a duet SDK's restart: true).
func (p *Peer) JoinAgain(extra map[string]any) {
	p.dropPC()
	p.sendJoin(extra)
}

// NetworkDown takes the peer's network away: its ICE packets are lost,
// new sockets cannot be opened, and its socket's connection is dropped
// without a close handshake (the server sees it end, unless a proxy in
// between keeps the server's side open).
func (p *Peer) NetworkDown() {
	p.PathDown()
	p.mu.Lock()
	ws := p.ws
	p.mu.Unlock()
	if ws != nil {
		ws.UnderlyingConn().Close()
	}
}

// NetworkUp gives the network back.
func (p *Peer) NetworkUp() { p.PathUp() }

// PathDown loses the peer's ICE packets only (its socket stays up): what
// it closes meanwhile, its partner never hears of.
func (p *Peer) PathDown() { p.udp.down.Store(true) }

// PathUp gives the ICE path back.
func (p *Peer) PathUp() { p.udp.down.Store(false) }
