package metrics

import "github.com/prometheus/client_golang/prometheus"

// TLS counts wss:// sockets by the record layer that serves them after the
// upgrade — duet's own (tlsrec, parked with no goroutine when idle) or
// crypto/tls's (TLS 1.2 and anything else it keeps, a reader goroutine
// each) — and by whether the handshake resumed a session.
type TLS struct {
	Sockets *prometheus.CounterVec
}

// RegisterTLS registers the TLS metrics on reg.
func RegisterTLS(reg prometheus.Registerer) *TLS {
	m := &TLS{Sockets: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "duet_tls_websockets_total",
		Help: "wss:// sockets upgraded, by record layer (tlsrec: duet's, parked when idle; crypto_tls: TLS 1.2 and the rest) and by whether the TLS handshake resumed a session.",
	}, []string{"layer", "resumed"})}
	for _, l := range []string{"tlsrec", "crypto_tls"} {
		for _, r := range []string{"true", "false"} {
			m.Sockets.WithLabelValues(l, r)
		}
	}
	reg.MustRegister(m.Sockets)
	return m
}
