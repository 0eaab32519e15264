package client

import (
	"net"
	"slices"
	"time"
)

// localAddrs returns the IP addresses of the machine's interfaces that are
// up. Reading them is cheap (one netlink dump), so they are polled.
func localAddrs() map[string]bool {
	out := map[string]bool{}
	ifs, err := net.Interfaces()
	if err != nil {
		return out
	}
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				out[ipn.IP.String()] = true
			}
		}
	}
	return out
}

// watchNetwork polls the machine's addresses until the client closes. On
// a change it emits NetworkChanged and, when the socket's own address is
// gone (a lost Wi-Fi, a DHCP lease that ended), closes the socket so that
// the client moves to a new one at once: the old one would only be found
// dead after ReadTimeout.
func (c *Client) watchNetwork() {
	defer c.bg.Done()
	t := time.NewTicker(c.opts.NetworkPollInterval)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		now := localAddrs()
		c.mu.Lock()
		var gone, added []string
		for a := range c.addrs {
			if !now[a] {
				gone = append(gone, a)
			}
		}
		for a := range now {
			if !c.addrs[a] {
				added = append(added, a)
			}
		}
		c.addrs = now
		ws := c.ws
		lost := false
		if ws != nil && len(gone) > 0 {
			if ta, ok := ws.LocalAddr().(*net.TCPAddr); ok && !now[ta.IP.String()] {
				lost = true
				c.lost = errNetworkChanged
			}
		}
		c.mu.Unlock()
		if len(gone) == 0 && len(added) == 0 {
			continue
		}
		slices.Sort(gone)
		slices.Sort(added)
		c.log.Info("network changed", "gone", gone, "added", added, "socket_lost", lost)
		if lost {
			ws.Close()
		}
		c.emit(NetworkChanged{Gone: gone, Added: added})
	}
}
