package metrics

import "github.com/prometheus/client_golang/prometheus"

// RegisterMesh registers the gauge of mesh rooms' members (group calls,
// docs/protocol.md): members reports how many there are now.
func RegisterMesh(reg prometheus.Registerer, members func() int64) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "duet_mesh_members",
		Help: "Members of mesh rooms (group calls) now, on this node.",
	}, func() float64 { return float64(members()) }))
}
