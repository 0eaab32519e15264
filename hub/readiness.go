package hub

// Readiness is implemented by a backend that can be unable to take joins
// for a while (a cluster node cut off from its store). The server's
// /readyz consults it when the backend implements it.
type Readiness interface {
	// Ready returns nil while joins can be served, otherwise why not.
	Ready() error
}
