# make test: everything CI runs. It installs what is missing (staticcheck,
# Chromium from Debian's packages, npm packages) before testing.
GO ?= go
STATICCHECK := $(shell $(GO) env GOPATH)/bin/staticcheck

.PHONY: test deps vet lint unit run build fmt

test: deps vet lint unit

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
	$(GO) vet ./...

lint:
	$(STATICCHECK) ./...

unit:
	$(GO) test -race -count=1 -timeout 20m ./...
