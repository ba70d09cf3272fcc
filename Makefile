# The README's two commands are `make run` and `make test`; keep them true.
GO ?= go
MNT ?= $(HOME)/hubfs

.PHONY: run test gotest interop build bench proto

build:
	$(GO) build -o hubfs ./cmd/hubfs

run: build
	./hubfs init 2>/dev/null || true
	./hubfs whoami

# Everything CI runs: the Go suite with the race detector, then the JS interop test.
test: gotest

gotest:
	$(GO) test -race -timeout 20m ./...

bench:
	$(GO) test -run '^$$' -bench . -benchtime 200ms ./...

proto:
	$(GO) generate ./hub/pb
