package main

import (
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"

	"github.com/duet-rtc/duet/certs"
)

// announcePlain tells the person who started duet without TLS what to open
// for a call: the demo page in two tabs of this machine, or on a device on
// the same network (which gets no camera over plain HTTP), and where apps
// connect. The self-signed mode says the same over HTTPS
// (announceSelfSigned).
func announcePlain(w io.Writer, addr net.Addr) {
	local, lan, ok := openURLs("http", addr, nil)
	if !ok {
		return
	}
	fmt.Fprintf(w, "\nduet is running. For a call, open this page in two browser tabs:\n\n")
	fmt.Fprintf(w, "  open on this machine:    %s\n", local)
	for i, u := range lan {
		label := ""
		if i == 0 {
			label = "open on another device:"
		}
		fmt.Fprintf(w, "  %-24s %s\n", label, u)
	}
	if len(lan) > 0 {
		fmt.Fprintf(w, "  (over plain HTTP another device gets no camera or microphone: run duet with --tls-self-signed for that)\n")
	} else if ap, err := netip.ParseAddrPort(addr.String()); err == nil && ap.Addr().IsLoopback() {
		fmt.Fprintf(w, "  (listening on loopback only: use --listen :%d to reach it from another device)\n", ap.Port())
	}
	fmt.Fprintf(w, "\n  apps and SDKs connect to %s/{app}/websocket, e.g. %s/WebRTCAppEE/websocket\n\n",
		wsBase(local), wsBase(local))
}

// openURLs are the demo page's URLs for the server listening on addr, all
// in the same new room: local for this machine, lan for other devices (the
// machine's network addresses, then the names given), none when it
// listens on loopback only.
func openURLs(scheme string, addr net.Addr, names []string) (local string, lan []string, ok bool) {
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return "", nil, false
	}
	port, host := ap.Port(), ap.Addr().Unmap()
	room := "?room=" + randomRoom()
	local = fmt.Sprintf("%s://localhost:%d/%s", scheme, port, room)
	switch {
	case host.IsUnspecified():
		for _, ip := range certs.LANAddrs(certs.LocalHosts()) {
			lan = append(lan, fmt.Sprintf("%s://%s/%s", scheme, netip.AddrPortFrom(ip, port), room))
		}
		for _, n := range names {
			lan = append(lan, fmt.Sprintf("%s://%s:%d/%s", scheme, n, port, room))
		}
	case !host.IsLoopback():
		local = fmt.Sprintf("%s://%s/%s", scheme, netip.AddrPortFrom(host, port), room)
		lan = []string{local}
	}
	return local, lan, true
}

// wsBase is the WebSocket origin of a page URL: ws://host:port.
func wsBase(page string) string {
	u := page
	if i := len("http://"); len(u) > i && u[:i] == "http://" {
		u = "ws://" + u[i:]
	} else if i := len("https://"); len(u) > i && u[:i] == "https://" {
		u = "wss://" + u[i:]
	}
	for i := len("wss://"); i < len(u); i++ {
		if u[i] == '/' {
			return u[:i]
		}
	}
	return u
}

func portOf(addr net.Addr) string {
	if ap, err := netip.ParseAddrPort(addr.String()); err == nil {
		return strconv.Itoa(int(ap.Port()))
	}
	return ""
}

// randomRoom is a short room name that is hard to guess.
func randomRoom() string {
	const letters = "abcdefghijkmnpqrstuvwxyz23456789" // nothing that reads as another letter
	b := make([]byte, 8)
	rand.Read(b)
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return string(b)
}
