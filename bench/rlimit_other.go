//go:build !unix

package bench

// raiseFileLimit does nothing where there is no RLIMIT_NOFILE (Windows):
// duet bench still runs, within the system's own limit.
func raiseFileLimit() {}
