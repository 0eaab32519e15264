package server_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/duet-rtc/duet/config"
	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/internal/testkit/wstest"
)

// BenchmarkHeldSeatFlood is issue #20's second finding as a measurement:
// from one client address, 12 sockets join 16 rooms each, resumable, and
// drop (192 seats asked to be held); the partner in each room relays
// 1000 KiB into its held seat. It reports the seats held, the bytes kept
// for them, and the growth of the process's live heap (server and test
// clients; the clients are the same in both runs). "uncapped" sets the
// caps to 0, as before they existed; "defaults" is the shipped
// configuration. Run:
//
//	go test -run '^$' -bench HeldSeatFlood -benchtime 1x ./server
func BenchmarkHeldSeatFlood(b *testing.B) {
	for _, tc := range []struct {
		name   string
		mutate func(*config.Config)
	}{
		{"uncapped", func(c *config.Config) { c.MaxHeldPerIP, c.MaxHeldSeats, c.MaxHeldBytes = 0, 0, 0 }},
		{"defaults", func(*config.Config) {}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for range b.N {
				heldFlood(b, tc.mutate)
			}
		})
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

func heldFlood(b *testing.B, mutate func(*config.Config)) {
	const sockets, roomsEach = 12, 16
	e := startResumeNodes(b, 1, mutate)
	big := strings.Repeat("k", 200<<10)
	var partners []*client
	before := heapInUse()
	for i := range sockets {
		a, p := wstest.Dial(b, e.URL("app")), wstest.Dial(b, e.URL("app"))
		for r := range roomsEach {
			joinResumable(a, fmt.Sprintf("flood-%d-%d", i, r), "", "")
		}
		for r := range roomsEach {
			joinResumable(p, fmt.Sprintf("flood-%d-%d", i, r), "", "")
		}
		a.WS.Close() // its starts unread: lost with it
		partners = append(partners, p)
	}
	e.expectStats(b, func(st hub.Stats) bool {
		return st.Held+st.HoldLimits[0]+st.HoldLimits[1] == sockets*roomsEach
	})
	for i, p := range partners {
		for r := range roomsEach {
			for range 5 {
				p.Send(msg{"command": "peerMessageCommand", "streamId": fmt.Sprintf("flood-%d-%d", i, r), "definition": "d", "data": big})
			}
		}
	}
	// A socket's messages are handled in order: its pong comes after
	// every frame it relayed was kept or dropped.
	for _, p := range partners {
		p.Send(msg{"command": "ping"})
		for m := p.Read(); m.Str("command") != "pong"; m = p.Read() {
		}
	}
	after := heapInUse()
	st := e.rooms.Stats()
	b.ReportMetric(float64(st.Held), "held-seats")
	b.ReportMetric(float64(st.KeptBytes)/(1<<20), "kept-MiB")
	b.ReportMetric(float64(int64(after)-int64(before))/(1<<20), "heap-growth-MiB")
}
