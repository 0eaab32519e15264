package bench

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// kernelState is the kernel memory an idle socket costs, as far as /proc
// shows it: the slab caches every TCP socket takes objects from, the
// whole slab, and the pages TCP holds for socket buffers. It is the whole
// machine's (both ends of a loopback connection, and anything else
// running), read before and after the sockets are held.
type kernelState struct {
	socketSlab int64 // bytes in the caches of socketCaches; -1 unknown
	slab       int64 // Slab of /proc/meminfo, bytes; -1 unknown
	tcpMem     int64 // TCP buffer memory of /proc/net/sockstat, bytes; -1 unknown
}

// socketCaches are the slab caches a TCP socket with a descriptor and an
// epoll registration allocates from: the socket itself, its inode, its
// file and dentry, and the epoll item.
var socketCaches = map[string]bool{
	"TCP": true, "TCPv6": true, "sock_inode_cache": true, "filp": true, "dentry": true,
	"eventpoll_epi": true, "eventpoll_pwq": true,
}

func readKernel() kernelState {
	k := kernelState{socketSlab: -1, slab: -1, tcpMem: -1}
	if f, err := os.Open("/proc/slabinfo"); err == nil {
		k.socketSlab = 0
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) < 4 || !socketCaches[fs[0]] {
				continue
			}
			n, _ := strconv.ParseInt(fs[2], 10, 64) // num_objs
			size, _ := strconv.ParseInt(fs[3], 10, 64)
			k.socketSlab += n * size
		}
		f.Close()
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "Slab:"); ok {
				kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
				if err == nil {
					k.slab = kb << 10
				}
			}
		}
		f.Close()
	}
	if f, err := os.Open("/proc/net/sockstat"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) > 0 && fs[0] == "TCP:" {
				for i := 1; i+1 < len(fs); i += 2 {
					if fs[i] == "mem" {
						if pages, err := strconv.ParseInt(fs[i+1], 10, 64); err == nil {
							k.tcpMem = pages * int64(os.Getpagesize())
						}
					}
				}
			}
		}
		f.Close()
	}
	return k
}
