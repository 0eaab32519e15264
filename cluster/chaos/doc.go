// Package chaos tests a duet cluster the way operators break one: real
// duet processes (killed with SIGKILL, restarted under the same node id,
// drained with SIGTERM, frozen with SIGSTOP as a starved machine freezes
// them) on NATS servers that restart, lose their data, or are cut off from
// a node, under steady client traffic, while invariants are checked. It
// has tests only; scripts/chaos.sh runs the long version.
package chaos
