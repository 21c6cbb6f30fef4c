# The test command of README.md. Tests that need Postgres read
# GHLSYNC_TEST_DATABASE_URL (CI sets it to the local test database).
.PHONY: test build demo bench

test:
	go test -count=1 -timeout 20m ./...

build:
	CGO_ENABLED=0 go build -o bin/ghlsync ./cmd/ghlsync

demo:
	go run ./cmd/ghlsync demo

bench:
	go test -run '^$$' -bench . -benchtime 2x ./...
