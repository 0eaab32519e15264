// Package deploy holds the tests of duet's deployment files: the container
// image (Dockerfile, built with podman and run from its exported
// filesystem), compose.yaml and its Caddyfile, the Kubernetes manifests, the
// systemd unit, and scripts/release.sh. It is a module of its own so that
// the Kubernetes API types and the compose loader it checks with stay out
// of duet's module graph and binary. Run it with `make deploy-check` (part
// of `make test`).
package deploy
