package cluster

import (
	"strconv"
	"strings"

	"github.com/duet-rtc/duet/hub"
	"github.com/duet-rtc/duet/room"
)

// A member id names one local connection cluster-wide: the id of the node
// that holds the socket, a slash, and the connection's number on that node.
// The node part is what a survivor needs to tell whose members a dead node
// leaves behind, and where to send a frame.

func memberID(node string, num uint64) string {
	return node + "/" + strconv.FormatUint(num, 10)
}

// splitMember returns a member id's node and number; ok is false for a
// malformed id (which only a foreign writer of the bucket could produce).
func splitMember(id string) (node string, num uint64, ok bool) {
	i := strings.LastIndexByte(id, '/')
	if i <= 0 {
		return "", 0, false
	}
	n, err := strconv.ParseUint(id[i+1:], 10, 64)
	if err != nil {
		return "", 0, false
	}
	return id[:i], n, true
}

func nodeOf(id string) string {
	node, _, _ := splitMember(id)
	return node
}

// roomKey is k's key in the membership bucket. App and stream are separate
// key tokens; a streamId may contain '.', the token separator, so it is
// written as '=', which neither an app name nor a streamId can contain.
func roomKey(k hub.Key) string {
	return k.App + "." + strings.ReplaceAll(k.Stream, ".", "=")
}

// encodeMembers is a room's value in the bucket: its member ids, oldest
// first, separated by a space. The oldest member is the one that offers.
func encodeMembers(r *room.Room[string]) []byte {
	return []byte(strings.Join(r.Members(), " "))
}

// decodeRoom rebuilds the pure state machine from a stored value by
// replaying the joins in order, which yields exactly the stored state.
func decodeRoom(v []byte) room.Room[string] {
	var r room.Room[string]
	for _, m := range strings.Fields(string(v)) {
		r.Join(m)
	}
	return r
}

func sameMembers(a, b *room.Room[string]) bool {
	am, bm := a.Members(), b.Members()
	if len(am) != len(bm) {
		return false
	}
	for i := range am {
		if am[i] != bm[i] {
			return false
		}
	}
	return true
}
