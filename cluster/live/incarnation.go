package live

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// An incarnation is one life of a node: its node id, a tilde, and an epoch
// made when the process starts (its start time in milliseconds and a
// random part, in hex, so that epochs sort by start time). Member ids,
// subjects and heartbeats are per incarnation, so a node restarted under
// the same node_id shares nothing with its previous life: no member id,
// probe, frame or seat of the old one can reach or be taken for the new
// one, and everyone who hears the new one knows the old one is dead.
//
// A member id written by an earlier version ("node/3") has no epoch: it
// is taken for an incarnation older than any other of that node.

const epochSep = '~'

// NewEpoch returns a fresh epoch for a process started at now.
func NewEpoch(now time.Time) string {
	var b [4]byte
	rand.Read(b[:])
	return fmt.Sprintf("%012x%s", now.UnixMilli(), hex.EncodeToString(b[:]))
}

// Incarnation is the incarnation of node with epoch.
func Incarnation(node, epoch string) string { return node + string(epochSep) + epoch }

// Split returns an incarnation's node id and epoch.
func Split(inc string) (node, epoch string) {
	i := strings.LastIndexByte(inc, epochSep)
	if i < 0 {
		return inc, ""
	}
	return inc[:i], inc[i+1:]
}

// Newer reports whether epoch a was made after epoch b.
func Newer(a, b string) bool {
	if len(a) != len(b) {
		return len(a) > len(b) // "" (no epoch) is the oldest
	}
	return a > b
}
