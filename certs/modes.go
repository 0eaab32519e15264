package certs

import (
	"io/fs"
	"log/slog"
	"os"
)

// WarnIfShared logs a warning when path, a directory or file that holds
// private keys or secrets, may be read or written by anyone but its owner
// (its group or others have any permission). duet creates such paths 0700
// and 0600; one that exists with a wider mode (made by hand, restored
// from a backup, a volume mounted by another tool) is used, and said so.
func WarnIfShared(path string, log *slog.Logger) {
	fi, err := os.Stat(path)
	if err != nil {
		return // missing: it is about to be created private
	}
	if mode := fi.Mode().Perm(); mode&0o077 != 0 {
		want := fs.FileMode(0o600)
		if fi.IsDir() {
			want = 0o700
		}
		log.Warn("a file or directory holding secrets is readable by others than its owner; chmod it",
			"path", path, "mode", mode.String(), "want", want.String())
	}
}
