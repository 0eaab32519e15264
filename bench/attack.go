package bench

import (
	"encoding/binary"
	"fmt"
	"sync"
)

// attackLength is what the attack-header frame announces: just under the
// default max_message_bytes (256 KiB), so a server must accept it.
const attackLength = 262000

// attackBytes returns what each socket of an attack scenario sends after
// its handshake, or nil for other scenarios. These are the memory
// amplification attacks of issue #13: bytes that cost the attacker
// nothing and the server a buffer for as long as the socket stays open.
func attackBytes(scenario string) []byte {
	switch scenario {
	case "attack-header":
		// A masked text frame header with a 64-bit length (14 bytes), then
		// one byte of the payload it announces.
		b := []byte{0x81, 0x80 | 127}
		b = binary.BigEndian.AppendUint64(b, attackLength)
		return append(b, 0x11, 0x22, 0x33, 0x44, 'x'^0x11)
	case "attack-byte":
		return []byte{0x81} // the first byte of a frame header
	}
	return nil
}

// attack sends p on both sockets of every pair; a socket that fails counts
// as an error.
func attack(pairs []*pair, p []byte, cn *counters) {
	var wg sync.WaitGroup
	for i := 0; i < len(pairs); i += 256 {
		j := min(i+256, len(pairs))
		wg.Add(1)
		go func(ps []*pair) {
			defer wg.Done()
			for _, pr := range ps {
				for _, pe := range []*peer{pr.a, pr.b} {
					// Nothing follows the attack's bytes, not even a pong:
					// one would complete the frame they start.
					pe.c.noPong = true
					if _, err := pe.c.nc.Write(p); err != nil {
						cn.errs.add(fmt.Errorf("attack write: %w", err))
					}
				}
			}
		}(pairs[i:j])
	}
	wg.Wait()
}
