# The test command of README.md. Tests that need Postgres read
# GHLSYNC_TEST_DATABASE_URL (CI sets it to the local test database).
.PHONY: test build demo bench

test:
	go test -count=1 -timeout 20m ./...

# The version is the git description of the checkout (a commit, plus
# -dirty with uncommitted changes); "dev" outside git.
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)

build:
	CGO_ENABLED=0 go build -ldflags "-X main.version=$(VERSION)" -o bin/ghlsync ./cmd/ghlsync

demo:
	go run ./cmd/ghlsync demo

bench:
	go test -run '^$$' -bench . -benchtime 2x ./...
