# duet's container image: a static binary (CGO_ENABLED=0, -trimpath) on a
# minimal base, run as a non-root user.
#
#   docker build -t duet --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg COMMIT=$(git rev-parse HEAD) --build-arg DATE=$(date -u +%FT%TZ) .
#   docker run --rm -p 5080:5080 duet
#
# Both bases are build arguments so that a machine without a registry can
# build from local images: the builder needs Go and a POSIX shell, the
# runtime needs nothing (scratch works; distroless adds /etc/passwd and
# /tmp). The build is offline when the context holds a vendor/ directory
# (`go mod vendor`); otherwise modules come from GOPROXY.
ARG GO_IMAGE=golang:1.26
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM ${GO_IMAGE} AS build
WORKDIR /src
COPY . .
ARG VERSION=dev
ARG COMMIT=
ARG DATE=
RUN --mount=type=cache,target=/root/.cache/go-build \
    --mount=type=cache,target=/go/pkg/mod \
    CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT} -X main.date=${DATE}" \
      -o /out/root/usr/local/bin/duet ./cmd/duet \
 && mkdir -p /out/root/tmp /out/root/etc/ssl/certs /out/state/data \
 && chmod 1777 /out/root/tmp \
 && cp /etc/ssl/certs/ca-certificates.crt /out/root/etc/ssl/certs/

FROM ${RUNTIME_IMAGE}
# The binary, /tmp, and the CA certificates an ACME client needs (a
# scratch base has none).
COPY --from=build /out/root/ /
# 65532 is distroless's "nonroot"; /data keeps the self-signed certificate
# and ACME state (DUET_DATA_DIR). COPY applies --chown to what it copies, not
# to a directory it copies into: so copy /data itself, from a parent.
COPY --from=build --chown=65532:65532 /out/state/ /
USER 65532:65532
ENV DUET_DATA_DIR=/data
VOLUME /data
# Signaling (HTTP/WebSocket) and the embedded TURN server's STUN/TURN port.
# TURN relays also use UDP 49152-65535 (turn_relay_port_min/max): publish
# a narrowed range, or run with host networking (README, "Deploy").
EXPOSE 5080/tcp 3478/udp 3478/tcp
# duet healthcheck reads the same DUET_* variables as duet serve, so it asks
# the server where it listens, over https when TLS is on.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/duet", "healthcheck"]
# On SIGTERM duet drains: readiness turns 503, clients get server_will_stop,
# sockets still open after drain_timeout (10 s) are closed; give it that long
# (docker stop -t 20, stop_grace_period, terminationGracePeriodSeconds).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/duet"]
CMD ["serve"]
