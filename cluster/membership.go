package cluster

import (
	"strconv"
	"strings"

	"github.com/duet-rtc/duet/hub"
)

// A member id names one local connection cluster-wide: the incarnation of
// the node that holds the socket, a slash, and the connection's number in
// that incarnation. The incarnation part is what a survivor needs to tell
// whose members a dead node leaves behind, and where to send a frame.

func memberID(inc string, num uint64) string {
	return inc + "/" + strconv.FormatUint(num, 10)
}

// splitMember returns a member id's incarnation and number; ok is false
// for a malformed id (which only a foreign writer of the bucket could
// produce).
func splitMember(id string) (inc string, num uint64, ok bool) {
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

// nodeOf is the incarnation a member id belongs to.
func nodeOf(id string) string {
	inc, _, _ := splitMember(id)
	return inc
}

// roomKey is k's key in the membership bucket. App and stream are separate
// key tokens; a streamId may contain '.', the token separator, so it is
// written as '=', which neither an app name nor a streamId can contain.
func roomKey(k hub.Key) string {
	return k.App + "." + strings.ReplaceAll(k.Stream, ".", "=")
}

// keyRoom is the room a bucket key (as roomKey writes it) names; ok is
// false for a key of another shape.
func keyRoom(key string) (k hub.Key, ok bool) {
	app, stream, ok := strings.Cut(key, ".")
	if !ok || app == "" || stream == "" {
		return k, false
	}
	return hub.Key{App: app, Stream: strings.ReplaceAll(stream, "=", ".")}, true
}
