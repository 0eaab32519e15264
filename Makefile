# make test: everything CI runs. It installs what is missing (staticcheck,
# Chromium from Debian's packages, npm packages) before testing.
GO ?= go
STATICCHECK := $(shell $(GO) env GOPATH)/bin/staticcheck
# Every package of the workspace (go.work): the server's module, the Go
# SDK's (client/) and the wire's (protocol/). ./... would stop at the
# nested modules.
PKGS := github.com/duet-rtc/duet/...

.PHONY: test deps vet lint unit e2e poison cluster-suite deploy-check run build fmt release

test: deps vet lint unit e2e poison cluster-suite deploy-check

run:
	$(GO) run ./cmd/duet

build:
	$(GO) build -o bin/duet ./cmd/duet

deps:
	@./scripts/deps.sh

fmt:
	gofmt -w $$(git ls-files '*.go')

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet $(PKGS)

lint:
	$(STATICCHECK) $(PKGS)

# Every package but the browser tests, which run next on their own.
unit:
	$(GO) test -race -count=1 -timeout 20m $$($(GO) list $(PKGS) | grep -v '/e2e$$')

# The browser tests (Chromium and Firefox in calls, restarts, network
# changes): alone, as a caller's browser would be, not beside the race-built
# packages that kept both cores busy. Their video-pause bars measure the
# browsers' recovery; starved of CPU, the browsers render a frame or two a
# second with no fault at all.
e2e:
	$(GO) test -race -count=1 -timeout 20m ./e2e

# The packages that lend read buffers and room backends their bytes, again
# in the duetpoison build: every read buffer and relay buffer is
# overwritten as soon as its message is handled, so anything that kept a
# borrowed byte fails (internal/poison).
POISONED := ./server ./hub ./cluster ./ops ./internal/ws ./protocol ./room
poison:
	$(GO) test -tags duetpoison -race -count=1 -timeout 10m $(POISONED)

# The server's protocol tests again, against three duet nodes clustered on
# embedded NATS, with the two peers of every room on different nodes (in
# the duetpoison build too).
cluster-suite:
	DUET_TEST_NODES=3 $(GO) test -tags duetpoison -race -count=1 -timeout 10m ./server

# The deployment files (deploy/, Dockerfile, scripts/release.sh), checked by
# their own module's tests: the image built with podman and serving a call,
# compose.yaml, the Kubernetes manifests, the systemd unit, release archives.
# That module is outside the workspace, hence GOWORK=off.
deploy-check:
	cd deploy && export GOWORK=off && $(GO) vet ./... && $(STATICCHECK) ./... && $(GO) test -count=1 -timeout 20m ./...

# Release archives, checksums and SBOMs in dist/ (VERSION=v1.2.3 make release).
release:
	./scripts/release.sh
