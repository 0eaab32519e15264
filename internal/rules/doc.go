// Package rules has no code: its tests check rules the rest of the code
// keeps, so that breaking one fails the build instead of waiting for a
// reviewer. imports_test.go checks the layering of packages (what may
// import what); locks_test.go checks the lock discipline of the room
// backends (lock order written where each mutex is declared; nothing
// publishes, kills, probes or logs under a lock).
package rules
